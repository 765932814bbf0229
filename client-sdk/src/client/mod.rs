//! The client: activation, offline-first checks, online refresh, deactivation.

mod air_gapped;
mod builder;
mod floating;
mod stored;
mod trust;
mod updates;

pub use builder::ClientBuilder;
pub(crate) use updates::refused;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use licet_proto::api::{
    ActivateRequest, DeactivateResponse, HeldLease, KeyAndFingerprint, LeaseResponse,
    ValidateRequest, ValidateResponse,
};
use licet_proto::key::KeyShape;
use licet_proto::token::{Expectations, TokenError};
use licet_proto::trials::StartTrialRequest;
use licet_proto::{Claims, ErrorCode, KeySet, LicenseKind, LicenseStatus};

use crate::error::{Error, NotActivatedReason, Result};
use crate::fingerprint;
use crate::license::License;
use crate::seal::{Anchor, SealKey};
use crate::storage::Storage;
use crate::transport::Transport;
use licet_proto::clock::Clock;

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
    /// The `os-arch` update checks ask for.
    update_platform: String,
    /// The per-process id floating seats are checked out with, if any.
    seat_instance: Option<String>,
    /// A fixed background renewal interval for seats (default: half the remaining lease).
    seat_renew_interval: Option<std::time::Duration>,
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
        ClientBuilder::new(server_url, product_slug)
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
        // An online activation supersedes any air-gapped request or proof kept here.
        self.inner.storage.delete_air_gap()?;
        Ok(license)
    }

    /// Starts this machine's trial of the product (the product must offer one), or resumes
    /// the one it had: a machine gets one trial per product, ever, with the same end however
    /// often it asks (reinstalling the app does not reset it). The trial's lease is then
    /// checked offline by [`Client::check`] exactly like a license's, with the same tamper
    /// and clock protections, and renewed online the same way.
    ///
    /// Errors: [`Error::TrialNotAvailable`] (no trial offered), [`Error::TrialExpired`] (it
    /// ended, or a license took over on this machine). With a license key already stored it
    /// starts nothing and answers [`Client::check`].
    ///
    /// ```no_run
    /// # fn first_run(client: &licet::Client, key: Option<&str>) -> licet::Result<licet::License> {
    /// match key {
    ///     Some(key) => client.activate(key),
    ///     None => client.start_trial(),
    /// }
    /// # }
    /// ```
    pub fn start_trial(&self) -> Result<License> {
        self.inner.transport.block_on(self.start_trial_async())?
    }

    /// [`Client::start_trial`] for async code.
    pub async fn start_trial_async(&self) -> Result<License> {
        if self.inner.storage.load_key()?.is_some() {
            return self.check_async().await;
        }
        self.request_trial().await
    }

    /// Asks the server for this machine's trial and adopts its lease; a trial that ended is
    /// cached as a verdict.
    async fn request_trial(&self) -> Result<License> {
        let info = fingerprint::machine_info();
        let req = StartTrialRequest {
            product: self.inner.product.clone(),
            fingerprint: self.inner.fingerprint.clone()?,
            name: self.inner.machine_name.clone().or(info.hostname.clone()),
            platform: Some(fingerprint::platform()),
            machine: Some(info),
        };
        match self
            .inner
            .transport
            .post::<_, LeaseResponse>("/v1/trials/activate", &req)
            .await
        {
            Ok(answer) => self.accept_lease(answer.token),
            Err(e @ Error::TrialExpired) => {
                self.record_verdict(&e)?;
                Err(e)
            }
            Err(e) => Err(e),
        }
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
    ///
    /// While the stored lease is valid and before its refresh window, the request names it
    /// ([`HeldLease`]); a server that finds it still says what a fresh lease would answers
    /// "unchanged" without signing one, and the stored lease stays.
    pub async fn validate_async(&self) -> Result<License> {
        let Some(key) = self.inner.storage.load_key()? else {
            // A trial has no key: its lease is renewed where it was started.
            if self.holds_trial()? {
                return self.request_trial().await;
            }
            return Err(Error::NotActivated(NotActivatedReason::NoLicense));
        };
        let mut held = self.held_lease()?;
        loop {
            let req = ValidateRequest {
                key: key.to_string(),
                fingerprint: self.inner.fingerprint.clone()?,
                lease: held.take(),
            };
            let offered = req.lease.is_some();
            match self
                .inner
                .transport
                .post::<_, ValidateResponse>("/v1/licenses/validate", &req)
                .await
            {
                Ok(ValidateResponse {
                    token: Some(token), ..
                }) => return self.accept_lease(token),
                Ok(ValidateResponse {
                    unchanged: true, ..
                }) if offered => match self.check_offline()? {
                    Offline::Valid { license, .. } => return Ok(license),
                    // The stored lease changed or ended meanwhile: ask for a fresh one.
                    _ => continue,
                },
                Ok(_) => {
                    return Err(Error::Network(
                        "the server's validation answer held no lease".into(),
                    ));
                }
                Err(e) if e.is_verdict() => {
                    self.record_verdict(&e)?;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The stored lease, as a validation request names it: only a node-locked lease that
    /// is valid offline now and not yet in its refresh window (there the client wants a
    /// fresh one anyway).
    fn held_lease(&self) -> Result<Option<HeldLease>> {
        let local_now = self.inner.clock.now();
        let mut st = self.state()?;
        if !st.loaded {
            self.load(&mut st)?;
        }
        if !matches!(self.evaluate(&mut st, local_now), Offline::Valid { .. }) {
            return Ok(None);
        }
        let now = self.trusted_now(&st, local_now);
        Ok(st.lease.as_ref().and_then(|(token, claims)| {
            let lifetime = (claims.exp - claims.iat).max(0);
            let window = (lifetime as f64 * self.inner.refresh_window) as i64;
            let node_locked = claims.lic.seat.is_none() && claims.lic.kind != LicenseKind::Trial;
            (node_locked && now < claims.exp - window)
                .then(|| HeldLease::of(token, claims))
                .flatten()
        }))
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

    /// Forgets the local key, lease, anchor and any air-gapped activation record (with its
    /// private key) without contacting the server. This also
    /// clears tampered state, and the trusted-time high-water mark with it.
    pub fn forget(&self) -> Result<()> {
        self.inner.storage.delete_key()?;
        self.inner.storage.delete_cache()?;
        // An air-gapped activation's private key goes with them.
        self.inner.storage.delete_air_gap()?;
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

    /// Whether the stored lease (or the verdict that replaced it) is this machine's trial.
    fn holds_trial(&self) -> Result<bool> {
        let mut st = self.state()?;
        if !st.loaded {
            self.load(&mut st)?;
        }
        Ok(st
            .lease
            .as_ref()
            .is_some_and(|(_, c)| c.lic.kind == LicenseKind::Trial)
            || st.verdict.as_deref() == Some(ErrorCode::TrialExpired.as_str()))
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

    fn fingerprint_str(&self) -> &str {
        self.inner.fingerprint.as_deref().unwrap_or("")
    }
}

/// A refused lease as the app should read it: a trial that ended is [`Error::TrialExpired`],
/// not an expired license.
fn lease_error(e: TokenError, claims: &Claims) -> Error {
    match e {
        TokenError::LicenseExpired if claims.lic.kind == LicenseKind::Trial => Error::TrialExpired,
        other => token_error(other),
    }
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
        "TRIAL_EXPIRED" => Error::TrialExpired,
        "LICENSE_SUSPENDED" => Error::Suspended,
        "LICENSE_REVOKED" => Error::Revoked,
        "LICENSE_NOT_FOUND" => Error::InvalidKey,
        _ => Error::NotActivated(NotActivatedReason::ServerForgot),
    }
}
