//! Where activation, validation and deactivation are decided. No HTTP, no SQL strings.
//!
//! The seat limit is enforced by the store's `activate_under_seat_limit`: under the license's
//! lock it reads the license and the machine's seat, asks `decide` (pure, the same on every
//! engine) and writes what it answers, so two requests for the last seat cannot both see it
//! free.

pub mod floating;
pub mod keys;
pub mod offline;
pub mod signing;
pub mod trials;

/// What licensing needs beyond [`crate::auth::Context`]: this replica's signing keys, the
/// license-key format and the counters.
pub trait Context: crate::auth::Context {
    /// Signing keys of this replica.
    fn keys(&self) -> &signing::KeyRing;
    /// License-key minting and checking.
    fn key_format(&self) -> &keys::KeyFormat;
    /// Prometheus counters.
    fn metrics(&self) -> &crate::platform::metrics::Metrics;
}

impl<T: Context> Context for std::sync::Arc<T> {
    fn keys(&self) -> &signing::KeyRing {
        (**self).keys()
    }
    fn key_format(&self) -> &keys::KeyFormat {
        (**self).key_format()
    }
    fn metrics(&self) -> &crate::platform::metrics::Metrics {
        (**self).metrics()
    }
}

use licet_proto::api::{
    ActivateRequest, ActivationInfo, DeactivateResponse, HeldLease, KeyAndFingerprint,
    LeaseResponse, LicenseInfo, MAX_FINGERPRINT_LEN, MAX_LABEL_LEN, MachineInfo, ValidateRequest,
    ValidateResponse,
};
use licet_proto::token::{Claims, LicenseClaim};
use licet_proto::{ErrorCode, LicenseStatus};

use crate::platform::crypto::{ct_eq, hex, new_id};
use crate::platform::error::{Error, Result};
use crate::platform::metrics::Event;
use crate::store::{Activated, ActivationRow, LicenseRow, NewAudit, SeatDecision, SeatRelease};
use sha2::Digest;

/// How stale `last_seen_at` may get before a validation writes it again. Keeps validation
/// read-only in the common case (a client refreshing its lease a few times a day).
const LAST_SEEN_RESOLUTION_SECS: i64 = 60;

/// Who is calling: the client's IP (for rate limits and the activation record).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Client IP as text.
    pub ip: String,
}

/// `POST /v1/licenses/activate`.
pub async fn activate(
    app: &impl Context,
    caller: &Caller,
    req: ActivateRequest,
) -> Result<LeaseResponse> {
    let (now, key) = admit(app, caller, &req.key, &req.fingerprint).await?;
    let name = label("name", req.name)?;
    let platform = label("platform", req.platform)?;
    let machine = machine_facts(req.machine.as_ref())?;

    let new = NewActivation {
        fingerprint: req.fingerprint,
        name,
        platform,
        machine,
        ip: caller.ip.clone(),
        now,
    };
    let fingerprint = new.fingerprint.clone();
    let Activated {
        mut license,
        activation,
        created,
    } = app
        .store()
        .activate_under_seat_limit(
            key,
            fingerprint,
            move |license, existing| decide(license, existing, &new),
            move |license, a, revived| seated_audit(license, a, revived, now),
        )
        .await?
        .ok_or_else(not_found)?;
    if created {
        license.active_count += 1;
        app.metrics().event(Event::Activation);
    }
    lease(app, &license, &activation, now)
}

/// An activation request, checked.
struct NewActivation {
    fingerprint: String,
    name: Option<String>,
    platform: Option<String>,
    machine: Option<String>,
    ip: String,
    now: i64,
}

/// The activation decision, the same on both backends: a usable license, then the machine's
/// own seat again or a free one.
fn decide(
    license: &LicenseRow,
    existing: Option<ActivationRow>,
    new: &NewActivation,
) -> Result<SeatDecision> {
    ensure_usable(license, new.now)?;
    if license.product_floating_lease_secs.is_some() {
        return Err(Error::new(
            ErrorCode::Conflict,
            "this license is floating: check out a seat (POST /v1/licenses/checkout) instead of activating",
        ));
    }
    if let Some(mut a) = existing {
        // Same machine again: a fresh lease on the seat it already holds.
        a.last_seen_at = new.now;
        a.name = new.name.clone().or(a.name);
        a.platform = new.platform.clone().or(a.platform);
        a.machine = new.machine.clone();
        a.ip = Some(new.ip.clone());
        return Ok(SeatDecision::Held(a));
    }
    if license.active() >= license.effective_max_activations() {
        return Err(Error::new(
            ErrorCode::ActivationLimitReached,
            format!(
                "all {} seats of this license are in use; deactivate another machine first",
                license.effective_max_activations()
            ),
        ));
    }
    Ok(SeatDecision::New(ActivationRow {
        id: new_id("act"),
        license_id: license.id.clone(),
        fingerprint: new.fingerprint.clone(),
        name: new.name.clone(),
        platform: new.platform.clone(),
        machine: new.machine.clone(),
        ip: Some(new.ip.clone()),
        first_seen_at: new.now,
        last_seen_at: new.now,
        deactivated_at: None,
    }))
}

/// The audit entry of a seat taken: a new activation, or a machine activating again on
/// its own earlier (deactivated) row.
fn seated_audit(license: &LicenseRow, a: &ActivationRow, revived: bool, now: i64) -> NewAudit {
    let action = if revived {
        "activation.reactivated"
    } else {
        "activation.created"
    };
    NewAudit::new(
        now,
        "public",
        action,
        ("activation", &a.id),
        serde_json::json!({ "license_id": license.id, "name": a.name, "platform": a.platform }),
    )
}

/// `POST /v1/licenses/validate`: the state of the license and a fresh lease, or "unchanged"
/// when the lease the request names still stands (see [`lease_stands`]).
pub async fn validate(
    app: &impl Context,
    caller: &Caller,
    req: ValidateRequest,
) -> Result<ValidateResponse> {
    let (now, key) = admit(app, caller, &req.key, &req.fingerprint).await?;
    let (license, activation) = app
        .store()
        .license_with_activation_now(&key, &req.fingerprint)
        .await?
        .ok_or_else(not_found)?
        .split(&req.fingerprint);
    ensure_usable(&license, now)?;
    let mut activation = activation.ok_or_else(not_activated)?;
    if now - activation.last_seen_at >= LAST_SEEN_RESOLUTION_SECS {
        activation.last_seen_at = now;
        app.store()
            .touch_last_seen(&activation.id, now, &caller.ip)
            .await?;
    }
    app.metrics().event(Event::Validation);
    let lifetime = license.effective_token_lifetime();
    let (info, activation) = (license.info(), activation.info());
    if let Some(held) = &req.lease
        && lease_stands(app, &info, &activation, lifetime, held, now)?
    {
        app.metrics().event(Event::ValidationUnchanged);
        return Ok(ValidateResponse {
            token: None,
            unchanged: true,
            license: info,
            activation,
        });
    }
    Ok(signed_lease(app, info, activation, lifetime, now)?.into())
}

/// Whether the lease a machine says it holds still stands, so validation need not sign a
/// new one: it was signed by the key this replica signs with now, and the lease this
/// server would issue at the held lease's `iat` is that very lease (the same `jti`, which
/// is a digest of every claim: license state, expiry, entitlements, seats, machine), and
/// more than half its life is left. Anything else (a change, a rotation, a guess, a lease
/// in its second half) gets a fresh lease. A false "held" gains a client nothing: an
/// unchanged answer carries no token.
fn lease_stands(
    app: &impl Context,
    info: &LicenseInfo,
    activation: &ActivationInfo,
    lifetime: i64,
    held: &HeldLease,
    now: i64,
) -> Result<bool> {
    if held.iat > now
        || held.iat.rem_euclid(LEASE_GRID_SECS) != 0
        || held.jti.len() != 32
        || !app.keys().signs_with(&held.kid)
    {
        return Ok(false);
    }
    let claims = lease_claims(
        app,
        info,
        activation,
        held.iat,
        held.iat.saturating_add(lifetime),
        None,
        None,
    )?;
    let half_life_ends = claims.iat + (claims.exp - claims.iat) / 2;
    Ok(now < half_life_ends && ct_eq(claims.jti.as_bytes(), held.jti.as_bytes()))
}

/// `POST /v1/licenses/deactivate`: frees the seat. Allowed whatever the license's status, so
/// a customer can always release a machine.
pub async fn deactivate(
    app: &impl Context,
    caller: &Caller,
    req: KeyAndFingerprint,
) -> Result<DeactivateResponse> {
    let (now, key) = admit(app, caller, &req.key, &req.fingerprint).await?;
    let released = app
        .store()
        .release_seat(&key, &req.fingerprint, now, |license, activation| {
            NewAudit::new(
                now,
                "public",
                "activation.deactivated",
                ("activation", &activation.id),
                serde_json::json!({ "license_id": license.id }),
            )
        })
        .await?;
    let (mut license, mut activation) = match released {
        SeatRelease::NoLicense => return Err(not_found()),
        SeatRelease::NotActivated => return Err(not_activated()),
        SeatRelease::Released(license, activation) => (license, activation),
    };
    activation.deactivated_at = Some(now);
    license.active_count -= 1;
    app.metrics().event(Event::Deactivation);
    Ok(DeactivateResponse {
        license: license.info(),
        activation: activation.info(),
    })
}

/// Leases are issued on a grid of this many seconds: `iat` is "now" rounded down to it.
pub const LEASE_GRID_SECS: i64 = 60;

/// Signs a lease for an activation: valid for the token lifetime, never past license expiry.
///
/// A lease is a function of the activation, the license's state and the minute: `iat` is
/// rounded down to [`LEASE_GRID_SECS`] and `jti` is derived from the rest of the claims, so a
/// machine that validates twice in a minute gets the same token twice, and the key ring can
/// reuse the signature (Ed25519 is deterministic). Any change of state (status, expiry,
/// seats, entitlements, email, key) changes the claims, hence the token.
pub fn lease(
    app: &impl Context,
    license: &LicenseRow,
    activation: &ActivationRow,
    now: i64,
) -> Result<LeaseResponse> {
    signed_lease(
        app,
        license.info(),
        activation.info(),
        license.effective_token_lifetime(),
        now,
    )
}

/// Signs the lease of `info` on machine `activation` at `now`, valid for `lifetime` seconds
/// and never past `info.expires_at` (a license's expiry, a trial's end).
pub(crate) fn signed_lease(
    app: &impl Context,
    info: LicenseInfo,
    activation: ActivationInfo,
    lifetime: i64,
    now: i64,
) -> Result<LeaseResponse> {
    let iat = now - now.rem_euclid(LEASE_GRID_SECS);
    signed_lease_until(
        app,
        info,
        activation,
        iat,
        iat.saturating_add(lifetime),
        None,
        None,
    )
}

/// Signs the lease of `info` on machine `activation`, issued at `iat` and ending at `exp`
/// (never past `info.expires_at`), holding floating `seat` if any, answering the air-gapped
/// activation request with `nonce` if any.
pub(crate) fn signed_lease_until(
    app: &impl Context,
    info: LicenseInfo,
    activation: ActivationInfo,
    iat: i64,
    exp: i64,
    seat: Option<licet_proto::floating::SeatClaim>,
    nonce: Option<String>,
) -> Result<LeaseResponse> {
    let claims = lease_claims(app, &info, &activation, iat, exp, seat, nonce)?;
    Ok(LeaseResponse {
        token: app.keys().sign(&claims)?,
        license: info,
        activation,
    })
}

/// The claims of the lease [`signed_lease_until`] signs, `jti` included.
fn lease_claims(
    app: &impl Context,
    info: &LicenseInfo,
    activation: &ActivationInfo,
    iat: i64,
    exp: i64,
    seat: Option<licet_proto::floating::SeatClaim>,
    nonce: Option<String>,
) -> Result<Claims> {
    let mut exp = exp;
    if let Some(license_exp) = info.expires_at {
        exp = exp.min(license_exp);
    }
    let mut claims = Claims {
        iss: app.config().public_url.clone(),
        sub: info.id.clone(),
        aud: info.product.clone(),
        iat,
        nbf: iat,
        exp,
        jti: String::new(),
        fpr: activation.fingerprint.clone(),
        ent: info.entitlements.clone(),
        lic: LicenseClaim {
            status: info.status,
            expires_at: info.expires_at,
            max_activations: info.max_activations,
            email: info.email.clone(),
            active_activations: Some(info.active_activations),
            metadata: info.metadata.clone(),
            kind: info.kind,
            subscription: info.subscription,
            updates_until: info.updates_until,
            seat,
        },
        nonce,
    };
    // Unique per distinct lease: a digest of everything else it says, and of the activation.
    let mut digest = sha2::Sha256::new();
    digest.update(activation.id.as_bytes());
    digest.update(serde_json::to_vec(&claims).map_err(|e| Error::Internal(e.to_string()))?);
    claims.jti = hex(&digest.finalize()[..16]);
    Ok(claims)
}

/// Refuses suspended, revoked and expired licenses with their codes.
pub fn ensure_usable(license: &LicenseRow, now: i64) -> Result<()> {
    match license.status() {
        LicenseStatus::Suspended => Err(Error::new(
            ErrorCode::LicenseSuspended,
            "this license is suspended",
        )),
        LicenseStatus::Revoked => Err(Error::new(
            ErrorCode::LicenseRevoked,
            "this license has been revoked",
        )),
        LicenseStatus::Active => match license.expires_at {
            Some(exp) if now >= exp => Err(Error::new(
                ErrorCode::LicenseExpired,
                "this license has expired",
            )),
            _ => Ok(()),
        },
    }
}

/// The common entry of the three operations: counts the request against the rate limits
/// (before anything else, so malformed guesses are counted too), checks the fingerprint and
/// the key's format. Returns "now" and the normalised key.
pub(crate) async fn admit(
    app: &impl Context,
    caller: &Caller,
    key: &str,
    fingerprint: &str,
) -> Result<(i64, String)> {
    let now = app.now();
    app.limiter()
        .check(app.store(), now, &caller.ip, key)
        .await?;
    check_fingerprint(fingerprint)?;
    Ok((now, parse_key(app, key)?))
}

fn parse_key(app: &impl Context, key: &str) -> Result<String> {
    app.key_format().parse(key).ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidKeyFormat,
            "this is not a valid license key; check for typos",
        )
    })
}

pub(crate) fn check_fingerprint(fpr: &str) -> Result<()> {
    if fpr.is_empty()
        || fpr.len() > MAX_FINGERPRINT_LEN
        || !fpr.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Error::invalid(format!(
            "fingerprint must be 1 to {MAX_FINGERPRINT_LEN} printable ASCII characters"
        )));
    }
    Ok(())
}

/// Machine facts as stored (JSON), dropped when unreasonably long.
pub(crate) fn machine_facts(machine: Option<&MachineInfo>) -> Result<Option<String>> {
    match machine {
        Some(m) => Ok(
            Some(serde_json::to_string(m).map_err(|e| Error::Internal(e.to_string()))?)
                .filter(|s| s.len() <= 4 * MAX_LABEL_LEN),
        ),
        None => Ok(None),
    }
}

pub(crate) fn label(field: &str, value: Option<String>) -> Result<Option<String>> {
    match value {
        Some(v) if v.chars().count() > MAX_LABEL_LEN || v.chars().any(char::is_control) => {
            Err(Error::invalid(format!(
                "{field} must be at most {MAX_LABEL_LEN} characters without control characters"
            )))
        }
        Some(v) if v.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn not_found() -> Error {
    Error::new(ErrorCode::LicenseNotFound, "no license has this key")
}

fn not_activated() -> Error {
    Error::new(
        ErrorCode::NotActivated,
        "this machine is not activated on this license",
    )
}

#[cfg(test)]
mod tests {
    use super::{NewActivation, decide};
    use crate::store::SeatDecision as Seat;
    use crate::store::{ActivationRow, LicenseRow};
    use licet_proto::{ErrorCode, LicenseStatus};

    const NOW: i64 = 1_800_000_000;

    /// A license of a 2-seat product with `active` live seats.
    fn license(
        status: LicenseStatus,
        expires_at: Option<i64>,
        seats: Option<i64>,
        active: i64,
    ) -> LicenseRow {
        LicenseRow {
            id: "lic_1".into(),
            license_key: "PHOTO-AAAA".into(),
            product_id: "prd_1".into(),
            email: "ada@example.com".into(),
            status,
            expires_at,
            max_activations: seats,
            token_lifetime_secs: None,
            entitlements: None,
            metadata: "{}".into(),
            created_at: NOW - 100,
            updated_at: NOW - 100,
            product_slug: "photo".into(),
            product_max_activations: 2,
            product_token_lifetime_secs: 3600,
            product_entitlements: "[]".into(),
            active_count: active,
            sub_status: None,
            sub_period_end: None,
            sub_cancel_at_period_end: None,
            updates_until_at: None,
            product_floating_lease_secs: None,
        }
    }

    fn seat(fingerprint: &str) -> ActivationRow {
        ActivationRow {
            id: "act_1".into(),
            license_id: "lic_1".into(),
            fingerprint: fingerprint.into(),
            name: Some("old name".into()),
            platform: Some("linux".into()),
            machine: None,
            ip: Some("10.0.0.1".into()),
            first_seen_at: NOW - 50,
            last_seen_at: NOW - 50,
            deactivated_at: None,
        }
    }

    fn request(fingerprint: &str) -> NewActivation {
        NewActivation {
            fingerprint: fingerprint.into(),
            name: None,
            platform: Some("darwin".into()),
            machine: None,
            ip: "10.0.0.2".into(),
            now: NOW,
        }
    }

    /// What `decide` answers, in one word: `held`, `new`, or the error code.
    fn verdict(license: &LicenseRow, existing: Option<ActivationRow>) -> String {
        match decide(license, existing, &request("m1")) {
            Ok(Seat::Held(_)) => "held".into(),
            Ok(Seat::New(_)) => "new".into(),
            Err(e) => e.code().as_str().to_owned(),
        }
    }

    #[test]
    fn decide_table() {
        use LicenseStatus::{Active, Revoked, Suspended};
        let limit = ErrorCode::ActivationLimitReached.as_str();
        let cases: Vec<(&str, LicenseRow, Option<ActivationRow>, &str)> = vec![
            ("free seat", license(Active, None, None, 0), None, "new"),
            (
                "last free seat",
                license(Active, None, None, 1),
                None,
                "new",
            ),
            (
                "all seats taken",
                license(Active, None, None, 2),
                None,
                limit,
            ),
            (
                "over the limit after a lowered override",
                license(Active, None, Some(1), 2),
                None,
                limit,
            ),
            (
                "override raises the limit",
                license(Active, None, Some(3), 2),
                None,
                "new",
            ),
            (
                "same machine when full keeps its seat",
                license(Active, None, None, 2),
                Some(seat("m1")),
                "held",
            ),
            (
                "expires in the future",
                license(Active, Some(NOW + 1), None, 0),
                None,
                "new",
            ),
            (
                "expired at this very second",
                license(Active, Some(NOW), None, 0),
                None,
                ErrorCode::LicenseExpired.as_str(),
            ),
            (
                "expired, same machine",
                license(Active, Some(NOW - 1), None, 1),
                Some(seat("m1")),
                ErrorCode::LicenseExpired.as_str(),
            ),
            (
                "suspended",
                license(Suspended, None, None, 0),
                None,
                ErrorCode::LicenseSuspended.as_str(),
            ),
            (
                "suspended, same machine",
                license(Suspended, None, None, 1),
                Some(seat("m1")),
                ErrorCode::LicenseSuspended.as_str(),
            ),
            (
                "revoked",
                license(Revoked, None, None, 0),
                None,
                ErrorCode::LicenseRevoked.as_str(),
            ),
        ];
        for (name, license, existing, want) in cases {
            assert_eq!(verdict(&license, existing), want, "{name}");
        }
    }

    #[test]
    fn a_held_seat_is_refreshed_and_keeps_what_the_request_leaves_out() {
        let Ok(Seat::Held(a)) = decide(
            &license(LicenseStatus::Active, None, None, 1),
            Some(seat("m1")),
            &request("m1"),
        ) else {
            panic!("expected the held seat");
        };
        assert_eq!(a.id, "act_1", "the same row, not a new seat");
        assert_eq!(a.last_seen_at, NOW);
        assert_eq!(a.first_seen_at, NOW - 50);
        assert_eq!(
            a.name.as_deref(),
            Some("old name"),
            "an omitted name keeps the old one"
        );
        assert_eq!(
            a.platform.as_deref(),
            Some("darwin"),
            "a sent platform replaces the old one"
        );
        assert_eq!(a.ip.as_deref(), Some("10.0.0.2"));
    }

    #[test]
    fn a_new_seat_belongs_to_the_license_and_starts_now() {
        let Ok(Seat::New(a)) = decide(
            &license(LicenseStatus::Active, None, None, 0),
            None,
            &request("m9"),
        ) else {
            panic!("expected a new seat");
        };
        assert!(a.id.starts_with("act"), "{}", a.id);
        assert_eq!(
            (a.license_id.as_str(), a.fingerprint.as_str()),
            ("lic_1", "m9")
        );
        assert_eq!(
            (a.first_seen_at, a.last_seen_at, a.deactivated_at),
            (NOW, NOW, None)
        );
    }
}
