//! The customer portal's sign-in: passwordless links by email, sessions, CSRF tokens.
//!
//! A customer asks for a link with their email; if the email has purchases, a single-use
//! link (15 minutes) goes out through the outbox. The answer is the same either way, so the
//! portal does not reveal who bought. Using the link starts a session (7 days) held in an
//! `HttpOnly`, `SameSite=Lax` cookie (`Secure` when served over HTTPS); only hashes of link
//! and session tokens are stored. Every form carries a CSRF token checked in constant time.

use licet_proto::ErrorCode;

use crate::app::App;
use crate::crypto::{ct_eq, random_secret, sha256_hex};
use crate::error::{Error, Result};
use crate::store::SessionRow;

/// How long a sign-in link works.
pub const SIGN_IN_LINK_SECS: i64 = 15 * 60;
/// How long a session lasts.
pub const SESSION_SECS: i64 = 7 * 24 * 3600;
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "licet_session";
/// The cookie holding the CSRF token of forms shown before sign-in.
pub const CSRF_COOKIE: &str = "licet_csrf";

/// Sends a sign-in link if `email` has purchases; answers the same either way.
pub async fn request_sign_in(app: &App, email: &str) -> Result<()> {
    let email = email.trim();
    crate::catalogue::check_email(email)?;
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
    let message = crate::mail::sign_in(app, email, &url, &hash, now);
    let mut tx = app.store.begin_write().await?;
    app.store.enqueue_mail(&mut tx, &message).await?;
    tx.commit().await?;
    app.mail.wake();
    Ok(())
}

/// A started session: the cookie value and the session's CSRF token.
#[derive(Debug)]
pub struct NewSession {
    /// Goes into the session cookie.
    pub cookie: String,
    /// Goes into every form of the session.
    pub csrf: String,
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
    let cookie = random_secret("");
    let csrf = random_secret("");
    app.store
        .insert_session(
            &sha256_hex(cookie.as_bytes()),
            "customer",
            &email,
            &csrf,
            now,
            now + SESSION_SECS,
        )
        .await?;
    Ok(NewSession {
        cookie: cookie.to_string(),
        csrf: csrf.to_string(),
    })
}

/// The live customer session behind a cookie value.
pub async fn session(app: &App, cookie: Option<&str>) -> Result<Option<SessionRow>> {
    let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 100) else {
        return Ok(None);
    };
    Ok(app
        .store
        .session(&sha256_hex(cookie.as_bytes()), app.now())
        .await?
        .filter(|s| s.kind == "customer"))
}

/// Ends the session behind a cookie value.
pub async fn sign_out(app: &App, cookie: &str) -> Result<()> {
    app.store
        .delete_session(&sha256_hex(cookie.as_bytes()))
        .await?;
    Ok(())
}

/// Checks a form's CSRF token against the expected one.
pub fn check_csrf(expected: &str, given: &str) -> Result<()> {
    if !expected.is_empty() && ct_eq(expected.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::Forbidden,
            "the form expired; reload the page and try again",
        ))
    }
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
}

/// A purchase of `email`'s, or `NOT_FOUND` (also for other customers' purchases).
pub async fn purchase(app: &App, email: &str, id: &str) -> Result<PurchaseView> {
    let not_found = || Error::new(ErrorCode::NotFound, "no such purchase");
    let purchase = app
        .store
        .purchase(app.store.pool(), id)
        .await?
        .filter(|p| p.email.eq_ignore_ascii_case(email))
        .ok_or_else(not_found)?;
    let mut conn = app.store.pool().acquire().await?;
    let mut licenses = Vec::new();
    for (license_id, _) in app
        .store
        .licenses_of_purchase(&mut conn, &purchase.id)
        .await?
    {
        licenses.push(crate::catalogue::show_license(app, &license_id).await?);
    }
    let mut has_files = false;
    for slug in crate::store::parse_list(&purchase.products) {
        if let Some(product) = app.store.product_by_slug(&slug).await? {
            has_files |= !app
                .store
                .files_of(app.store.pool(), &product.id)
                .await?
                .is_empty();
        }
    }
    Ok(PurchaseView {
        purchase,
        licenses,
        has_files,
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
        &format!("customer:{email}"),
        &license.id,
        activation_id,
    )
    .await?;
    Ok(())
}
