//! Who the vendor is: admin API tokens, the dashboard password, and dashboard sessions.
//!
//! The admin API takes `Authorization: Bearer <admin token>`. The dashboard (`/admin`) signs
//! in with the same token, or with a password set by `licet-server admin-password` (stored
//! as an Argon2id hash, shared by every replica through the database). Either way the
//! session is an `admin` session (12 hours) whose subject is the audit actor
//! (`admin:<token id>`, `admin:env` or `admin:password`).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use licet_proto::ErrorCode;

use crate::app::App;
use crate::crypto::{ct_eq, sha256_hex};
use crate::error::{Error, Result};
use crate::sessions::{self, Kind, NewSession};
use crate::store::SessionRow;

/// How long a dashboard session lasts.
pub const SESSION_SECS: i64 = 12 * 3600;
/// Shortest dashboard password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The setting holding the password's PHC string.
const PASSWORD_SETTING: &str = "admin_password";

/// The audit actor of an admin token, or `None` when no live token matches.
pub async fn actor_for_token(app: &App, presented: &str) -> Result<Option<String>> {
    let presented = presented.trim();
    if presented.is_empty() || presented.len() > 200 {
        return Ok(None);
    }
    // Hashes are compared, in constant time, so neither the token nor its stored hash
    // leaks through timing.
    let hash = sha256_hex(presented.as_bytes());
    let env_hash = app
        .config
        .admin_token
        .as_ref()
        .map(|env| sha256_hex(env.expose().as_bytes()));
    if env_hash.is_some_and(|h| ct_eq(h.as_bytes(), hash.as_bytes())) {
        return Ok(Some("admin:env".into()));
    }
    let mut matched = None;
    for (id, stored) in app.store.live_admin_tokens().await? {
        if ct_eq(stored.as_bytes(), hash.as_bytes()) {
            matched = Some(id);
        }
    }
    Ok(matched.map(|id| format!("admin:{id}")))
}

/// Sets (or replaces) the dashboard password.
pub async fn set_password(app: &App, actor: &str, password: &str) -> Result<()> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=1024).contains(&chars) {
        return Err(Error::invalid(format!(
            "the password must be {MIN_PASSWORD_CHARS} to 1024 characters"
        )));
    }
    let password = zeroize::Zeroizing::new(password.as_bytes().to_vec());
    let phc = tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(&password)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| Error::Internal(format!("password hashing stopped: {e}")))?
    .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))?;
    app.store.set_setting(PASSWORD_SETTING, &phc).await?;
    crate::store::audit::record(
        app.store.writer(),
        app.now(),
        actor,
        "admin.password_set",
        ("dashboard", "password"),
        &serde_json::json!({}),
    )
    .await?;
    Ok(())
}

/// Whether `password` is the dashboard password (always false when none is set).
async fn password_matches(app: &App, password: &str) -> Result<bool> {
    let Some(phc) = app.store.setting(PASSWORD_SETTING).await? else {
        return Ok(false);
    };
    if password.is_empty() || password.len() > 4096 {
        return Ok(false);
    }
    let password = zeroize::Zeroizing::new(password.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|hash| Argon2::default().verify_password(&password, &hash).is_ok())
            .unwrap_or(false)
    })
    .await
    .map_err(|e| Error::Internal(format!("password check stopped: {e}")))
}

/// Signs in to the dashboard with an admin token or the dashboard password. Attempts are
/// rate-limited per IP and for the dashboard as a whole.
pub async fn sign_in(app: &App, ip: &str, secret: &str) -> Result<NewSession> {
    app.limiter
        .check_sign_in(&app.store, app.now(), ip, "admin-dashboard")
        .await?;
    let actor = match actor_for_token(app, secret).await? {
        Some(actor) => actor,
        None if password_matches(app, secret).await? => "admin:password".to_owned(),
        None => {
            tracing::warn!(ip, "dashboard sign-in refused");
            return Err(Error::new(
                ErrorCode::Unauthorized,
                "that admin token or password is not right",
            ));
        }
    };
    crate::store::audit::record(
        app.store.writer(),
        app.now(),
        &actor,
        "admin.signed_in",
        ("dashboard", "session"),
        &serde_json::json!({ "ip": ip }),
    )
    .await?;
    sessions::start(app, Kind::Admin, &actor, SESSION_SECS).await
}

/// The live dashboard session behind a cookie value.
pub async fn session(app: &App, cookie: Option<&str>) -> Result<Option<SessionRow>> {
    sessions::find(app, Kind::Admin, cookie).await
}
