//! Web sessions shared by the customer portal and the vendor dashboard.
//!
//! A session is a random value held in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` when
//! served over HTTPS); only its SHA-256 is stored, beside the session's kind (`customer` or
//! `admin`), who it belongs to, and a CSRF token every form of the session must carry
//! (compared in constant time). A session of one kind never opens pages of the other.

use licet_proto::ErrorCode;

use crate::auth::Context;
use crate::platform::crypto::{ct_eq, random_secret, sha256_hex};
use crate::platform::error::{Error, Result};
use crate::store::SessionRow;

/// Who a session belongs to (decoded by the store where a session row is read).
pub use crate::store::SessionKind as Kind;

impl Kind {
    /// The cookie holding a session of this kind.
    pub fn cookie(self) -> &'static str {
        match self {
            Self::Customer => "licet_session",
            Self::Admin => "licet_admin",
        }
    }
}

/// The cookie holding the CSRF token of forms shown before sign-in.
pub const CSRF_COOKIE: &str = "licet_csrf";

/// A started session: the cookie value and the session's CSRF token.
#[derive(Debug)]
pub struct NewSession {
    /// Goes into the session cookie.
    pub cookie: String,
    /// Goes into every form of the session (the pages read it back from the stored session;
    /// tests that start a session directly post it).
    #[cfg_attr(not(feature = "testkit"), allow(dead_code))]
    pub csrf: String,
}

/// Starts a session of `kind` for `subject`, lasting `secs`.
pub async fn start(app: &impl Context, kind: Kind, subject: &str, secs: i64) -> Result<NewSession> {
    let now = app.now();
    let cookie = random_secret("");
    let csrf = random_secret("");
    app.store()
        .insert_session(
            &sha256_hex(cookie.as_bytes()),
            kind,
            subject,
            &csrf,
            now,
            now + secs,
        )
        .await?;
    Ok(NewSession {
        cookie: cookie.to_string(),
        csrf: csrf.to_string(),
    })
}

/// The live session of `kind` behind a cookie value.
pub async fn find(
    app: &impl Context,
    kind: Kind,
    cookie: Option<&str>,
) -> Result<Option<SessionRow>> {
    let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 100) else {
        return Ok(None);
    };
    Ok(app
        .store()
        .session(&sha256_hex(cookie.as_bytes()), app.now())
        .await?
        .filter(|s| s.kind == kind))
}

/// Ends the session behind a cookie value.
pub async fn end(app: &impl Context, cookie: &str) -> Result<()> {
    app.store()
        .delete_session(&sha256_hex(cookie.as_bytes()))
        .await?;
    Ok(())
}

/// Checks a form's CSRF token against the expected one, in constant time.
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
