//! What a signed-in customer can do in the portal: ask for a sign-in link, see their
//! purchases (licenses, machines, files, access), and free a machine's seat.

use std::sync::Arc;

use crate::auth::customer::mint_sign_in_link;
use crate::commerce::Context;
use crate::platform::error::{Error, Result};
use licet_proto::ErrorCode;
use licet_proto::admin::{ProductKind, PurchaseStatus};

/// Accepts a request for a sign-in link and answers at once; whether `email` has purchases,
/// and so whether a link is made and mailed, is decided afterwards in the background. Both
/// paths do the same work before the answer, so its timing says nothing about who bought
/// (minting and queueing a link used to cost buyers two writes before the reply).
pub fn request_sign_in(app: &Arc<impl Context>, email: &str) -> Result<()> {
    let email = email.trim().to_owned();
    crate::catalogue::check_email(&email)?;
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = send_sign_in_link(&app, &email).await {
            tracing::warn!(error = %e, "a portal sign-in link could not be sent");
        }
    });
    Ok(())
}

/// Mints a link and queues its email, if `email` has purchases.
async fn send_sign_in_link(app: &impl Context, email: &str) -> Result<()> {
    if !app.store().has_purchases(email).await? {
        return Ok(());
    }
    let now = app.now();
    let (url, hash) = mint_sign_in_link(app, email, now).await?;
    let message = crate::commerce::mail::sign_in(app, email, &url, &hash, now);
    app.store().queue_mail(&message).await?;
    app.mail().wake();
    Ok(())
}

/// What the customer sees of one of their purchases.
#[derive(Debug)]
pub struct CustomerPurchase {
    pub purchase: crate::store::PurchaseRow,
    /// Its licenses with their activations.
    pub licenses: Vec<licet_proto::admin::License>,
    /// Whether any of its products has files.
    pub has_files: bool,
    /// Its access products: `(product name, the product's \`access_url\` metadata)`.
    /// Empty once the purchase is refunded or disputed: access has ended.
    pub access: Vec<(String, Option<String>)>,
    /// Its subscription, when it is one.
    pub subscription: Option<licet_proto::admin::Subscription>,
    /// Where the customer manages the subscription: the product's billing portal link, else
    /// the server's (`LICET_STRIPE_BILLING_PORTAL_URL`); only for subscriptions.
    pub billing_portal: Option<String>,
}

/// A purchase of `email`'s, or `NOT_FOUND` (also for other customers' purchases).
pub async fn purchase(app: &impl Context, email: &str, id: &str) -> Result<CustomerPurchase> {
    let not_found = || Error::new(ErrorCode::NotFound, "no such purchase");
    let purchase = app
        .store()
        .purchase(id)
        .await?
        .filter(|p| p.email.eq_ignore_ascii_case(email))
        .ok_or_else(not_found)?;
    let licenses = crate::catalogue::licenses_of_purchase(app, &purchase.id).await?;
    let mut has_files = false;
    let mut access = Vec::new();
    let subscription = crate::commerce::subscriptions::of_purchase(app, &purchase.id).await?;
    let mut billing_portal = None;
    for slug in crate::store::parse_list(&purchase.products) {
        if let Some(product) = app.store().product_by_slug(&slug).await? {
            billing_portal = billing_portal.or(product.billing_portal_url.clone());
            has_files |= !app.store().files_of(&product.id).await?.is_empty();
            if product.kind == ProductKind::Access && purchase.status == PurchaseStatus::Completed {
                let url = crate::catalogue::access::access_url(&product.metadata);
                access.push((product.name.clone(), url));
            }
        }
    }
    let billing_portal = subscription
        .as_ref()
        .and(billing_portal.or_else(|| app.config().stripe_billing_portal_url.clone()));
    Ok(CustomerPurchase {
        purchase,
        licenses,
        has_files,
        access,
        subscription,
        billing_portal,
    })
}

/// Frees a seat of one of the customer's licenses (a replaced computer).
pub async fn deactivate_machine(
    app: &impl Context,
    email: &str,
    purchase_id: &str,
    activation_id: &str,
) -> Result<()> {
    let view = purchase(app, email, purchase_id).await?;
    let license = view
        .licenses
        .iter()
        .find(|l| {
            l.activations
                .iter()
                .flatten()
                .any(|a| a.id == activation_id)
        })
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such machine on this purchase"))?;
    crate::catalogue::remove_activation(
        app,
        crate::auth::Actor::Customer(email),
        &license.id,
        activation_id,
    )
    .await?;
    Ok(())
}

/// The live floating seats of each of the customer's licenses (in the same order).
pub async fn seats_of(
    app: &impl Context,
    licenses: &[licet_proto::admin::License],
) -> Result<Vec<Vec<licet_proto::floating::SeatInfo>>> {
    let mut all = Vec::with_capacity(licenses.len());
    for license in licenses {
        all.push(crate::licensing::floating::live_seats(app, &license.id).await?);
    }
    Ok(all)
}

/// Frees a floating seat of one of the customer's licenses (a machine that crashed, or was
/// switched off while holding it).
pub async fn release_seat(
    app: &impl Context,
    email: &str,
    purchase_id: &str,
    seat_id: &str,
) -> Result<()> {
    let view = purchase(app, email, purchase_id).await?;
    for license in &view.licenses {
        let seats = crate::licensing::floating::live_seats(app, &license.id).await?;
        if seats.iter().any(|s| s.id == seat_id) {
            return crate::licensing::floating::end_seat(
                app,
                crate::auth::Actor::Customer(email),
                &license.id,
                seat_id,
            )
            .await;
        }
    }
    Err(Error::new(
        ErrorCode::NotFound,
        "no such seat on this purchase",
    ))
}
