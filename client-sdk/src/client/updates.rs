//! The update check: how the client proves its license to the release endpoint, and how
//! it judges a release manifest (the download itself is [`crate::update`]'s).

use licet_proto::ErrorCode;
use licet_proto::releases::{
    FINGERPRINT_HEADER, LICENSE_KEY_HEADER, MANIFEST_TYP, ManifestClaims, ManifestRelease,
    UpdateResponse, parse_version, valid_channel,
};
use licet_proto::token::TokenError;
use zeroize::Zeroizing;

use super::{Client, Offline};
use crate::error::{Error, Result};
use crate::transport::Transport;
use crate::update::Update;

/// How an update check proves the license.
enum Proof {
    /// The current lease, as `Authorization: Bearer`.
    Lease(String),
    /// The stored license key, with this machine's fingerprint.
    Key(Zeroizing<String>),
}

impl Client {
    /// Is there a newer release of the app for this machine? `current_version` is the
    /// version running (semantic, e.g. `1.2.0`); `channel` is the release channel to follow
    /// (`None`: `stable`; a `beta` client is offered beta and stable releases, whichever is
    /// newer). `Ok(None)` when up to date.
    ///
    /// The server answers for this machine's platform ([`Client::update_platform`]) and
    /// for what the license covers: an [`Update`] with [`Update::is_allowed`] false is a
    /// newer release the license does not cover (its maintenance ended, it lacks an
    /// entitlement, or it is a trial), to tell the user about, not to download.
    ///
    /// The license is proven with the lease while [`Client::check`] would accept it offline
    /// (`Authorization: Bearer`), else with the stored key and this machine's fingerprint
    /// (the machine must still be activated). A trial without a valid lease renews it first.
    ///
    /// Errors: [`Error::ReleaseNotFound`] (nothing published on the channel),
    /// [`Error::PlatformNotFound`] (no file for this platform), the license verdicts the
    /// server gives on the key path ([`Error::Suspended`], [`Error::NotActivated`], …; not
    /// cached: [`Client::check`] learns them at its next refresh), and network failures; [`Error::Config`] for a `current_version` or `channel` the server
    /// would refuse.
    ///
    /// ```no_run
    /// # fn demo(client: &licet::Client) -> licet::Result<()> {
    /// match client.check_for_update(env!("CARGO_PKG_VERSION"), None)? {
    ///     Some(update) if update.is_allowed() => {
    ///         println!("Update {} available: {}", update.version(), update.notes());
    ///         update.download_to("/tmp/app-update.bin", |done, total| {
    ///             eprint!("\r{done}/{total} bytes");
    ///         })?;
    ///     }
    ///     Some(update) => println!("{} is out; renew to get it", update.version()),
    ///     None => println!("up to date"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn check_for_update(
        &self,
        current_version: &str,
        channel: Option<&str>,
    ) -> Result<Option<Update>> {
        self.inner
            .transport
            .block_on(self.check_for_update_async(current_version, channel))?
    }

    /// [`Client::check_for_update`] for async code.
    pub async fn check_for_update_async(
        &self,
        current_version: &str,
        channel: Option<&str>,
    ) -> Result<Option<Update>> {
        if parse_version(current_version).is_none() {
            return Err(Error::Config(format!(
                "current version {current_version:?} is not a semantic version such as 1.2.0"
            )));
        }
        if let Some(c) = channel
            && !valid_channel(c)
        {
            return Err(Error::Config(format!(
                "channel {c:?} is not 1 to 32 lowercase letters, digits or '-'"
            )));
        }
        let mut url = self.inner.transport.url("/v1/releases/latest")?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("product", &self.inner.product)
                .append_pair("platform", &self.inner.update_platform)
                .append_pair("version", current_version);
            if let Some(c) = channel {
                q.append_pair("channel", c);
            }
        }
        let answer = match self.update_proof().await? {
            Proof::Lease(lease) => match self.ask(url.clone(), &Proof::Lease(lease)).await {
                // The server no longer takes this lease (e.g. its signing key was retired):
                // the key, read fresh, says the same thing.
                Err(Error::Server {
                    code: ErrorCode::Unauthorized,
                    message,
                }) => match self.inner.storage.load_key()? {
                    Some(key) => self.ask(url, &Proof::Key(key)).await?,
                    None => {
                        return Err(Error::Server {
                            code: ErrorCode::Unauthorized,
                            message,
                        });
                    }
                },
                answer => answer?,
            },
            proof => self.ask(url, &proof).await?,
        };
        let Some(answer) = answer else {
            return Ok(None);
        };
        Update::from_response(self.clone(), answer, self.stored_license_id()?).map(Some)
    }

    /// The platform update checks ask for: [`crate::fingerprint::update_platform`], unless
    /// [`crate::ClientBuilder::update_platform`] set another.
    pub fn update_platform(&self) -> &str {
        &self.inner.update_platform
    }

    /// One update check with this proof.
    async fn ask(&self, url: reqwest::Url, proof: &Proof) -> Result<Option<UpdateResponse>> {
        let bearer;
        let headers: Vec<(&'static str, &str)> = match proof {
            Proof::Lease(lease) => {
                bearer = Zeroizing::new(format!("Bearer {lease}"));
                vec![("authorization", bearer.as_str())]
            }
            Proof::Key(key) => vec![
                (LICENSE_KEY_HEADER, key.as_str()),
                (FINGERPRINT_HEADER, self.fingerprint_str()),
            ],
        };
        self.inner.transport.get(url, &headers).await
    }

    /// The lease if `check` would accept it offline now, else the stored key; a trial
    /// (no key) renews its lease first.
    async fn update_proof(&self) -> Result<Proof> {
        self.inner.fingerprint.clone()?;
        if let Some(lease) = self.usable_lease()? {
            return Ok(Proof::Lease(lease));
        }
        if let Some(key) = self.inner.storage.load_key()? {
            return Ok(Proof::Key(key));
        }
        // No key: a trial whose lease ran out renews it where it was started (and anything
        // else says why it cannot be proven, e.g. not activated).
        self.check_async().await?;
        self.usable_lease()?
            .map(Proof::Lease)
            .ok_or(Error::LeaseExpired)
    }

    /// The stored lease, when the offline check accepts it now.
    fn usable_lease(&self) -> Result<Option<String>> {
        if !matches!(self.check_offline()?, Offline::Valid { .. }) {
            return Ok(None);
        }
        Ok(self.state()?.lease.as_ref().map(|(token, _)| token.clone()))
    }

    /// The license (or trial) id of the stored lease, valid or not: the one a manifest for
    /// this machine must name.
    fn stored_license_id(&self) -> Result<Option<String>> {
        let mut st = self.state()?;
        if !st.loaded {
            self.load(&mut st)?;
        }
        Ok(st.lease.as_ref().map(|(_, claims)| claims.sub.clone()))
    }

    /// Verifies a release manifest against the pinned keys, and that it was issued to this
    /// product, this machine and `license_id` (when known), and has not expired by the
    /// SDK's time (which, as for leases, never goes back); its release.
    pub(crate) fn verify_manifest(
        &self,
        manifest: &str,
        license_id: Option<&str>,
    ) -> Result<ManifestRelease> {
        let fingerprint = self.inner.fingerprint.clone()?;
        let (_, claims) = self
            .inner
            .keys
            .verify_of::<ManifestClaims>(manifest, MANIFEST_TYP, true)
            .map_err(|e| refused(format!("its manifest is not one the vendor signed ({e})")))?;
        let now = {
            let mut st = self.state()?;
            if !st.loaded {
                self.load(&mut st)?;
            }
            self.trusted_now(&st, self.inner.clock.now())
        };
        claims
            .check(&self.inner.product, &fingerprint, license_id, now)
            .map_err(|e| {
                refused(match e {
                    TokenError::WrongAudience => {
                        "its manifest was issued for another product or license".to_owned()
                    }
                    TokenError::FingerprintMismatch => {
                        "its manifest was issued for another machine".to_owned()
                    }
                    TokenError::Expired => {
                        "its manifest has expired; check for the update again".to_owned()
                    }
                    other => format!("its manifest is not valid ({other})"),
                })
            })?;
        Ok(claims.rel)
    }

    /// The HTTP client (downloads share it, with its proxy and trusted roots).
    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }
}

/// A refused update.
pub(crate) fn refused(reason: String) -> Error {
    Error::UpdateVerification { reason }
}
