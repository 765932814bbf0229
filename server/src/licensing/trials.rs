//! Trials: a machine's keyless, time-boxed use of a product, one per machine and product,
//! ever.
//!
//! The first `start` from a fingerprint creates the trial (its end fixed then); every later
//! one answers the same trial, so reinstalling the app or deleting its files never buys a
//! fresh one (the SDK derives the fingerprint from the OS machine id, not from anything it
//! stores). A license activated on the machine converts the trial (see `store::seats`).
//! The lease has the shape of a license's, with `lic.kind = "trial"`, `lic.expires_at` =
//! the trial's end and `exp` never after it.

use licet_proto::api::{ActivationInfo, LeaseResponse, LicenseInfo};
use licet_proto::trials::{StartTrialRequest, TrialState};
use licet_proto::{ErrorCode, LicenseKind, LicenseStatus};

use super::{
    Caller, Context, LAST_SEEN_RESOLUTION_SECS, check_fingerprint, label, machine_facts,
    signed_lease,
};
use crate::platform::crypto::new_id;
use crate::platform::dates::date;
use crate::platform::error::{Error, Result};
use crate::platform::metrics::Event;
use crate::store::{NewAudit, ProductRow, TrialRow};

/// `POST /v1/trials/activate`: starts this machine's trial of the product, or answers the
/// one it has (same end), with a lease.
pub async fn start(
    app: &impl Context,
    caller: &Caller,
    req: StartTrialRequest,
) -> Result<LeaseResponse> {
    let now = app.now();
    // Counted first, like the license API, so guesses are counted too.
    let bucket = format!("trial:{}:{}", req.product, req.fingerprint);
    app.limiter()
        .check(app.store(), now, &caller.ip, &bucket)
        .await?;
    check_fingerprint(&req.fingerprint)?;
    let name = label("name", req.name)?;
    let platform = label("platform", req.platform)?;
    let machine = machine_facts(req.machine.as_ref())?;
    let product = app
        .store()
        .product_by_slug(&req.product)
        .await?
        .ok_or_else(|| not_available(&format!("no product is called {:?}", req.product)))?;
    let Some(length) = product.trial_secs else {
        return Err(not_available("this product offers no trial"));
    };
    let (trial, started) = match app.store().trial_of(&product.id, &req.fingerprint).await? {
        // The common case, a lease renewed: a read, and a write only when last-seen is stale.
        Some(mut trial) => {
            if now - trial.last_seen_at >= LAST_SEEN_RESOLUTION_SECS {
                app.store().touch_trial(&trial.id, now, &caller.ip).await?;
                trial.last_seen_at = now;
            }
            (trial, false)
        }
        None => {
            let new = TrialRow {
                id: new_id("trl"),
                product_id: product.id.clone(),
                product_slug: product.slug.clone(),
                fingerprint: req.fingerprint,
                name,
                platform,
                machine,
                ip: Some(caller.ip.clone()),
                started_at: now,
                ends_at: now.saturating_add(length),
                last_seen_at: now,
                converted_at: None,
                converted_license_id: None,
            };
            app.store()
                .start_trial(&new, |t| {
                    NewAudit::new(
                        now,
                        "public",
                        "trial.started",
                        ("trial", &t.id),
                        serde_json::json!({ "product": t.product_slug, "ends_at": t.ends_at }),
                    )
                })
                .await?
        }
    };
    match trial.state(now) {
        TrialState::Converted => Err(Error::new(
            ErrorCode::TrialExpired,
            "the trial on this machine ended when a license was activated on it",
        )),
        TrialState::Expired => Err(Error::new(
            ErrorCode::TrialExpired,
            format!("the trial on this machine ended on {}", date(trial.ends_at)),
        )),
        TrialState::Active => {
            if started {
                app.metrics().event(Event::Activation);
            }
            signed_lease(
                app,
                info(&product, &trial),
                activation(&trial),
                product.token_lifetime_secs,
                now,
            )
        }
    }
}

/// The trial as its holder sees it: a one-machine license that ends with the trial.
fn info(product: &ProductRow, trial: &TrialRow) -> LicenseInfo {
    LicenseInfo {
        id: trial.id.clone(),
        product: product.slug.clone(),
        status: LicenseStatus::Active,
        expires_at: Some(trial.ends_at),
        max_activations: 1,
        active_activations: 1,
        entitlements: product.trial_entitlement_list(),
        email: None,
        metadata: Default::default(),
        kind: LicenseKind::Trial,
        subscription: None,
        updates_until: None,
    }
}

/// The machine holding the trial.
fn activation(trial: &TrialRow) -> ActivationInfo {
    ActivationInfo {
        id: trial.id.clone(),
        fingerprint: trial.fingerprint.clone(),
        name: trial.name.clone(),
        platform: trial.platform.clone(),
        first_seen_at: trial.started_at,
        last_seen_at: trial.last_seen_at,
        deactivated_at: None,
    }
}

fn not_available(why: &str) -> Error {
    Error::new(ErrorCode::TrialNotAvailable, why.to_owned())
}
