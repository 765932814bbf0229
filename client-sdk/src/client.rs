//! The client: activation, offline-first checks, online refresh, deactivation.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use licet_proto::api::{ActivateRequest, DeactivateResponse, KeyAndFingerprint, LeaseResponse};
use licet_proto::token::{Expectations, TokenError};
use licet_proto::{Claims, ErrorCode, Jwks, KeySet, LicenseStatus};

use crate::cache::CacheFile;
use crate::error::{Error, NotActivatedReason, Result};
use crate::fingerprint;
use crate::license::License;
use crate::storage::{FileStorage, KeyVault, Storage};
use crate::transport::Transport;
use licet_proto::clock::{Clock, SystemClock};

/// How far the trusted-time high-water mark may advance in memory before it is written to
/// disk again (writing on every check would cost more than the check).
const PERSIST_TRUSTED_TIME_EVERY: i64 = 900;
/// After a failed background refresh, how long `check` waits before trying the network again.
const REFRESH_BACKOFF_SECS: i64 = 300;

/// Configures a [`Client`]. Start with [`Client::builder`].
#[derive(Debug)]
pub struct ClientBuilder {
    server_url: String,
    product: String,
    keys: KeySet,
    app_name: Option<String>,
    storage_dir: Option<PathBuf>,
    storage: Option<Arc<dyn Storage>>,
    use_keyring: bool,
    timeout: Duration,
    extra_root_pem: Option<Vec<u8>>,
    fingerprint: Option<String>,
    refresh_window: f64,
    clock_tolerance: i64,
    clock: Arc<dyn Clock>,
    auto_refresh: bool,
}

impl ClientBuilder {
    /// Pins every key of a JWKS document (e.g. the server's `/.well-known/jwks.json`,
    /// compiled into the app). Only pinned keys are ever trusted.
    pub fn pinned_jwks(mut self, jwks_json: &str) -> Result<Self> {
        let jwks: Jwks = serde_json::from_str(jwks_json)
            .map_err(|e| Error::Config(format!("pinned JWKS is not valid JSON: {e}")))?;
        for jwk in &jwks.keys {
            let key = jwk
                .verifying_key()
                .map_err(|e| Error::Config(format!("pinned JWKS has an unusable key: {e}")))?;
            self.keys.insert(key);
        }
        Ok(self)
    }

    /// Pins a raw 32-byte Ed25519 public key.
    pub fn pinned_key(mut self, raw: &[u8; 32]) -> Result<Self> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(raw)
            .map_err(|_| Error::Config("pinned key is not an Ed25519 public key".into()))?;
        self.keys.insert(key);
        Ok(self)
    }

    /// The app's name, used for the storage directory and the keyring entry.
    pub fn app_name(mut self, name: &str) -> Self {
        self.app_name = Some(name.to_owned());
        self
    }

    /// Stores the lease (and, without a keyring, the key) in this directory instead of the
    /// platform's data directory.
    pub fn storage_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage_dir = Some(dir.into());
        self
    }

    /// Replaces the storage entirely (e.g. [`crate::storage::MemoryStorage`] in tests).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Whether to keep the key in the OS keyring (default true; the file store is used
    /// when the keyring is unavailable, or not compiled in: feature `os-keyring`).
    pub fn use_keyring(mut self, yes: bool) -> Self {
        self.use_keyring = yes;
        self
    }

    /// Timeout of every request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts this root certificate (PEM) besides the platform's, for self-hosted servers.
    pub fn extra_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.extra_root_pem = Some(pem.to_vec());
        self
    }

    /// Uses this fingerprint instead of deriving one from the machine id (containers without
    /// a stable machine id, tests).
    pub fn fingerprint_override(mut self, fingerprint: &str) -> Self {
        self.fingerprint = Some(fingerprint.to_owned());
        self
    }

    /// The last fraction of a lease in which `check` refreshes it online (default 0.25).
    pub fn refresh_window(mut self, fraction: f64) -> Self {
        self.refresh_window = fraction.clamp(0.0, 1.0);
        self
    }

    /// How far the clock may be behind trusted time before `check` reports tampering
    /// (default 5 minutes).
    pub fn clock_tolerance(mut self, tolerance: Duration) -> Self {
        self.clock_tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Replaces the clock (tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether `check` may go online to refresh a lease (default true).
    pub fn auto_refresh(mut self, yes: bool) -> Self {
        self.auto_refresh = yes;
        self
    }

    /// Builds the client. Fails without pinned keys, with a malformed URL, or without a
    /// storage location.
    pub fn build(self) -> Result<Client> {
        if self.keys.is_empty() {
            return Err(Error::Config(
                "no pinned public keys: use pinned_jwks or pinned_key".into(),
            ));
        }
        if !(self.server_url.starts_with("https://") || self.server_url.starts_with("http://")) {
            return Err(Error::Config(
                "the server URL must start with https:// (or http://)".into(),
            ));
        }
        if self.product.is_empty() {
            return Err(Error::Config("the product slug is empty".into()));
        }
        let app = self
            .app_name
            .clone()
            .unwrap_or_else(|| self.product.clone());
        let storage: Arc<dyn Storage> = match self.storage {
            Some(s) => s,
            None => {
                let dir = match self.storage_dir {
                    Some(d) => d,
                    None => directories::ProjectDirs::from("", "", &app)
                        .map(|p| p.data_dir().join("licet"))
                        .ok_or_else(|| {
                            Error::Config("no data directory for this user; set storage_dir".into())
                        })?,
                };
                let vault = os_vault(self.use_keyring, &app, &self.product);
                Arc::new(FileStorage::new(dir, &self.product, vault))
            }
        };
        let fingerprint = match self.fingerprint {
            Some(f) if !f.is_empty() && f.len() <= licet_proto::api::MAX_FINGERPRINT_LEN => Ok(f),
            Some(_) => Err(Error::Config(
                "fingerprint override must be 1 to 256 characters".into(),
            )),
            None => fingerprint::for_this_machine(&self.product),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                transport: Transport::new(&self.server_url, self.timeout, self.extra_root_pem),
                product: self.product,
                keys: self.keys,
                fingerprint,
                storage,
                refresh_window: self.refresh_window,
                clock_tolerance: self.clock_tolerance,
                clock: self.clock,
                auto_refresh: self.auto_refresh,
                state: Mutex::new(State::default()),
            }),
        })
    }
}

/// A license client for one product. Cheap to clone; usable from many threads at once.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    product: String,
    keys: KeySet,
    fingerprint: Result<String>,
    storage: Arc<dyn Storage>,
    transport: Transport,
    refresh_window: f64,
    clock_tolerance: i64,
    clock: Arc<dyn Clock>,
    auto_refresh: bool,
    state: Mutex<State>,
}

/// What this process knows, loaded from storage on the first check.
#[derive(Debug, Default)]
struct State {
    loaded: bool,
    lease: Option<(String, Claims)>,
    /// Why the stored cache could not be used (corrupt file).
    load_error: Option<NotActivatedReason>,
    /// Why the stored token was refused (forged, foreign, unpinned key).
    token_error: Option<Error>,
    trusted_time: i64,
    persisted_trusted_time: i64,
    clock_offset: i64,
    verdict: Option<String>,
    next_refresh_attempt: i64,
}

/// The offline answer before any network.
enum Offline {
    Valid { license: License, refresh_due: bool },
    LeaseEnded,
    Refused(Error),
}

impl Client {
    /// Starts configuring a client for `product_slug` on the server at `server_url`.
    pub fn builder(server_url: &str, product_slug: &str) -> ClientBuilder {
        ClientBuilder {
            server_url: server_url.trim_end_matches('/').to_owned(),
            product: product_slug.to_owned(),
            keys: KeySet::new(),
            app_name: None,
            storage_dir: None,
            storage: None,
            use_keyring: true,
            timeout: Duration::from_secs(10),
            extra_root_pem: None,
            fingerprint: None,
            refresh_window: 0.25,
            clock_tolerance: 300,
            clock: Arc::new(SystemClock),
            auto_refresh: true,
        }
    }

    /// The product slug.
    pub fn product(&self) -> &str {
        &self.inner.product
    }

    /// This machine's fingerprint for the product.
    pub fn fingerprint(&self) -> Result<String> {
        self.inner.fingerprint.clone()
    }

    /// Activates this machine with `key`, stores the key and the signed lease.
    pub fn activate(&self, key: &str) -> Result<License> {
        self.inner.transport.block_on(self.activate_async(key))?
    }

    /// [`Client::activate`] for async code.
    pub async fn activate_async(&self, key: &str) -> Result<License> {
        let fingerprint = self.inner.fingerprint.clone()?;
        let info = fingerprint::machine_info();
        let req = ActivateRequest {
            key: key.trim().to_owned(),
            fingerprint,
            name: info.hostname.clone(),
            platform: Some(fingerprint::platform()),
            machine: Some(info),
        };
        let answer = self
            .inner
            .transport
            .post::<_, LeaseResponse>("/v1/licenses/activate", &req)
            .await?;
        let license = self.accept_lease(answer.body.token, answer.server_time)?;
        self.inner.storage.save_key(&req.key)?;
        Ok(license)
    }

    /// Am I licensed? Offline-first: verifies the stored lease against the pinned keys, this
    /// product, this machine and the clock. In the lease's last part (see
    /// [`ClientBuilder::refresh_window`]) it refreshes online when the server is reachable; a
    /// network failure never takes a still-valid lease away, a server verdict does.
    pub fn check(&self) -> Result<License> {
        match self.check_offline()? {
            Offline::Valid {
                license,
                refresh_due: false,
            } => Ok(license),
            Offline::Refused(e) if !matches!(e, Error::ClockTampered { .. }) => Err(e),
            Offline::Refused(e) if !self.may_go_online() => Err(e),
            Offline::LeaseEnded if !self.may_go_online() => Err(Error::Expired),
            // Only when the network may help does a check leave this thread.
            _ => self.inner.transport.block_on(self.check_async())?,
        }
    }

    /// [`Client::check`] for async code.
    pub async fn check_async(&self) -> Result<License> {
        match self.check_offline()? {
            Offline::Valid {
                license,
                refresh_due: false,
            } => Ok(license),
            Offline::Valid {
                license,
                refresh_due: true,
            } => match self.validate_async().await {
                Ok(fresh) => Ok(fresh),
                Err(e) => self.after_failed_refresh(e, Ok(license)),
            },
            Offline::LeaseEnded => {
                if !self.may_go_online() {
                    return Err(Error::Expired);
                }
                match self.validate_async().await {
                    Ok(fresh) => Ok(fresh),
                    Err(e) => self.after_failed_refresh(e, Err(Error::Expired)),
                }
            }
            Offline::Refused(e @ Error::ClockTampered { .. }) if self.may_go_online() => {
                match self.validate_async().await {
                    Ok(fresh) => Ok(fresh),
                    Err(err) => self.after_failed_refresh(err, Err(e)),
                }
            }
            Offline::Refused(e) => Err(e),
        }
    }

    /// Refreshes the lease online now, and learns any verdict (revoked, suspended, expired,
    /// not activated), which is then cached.
    pub fn validate(&self) -> Result<License> {
        self.inner.transport.block_on(self.validate_async())?
    }

    /// [`Client::validate`] for async code.
    pub async fn validate_async(&self) -> Result<License> {
        let key = self
            .inner
            .storage
            .load_key()?
            .ok_or(Error::NotActivated(NotActivatedReason::NoLicense))?;
        let req = KeyAndFingerprint {
            key: key.to_string(),
            fingerprint: self.inner.fingerprint.clone()?,
        };
        match self
            .inner
            .transport
            .post::<_, LeaseResponse>("/v1/licenses/validate", &req)
            .await
        {
            Ok(answer) => self.accept_lease(answer.body.token, answer.server_time),
            Err(e) if e.is_verdict() => {
                self.record_verdict(&e)?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Frees this machine's seat on the server and forgets the local key and lease (also
    /// when the server had already forgotten this machine).
    pub fn deactivate(&self) -> Result<()> {
        self.inner.transport.block_on(self.deactivate_async())?
    }

    /// [`Client::deactivate`] for async code.
    pub async fn deactivate_async(&self) -> Result<()> {
        if let Some(key) = self.inner.storage.load_key()? {
            let req = KeyAndFingerprint {
                key: key.to_string(),
                fingerprint: self.inner.fingerprint.clone()?,
            };
            match self
                .inner
                .transport
                .post::<_, DeactivateResponse>("/v1/licenses/deactivate", &req)
                .await
            {
                Ok(_) | Err(Error::NotActivated(_)) | Err(Error::InvalidKey) => {}
                Err(e) => return Err(e),
            }
        }
        self.forget()
    }

    /// Forgets the local key and lease without contacting the server.
    pub fn forget(&self) -> Result<()> {
        self.inner.storage.delete_key()?;
        self.inner.storage.delete_cache()?;
        *self.state()? = State {
            loaded: true,
            ..State::default()
        };
        Ok(())
    }

    /// True if the license checks valid and grants `name` (offline-first, like `check`).
    pub fn has_entitlement(&self, name: &str) -> bool {
        self.check().is_ok_and(|l| l.has_entitlement(name))
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        self.inner
            .state
            .lock()
            .map_err(|_| Error::Storage("license state lock poisoned".into()))
    }

    fn may_go_online(&self) -> bool {
        self.inner.auto_refresh
            && self
                .state()
                .is_ok_and(|st| self.inner.clock.now() >= st.next_refresh_attempt)
    }

    /// A verdict replaces the offline answer; a failure keeps it and backs off.
    fn after_failed_refresh(&self, err: Error, offline: Result<License>) -> Result<License> {
        // No stored key means no refresh is possible, which says nothing about the license.
        let no_key = matches!(err, Error::NotActivated(NotActivatedReason::NoLicense));
        if err.is_verdict() && !no_key {
            return Err(err);
        }
        if let Ok(mut st) = self.state() {
            st.next_refresh_attempt = self.inner.clock.now() + REFRESH_BACKOFF_SECS;
        }
        offline
    }

    /// What this client expects of a lease's claims at `now`.
    fn expectations(&self, now: i64) -> Expectations<'_> {
        Expectations {
            audience: &self.inner.product,
            fingerprint: self.inner.fingerprint.as_deref().unwrap_or(""),
            now,
            leeway: self.inner.clock_tolerance,
        }
    }

    /// The offline part of `check`, under the state lock.
    fn check_offline(&self) -> Result<Offline> {
        let local_now = self.inner.clock.now();
        let mut st = self.state()?;
        if !st.loaded {
            self.load(&mut st)?;
        }
        let answer = self.evaluate(&mut st, local_now);
        if st.lease.is_some()
            && st.trusted_time - st.persisted_trusted_time > PERSIST_TRUSTED_TIME_EVERY
        {
            // Best effort: failing to persist the high-water mark must not fail the check.
            let _ = self.persist(&mut st);
        }
        Ok(answer)
    }

    fn load(&self, st: &mut State) -> Result<()> {
        let bytes = self.inner.storage.load_cache()?;
        *st = State {
            loaded: true,
            ..State::default()
        };
        let Some(bytes) = bytes else {
            return Ok(());
        };
        let file = match CacheFile::parse(&bytes) {
            Ok(f) => f,
            Err(why) => {
                st.load_error = Some(NotActivatedReason::CorruptCache(why));
                return Ok(());
            }
        };
        st.trusted_time = file.trusted_time;
        st.persisted_trusted_time = file.trusted_time;
        st.clock_offset = file.clock_offset;
        st.verdict = file.verdict;
        if let Some(token) = file.token {
            match self.inner.keys.verify(&token) {
                Ok(v) => {
                    st.trusted_time = st.trusted_time.max(v.claims.iat);
                    st.lease = Some((token, v.claims));
                }
                Err(e) => st.token_error = Some(token_error(e)),
            }
        }
        Ok(())
    }

    fn evaluate(&self, st: &mut State, local_now: i64) -> Offline {
        if let Err(e) = &self.inner.fingerprint {
            return Offline::Refused(e.clone());
        }
        if let Some(reason) = &st.load_error {
            return Offline::Refused(Error::NotActivated(reason.clone()));
        }
        if let Some(code) = &st.verdict {
            return Offline::Refused(verdict_error(code));
        }
        if let Some(e) = &st.token_error {
            return Offline::Refused(e.clone());
        }
        let tolerance = self.inner.clock_tolerance;
        let mut now = local_now.saturating_add(st.clock_offset);
        if st.clock_offset != 0 && local_now.saturating_add(tolerance) >= st.trusted_time {
            // The local clock looks right again on its own: stop correcting it.
            st.clock_offset = 0;
            now = local_now;
        }
        if now.saturating_add(tolerance) < st.trusted_time {
            return Offline::Refused(Error::ClockTampered {
                behind_secs: st.trusted_time - now,
            });
        }
        st.trusted_time = st.trusted_time.max(now);
        let Some((_, claims)) = &st.lease else {
            return Offline::Refused(Error::NotActivated(NotActivatedReason::NoLicense));
        };
        match claims.check(&self.expectations(now)) {
            Ok(()) => {}
            Err(TokenError::Expired) => return Offline::LeaseEnded,
            Err(e) => return Offline::Refused(token_error(e)),
        }
        if let Some(e) = status_error(claims.lic.status) {
            return Offline::Refused(e);
        }
        let lifetime = (claims.exp - claims.iat).max(0);
        let window = (lifetime as f64 * self.inner.refresh_window) as i64;
        let refresh_due =
            self.inner.auto_refresh && now >= claims.exp - window && now >= st.next_refresh_attempt;
        Offline::Valid {
            license: License::from_claims(claims, now),
            refresh_due,
        }
    }

    /// Verifies a lease from the server, adopts it and stores it.
    fn accept_lease(&self, token: String, server_time: Option<i64>) -> Result<License> {
        let verified = self.inner.keys.verify(&token).map_err(token_error)?;
        let claims = verified.claims;
        let local_now = self.inner.clock.now();
        let server_now = server_time.unwrap_or(claims.iat).max(claims.iat);
        let tolerance = self.inner.clock_tolerance;
        let offset = if (server_now - local_now).abs() > tolerance {
            server_now - local_now
        } else {
            0
        };
        let now = local_now + offset;
        claims.check(&self.expectations(now)).map_err(|e| match e {
            TokenError::Expired | TokenError::LicenseExpired => Error::Expired,
            other => token_error(other),
        })?;
        let license = License::from_claims(&claims, now);
        let mut st = self.state()?;
        *st = State {
            loaded: true,
            // A successful online answer resets trusted time to the server's: a clock that
            // was once set ahead by mistake does not haunt the app forever.
            trusted_time: server_now.max(now),
            clock_offset: offset,
            lease: Some((token, claims)),
            ..State::default()
        };
        self.persist(&mut st)?;
        Ok(license)
    }

    fn record_verdict(&self, e: &Error) -> Result<()> {
        let code = match e {
            Error::NotActivated(_) => ErrorCode::NotActivated,
            Error::InvalidKey => ErrorCode::LicenseNotFound,
            Error::Expired => ErrorCode::LicenseExpired,
            Error::Suspended => ErrorCode::LicenseSuspended,
            Error::Revoked => ErrorCode::LicenseRevoked,
            _ => return Ok(()),
        };
        let mut st = self.state()?;
        if !st.loaded {
            self.load(&mut st)?;
        }
        st.verdict = Some(code.as_str().to_owned());
        self.persist(&mut st)
    }

    fn persist(&self, st: &mut State) -> Result<()> {
        let file = CacheFile {
            verdict: st.verdict.clone(),
            ..CacheFile::new(
                st.lease
                    .as_ref()
                    .map(|(t, _)| t.clone())
                    .unwrap_or_default(),
                st.trusted_time,
                st.clock_offset,
            )
        };
        let file = CacheFile {
            token: file.token.filter(|t| !t.is_empty()),
            ..file
        };
        self.inner.storage.save_cache(&file.to_bytes())?;
        st.persisted_trusted_time = st.trusted_time;
        Ok(())
    }
}

/// The OS keyring when wanted and compiled in.
#[cfg(feature = "os-keyring")]
fn os_vault(wanted: bool, app: &str, product: &str) -> Option<Box<dyn KeyVault>> {
    wanted.then(|| Box::new(crate::storage::OsKeyring::new(app, product)) as Box<dyn KeyVault>)
}

/// Without the `os-keyring` feature the key always lives in the file store.
#[cfg(not(feature = "os-keyring"))]
fn os_vault(_wanted: bool, _app: &str, _product: &str) -> Option<Box<dyn KeyVault>> {
    None
}

fn token_error(e: TokenError) -> Error {
    match e {
        TokenError::FingerprintMismatch => Error::FingerprintMismatch,
        TokenError::LicenseExpired | TokenError::Expired => Error::Expired,
        other => Error::InvalidToken(other.to_string()),
    }
}

fn status_error(status: LicenseStatus) -> Option<Error> {
    match status {
        LicenseStatus::Active => None,
        LicenseStatus::Suspended => Some(Error::Suspended),
        LicenseStatus::Revoked => Some(Error::Revoked),
    }
}

fn verdict_error(code: &str) -> Error {
    match code {
        "LICENSE_EXPIRED" => Error::Expired,
        "LICENSE_SUSPENDED" => Error::Suspended,
        "LICENSE_REVOKED" => Error::Revoked,
        "LICENSE_NOT_FOUND" => Error::InvalidKey,
        _ => Error::NotActivated(NotActivatedReason::ServerForgot),
    }
}
