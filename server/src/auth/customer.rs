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

use licet_proto::ErrorCode;

use crate::auth::Context;
use crate::auth::sessions::{Kind, NewSession};
use crate::platform::crypto::{random_secret, sha256_hex};
use crate::platform::error::{Error, Result};

/// How long a sign-in link works.
pub const SIGN_IN_LINK_SECS: i64 = 15 * 60;
/// How long a session lasts.
pub const SESSION_SECS: i64 = 7 * 24 * 3600;

/// Mints a single-use sign-in link for `email` and stores its hash; returns the link's
/// URL and hash (the hash names the link in the mail outbox).
pub async fn mint_sign_in_link(
    app: &impl Context,
    email: &str,
    now: i64,
) -> Result<(String, String)> {
    let token = random_secret("");
    let hash = sha256_hex(token.as_bytes());
    app.store()
        .insert_sign_in_link(&hash, email, now, now + SIGN_IN_LINK_SECS)
        .await?;
    let url = format!("{}/portal/auth/{}", app.config().public_url, token.as_str());
    Ok((url, hash))
}

/// Whether a sign-in link can still be used, without using it (the page a link opens asks
/// for a click first: mail scanners that fetch links must not burn them).
pub async fn link_is_usable(app: &impl Context, token: &str) -> Result<bool> {
    if token.len() > 100 {
        return Ok(false);
    }
    Ok(app
        .store()
        .sign_in_link_usable(&sha256_hex(token.as_bytes()), app.now())
        .await?)
}

/// Uses a sign-in link (once) and starts a customer session.
pub async fn redeem(app: &impl Context, token: &str) -> Result<NewSession> {
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
        .store()
        .use_sign_in_link(&sha256_hex(token.as_bytes()), now)
        .await?
        .ok_or_else(refused)?;
    crate::auth::sessions::start(app, Kind::Customer, &email, SESSION_SECS).await
}
