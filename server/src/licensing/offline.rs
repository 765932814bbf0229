//! Air-gapped activation (see [`licet_proto::offline`]): an activation request takes a seat
//! exactly as an online activation does (the same key check, rate limits, seat limit and
//! decision, under the same lock) and is answered with the usual lease, bound to the
//! request's fingerprint and carrying its nonce. A deactivation proof signed by the request's
//! per-activation key frees that seat, once.
//!
//! The public API, the portal (for the signed-in customer's own licenses), the dashboard
//! and the CLI all come here; [`Scope`] says whose licenses the caller may touch.

use licet_proto::offline::{
    self as wire, Document, OfflineActivateResponse, OfflineDeactivateResponse, OfflineError,
};
use licet_proto::{ErrorCode, TokenError};

use super::{
    Caller, Context, LEASE_GRID_SECS, NewActivation, decide, label, machine_facts, not_found,
};
use crate::platform::error::{Error, Result};
use crate::platform::metrics::Event;
use crate::store::{LicenseRow, NewAudit, OfflineActivated, OfflineKey};

/// Whose licenses a caller may activate or free offline.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Anyone holding the key (the public API: the request carries the key) or the vendor.
    Any,
    /// Only these licenses (by id): a signed-in customer's, on one of their purchases.
    Licenses(&'a [String]),
}

impl Scope<'_> {
    fn allows(&self, license_id: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Licenses(ids) => ids.iter().any(|id| id == license_id),
        }
    }
}

/// Takes (or keeps) a seat for the activation `request` (its text block or bare token) and
/// answers the activation response. `actor` names the caller in the audit log (`public`,
/// or an [`crate::auth::Actor`]'s audit name).
pub async fn activate(
    app: &impl Context,
    caller: &Caller,
    scope: Scope<'_>,
    actor: &str,
    request: &str,
) -> Result<OfflineActivateResponse> {
    let token = wire::decode_text(Document::Request, request).map_err(refused)?;
    let (claims, public_key) = wire::verify_request(&token).map_err(refused)?;
    let (now, key) = super::admit(app, caller, &claims.key, &claims.fpr).await?;
    let new = NewActivation {
        fingerprint: claims.fpr.clone(),
        name: label("name", claims.name.clone())?,
        platform: label("platform", claims.platform.clone())?,
        machine: machine_facts(claims.machine.as_ref())?,
        ip: caller.ip.clone(),
        now,
    };
    let binding = OfflineKey {
        nonce: claims.nonce.clone(),
        public_key: wire::public_key_text(&public_key),
    };
    let product = claims.aud.clone();
    let outcome = app
        .store()
        .activate_offline_under_seat_limit(
            &key,
            &claims.fpr,
            &binding,
            now,
            |license, existing| {
                if !scope.allows(&license.id) {
                    return Err(not_found());
                }
                if license.product_slug != product {
                    return Err(Error::invalid(format!(
                        "this request is for product {product:?}, but the key is for another product"
                    )));
                }
                decide(license, existing, &new)
            },
            |license, a, revived| {
                NewAudit::new(
                    now,
                    actor,
                    if revived {
                        "activation.reactivated"
                    } else {
                        "activation.created"
                    },
                    ("activation", &a.id),
                    serde_json::json!({
                        "license_id": license.id, "name": a.name, "platform": a.platform,
                        "offline": true,
                    }),
                )
            },
        )
        .await?;
    let activated = match outcome {
        OfflineActivated::NoLicense => return Err(not_found()),
        OfflineActivated::Spent => {
            return Err(Error::new(
                ErrorCode::Conflict,
                "this activation request was used before and its seat has been freed since: \
                 make a new request on the machine",
            ));
        }
        OfflineActivated::Activated(a) => a,
    };
    let mut license = activated.license;
    if activated.created {
        license.active_count += 1;
        app.metrics().event(Event::Activation);
    }
    let lease = response_lease(app, &license, &activated.activation, now, claims.nonce)?;
    Ok(OfflineActivateResponse {
        response: wire::encode_text(Document::Response, &lease.token),
        token: lease.token,
        license: lease.license,
        activation: lease.activation,
    })
}

/// The usual lease of the seat (the license's token lifetime, never past its expiry), with
/// the request's nonce.
fn response_lease(
    app: &impl Context,
    license: &LicenseRow,
    activation: &crate::store::ActivationRow,
    now: i64,
    nonce: String,
) -> Result<licet_proto::api::LeaseResponse> {
    let iat = now - now.rem_euclid(LEASE_GRID_SECS);
    super::signed_lease_until(
        app,
        license.info(),
        activation.info(),
        iat,
        iat.saturating_add(license.effective_token_lifetime()),
        None,
        Some(nonce),
    )
}

/// Frees the seat a deactivation `proof` (text block or bare token) names, once: a proof
/// used before answers `deactivated: false` and changes nothing. Refused: a proof whose
/// signature is not by the seat's per-activation key (`INVALID_SIGNATURE`), or that names
/// no offline activation (`NOT_ACTIVATED`).
pub async fn deactivate(
    app: &impl Context,
    caller: &Caller,
    scope: Scope<'_>,
    actor: &str,
    proof: &str,
) -> Result<OfflineDeactivateResponse> {
    let now = app.now();
    let token = wire::decode_text(Document::Proof, proof).map_err(refused)?;
    let nonce = wire::proof_nonce(&token).map_err(refused)?;
    app.limiter()
        .check(app.store(), now, &caller.ip, &nonce)
        .await?;
    let seat = app
        .store()
        .offline_seat(&nonce)
        .await?
        .filter(|s| scope.allows(&s.license_id))
        .ok_or_else(|| {
            Error::new(
                ErrorCode::NotActivated,
                "no offline activation matches this deactivation proof",
            )
        })?;
    let key = wire::public_key(&seat.public_key).map_err(refused)?;
    let claims = wire::verify_proof(&token, &key).map_err(refused)?;
    if claims.aud != seat.product_slug
        || claims.sub != seat.license_id
        || claims.fpr != seat.fingerprint
    {
        return Err(Error::new(
            ErrorCode::InvalidSignature,
            "the deactivation proof does not match the seat it names",
        ));
    }
    let deactivated = seat.ended_at.is_none()
        && app
            .store()
            .redeem_deactivation_proof(
                &seat,
                now,
                NewAudit::new(
                    now,
                    actor,
                    "activation.deactivated",
                    ("activation", &seat.activation_id),
                    serde_json::json!({ "license_id": seat.license_id, "offline": true }),
                ),
            )
            .await?;
    if deactivated {
        app.metrics().event(Event::Deactivation);
    }
    Ok(OfflineDeactivateResponse {
        deactivated,
        license_id: seat.license_id,
        activation_id: seat.activation_id,
    })
}

/// A refused document as the caller should read it: a bad signature is
/// `INVALID_SIGNATURE`, anything else `INVALID_REQUEST`, each with what went wrong.
fn refused(e: OfflineError) -> Error {
    match e {
        OfflineError::Token(TokenError::BadSignature | TokenError::UnknownKey) => Error::new(
            ErrorCode::InvalidSignature,
            "the document's signature does not verify: it was altered or forged",
        ),
        other => Error::invalid(other.to_string()),
    }
}
