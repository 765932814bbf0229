//! Server configuration, parsed once: defaults, then an optional TOML file, then `LICET_*`
//! environment variables, then command-line flags (clap reads the last two).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::platform::error::{Error, Result};

/// A secret string whose `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub zeroize::Zeroizing<String>);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(zeroize::Zeroizing::new(s.into()))
    }
    /// The secret itself: for the one place that uses it, never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory for the SQLite database, the master key and files.
    pub data_dir: PathBuf,
    /// Database URL (`sqlite:…` or `postgres://…`).
    pub database_url: String,
    /// The URL clients reach this server at; the tokens' `iss`.
    pub public_url: String,
    /// Admin token from the environment (`LICET_ADMIN_TOKEN`), accepted besides stored ones.
    pub admin_token: Option<Secret>,
    /// Master key from the environment (`LICET_MASTER_KEY`) instead of `<data-dir>/master.key`.
    pub master_key: Option<Secret>,
    /// Requests per minute per client IP on the license API (0 = unlimited).
    pub rate_limit_per_ip: u32,
    /// Requests per minute per license key on the license API (0 = unlimited).
    pub rate_limit_per_key: u32,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted request head (request line and headers) in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Client connections served at once; past it, idle ones make room or new ones get 503.
    pub max_connections: usize,
    /// Seconds a client has to send a whole request head, from connecting or from its first
    /// byte after a keep-alive pause.
    pub header_timeout_secs: u64,
    /// Seconds a keep-alive connection may wait for its next request.
    pub idle_timeout_secs: u64,
    /// Seconds the server waits for the next bytes of a request body before dropping it.
    pub body_timeout_secs: u64,
    /// Seconds requests in flight get to finish at shutdown before connections are cut.
    pub shutdown_grace_secs: u64,
    /// Largest database pool.
    pub db_max_connections: u32,
    /// Take the client IP from the last `X-Forwarded-For` entry (behind a reverse proxy).
    pub trust_forwarded_for: bool,
    /// Seconds between reloads of the signing keys from the database.
    pub key_refresh_secs: u64,
    /// Lease signatures remembered for repeated validations in the same minute (0: none).
    pub signature_cache_entries: usize,
    /// Days the audit log keeps an entry (0: forever).
    pub audit_retention_days: u32,
    /// Log lines as text or JSON (`LICET_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Sender of customer emails, e.g. `Photo Pro <sales@example.com>`.
    pub mail_from: String,
    /// Support contact named in emails (default: the sender's address).
    pub support_email: Option<String>,
    /// SMTP server (`smtps://…` or `smtp://…?tls=required`); files in the data dir if unset.
    pub smtp_url: Option<Secret>,
    /// Stripe webhook endpoint secrets (`whsec_…`); several during rotation. Empty: the
    /// Stripe endpoint is off.
    pub stripe_webhook_secrets: Vec<Secret>,
    /// Where subscribers manage their subscription (a Stripe customer-portal login link),
    /// shown on their purchases; a product's own link wins. `LICET_STRIPE_BILLING_PORTAL_URL`.
    pub stripe_billing_portal_url: Option<String>,
    /// Send subscribers a short receipt for each renewal paid (off by default: Stripe can
    /// send its own). `LICET_RENEWAL_RECEIPTS=true`.
    pub renewal_receipts: bool,
    /// S3-compatible storage for product files; local files in the data dir if unset.
    pub s3: Option<S3Config>,
}

/// S3-compatible object storage (`LICET_S3_*`).
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The bucket product files are stored in.
    pub bucket: String,
    /// Region (default `us-east-1`).
    pub region: String,
    /// Endpoint of an S3-compatible service (MinIO, R2, …); AWS if unset.
    pub endpoint: Option<String>,
    /// Access key id.
    pub access_key_id: Secret,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Lifetime of presigned download URLs in seconds (default 300).
    pub presign_secs: u64,
}

impl S3Config {
    /// Reads `LICET_S3_BUCKET` (required to turn S3 on), `LICET_S3_REGION`,
    /// `LICET_S3_ENDPOINT`, `LICET_S3_ACCESS_KEY_ID`, `LICET_S3_SECRET_ACCESS_KEY`,
    /// `LICET_S3_PRESIGN_SECS`.
    pub fn from_env() -> Result<Option<Self>> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let Some(bucket) = var("LICET_S3_BUCKET") else {
            return Ok(None);
        };
        let secret = |name: &str| {
            var(name)
                .map(Secret::new)
                .ok_or_else(|| Error::Internal(format!("LICET_S3_BUCKET is set but {name} is not")))
        };
        Ok(Some(Self {
            bucket,
            region: var("LICET_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
            endpoint: var("LICET_S3_ENDPOINT"),
            access_key_id: secret("LICET_S3_ACCESS_KEY_ID")?,
            secret_access_key: secret("LICET_S3_SECRET_ACCESS_KEY")?,
            presign_secs: var("LICET_S3_PRESIGN_SECS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(300),
        }))
    }
}

/// The TOML file's shape; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    rate_limit_per_ip: Option<u32>,
    rate_limit_per_key: Option<u32>,
    max_body_bytes: Option<usize>,
    max_header_bytes: Option<usize>,
    max_connections: Option<usize>,
    header_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    db_max_connections: Option<u32>,
    trust_forwarded_for: Option<bool>,
    key_refresh_secs: Option<u64>,
    signature_cache_entries: Option<usize>,
    audit_retention_days: Option<u32>,
    log_format: Option<LogFormat>,
    mail_from: Option<String>,
    support_email: Option<String>,
    stripe_billing_portal_url: Option<String>,
    renewal_receipts: Option<bool>,
    smtp_url: Option<String>,
}

/// Values from the environment and flags (clap fills these; `None` means "not given").
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, env = "LICET_LISTEN", global = true)]
    pub listen: Option<String>,
    /// Data directory: SQLite database, master key, files [default: ./licet-data].
    #[arg(long, env = "LICET_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL, `sqlite:…` or `postgres://…` [default: SQLite file in the data dir].
    #[arg(
        long,
        env = "LICET_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Public URL of this server, used as the tokens' issuer [default: http://<listen>].
    #[arg(long, env = "LICET_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// License-API requests per minute per client IP; 0 turns the limit off [default: 120].
    #[arg(long, env = "LICET_RATE_LIMIT_PER_IP", global = true)]
    pub rate_limit_per_ip: Option<u32>,
    /// License-API requests per minute per license key; 0 turns the limit off [default: 30].
    #[arg(long, env = "LICET_RATE_LIMIT_PER_KEY", global = true)]
    pub rate_limit_per_key: Option<u32>,
    /// Largest accepted request body in bytes [default: 16384].
    #[arg(long, env = "LICET_MAX_BODY_BYTES", global = true)]
    pub max_body_bytes: Option<usize>,
    /// Largest request head (request line and headers) in bytes; a larger one is answered
    /// 431 [default: 16384].
    #[arg(long, env = "LICET_MAX_HEADER_BYTES", global = true)]
    pub max_header_bytes: Option<usize>,
    /// Client connections served at once. At the cap, the connection that has waited longest
    /// without a request in flight is closed to make room; if every one is busy, new clients
    /// get 503 with Retry-After. Keep it below the open-files limit [default: 512].
    #[arg(long, env = "LICET_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a whole request head, counted from connecting or from
    /// its first byte after a keep-alive pause; then the connection is closed [default: 10].
    #[arg(long, env = "LICET_HEADER_TIMEOUT_SECS", global = true)]
    pub header_timeout_secs: Option<u64>,
    /// Seconds a keep-alive connection may sit idle between requests before it is closed
    /// (above the 60 s idle timeout of common load balancers) [default: 75].
    #[arg(long, env = "LICET_IDLE_TIMEOUT_SECS", global = true)]
    pub idle_timeout_secs: Option<u64>,
    /// Seconds a request body may stall (no bytes while the server waits for them); then the
    /// request and its connection are dropped [default: 30].
    #[arg(long, env = "LICET_BODY_TIMEOUT_SECS", global = true)]
    pub body_timeout_secs: Option<u64>,
    /// On SIGTERM or Ctrl-C: seconds requests in flight get to finish before the remaining
    /// connections are cut and the process exits [default: 10].
    #[arg(long, env = "LICET_SHUTDOWN_GRACE_SECS", global = true)]
    pub shutdown_grace_secs: Option<u64>,
    /// Maximum database connections [default: 16].
    #[arg(long, env = "LICET_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<u32>,
    /// Trust the last X-Forwarded-For entry as the client IP (only behind your own proxy).
    #[arg(long, env = "LICET_TRUST_FORWARDED_FOR", global = true)]
    pub trust_forwarded_for: Option<bool>,
    /// Seconds between reloads of signing keys from the database [default: 30].
    #[arg(long, env = "LICET_KEY_REFRESH_SECS", global = true)]
    pub key_refresh_secs: Option<u64>,
    /// Lease signatures to remember for machines that validate again within the same
    /// minute; 0 signs every lease afresh [default: 65536, about 6 MiB].
    #[arg(long, env = "LICET_SIGNATURE_CACHE_ENTRIES", global = true)]
    pub signature_cache_entries: Option<usize>,
    /// Days the audit log keeps an entry; older ones are deleted in the background; 0 keeps
    /// everything forever [default: 400].
    #[arg(long, env = "LICET_AUDIT_RETENTION_DAYS", global = true)]
    pub audit_retention_days: Option<u32>,
    /// Log format [default: text].
    #[arg(long, env = "LICET_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Sender of customer emails [default: Licet <licet@localhost>].
    #[arg(long, env = "LICET_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Support address named in customer emails [default: the sender's].
    #[arg(long, env = "LICET_SUPPORT_EMAIL", global = true)]
    pub support_email: Option<String>,
}

impl Config {
    /// Resolves the layers. Secrets (`LICET_ADMIN_TOKEN`, `LICET_MASTER_KEY`) come from the
    /// environment only, never from flags (which other users can see in `ps`).
    pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Self> {
        let file_cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::Internal(format!("reading {}: {e}", path.display())))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| Error::Internal(format!("in {}: {e}", path.display())))?
            }
            None => FileConfig::default(),
        };
        let env_secret = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(Secret::new)
        };
        let admin_token = env_secret("LICET_ADMIN_TOKEN");
        if let Some(token) = &admin_token {
            check_admin_token(token.expose())?;
        }
        let mut config =
            Self::resolve(file_cfg, flags, admin_token, env_secret("LICET_MASTER_KEY"))?;
        if let Some(url) = env_secret("LICET_SMTP_URL") {
            config.smtp_url = Some(url);
        }
        if let Ok(secrets) = std::env::var("LICET_STRIPE_WEBHOOK_SECRET") {
            config.stripe_webhook_secrets = parse_webhook_secrets(&secrets)?;
        }
        if let Ok(url) = std::env::var("LICET_STRIPE_BILLING_PORTAL_URL") {
            config.stripe_billing_portal_url =
                Some(url.trim().to_owned()).filter(|u| !u.is_empty());
        }
        if let Ok(on) = std::env::var("LICET_RENEWAL_RECEIPTS") {
            config.renewal_receipts = match on.trim() {
                "1" | "true" | "yes" => true,
                "" | "0" | "false" | "no" => false,
                other => {
                    return Err(Error::invalid(format!(
                        "LICET_RENEWAL_RECEIPTS must be true or false, not {other:?}"
                    )));
                }
            };
        }
        config.s3 = S3Config::from_env()?;
        Ok(config)
    }

    /// Merges file values and overrides over the defaults.
    pub fn resolve(
        file: FileConfig,
        flags: &Overrides,
        admin_token: Option<Secret>,
        master_key: Option<Secret>,
    ) -> Result<Self> {
        let listen_text = flags
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8787".into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            Error::Internal(format!("listen address {listen_text:?} is not host:port"))
        })?;
        let data_dir = flags
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./licet-data"));
        let database_url = flags
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| sqlite_url(&data_dir));
        let public_url = flags
            .public_url
            .clone()
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        let max_header_bytes = flags
            .max_header_bytes
            .or(file.max_header_bytes)
            .unwrap_or(16 * 1024);
        if max_header_bytes < MIN_HEADER_BYTES {
            return Err(Error::Internal(format!(
                "max_header_bytes {max_header_bytes} is below {MIN_HEADER_BYTES}: no browser request would fit"
            )));
        }
        let max_connections = flags
            .max_connections
            .or(file.max_connections)
            .unwrap_or(512);
        if max_connections == 0 {
            return Err(Error::Internal("max_connections must be at least 1".into()));
        }
        let header_timeout_secs = flags
            .header_timeout_secs
            .or(file.header_timeout_secs)
            .unwrap_or(10);
        let idle_timeout_secs = flags
            .idle_timeout_secs
            .or(file.idle_timeout_secs)
            .unwrap_or(75);
        let body_timeout_secs = flags
            .body_timeout_secs
            .or(file.body_timeout_secs)
            .unwrap_or(30);
        if header_timeout_secs == 0 || idle_timeout_secs == 0 || body_timeout_secs == 0 {
            return Err(Error::Internal(
                "header_timeout_secs, idle_timeout_secs and body_timeout_secs must be at least 1"
                    .into(),
            ));
        }
        Ok(Self {
            listen,
            data_dir,
            database_url,
            public_url,
            admin_token,
            master_key,
            rate_limit_per_ip: flags
                .rate_limit_per_ip
                .or(file.rate_limit_per_ip)
                .unwrap_or(120),
            rate_limit_per_key: flags
                .rate_limit_per_key
                .or(file.rate_limit_per_key)
                .unwrap_or(30),
            max_body_bytes: flags
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(16 * 1024),
            max_header_bytes,
            max_connections,
            header_timeout_secs,
            idle_timeout_secs,
            body_timeout_secs,
            shutdown_grace_secs: flags
                .shutdown_grace_secs
                .or(file.shutdown_grace_secs)
                .unwrap_or(10),
            db_max_connections: flags
                .db_max_connections
                .or(file.db_max_connections)
                .unwrap_or(16),
            trust_forwarded_for: flags
                .trust_forwarded_for
                .or(file.trust_forwarded_for)
                .unwrap_or(false),
            key_refresh_secs: flags
                .key_refresh_secs
                .or(file.key_refresh_secs)
                .unwrap_or(30),
            signature_cache_entries: flags
                .signature_cache_entries
                .or(file.signature_cache_entries)
                .unwrap_or(65_536),
            audit_retention_days: flags
                .audit_retention_days
                .or(file.audit_retention_days)
                .unwrap_or(DEFAULT_AUDIT_RETENTION_DAYS),
            log_format: flags.log_format.or(file.log_format).unwrap_or_default(),
            mail_from: flags
                .mail_from
                .clone()
                .or(file.mail_from)
                .unwrap_or_else(|| "Licet <licet@localhost>".into()),
            support_email: flags.support_email.clone().or(file.support_email),
            smtp_url: file.smtp_url.map(Secret::new),
            stripe_webhook_secrets: Vec::new(),
            stripe_billing_portal_url: file.stripe_billing_portal_url,
            renewal_receipts: file.renewal_receipts.unwrap_or(false),
            s3: None,
        })
    }

    /// A configuration for tests and embedding: defaults with this data dir and database.
    pub fn for_data_dir(data_dir: &Path, database_url: Option<String>) -> Self {
        let flags = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(data_dir.to_path_buf()),
            database_url,
            ..Overrides::default()
        };
        // Defaults with a valid listen address cannot fail to resolve.
        match Self::resolve(FileConfig::default(), &flags, None, None) {
            Ok(c) => c,
            Err(e) => unreachable!("default config: {e}"),
        }
    }
}

/// How long the audit log keeps an entry by default: a year and a bit, enough for a yearly
/// review or a chargeback months after a sale.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 400;

/// Shortest `LICET_ADMIN_TOKEN` accepted: it opens the admin API and the dashboard, so it
/// must be as unguessable as a generated token (`licet-server token create` makes 256-bit
/// ones).
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// Refuses an admin token from the environment that is too short to be a secret.
pub fn check_admin_token(token: &str) -> Result<()> {
    let chars = token.trim().chars().count();
    if chars < MIN_ADMIN_TOKEN_CHARS {
        return Err(Error::Internal(format!(
            "LICET_ADMIN_TOKEN is {chars} characters long; use at least {MIN_ADMIN_TOKEN_CHARS} \
             random characters (e.g. the output of `openssl rand -base64 32`), or unset it and \
             use the token printed at first start"
        )));
    }
    Ok(())
}

/// The smallest `max_header_bytes` accepted: a browser's request head with a session cookie
/// needs about a kilobyte.
const MIN_HEADER_BYTES: usize = 1024;

/// Parses `LICET_STRIPE_WEBHOOK_SECRET`: one or more `whsec_…` secrets, comma-separated.
/// An empty entry is an error (a blank secret must never verify anything).
pub fn parse_webhook_secrets(text: &str) -> Result<Vec<Secret>> {
    let secrets: Vec<Secret> = text.split(',').map(|s| Secret::new(s.trim())).collect();
    if secrets.iter().any(|s| s.expose().is_empty()) {
        return Err(Error::Internal(
            "LICET_STRIPE_WEBHOOK_SECRET has an empty entry; refusing to start the Stripe endpoint"
                .into(),
        ));
    }
    Ok(secrets)
}

/// The default SQLite URL for a data directory (created on demand).
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("licet.db").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let file: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:9000\"\nrate_limit_per_ip = 5\npublic_url = \"https://l.example/\"",
        )
        .expect("valid toml");
        let flags = Overrides {
            rate_limit_per_ip: Some(7),
            ..Default::default()
        };
        let c = Config::resolve(file, &flags, None, None).expect("resolves");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.rate_limit_per_ip, 7);
        assert_eq!(c.rate_limit_per_key, 30);
        assert_eq!(c.public_url, "https://l.example");
        assert!(c.database_url.starts_with("sqlite://./licet-data/"));
    }

    #[test]
    fn an_admin_token_from_the_environment_must_be_long_enough_to_be_a_secret() {
        let err = check_admin_token("hunter2").expect_err("short");
        assert!(err.to_string().contains("at least 32"), "{err}");
        assert!(check_admin_token(&"x".repeat(31)).is_err());
        assert!(check_admin_token(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn connection_limits_have_defaults_and_refuse_nonsense() {
        let c = Config::resolve(FileConfig::default(), &Overrides::default(), None, None)
            .expect("resolves");
        assert_eq!(
            (
                c.max_connections,
                c.max_header_bytes,
                c.header_timeout_secs,
                c.idle_timeout_secs,
                c.body_timeout_secs,
                c.shutdown_grace_secs
            ),
            (512, 16384, 10, 75, 30, 10)
        );
        let file: FileConfig =
            toml::from_str("max_connections = 64\nidle_timeout_secs = 5").expect("valid toml");
        let c = Config::resolve(file, &Overrides::default(), None, None).expect("resolves");
        assert_eq!((c.max_connections, c.idle_timeout_secs), (64, 5));
        for bad in [
            "max_connections = 0",
            "header_timeout_secs = 0",
            "idle_timeout_secs = 0",
            "body_timeout_secs = 0",
            "max_header_bytes = 16",
        ] {
            let file: FileConfig = toml::from_str(bad).expect("valid toml");
            assert!(
                Config::resolve(file, &Overrides::default(), None, None).is_err(),
                "{bad} is refused"
            );
        }
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let mut c = Config::for_data_dir(Path::new("/tmp/x"), None);
        c.admin_token = Some(Secret::new("lct_admin_supersecret"));
        assert!(!format!("{c:?}").contains("supersecret"));
    }
}
