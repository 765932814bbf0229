//! The application state shared by every request, and how it is opened on start.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::auth::{Actor, Admin};
use crate::commerce::blobs::BlobStore;
use crate::commerce::mail::Mailer;
use crate::licensing::keys::KeyFormat;
use crate::licensing::signing::{self, KeyRing};
use crate::platform::clock::Clock;
use crate::platform::config::Config;
use crate::platform::crypto::{self, MasterKey};
use crate::platform::error::{Error, Result};
use crate::platform::metrics::Metrics;
use crate::platform::rate_limit::RateLimiter;
use crate::store::{NewAudit, Store};

/// Everything a request handler or CLI command needs.
#[derive(Debug)]
pub struct App {
    /// Resolved configuration.
    pub(crate) config: Config,
    /// The database.
    pub(crate) store: Store,
    /// Signing keys of this replica.
    pub(crate) keys: KeyRing,
    /// The root secret.
    pub(crate) master: MasterKey,
    /// License-key minting and checking.
    pub(crate) key_format: KeyFormat,
    /// Request limits of the license API.
    pub(crate) limiter: RateLimiter,
    /// Prometheus counters.
    pub(crate) metrics: Arc<Metrics>,
    /// Outgoing email.
    pub(crate) mail: Mailer,
    /// Product files.
    pub(crate) blobs: BlobStore,
    /// Download records on their way to the database.
    pub(crate) download_log: crate::commerce::downloads::DownloadLog,
    /// Published releases, in memory for a few seconds.
    pub(crate) release_cache: crate::releases::catalog::ReleaseCache,
    /// Source of "now".
    pub(crate) clock: Arc<dyn Clock>,
}

/// What opening the app produced besides the app itself.
#[derive(Debug)]
pub struct Opened {
    /// The opened state, shared by the server's tasks.
    pub app: Arc<App>,
    /// An admin token created on this start; shown once, stored only as a hash.
    pub new_admin_token: Option<Zeroizing<String>>,
    /// The master key file was created on this start.
    pub created_master_key: bool,
}

/// Label of the setting that pins which master key a database belongs to.
const MASTER_FINGERPRINT: &str = "master_key_fingerprint";

impl App {
    /// Opens the data dir and database, migrates, and makes sure a signing key and (unless
    /// `LICET_ADMIN_TOKEN` is set) an admin token exist.
    pub async fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Opened> {
        create_private_dir(&config.data_dir)?;
        let (master, created_master_key) = MasterKey::load_or_create(
            &config.data_dir,
            config.master_key.as_ref().map(|s| s.expose()),
        )?;
        let store = Store::connect(&config.database_url, config.db_max_connections)
            .await
            .map_err(|e| Error::Internal(format!("opening the database: {e}")))?;
        store
            .migrate()
            .await
            .map_err(|e| Error::Internal(format!("migrating the database: {e}")))?;
        let pinned = store
            .setting_or_insert(MASTER_FINGERPRINT, &master.fingerprint())
            .await?;
        if pinned != master.fingerprint() {
            return Err(Error::Internal(
                "this database was set up with a different master key; give every replica the \
                 same LICET_MASTER_KEY (or master.key file)"
                    .into(),
            ));
        }
        let now = clock.now();
        signing::ensure_current(&store, &master, now).await?;
        let keys = KeyRing::load(&store, &master, config.signature_cache_entries).await?;
        let new_admin_token =
            if config.admin_token.is_none() && store.admin_token_count().await? == 0 {
                Some(insert_admin_token(&store, now, "first start", Actor::System).await?)
            } else {
                None
            };
        let key_format = KeyFormat::new(master.derive("license-key-check v1"));
        let limiter = RateLimiter::new(config.rate_limit_per_ip, config.rate_limit_per_key);
        let mail = Mailer::from_config(&config)?;
        // TLS for outgoing HTTPS (S3): ring, like the rest of the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let blobs = match &config.s3 {
            Some(s3) => BlobStore::s3(s3)?,
            None => BlobStore::local(config.data_dir.join("files")),
        };
        let app = Arc::new(Self {
            config,
            store,
            keys,
            master,
            key_format,
            limiter,
            metrics: Arc::default(),
            mail,
            blobs,
            download_log: Default::default(),
            release_cache: Default::default(),
            clock,
        });
        Ok(Opened {
            app,
            new_admin_token,
            created_master_key,
        })
    }

    /// Current Unix time.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

impl crate::auth::Context for App {
    fn store(&self) -> &Store {
        &self.store
    }
    fn config(&self) -> &Config {
        &self.config
    }
    fn master(&self) -> &MasterKey {
        &self.master
    }
    fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }
    fn now(&self) -> i64 {
        self.clock.now()
    }
}

impl crate::licensing::Context for App {
    fn keys(&self) -> &KeyRing {
        &self.keys
    }
    fn key_format(&self) -> &KeyFormat {
        &self.key_format
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl crate::commerce::Context for App {
    fn mail(&self) -> &Mailer {
        &self.mail
    }
    fn blobs(&self) -> &BlobStore {
        &self.blobs
    }
    fn download_log(&self) -> &crate::commerce::downloads::DownloadLog {
        &self.download_log
    }
}

impl crate::releases::Context for App {
    fn release_cache(&self) -> &crate::releases::catalog::ReleaseCache {
        &self.release_cache
    }
}

/// Creates an admin token, stores its hash, and returns the token (to be shown once).
pub async fn create_admin_token(
    store: &Store,
    now: i64,
    label: &str,
    admin: &Admin,
) -> Result<Zeroizing<String>> {
    insert_admin_token(store, now, label, Actor::Admin(admin)).await
}

/// [`create_admin_token`] for whoever the caller vouches for (the vendor, or the server
/// making the first token on first start).
async fn insert_admin_token(
    store: &Store,
    now: i64,
    label: &str,
    actor: Actor<'_>,
) -> Result<Zeroizing<String>> {
    let token = crypto::random_secret("lct_admin_");
    let id = crypto::new_id("adm");
    let audit = NewAudit::new(
        now,
        &actor.audit_name(),
        "admin_token.created",
        ("admin_token", &id),
        serde_json::json!({ "label": label }),
    );
    store
        .create_admin_token(
            &id,
            &crypto::sha256_hex(token.as_bytes()),
            label,
            now,
            &audit,
        )
        .await?;
    Ok(token)
}

/// Creates the data directory with mode 0700, or warns if an existing one is open to others.
fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(dir) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), "the data directory is readable by other users; consider chmod 700");
        }
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Error::Internal(format!("creating {}: {e}", dir.display())))
}
