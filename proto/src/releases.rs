//! Releases and license-gated updates: the update check, its signed manifest, the Tauri
//! updater's shape, and the vendor's view of releases.
//!
//! A release is a semantic version of a product on a channel (`stable`, `beta`, …), with one
//! artifact per platform (`linux-x86_64`, `darwin-aarch64`, `windows-x86_64`, … the `os-arch`
//! names Tauri uses). A license may have the releases published while it was entitled to
//! updates (its "updates until" date: the end of its maintenance period, else its expiry,
//! else forever), so a perpetual license keeps the releases of its maintenance year forever.
//!
//! `GET /v1/releases/latest` answers `204` when the caller is up to date, or `200` with an
//! [`UpdateResponse`]. When an update is offered, its [`manifest`](UpdateResponse::manifest)
//! is a compact JWS (`typ: licet-release+jwt`) from the lease key ring over the artifact's
//! size and SHA-256, bound to the license and machine, so the SDK can prove the bytes it
//! downloaded are the ones the vendor published, whatever mirror served them.

use serde::{Deserialize, Serialize};

use crate::TokenError;

/// The `typ` header of a release manifest (a lease's is `licet-lease+jwt`).
pub const MANIFEST_TYP: &str = "licet-release+jwt";
/// Header carrying the license key on update checks (instead of a lease as a Bearer).
pub const LICENSE_KEY_HEADER: &str = "licet-license-key";
/// Header carrying the machine fingerprint with [`LICENSE_KEY_HEADER`].
pub const FINGERPRINT_HEADER: &str = "licet-fingerprint";
/// The channel of a client that names none.
pub const DEFAULT_CHANNEL: &str = "stable";
/// Longest accepted version string.
pub const MAX_VERSION_LEN: usize = 64;
/// Longest accepted updater signature (a minisign `.sig` file is about 400 bytes).
pub const MAX_UPDATER_SIGNATURE_LEN: usize = 4096;

/// Parses a semantic version (`1.2.0`, `2.0.0-beta.1`; no leading `v`).
pub fn parse_version(s: &str) -> Option<semver::Version> {
    if s.len() > MAX_VERSION_LEN {
        return None;
    }
    semver::Version::parse(s).ok()
}

/// True for a platform name of the `os-arch` shape: lowercase letters and digits, one `-`,
/// then lowercase letters, digits and `_` (e.g. `linux-x86_64`, `darwin-aarch64`).
pub fn valid_platform(s: &str) -> bool {
    let Some((os, arch)) = s.split_once('-') else {
        return false;
    };
    s.len() <= 64
        && !os.is_empty()
        && !arch.is_empty()
        && os
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && arch
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// True for a channel name: 1 to 32 of lowercase letters, digits and `-`, starting with a
/// letter.
pub fn valid_channel(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The query of `GET /v1/releases/latest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatestQuery {
    /// The product slug.
    pub product: String,
    /// The caller's platform, e.g. `linux-x86_64`.
    pub platform: String,
    /// The caller's channel (default `stable`). A channel's clients see its releases and
    /// the stable ones, whichever is newer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The version the caller runs.
    pub version: String,
}

/// Whether the caller may have the newer release it is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    /// A newer release the license covers: `release`, `artifact` and `manifest` are set.
    UpdateAvailable,
    /// A newer release exists, but the license does not cover it: only `newer_not_allowed`
    /// is set (so an app can say "renew to get 3.0").
    UpdateAvailableNotAllowed,
}

/// The `200` answer of an update check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateResponse {
    /// What is on offer.
    pub status: UpdateStatus,
    /// The newest release the caller may have (with `UpdateAvailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseInfo>,
    /// Its artifact for the caller's platform, with a short-lived download URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactInfo>,
    /// The signed manifest of that artifact (see [`ManifestClaims`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The newest release newer than the caller's that the license does not cover, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_not_allowed: Option<NotAllowed>,
}

/// A release as the update check describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseInfo {
    /// Semantic version.
    pub version: String,
    /// Its channel.
    pub channel: String,
    /// Release notes (Markdown).
    pub notes: String,
    /// Publish date, Unix seconds.
    pub published_at: i64,
}

/// One platform's file of a release, as offered to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    /// Platform, e.g. `linux-x86_64`.
    pub platform: String,
    /// File name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// The vendor's updater signature (e.g. a minisign `.sig`), when published with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Where to download it (short-lived; ranges supported).
    pub url: String,
    /// When the URL stops working, Unix seconds.
    pub url_expires_at: i64,
}

/// Why a newer release is not the caller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotAllowedReason {
    /// Published after the license's updates ended (renewing maintenance unlocks it).
    UpdatesEnded,
    /// The release requires an entitlement the license lacks.
    EntitlementRequired,
    /// Trials of this product do not receive releases.
    TrialExcluded,
}

/// A newer release the caller is not entitled to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotAllowed {
    /// Its version.
    pub version: String,
    /// Its publish date, Unix seconds.
    pub published_at: i64,
    /// Why not.
    pub reason: NotAllowedReason,
    /// When the license's updates ended (with `UpdatesEnded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates_until: Option<i64>,
    /// The entitlement needed (with `EntitlementRequired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
}

/// The release part of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRelease {
    /// Semantic version.
    pub version: String,
    /// Channel.
    pub channel: String,
    /// Platform of the artifact.
    pub platform: String,
    /// File name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// The claims of a release manifest (`typ: licet-release+jwt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestClaims {
    /// Issuer: the server's public URL.
    pub iss: String,
    /// The license (or trial) id the manifest was issued to.
    pub sub: String,
    /// The product slug.
    pub aud: String,
    /// The machine fingerprint the manifest was issued to.
    pub fpr: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before (= `iat`), Unix seconds.
    pub nbf: i64,
    /// Expiry of the manifest, Unix seconds.
    pub exp: i64,
    /// The artifact.
    pub rel: ManifestRelease,
}

impl ManifestClaims {
    /// Checks product, machine, license (when the caller knows it) and expiry.
    pub fn check(
        &self,
        product: &str,
        fingerprint: &str,
        license_id: Option<&str>,
        now: i64,
    ) -> Result<(), TokenError> {
        if self.aud != product {
            return Err(TokenError::WrongAudience);
        }
        if !crate::token::constant_time_eq(self.fpr.as_bytes(), fingerprint.as_bytes()) {
            return Err(TokenError::FingerprintMismatch);
        }
        if license_id.is_some_and(|id| id != self.sub) {
            return Err(TokenError::WrongAudience);
        }
        if now >= self.exp {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

/// The answer of the Tauri-shaped endpoint (Tauri v2's dynamic update server format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TauriUpdate {
    /// Semantic version.
    pub version: String,
    /// Release notes.
    pub notes: String,
    /// Publish date, RFC 3339.
    pub pub_date: String,
    /// Download URL.
    pub url: String,
    /// The vendor's minisign signature (the content of the `.sig` file).
    pub signature: String,
}

/// A release's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseState {
    /// Being prepared: artifacts may be added; no client sees it.
    Draft,
    /// Offered to entitled clients.
    Published,
    /// Withdrawn: no client is offered it any more.
    Yanked,
}

impl ReleaseState {
    /// The stored and transmitted spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Yanked => "yanked",
        }
    }

    /// Parses the stored spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Self::Draft),
            "published" => Some(Self::Published),
            "yanked" => Some(Self::Yanked),
            _ => None,
        }
    }
}

/// `POST /v1/admin/products/{slug}/releases`: a draft release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRelease {
    /// Semantic version, unique per product.
    pub version: String,
    /// Channel (default `stable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Release notes (Markdown).
    #[serde(default)]
    pub notes: String,
    /// An entitlement a license needs to have this release (e.g. `pro`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
}

/// `POST /v1/admin/releases/{id}/publish`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRelease {
    /// The publish date to record (Unix seconds, not in the future), for releases imported
    /// from before Licet; default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<i64>,
}

/// A release as the admin API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Server-side id.
    pub id: String,
    /// Product slug.
    pub product: String,
    /// Semantic version.
    pub version: String,
    /// Channel.
    pub channel: String,
    /// Release notes (Markdown).
    pub notes: String,
    /// The entitlement it requires, if any.
    pub entitlement: Option<String>,
    /// State.
    pub state: ReleaseState,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, once published.
    pub published_at: Option<i64>,
    /// Unix seconds, once yanked.
    pub yanked_at: Option<i64>,
    /// One file per platform.
    pub artifacts: Vec<Artifact>,
}

/// A release's file for one platform, as the admin API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Server-side id.
    pub id: String,
    /// Platform.
    pub platform: String,
    /// File name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// The vendor's updater signature, if any.
    pub signature: Option<String>,
    /// Downloads started (range requests from a later byte are not counted).
    pub downloads: u64,
    /// Unix seconds.
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_semver_says() {
        let v = |s| parse_version(s).expect("valid");
        assert!(v("1.10.0") > v("1.9.0"));
        assert!(v("2.0.0-beta.1") < v("2.0.0"));
        assert!(v("2.0.0-beta.2") > v("2.0.0-beta.1"));
        assert!(v("2.0.0-beta.1") > v("1.9.9"));
        assert!(parse_version("v1.0.0").is_none());
        assert!(parse_version("1.0").is_none());
        assert!(parse_version(&"1".repeat(70)).is_none());
    }

    #[test]
    fn platform_and_channel_names() {
        for ok in [
            "linux-x86_64",
            "darwin-aarch64",
            "windows-i686",
            "linux-armv7",
        ] {
            assert!(valid_platform(ok), "{ok}");
        }
        for bad in [
            "linux",
            "-x86",
            "linux-",
            "Linux-x86_64",
            "linux-x86-64",
            "../x",
        ] {
            assert!(!valid_platform(bad), "{bad}");
        }
        assert!(valid_channel("stable") && valid_channel("beta-2"));
        assert!(!valid_channel("") && !valid_channel("Beta") && !valid_channel("2x"));
    }
}
