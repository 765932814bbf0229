//! The customer portal's sign-in: passwordless links by email, sessions, CSRF tokens.
//!
//! A customer asks for a link with their email; if the email has purchases, a single-use
//! link (15 minutes) goes out through the outbox. The answer is the same either way, and is
//! given before that is decided, so the portal does not reveal who bought, not even by its
//! timing. Opening the link shows a "Sign in" button; only its POST uses the link (mail
//! scanners that prefetch links would otherwise burn them). Using the link starts a session
//! (7 days) held in an
//! `HttpOnly`, `SameSite=Lax` cookie (`Secure` when served over HTTPS); only hashes of link
//! and session tokens are stored. Every form carries a CSRF token checked in constant time.

use std::sync::Arc;

use licet_proto::ErrorCode;
use licet_proto::admin::{ProductKind, PurchaseStatus};

use crate::app::App;
use crate::auth::sessions::{Kind, NewSession};
use crate::platform::crypto::{random_secret, sha256_hex};
use crate::platform::error::{Error, Result};
use crate::store::SessionRow;

/// How long a sign-in link works.
pub const SIGN_IN_LINK_SECS: i64 = 15 * 60;
/// How long a session lasts.
pub const SESSION_SECS: i64 = 7 * 24 * 3600;

/// Accepts a request for a sign-in link and answers at once; whether `email` has purchases,
/// and so whether a link is made and mailed, is decided afterwards in the background. Both
/// paths do the same work before the answer, so its timing says nothing about who bought
/// (minting and queueing a link used to cost buyers two writes before the reply).
pub fn request_sign_in(app: &Arc<App>, email: &str) -> Result<()> {
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
async fn send_sign_in_link(app: &App, email: &str) -> Result<()> {
    if !app.store.has_purchases(email).await? {
        return Ok(());
    }
    let now = app.now();
    let token = random_secret("");
    let hash = sha256_hex(token.as_bytes());
    app.store
        .insert_sign_in_link(&hash, email, now, now + SIGN_IN_LINK_SECS)
        .await?;
    let url = format!("{}/portal/auth/{}", app.config.public_url, token.as_str());
    let message = crate::commerce::mail::sign_in(app, email, &url, &hash, now);
    app.store.queue_mail(&message).await?;
    app.mail.wake();
    Ok(())
}

/// Whether a sign-in link can still be used, without using it (the page a link opens asks
/// for a click first: mail scanners that fetch links must not burn them).
pub async fn link_is_usable(app: &App, token: &str) -> Result<bool> {
    if token.len() > 100 {
        return Ok(false);
    }
    Ok(app
        .store
        .sign_in_link_usable(&sha256_hex(token.as_bytes()), app.now())
        .await?)
}

/// Uses a sign-in link (once) and starts a customer session.
pub async fn redeem(app: &App, token: &str) -> Result<NewSession> {
    let now = app.now();
    let refused = || {
        Error::new(
            ErrorCode::LinkExpired,
            "this sign-in link was used or has expired; ask for a new one",
        )
    };
    if token.len() > 100 {
        return Err(refused());
    }
    let email = app
        .store
        .use_sign_in_link(&sha256_hex(token.as_bytes()), now)
        .await?
        .ok_or_else(refused)?;
    crate::auth::sessions::start(app, Kind::Customer, &email, SESSION_SECS).await
}

/// The live customer session behind a cookie value.
pub async fn session(app: &App, cookie: Option<&str>) -> Result<Option<SessionRow>> {
    crate::auth::sessions::find(app, Kind::Customer, cookie).await
}

/// What the customer sees of one of their purchases.
#[derive(Debug)]
pub struct PurchaseView {
    /// The purchase.
    pub purchase: crate::store::PurchaseRow,
    /// Its licenses with their activations.
    pub licenses: Vec<licet_proto::admin::License>,
    /// Whether any of its products has files.
    pub has_files: bool,
    /// Its access products: `(product name, the product's \`access_url\` metadata)`.
    /// Empty once the purchase is refunded or disputed: access has ended.
    pub access: Vec<(String, Option<String>)>,
}

/// A purchase of `email`'s, or `NOT_FOUND` (also for other customers' purchases).
pub async fn purchase(app: &App, email: &str, id: &str) -> Result<PurchaseView> {
    let not_found = || Error::new(ErrorCode::NotFound, "no such purchase");
    let purchase = app
        .store
        .purchase(id)
        .await?
        .filter(|p| p.email.eq_ignore_ascii_case(email))
        .ok_or_else(not_found)?;
    let licenses = crate::catalogue::licenses_of_purchase(app, &purchase.id).await?;
    let mut has_files = false;
    let mut access = Vec::new();
    for slug in crate::store::parse_list(&purchase.products) {
        if let Some(product) = app.store.product_by_slug(&slug).await? {
            has_files |= !app.store.files_of(&product.id).await?.is_empty();
            if product.kind == ProductKind::Access && purchase.status == PurchaseStatus::Completed {
                let url = crate::catalogue::access::access_url(&product.metadata);
                access.push((product.name.clone(), url));
            }
        }
    }
    Ok(PurchaseView {
        purchase,
        licenses,
        has_files,
        access,
    })
}

/// Frees a seat of one of the customer's licenses (a replaced computer).
pub async fn deactivate_machine(
    app: &App,
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
