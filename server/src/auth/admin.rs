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

use crate::auth::Admin;
use crate::auth::Context;
use crate::auth::sessions::{self, Kind, NewSession};
use crate::platform::crypto::{ct_eq, hex, hmac_sha256, random_bytes, sha256_hex};
use crate::platform::error::{Error, Result};
use crate::platform::rate_limit::{self, Limit};
use crate::store::{NewAudit, SessionRow};

/// How long a dashboard session lasts.
pub const SESSION_SECS: i64 = 12 * 3600;
/// Shortest dashboard password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The setting holding the password's PHC string.
const PASSWORD_SETTING: &str = "admin_password";

/// The audit actor of an admin token, or `None` when no live token matches.
pub async fn actor_for_token(app: &impl Context, presented: &str) -> Result<Option<String>> {
    let presented = presented.trim();
    if presented.is_empty() || presented.len() > 200 {
        return Ok(None);
    }
    // Hashes are compared, in constant time, so neither the token nor its stored hash
    // leaks through timing.
    let hash = sha256_hex(presented.as_bytes());
    let env_hash = app
        .config()
        .admin_token
        .as_ref()
        .map(|env| sha256_hex(env.expose().as_bytes()));
    if env_hash.is_some_and(|h| ct_eq(h.as_bytes(), hash.as_bytes())) {
        return Ok(Some("admin:env".into()));
    }
    let mut matched = None;
    for (id, stored) in app.store().live_admin_tokens().await? {
        if ct_eq(stored.as_bytes(), hash.as_bytes()) {
            matched = Some(id);
        }
    }
    Ok(matched.map(|id| format!("admin:{id}")))
}

/// Sets (or replaces) the dashboard password.
pub async fn set_password(app: &impl Context, admin: &Admin, password: &str) -> Result<()> {
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
    app.store().set_setting(PASSWORD_SETTING, &phc).await?;
    app.store()
        .audit(&NewAudit::new(
            app.now(),
            admin.actor(),
            "admin.password_set",
            ("dashboard", "password"),
            serde_json::json!({}),
        ))
        .await?;
    Ok(())
}

/// Whether `password` is the dashboard password (always false when none is set).
async fn password_matches(app: &impl Context, password: &str) -> Result<bool> {
    let Some(phc) = app.store().setting(PASSWORD_SETTING).await? else {
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

/// A dashboard sign-in that succeeded.
#[derive(Debug)]
pub struct SignedIn {
    pub session: NewSession,
    /// The browser's device cookie value (new, or the one it presented), kept for
    /// [`DEVICE_COOKIE_SECS`]: it marks a browser that has signed in before.
    pub device: String,
}

/// The cookie marking a browser that has signed in to the dashboard before.
pub const DEVICE_COOKIE: &str = "licet_device";
/// How long a browser stays known.
pub const DEVICE_COOKIE_SECS: i64 = 180 * 86_400;

/// Signs in to the dashboard with an admin token or the dashboard password.
///
/// Failures are limited so that nobody elsewhere can lock the vendor out (OWASP's "device
/// cookie" scheme): a browser that signed in before (a valid `device` cookie) is limited
/// only by its own failures; any other browser by the failures of its IP, and, while
/// browsers never seen before fail too often altogether, such browsers are asked for an
/// admin token, which cannot be guessed, instead of the password. The correct password
/// from a known browser and a correct admin token from any IP that is not itself failing
/// always sign in.
pub async fn sign_in(
    app: &impl Context,
    ip: &str,
    device: Option<&str>,
    secret: &str,
) -> Result<SignedIn> {
    let now = app.now();
    let known = device.filter(|d| device_is_genuine(app, d));
    let own: Vec<(String, Limit)> = match known {
        Some(d) => vec![(
            format!("dash-fail-device:{}", rate_limit::hashed(d)),
            rate_limit::DASHBOARD_FAILURES_PER_DEVICE,
        )],
        None => vec![(
            format!("dash-fail-ip:{}", rate_limit::ip_group(ip)),
            rate_limit::DASHBOARD_FAILURES_PER_IP,
        )],
    };
    let strangers = [(
        "dash-fail-unknown-browsers".to_owned(),
        rate_limit::DASHBOARD_FAILURES_UNKNOWN_BROWSERS,
    )];
    app.limiter().check_failures(app.store(), now, &own).await?;
    let actor = match actor_for_token(app, secret).await? {
        Some(actor) => Some(actor),
        None => {
            if known.is_none()
                && app
                    .limiter()
                    .check_failures(app.store(), now, &strangers)
                    .await
                    .is_err()
            {
                return Err(Error::new(
                    ErrorCode::RateLimited,
                    "too many failed sign-ins from new browsers: sign in with an admin token \
                     (licet-server token create), or from a browser that has signed in before",
                ));
            }
            password_matches(app, secret)
                .await?
                .then(|| "admin:password".to_owned())
        }
    };
    let Some(actor) = actor else {
        let mut failed = own;
        if known.is_none() {
            failed.extend(strangers);
        }
        app.limiter()
            .record_failures(app.store(), now, &failed)
            .await?;
        tracing::warn!(
            ip,
            known_browser = known.is_some(),
            "dashboard sign-in refused"
        );
        return Err(Error::new(
            ErrorCode::Unauthorized,
            "that admin token or password is not right",
        ));
    };
    app.store()
        .audit(&NewAudit::new(
            now,
            &actor,
            "admin.signed_in",
            ("dashboard", "session"),
            serde_json::json!({ "ip": ip, "known_browser": known.is_some() }),
        ))
        .await?;
    let session = sessions::start(app, Kind::Admin, &actor, SESSION_SECS).await?;
    Ok(SignedIn {
        session,
        device: known.map_or_else(|| new_device(app), str::to_owned),
    })
}

/// A new device cookie value: a random id and its MAC under a key derived from the master
/// key, so a browser cannot make one up.
fn new_device(app: &impl Context) -> String {
    let id = hex(&random_bytes::<16>());
    let mac = device_mac(app, &id);
    format!("{id}.{mac}")
}

fn device_mac(app: &impl Context, id: &str) -> String {
    let key = app.master().derive("dashboard device cookie v1");
    hex(&hmac_sha256(key.as_ref(), id.as_bytes())[..16])
}

/// Whether a device cookie value was made by this deployment.
fn device_is_genuine(app: &impl Context, value: &str) -> bool {
    match value.split_once('.') {
        Some((id, mac)) if id.len() == 32 && mac.len() == 32 => {
            ct_eq(device_mac(app, id).as_bytes(), mac.as_bytes())
        }
        _ => false,
    }
}

/// The admin-API caller behind a bearer token, with failures limited per client IP (one
/// /64 for IPv6): past [`rate_limit::ADMIN_TOKEN_FAILURES_PER_IP`] that IP is refused with
/// `RATE_LIMITED` before its token is even looked at, so the limit is no oracle.
pub async fn authorize_bearer(app: &impl Context, ip: &str, presented: &str) -> Result<Admin> {
    let now = app.now();
    let own = [(
        format!("admin-fail-ip:{}", rate_limit::ip_group(ip)),
        rate_limit::ADMIN_TOKEN_FAILURES_PER_IP,
    )];
    app.limiter().check_failures(app.store(), now, &own).await?;
    match actor_for_token(app, presented).await? {
        Some(actor) => Ok(Admin::new(actor)),
        None => {
            app.limiter()
                .record_failures(app.store(), now, &own)
                .await?;
            Err(Error::new(
                ErrorCode::Unauthorized,
                "a valid admin token is required",
            ))
        }
    }
}

/// The live dashboard session behind a cookie value, with the vendor proof it carries.
pub async fn session(app: &impl Context, cookie: Option<&str>) -> Result<Option<AdminSession>> {
    let row = sessions::find(app, Kind::Admin, cookie).await?;
    Ok(row.map(|row| AdminSession {
        // `sign_in` made the session's subject the audit actor.
        admin: Admin::new(row.email.clone()),
        row,
    }))
}

/// A live dashboard session. It reads as its [`SessionRow`] (the CSRF token, the subject),
/// so the pages use it as before, and hands out the [`Admin`] proof for the vendor's
/// operations.
#[derive(Debug)]
pub struct AdminSession {
    row: SessionRow,
    admin: Admin,
}

impl AdminSession {
    /// The session's row and its proof, apart.
    pub fn into_parts(self) -> (SessionRow, Admin) {
        (self.row, self.admin)
    }
}

impl std::ops::Deref for AdminSession {
    type Target = SessionRow;

    fn deref(&self) -> &SessionRow {
        &self.row
    }
}
