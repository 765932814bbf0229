//! The client: activation, offline-first checks, online refresh, deactivation.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use licet_proto::api::{ActivateRequest, DeactivateResponse, KeyAndFingerprint, LeaseResponse};
use licet_proto::key::KeyShape;
use licet_proto::token::{Expectations, TokenError};
use licet_proto::{Claims, ErrorCode, Jwks, KeySet, LicenseStatus};

use crate::cache::{self, Parsed, Sealed, Unusable};
use crate::error::{Error, NotActivatedReason, Result};
use crate::fingerprint;
use crate::license::License;
use crate::seal::{Anchor, SealKey, SealKind};
use crate::storage::{FileStorage, KeyVault, Storage};
use crate::transport::Transport;
use licet_proto::clock::{Clock, SystemClock};

/// How far the trusted-time high-water mark may advance in memory before it is written to
/// disk again (writing on every check would cost more than the check).
const PERSIST_TRUSTED_TIME_EVERY: i64 = 900;
/// After a failed background refresh, how long `check` waits before trying the network again.
const REFRESH_BACKOFF_SECS: i64 = 300;
/// How often `check` asks the server again about a cached verdict the vendor can lift.
const VERDICT_RETRY_SECS: i64 = 60;
/// The server signs leases on a one-minute grid (`iat` is "now" rounded down to it,
/// docs/protocol.md), so a lease issued just after a verdict can carry an `iat` up to this
/// much before it.
const LEASE_GRID_SECS: i64 = 60;

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
    proxy: Option<String>,
    machine_name: Option<String>,
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

    /// Whether to keep the key, and the anchor that seals the lease cache, in the OS keyring
    /// (default true; where the keyring is unavailable or not compiled in, feature
    /// `os-keyring`, the key goes to a file and the cache is sealed with a key derived from
    /// the machine id).
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

    /// Sends every request through this HTTP(S) proxy (`http://host:port`, optionally with
    /// `user:password@`). Without it the usual environment variables apply (`HTTPS_PROXY`,
    /// `HTTP_PROXY`, `NO_PROXY`).
    pub fn proxy(mut self, url: &str) -> Self {
        self.proxy = Some(url.to_owned());
        self
    }

    /// The machine name sent at activation (the vendor and the customer see it in the
    /// dashboard and the portal) instead of the host name.
    pub fn machine_name(mut self, name: &str) -> Self {
        self.machine_name = Some(name.to_owned());
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
    /// (default 5 minutes). Also how far a lease's signed `iat` may be ahead of the clock
    /// before the SDK moves its time forward to it.
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
                Arc::new(match os_vaults(self.use_keyring, &app, &self.product) {
                    Some([key, anchor]) => {
                        FileStorage::new(dir, &self.product, Some(key)).with_anchor_vault(anchor)
                    }
                    None => FileStorage::new(dir, &self.product, None),
                })
            }
        };
        // The machine key that seals the cache without a keyring needs the raw machine id;
        // without an override it is read here anyway, with one only when first needed.
        let machine_seal = OnceLock::new();
        let fingerprint = match self.fingerprint {
            Some(f) if !f.is_empty() && f.len() <= licet_proto::api::MAX_FINGERPRINT_LEN => Ok(f),
            Some(_) => Err(Error::Config(
                "fingerprint override must be 1 to 256 characters".into(),
            )),
            None => fingerprint::machine_id().map(|id| {
                let fpr = fingerprint::derive(&self.product, &id);
                let _ = machine_seal.set(SealKey::for_machine(&self.product, &fpr, Some(&id)));
                fpr
            }),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                transport: Transport::new(&self.server_url, self.timeout, self.extra_root_pem)
                    .with_proxy(self.proxy),
                machine_name: self.machine_name,
                product: self.product,
                keys: self.keys,
                fingerprint,
                machine_seal,
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
    /// The key that seals the cache where no keyring anchor answers (see [`crate::seal`]).
    machine_seal: OnceLock<SealKey>,
    storage: Arc<dyn Storage>,
    transport: Transport,
    machine_name: Option<String>,
    refresh_window: f64,
    clock_tolerance: i64,
    clock: Arc<dyn Clock>,
    auto_refresh: bool,
    state: Mutex<State>,
}

/// What this process knows, loaded from storage on the first check.
///
/// Time only moves forward: `trusted_time` is the highest of the local clock (plus
/// `clock_offset`), the `iat` of every lease accepted, and what storage remembered, and
/// nothing lowers it (see "Time and stored-state trust in the SDK" in docs/architecture.md).
#[derive(Debug, Default)]
struct State {
    loaded: bool,
    lease: Option<(String, Claims)>,
    /// Why the stored cache cannot be used (corrupt, older format, tampered with).
    load_error: Option<Error>,
    /// Why the stored token was refused (forged, foreign, unpinned key).
    token_error: Option<Error>,
    trusted_time: i64,
    persisted_trusted_time: i64,
    /// Seconds added to the local clock because a signed `iat` showed it behind (never
    /// negative).
    clock_offset: i64,
    verdict: Option<String>,
    /// A lease with an older `iat` is refused, and a stored one is treated as ended.
    lease_floor: i64,
    /// The key the cache is sealed with, once known (the anchor's, or the machine key).
    seal: Option<SealKey>,
    /// The anchor store answered "nothing stored": a new state may create an anchor.
    anchor_missing: bool,
    next_refresh_attempt: i64,
    /// When a cached verdict the vendor can lift (suspended, expired) may next be asked
    /// about online again (in this process; at most once a minute).
    next_verdict_retry: i64,
}

/// What the anchor store answered when the state was loaded.
enum AnchorRead {
    Present(Anchor, SealKey),
    Missing,
    Unavailable(String),
}

/// The offline answer before any network.
enum Offline {
    Valid {
        license: License,
        refresh_due: bool,
    },
    /// No license offline, but an online validation may bring one: the lease ended (or a
    /// newer one was seen), the clock is behind trusted time, or the stored state predates
    /// sealing. The error is the answer without the network.
    NeedsOnline(Error),
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
            proxy: None,
            machine_name: None,
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

    /// The machine name this client sends at activation: the [`ClientBuilder::machine_name`]
    /// override, or the host name (`None` if it cannot be read).
    pub fn machine_name(&self) -> Option<String> {
        self.inner
            .machine_name
            .clone()
            .or_else(|| fingerprint::machine_info().hostname)
    }

    /// The platform this client sends at activation (`linux-x86_64`, `macos-aarch64`, …).
    pub fn platform(&self) -> String {
        fingerprint::platform()
    }

    /// The license as the stored lease last described it, valid or not: for telling the
    /// user *what* ran out after [`Client::check`] refused (the lease's end, the license's
    /// expiry, the entitlements it had). `None` when no verified lease is stored. Grants
    /// nothing: only `check` says whether the app is licensed.
    pub fn last_license(&self) -> Result<Option<License>> {
        let mut st = self.state()?;
        if !st.loaded {
            self.load(&mut st)?;
        }
        let now = self.trusted_now(&st, self.inner.clock.now());
        Ok(st
            .lease
            .as_ref()
            .map(|(_, claims)| License::from_claims(claims, now)))
    }

    /// The license key this machine was activated with, as stored (`None` before activation
    /// or after [`Client::forget`]). Show [`mask_key`] of it unless the user asks for more.
    pub fn license_key(&self) -> Result<Option<String>> {
        Ok(self.inner.storage.load_key()?.map(|k| k.to_string()))
    }

    /// Activates this machine with `key`, stores the key and the signed lease.
    ///
    /// The lease is judged by its own signed times against the SDK's time (which it may move
    /// forward, never back): an expired lease gives [`Error::LeaseExpired`], one older than a lease
    /// or verdict already stored gives [`Error::InvalidToken`].
    pub fn activate(&self, key: &str) -> Result<License> {
        self.inner.transport.block_on(self.activate_async(key))?
    }

    /// [`Client::activate`] for async code.
    pub async fn activate_async(&self, key: &str) -> Result<License> {
        // A mistyped key is refused here, offline too, rather than reported as a network
        // failure (only the server can tell a well-shaped key from a real one).
        let key = KeyShape::parse(key).ok_or(Error::InvalidKey)?.into_string();
        let fingerprint = self.inner.fingerprint.clone()?;
        let info = fingerprint::machine_info();
        let req = ActivateRequest {
            key,
            fingerprint,
            name: self.inner.machine_name.clone().or(info.hostname.clone()),
            platform: Some(fingerprint::platform()),
            machine: Some(info),
        };
        let answer = self
            .inner
            .transport
            .post::<_, LeaseResponse>("/v1/licenses/activate", &req)
            .await?;
        let license = self.accept_lease(answer.token)?;
        self.inner.storage.save_key(&req.key)?;
        Ok(license)
    }

    /// Am I licensed? Offline-first: verifies the stored lease against the pinned keys, this
    /// product, this machine and the clock, in microseconds and without the network.
    ///
    /// It goes online (when [`ClientBuilder::auto_refresh`] allows, and not within 5 minutes
    /// of a failed attempt) only to: refresh the lease in its last part (see
    /// [`ClientBuilder::refresh_window`]); renew a lease that ran out
    /// ([`Error::LeaseExpired`]); ask again about a cached suspension or expiry, at most once
    /// a minute, so a reinstated or extended license works at the next `check`. A network
    /// failure never takes a still-valid lease away; a server verdict does, and is cached.
    pub fn check(&self) -> Result<License> {
        match self.check_offline()? {
            Offline::Valid {
                license,
                refresh_due: false,
            } => Ok(license),
            Offline::Refused(e) => Err(e),
            Offline::NeedsOnline(e) if !self.may_go_online() => Err(e),
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
            Offline::NeedsOnline(e) => {
                if !self.may_go_online() {
                    return Err(e);
                }
                if matches!(e, Error::Suspended | Error::Expired)
                    && let Ok(mut st) = self.state()
                {
                    // Asking again about a cached verdict: once a minute at most.
                    st.next_verdict_retry =
                        self.inner.clock.now().saturating_add(VERDICT_RETRY_SECS);
                }
                match self.validate_async().await {
                    Ok(fresh) => Ok(fresh),
                    Err(err) => self.after_failed_refresh(err, Err(e)),
                }
            }
            Offline::Refused(e) => Err(e),
        }
    }

    /// Refreshes the lease online now, and learns any verdict (revoked, suspended, expired,
    /// not activated), which is then cached. A lease signed ahead of the local clock moves
    /// the SDK's time forward to it (a clock that is behind works again); one older than a
    /// lease or verdict already stored is refused ([`Error::InvalidToken`]). A fresh lease
    /// also replaces state found tampered with ([`Error::StateTampered`]).
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
            Ok(answer) => self.accept_lease(answer.token),
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

    /// Forgets the local key, lease and anchor without contacting the server. This also
    /// clears tampered state, and the trusted-time high-water mark with it.
    pub fn forget(&self) -> Result<()> {
        self.inner.storage.delete_key()?;
        self.inner.storage.delete_cache()?;
        // After the cache: a sealed cache whose anchor is gone would read as tampered.
        let _ = self.inner.storage.delete_anchor();
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
            fingerprint: self.fingerprint_str(),
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

    /// Reads the stored state: the anchor's marks first (they hold even when the cache is
    /// gone or unusable), then the cache, trusted only if its seal verifies.
    fn load(&self, st: &mut State) -> Result<()> {
        let bytes = self.inner.storage.load_cache()?;
        let anchor = match self.inner.storage.load_anchor() {
            // A record that is not ours is as good as none: the next state gets a new one.
            Ok(Some(text)) => Anchor::parse(&text).map_or(AnchorRead::Missing, |(record, key)| {
                AnchorRead::Present(record, key)
            }),
            Ok(None) => AnchorRead::Missing,
            Err(e) => AnchorRead::Unavailable(e.0),
        };
        *st = State {
            loaded: true,
            ..State::default()
        };
        match &anchor {
            AnchorRead::Present(record, key) => {
                st.trusted_time = record.trusted_time;
                st.lease_floor = record.lease_floor;
                st.seal = Some(key.clone());
            }
            AnchorRead::Missing => st.anchor_missing = true,
            AnchorRead::Unavailable(_) => {}
        }
        st.persisted_trusted_time = st.trusted_time;
        let Some(bytes) = bytes else {
            return Ok(());
        };
        let (sealed, mac) = match cache::parse(&bytes) {
            Ok(Parsed::Current { state, mac }) => (state, mac),
            Ok(Parsed::Legacy) => {
                st.load_error = Some(Error::NotActivated(NotActivatedReason::LegacyCache));
                return Ok(());
            }
            Err(Unusable::Corrupt(why)) => {
                st.load_error = Some(Error::NotActivated(NotActivatedReason::CorruptCache(why)));
                return Ok(());
            }
            Err(Unusable::Tampered(why)) => {
                st.load_error = Some(Error::StateTampered(why));
                return Ok(());
            }
        };
        let key = match (sealed.seal, &anchor) {
            (SealKind::Keyring, AnchorRead::Present(_, key)) => key.clone(),
            (SealKind::Keyring, AnchorRead::Unavailable(why)) => {
                // Not a verdict: the keyring may answer next time.
                *st = State::default();
                return Err(Error::Storage(format!(
                    "the keyring holding the lease cache's seal did not answer: {why}"
                )));
            }
            (SealKind::Keyring, AnchorRead::Missing) => {
                st.load_error = Some(tampered(
                    "it was sealed with a keyring secret this machine no longer has",
                ));
                return Ok(());
            }
            (SealKind::Machine, AnchorRead::Present(..)) => {
                st.load_error = Some(tampered(
                    "it was sealed without the keyring secret this machine has",
                ));
                return Ok(());
            }
            (SealKind::Machine, _) => match self.machine_seal() {
                Some(key) => key.clone(),
                // No fingerprint: `evaluate` reports why.
                None => return Ok(()),
            },
        };
        if !key.verify(
            &self.inner.product,
            self.fingerprint_str(),
            &sealed.content(),
            &mac,
        ) {
            st.load_error = Some(self.foreign_token(sealed.token.as_deref()).unwrap_or_else(
                || tampered("the lease cache was edited, or comes from another machine or product"),
            ));
            return Ok(());
        }
        st.trusted_time = st.trusted_time.max(sealed.trusted_time);
        st.persisted_trusted_time = sealed.trusted_time;
        st.clock_offset = sealed.clock_offset.max(0);
        st.verdict = sealed.verdict;
        st.lease_floor = st.lease_floor.max(sealed.lease_floor);
        st.seal = Some(key);
        if let Some(token) = sealed.token {
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

    /// When a cache's seal does not verify because it was copied from another machine or
    /// product, its genuine token says so more precisely than "tampered".
    fn foreign_token(&self, token: Option<&str>) -> Option<Error> {
        let claims = self.inner.keys.verify(token?).ok()?.claims;
        match claims.check(&self.expectations(claims.iat)) {
            Err(e @ (TokenError::WrongAudience | TokenError::FingerprintMismatch)) => {
                Some(token_error(e))
            }
            _ => None,
        }
    }

    /// The machine key, derived on first use (it reads the machine id); `None` without a
    /// fingerprint.
    fn machine_seal(&self) -> Option<&SealKey> {
        if let Some(key) = self.inner.machine_seal.get() {
            return Some(key);
        }
        let fingerprint = self.inner.fingerprint.as_deref().ok()?;
        let id = fingerprint::machine_id().ok();
        Some(
            self.inner.machine_seal.get_or_init(|| {
                SealKey::for_machine(&self.inner.product, fingerprint, id.as_deref())
            }),
        )
    }

    fn fingerprint_str(&self) -> &str {
        self.inner.fingerprint.as_deref().unwrap_or("")
    }

    /// The SDK's time at `local_now`: the local clock plus the forward offset, never before
    /// trusted time.
    fn trusted_now(&self, st: &State, local_now: i64) -> i64 {
        local_now
            .saturating_add(st.clock_offset)
            .max(st.trusted_time)
    }

    fn evaluate(&self, st: &mut State, local_now: i64) -> Offline {
        if let Err(e) = &self.inner.fingerprint {
            return Offline::Refused(e.clone());
        }
        match &st.load_error {
            Some(e @ Error::NotActivated(NotActivatedReason::LegacyCache)) => {
                return Offline::NeedsOnline(e.clone());
            }
            Some(e) => return Offline::Refused(e.clone()),
            None => {}
        }
        if let Some(code) = &st.verdict {
            let verdict = verdict_error(code);
            // A suspension can be lifted and an expiry extended: ask again, now and then.
            let liftable = matches!(verdict, Error::Suspended | Error::Expired);
            if liftable && local_now >= st.next_verdict_retry {
                return Offline::NeedsOnline(verdict);
            }
            return Offline::Refused(verdict);
        }
        if let Some(e) = &st.token_error {
            return Offline::Refused(e.clone());
        }
        let tolerance = self.inner.clock_tolerance;
        if st.clock_offset != 0 && local_now.saturating_add(tolerance) >= st.trusted_time {
            // The local clock looks right again on its own: stop correcting it.
            st.clock_offset = 0;
        }
        let clock = local_now.saturating_add(st.clock_offset);
        if clock.saturating_add(tolerance) < st.trusted_time {
            return Offline::NeedsOnline(Error::ClockTampered {
                behind_secs: st.trusted_time - clock,
            });
        }
        let now = self.trusted_now(st, local_now);
        st.trusted_time = now;
        let Some((_, claims)) = &st.lease else {
            return Offline::Refused(Error::NotActivated(NotActivatedReason::NoLicense));
        };
        if claims.iat < st.lease_floor {
            // A newer lease or a verdict was seen (the anchor remembers it): this one, put
            // back from an older copy of the cache or left by a concurrent process, is over.
            return Offline::NeedsOnline(Error::LeaseExpired);
        }
        match claims.check(&self.expectations(now)) {
            Ok(()) => {}
            // Only the lease ran out: the license may be fine, the network can renew it.
            Err(TokenError::Expired) => return Offline::NeedsOnline(Error::LeaseExpired),
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
    ///
    /// Whatever sent it, a lease can only move the SDK's time forward: its signed `iat`,
    /// when ahead of the local clock, becomes a forward offset (a clock that is behind works
    /// again), and it is refused when older than a lease or a verdict already seen (a
    /// replay). Nothing else from the server (no `Date` header) is used.
    fn accept_lease(&self, token: String) -> Result<License> {
        let claims = self.inner.keys.verify(&token).map_err(token_error)?.claims;
        let local_now = self.inner.clock.now();
        let tolerance = self.inner.clock_tolerance;
        let mut st = self.state()?;
        if !st.loaded {
            self.load(&mut st)?;
        }
        if claims.iat < st.lease_floor {
            return Err(Error::InvalidToken(
                "the server sent a lease older than one already accepted or than a verdict \
                 already learned (a replay?)"
                    .into(),
            ));
        }
        let ahead = claims.iat.saturating_sub(local_now);
        let offset = if ahead > tolerance { ahead } else { 0 };
        let clock = local_now.saturating_add(offset);
        // A lease newer than every lease and verdict seen (checked above), signed at a time
        // that agrees with the local clock, vouches for that clock: trusted time that ran
        // ahead of it (a clock once set ahead, then corrected) comes back down to it.
        let vouched = ahead.abs() <= tolerance.saturating_add(LEASE_GRID_SECS);
        if !vouched && clock.saturating_add(tolerance) < st.trusted_time {
            return Err(Error::ClockTampered {
                behind_secs: st.trusted_time - clock,
            });
        }
        let now = if vouched {
            clock.max(claims.iat)
        } else {
            clock.max(st.trusted_time).max(claims.iat)
        };
        claims.check(&self.expectations(now)).map_err(token_error)?;
        let seal = match st.seal.take() {
            Some(key) => key,
            None => self.new_seal(&st)?,
        };
        let license = License::from_claims(&claims, now);
        let lease_floor = st.lease_floor.max(claims.iat);
        *st = State {
            loaded: true,
            trusted_time: now,
            clock_offset: offset,
            lease_floor,
            lease: Some((token, claims)),
            seal: Some(seal),
            ..State::default()
        };
        self.persist(&mut st)?;
        self.update_anchor(&st);
        Ok(license)
    }

    /// Records a definite verdict from the server. Leases signed before it was learned
    /// (less the allowed skew) are refused from now on.
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
        let now = self.trusted_now(&st, self.inner.clock.now());
        st.trusted_time = now;
        st.verdict = Some(code.as_str().to_owned());
        let skew = self.inner.clock_tolerance.saturating_add(LEASE_GRID_SECS);
        st.lease_floor = st.lease_floor.max(now.saturating_sub(skew));
        // Just learned online: no need to ask again within the minute.
        st.next_verdict_retry = self.inner.clock.now().saturating_add(VERDICT_RETRY_SECS);
        // The verdict replaces whatever could not be used: the cache is written anew.
        st.load_error = None;
        if st.seal.is_none() {
            st.seal = Some(self.new_seal(&st)?);
        }
        self.persist(&mut st)?;
        self.update_anchor(&st);
        Ok(())
    }

    /// The key for a new state: a new anchor in the keyring when its store answered that it
    /// has none and takes one, else the machine key.
    fn new_seal(&self, st: &State) -> Result<SealKey> {
        if st.anchor_missing
            && let Some(key) = SealKey::random()
            && self
                .inner
                .storage
                .save_anchor(&Anchor::record(&key, st.trusted_time, st.lease_floor))
                .is_ok()
        {
            return Ok(key);
        }
        match self.machine_seal() {
            Some(key) => Ok(key.clone()),
            None => Err(self
                .inner
                .fingerprint
                .clone()
                .err()
                .unwrap_or_else(|| Error::Storage("no key to seal the lease cache".into()))),
        }
    }

    /// Writes the sealed state to the cache.
    fn persist(&self, st: &mut State) -> Result<()> {
        let key = st
            .seal
            .as_ref()
            .ok_or_else(|| Error::Storage("no key to seal the lease cache".into()))?;
        let sealed = Sealed {
            token: st.lease.as_ref().map(|(t, _)| t.clone()),
            trusted_time: st.trusted_time,
            clock_offset: st.clock_offset,
            verdict: st.verdict.clone(),
            lease_floor: st.lease_floor,
            seal: key.kind,
        };
        let mac = key.tag(
            &self.inner.product,
            self.fingerprint_str(),
            &sealed.content(),
        );
        self.inner.storage.save_cache(&sealed.to_bytes(mac))?;
        st.persisted_trusted_time = st.trusted_time;
        Ok(())
    }

    /// After an online answer is stored, the anchor learns its marks (best effort: an anchor
    /// behind the cache only protects less).
    fn update_anchor(&self, st: &State) {
        if let Some(key) = st.seal.as_ref().filter(|k| k.kind == SealKind::Keyring) {
            let _ = self.inner.storage.save_anchor(&Anchor::record(
                key,
                st.trusted_time,
                st.lease_floor,
            ));
        }
    }
}

fn tampered(why: &str) -> Error {
    Error::StateTampered(why.to_owned())
}

/// The OS keyring's entries for the key and the anchor, when wanted and compiled in.
#[cfg(feature = "os-keyring")]
fn os_vaults(wanted: bool, app: &str, product: &str) -> Option<[Box<dyn KeyVault>; 2]> {
    use crate::storage::OsKeyring;
    wanted.then(|| -> [Box<dyn KeyVault>; 2] {
        [
            Box::new(OsKeyring::new(app, product)),
            Box::new(OsKeyring::anchor(app, product)),
        ]
    })
}

/// Without the `os-keyring` feature the key always lives in the file store, and the machine
/// key seals the cache.
#[cfg(not(feature = "os-keyring"))]
fn os_vaults(_wanted: bool, _app: &str, _product: &str) -> Option<[Box<dyn KeyVault>; 2]> {
    None
}

fn token_error(e: TokenError) -> Error {
    match e {
        TokenError::FingerprintMismatch => Error::FingerprintMismatch,
        TokenError::LicenseExpired => Error::Expired,
        TokenError::Expired => Error::LeaseExpired,
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

/// A license key with its middle hidden, for display (`PHOTO-*****-*****-*****-*****-UJ6VB`):
/// the prefix and the last group stay, every other symbol becomes `*`.
pub fn mask_key(key: &str) -> String {
    let groups: Vec<&str> = key.split('-').collect();
    let last = groups.len().saturating_sub(1);
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            if i == 0 || i == last {
                (*g).to_owned()
            } else {
                "*".repeat(g.chars().count())
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod mask_tests {
    use super::mask_key;

    #[test]
    fn masks_hide_the_middle() {
        for (key, want) in [
            (
                "PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB",
                "PHOTO-*****-*****-*****-*****-UJ6VB",
            ),
            ("LIC-AAAAA-BBBBB", "LIC-*****-BBBBB"),
            ("NODASHES", "NODASHES"),
            ("", ""),
        ] {
            assert_eq!(mask_key(key), want, "{key}");
        }
    }
}
