//! An update offered by [`Client::check_for_update`], and its verified download.

use std::path::Path;

use licet_proto::releases::{
    ArtifactInfo, ManifestRelease, ReleaseInfo, UpdateResponse, UpdateStatus,
};
pub use licet_proto::releases::{NotAllowed, NotAllowedReason};

use crate::client::{Client, refused};
use crate::download::{self, Target};
use crate::error::{Error, Result};

/// A newer release than the one running, as [`Client::check_for_update`] found it.
///
/// Either an update the license covers ([`Update::is_allowed`]), to download with
/// [`Update::download_to`], or word of a newer release the license does not cover, to tell
/// the user about ("3.0 is out; renew your maintenance to get it"): then
/// [`Update::version`] and [`Update::published_at`] describe that release,
/// [`Update::not_allowed_reason`] says why it is not the license's, and there is no file
/// (`notes`, `channel` and `sha256` are empty, `size` is 0).
///
/// Holds a handle to the client that found it (cheap; downloads use its keys, clock and
/// HTTP settings).
#[derive(Clone)]
pub struct Update {
    client: Client,
    /// The license (or trial) the manifest must name, when the client knows it.
    license_id: Option<String>,
    offer: Offer,
    /// The newest release newer than the running one that the license does not cover: the
    /// update itself when not allowed, else one newer than it (if any).
    newer_not_allowed: Option<NotAllowed>,
}

#[derive(Clone)]
enum Offer {
    Allowed(Box<Offered>),
    NotAllowed,
}

/// An update the license covers.
#[derive(Clone)]
struct Offered {
    release: ReleaseInfo,
    artifact: ArtifactInfo,
    /// The signed manifest of `artifact` (see [`licet_proto::releases::ManifestClaims`]).
    manifest: String,
}

impl Update {
    /// The answer of an update check, checked for the fields its status requires.
    pub(crate) fn from_response(
        client: Client,
        r: UpdateResponse,
        license_id: Option<String>,
    ) -> Result<Self> {
        let incomplete = |what: &str| Error::Server {
            code: licet_proto::ErrorCode::Internal,
            message: format!("unexpected answer: an update check answer without {what}"),
        };
        let offer = match r.status {
            UpdateStatus::UpdateAvailable => Offer::Allowed(Box::new(Offered {
                release: r.release.ok_or_else(|| incomplete("its release"))?,
                artifact: r.artifact.ok_or_else(|| incomplete("its file"))?,
                manifest: r.manifest.ok_or_else(|| incomplete("its manifest"))?,
            })),
            UpdateStatus::UpdateAvailableNotAllowed => {
                if r.newer_not_allowed.is_none() {
                    return Err(incomplete("the release it does not allow"));
                }
                Offer::NotAllowed
            }
        };
        Ok(Self {
            client,
            license_id,
            offer,
            newer_not_allowed: r.newer_not_allowed,
        })
    }

    /// True for an update the license covers (download it with [`Update::download_to`]);
    /// false for a newer release it does not cover (see [`Update::not_allowed_reason`]).
    pub fn is_allowed(&self) -> bool {
        matches!(self.offer, Offer::Allowed(_))
    }

    /// The release's semantic version, e.g. `1.3.0`.
    pub fn version(&self) -> &str {
        match &self.offer {
            Offer::Allowed(o) => &o.release.version,
            Offer::NotAllowed => self.newer_version(),
        }
    }

    /// When the release was published, Unix seconds.
    pub fn published_at(&self) -> i64 {
        match &self.offer {
            Offer::Allowed(o) => o.release.published_at,
            Offer::NotAllowed => self
                .newer_not_allowed
                .as_ref()
                .map_or(0, |n| n.published_at),
        }
    }

    /// The release notes (Markdown); empty when not allowed.
    pub fn notes(&self) -> &str {
        self.allowed(|r, _| &r.notes)
    }

    /// The release's channel (`stable`, `beta`, …); empty when not allowed.
    pub fn channel(&self) -> &str {
        self.allowed(|r, _| &r.channel)
    }

    /// The platform of the file (`linux-x86_64`, …): the one the client asked for.
    pub fn platform(&self) -> &str {
        match &self.offer {
            Offer::Allowed(o) => &o.artifact.platform,
            Offer::NotAllowed => self.client.update_platform(),
        }
    }

    /// The file's name as the vendor uploaded it (e.g. `Photo-1.3.0.AppImage`); empty when
    /// not allowed.
    pub fn file_name(&self) -> &str {
        self.allowed(|_, a| &a.name)
    }

    /// The file's size in bytes; 0 when not allowed.
    pub fn size(&self) -> u64 {
        match &self.offer {
            Offer::Allowed(o) => o.artifact.size,
            Offer::NotAllowed => 0,
        }
    }

    /// The file's SHA-256, lower-case hex; empty when not allowed.
    pub fn sha256(&self) -> &str {
        self.allowed(|_, a| &a.sha256)
    }

    /// The vendor's own updater signature of the file (e.g. a minisign `.sig` for Tauri),
    /// when the release was published with one.
    pub fn updater_signature(&self) -> Option<&str> {
        match &self.offer {
            Offer::Allowed(o) => o.artifact.signature.as_deref(),
            Offer::NotAllowed => None,
        }
    }

    /// Why the license does not cover this update (`None` when [`Update::is_allowed`]).
    pub fn not_allowed_reason(&self) -> Option<NotAllowedReason> {
        match self.offer {
            Offer::Allowed(_) => None,
            Offer::NotAllowed => self.newer_not_allowed.as_ref().map(|n| n.reason),
        }
    }

    /// The newest release newer than the running one that the license does not cover: for
    /// an allowed update, one newer still (so an app can say "1.3 is yours; 2.0 needs a
    /// renewal"); for an update that is not allowed, that update. Its `updates_until` says
    /// when the license's updates ended, its `entitlement` which one it lacks.
    pub fn newer_not_allowed(&self) -> Option<&NotAllowed> {
        self.newer_not_allowed.as_ref()
    }

    /// Downloads the update to `path`, verified, calling `progress(downloaded, total)` as
    /// bytes arrive (on the calling thread).
    ///
    /// First the signed manifest is checked against the pinned keys: issued for this
    /// product, this machine and this license, not expired by the SDK's time, and naming
    /// exactly the offered file (version, platform, size, SHA-256). The bytes go to
    /// `<path>.<16 hex digits of the SHA-256>.part` beside `path`; only when their size and
    /// SHA-256 are the manifest's is that file renamed to `path` (replacing a file there).
    ///
    /// A partial file left by an interrupted download is resumed (`Range`), and a
    /// connection that drops mid-way is resumed a few times before giving up; after a
    /// network failure the partial file stays for the next attempt (check for the update
    /// again first if its URL expired: the same release resumes).
    ///
    /// Errors: [`Error::UpdateNotAllowed`] for an update the license does not cover;
    /// [`Error::UpdateVerification`] when the manifest or the bytes are not right (the
    /// partial file is removed, nothing is written at `path`, and a file already there is
    /// left as it was); [`Error::Storage`] when the file cannot be written; network and
    /// server errors (an expired URL is `LINK_EXPIRED`).
    pub fn download_to(
        &self,
        path: impl AsRef<Path>,
        progress: impl FnMut(u64, u64) + Send,
    ) -> Result<()> {
        let path = path.as_ref().to_path_buf();
        self.client
            .transport()
            .block_on(self.download_to_async(path, progress))?
    }

    /// [`Update::download_to`] for async code. Its file writes are ordinary blocking
    /// writes of a chunk at a time.
    pub async fn download_to_async(
        &self,
        path: impl AsRef<Path>,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<()> {
        let Offer::Allowed(offered) = &self.offer else {
            return Err(Error::UpdateNotAllowed);
        };
        let Offered {
            release,
            artifact,
            manifest,
        } = offered.as_ref();
        let rel = self
            .client
            .verify_manifest(manifest, self.license_id.as_deref())?;
        describes(&rel, release, artifact, self.client.update_platform())?;
        let url = reqwest::Url::parse(&artifact.url)
            .map_err(|_| refused("its download URL is not a URL".into()))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(refused("its download URL is not http(s)".into()));
        }
        let target = Target {
            url: artifact.url.as_str(),
            size: rel.size,
            sha256: &rel.sha256,
        };
        download::fetch(
            self.client.transport(),
            target,
            path.as_ref(),
            &mut progress,
        )
        .await
    }

    fn allowed<'a>(
        &'a self,
        field: impl FnOnce(&'a ReleaseInfo, &'a ArtifactInfo) -> &'a String,
    ) -> &'a str {
        match &self.offer {
            Offer::Allowed(o) => field(&o.release, &o.artifact),
            Offer::NotAllowed => "",
        }
    }

    fn newer_version(&self) -> &str {
        self.newer_not_allowed
            .as_ref()
            .map_or("", |n| n.version.as_str())
    }
}

/// Checks that the signed release is the one offered, for this platform, with a SHA-256
/// that can name a file.
fn describes(
    rel: &ManifestRelease,
    release: &ReleaseInfo,
    artifact: &ArtifactInfo,
    platform: &str,
) -> Result<()> {
    let mismatch = |what: &str| refused(format!("its manifest names another {what}"));
    if rel.version != release.version || rel.channel != release.channel {
        return Err(mismatch("release"));
    }
    if rel.platform != artifact.platform || rel.platform != platform {
        return Err(mismatch("platform"));
    }
    if rel.name != artifact.name {
        return Err(mismatch("file name"));
    }
    if rel.size != artifact.size {
        return Err(mismatch("size"));
    }
    if rel.sha256 != artifact.sha256 {
        return Err(mismatch("SHA-256"));
    }
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if rel.sha256.len() != 64 || !rel.sha256.bytes().all(hex) {
        return Err(refused(
            "its SHA-256 is not 64 lower-case hex digits".into(),
        ));
    }
    Ok(())
}

impl std::fmt::Debug for Update {
    /// The release, without the manifest or the download URL (a short-lived credential).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Update")
            .field("version", &self.version())
            .field("allowed", &self.is_allowed())
            .field("channel", &self.channel())
            .field("platform", &self.platform())
            .field("size", &self.size())
            .field("sha256", &self.sha256())
            .field("newer_not_allowed", &self.newer_not_allowed)
            .finish_non_exhaustive()
    }
}
