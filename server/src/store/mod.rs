//! All SQL lives here. One portable query layer over sqlx's `Any` driver serves SQLite (the
//! embedded default) and PostgreSQL (scale-out): instants are `BIGINT` Unix seconds, ids and
//! JSON are `TEXT`, placeholders are `$n`, inserts use `RETURNING`. Where the two engines
//! differ (locking, migrations) the difference is spelled out next to the query.

mod access;
mod activations;
mod admin_tokens;
mod audit;
mod error;
mod files;
mod floating;
mod fulfilment;
mod licenses;
mod offline;
mod outbox;
mod products;
mod purchases;
mod rate_limits;
mod releases;
mod seats;
mod sessions;
mod settings;
mod signing_keys;
mod sqlite_reads;
mod sqlite_writes;
mod states;
mod stats;
mod subscriptions;
#[cfg(feature = "testkit")]
mod test_schemas;
mod trials;
mod writes;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use activations::ActivationRow;
pub use audit::NewAudit;
pub use files::{DownloadRecord, FileRow, ResumeWindow};
pub use floating::{Checkout, FloatingSeatRow, SeatWanted};
pub use licenses::{LicenseAndActivation, LicenseFilter, LicenseRow, NewLicense};
pub use offline::{OfflineActivated, OfflineKey};
pub use outbox::OutboxRow;
pub use products::ProductRow;
pub use purchases::{DisputeStatus, PaymentFlags, PurchaseFilter, PurchaseRow};
pub use releases::{ArtifactRow, AttachOutcome, ReleaseDownloads, ReleaseRow};
pub use seats::{Activated, SeatDecision, SeatRelease};
pub use sessions::SessionRow;
pub use signing_keys::SigningKeyRow;
use sqlite_writes::SqliteWrites;
pub use states::{KeyState, SessionKind};
pub use stats::Totals;
pub use subscriptions::{
    LicenseEffect, PaidInvoice, SubscriptionChange, SubscriptionRow, SubscriptionWrite,
};
pub use trials::{TrialCounts, TrialFilter, TrialRow};
pub use writes::{KeyChange, NewLink};

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (WAL mode).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Chooses the backend from a database URL.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Errors opening or migrating the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported engine.
    #[error("unsupported database URL (use sqlite:… or postgres://…)")]
    UnsupportedUrl,
    /// The database could not be reached or a query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A handle to the database, cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    /// Connections for reads (and, on PostgreSQL, for writes too).
    pool: AnyPool,
    /// Connections for writes. On SQLite a single connection: SQLite admits one writer at a
    /// time anyway, and queueing in the pool is fairer and faster than spinning on
    /// `SQLITE_BUSY`. On PostgreSQL the same pool as `pool`.
    writer: AnyPool,
    backend: Backend,
    /// On SQLite, native reads on the calling thread for the validation hot path.
    reads: Option<std::sync::Arc<sqlite_reads::SqliteReads>>,
    /// On SQLite, group commit of activations through a native write connection.
    writes: Option<std::sync::Arc<SqliteWrites>>,
}

impl Store {
    /// Opens a pool to `url`. SQLite connections get WAL, a busy timeout and foreign keys.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let options = AnyConnectOptions::from_str(url)?;
        let pool = Self::pool_options(backend, max_connections.max(1))
            .connect_with(options.clone())
            .await?;
        let writer = match backend {
            Backend::Sqlite => Self::pool_options(backend, 1).connect_with(options).await?,
            Backend::Postgres => pool.clone(),
        };
        let (reads, writes) = match backend {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
                let file = options.get_filename();
                if file == std::path::Path::new(":memory:") || file.as_os_str().is_empty() {
                    (None, None)
                } else {
                    let writes = SqliteWrites::start(file)
                        .map_err(|e| sqlx::Error::Protocol(format!("sqlite writer: {e}")))?;
                    (
                        Some(std::sync::Arc::new(sqlite_reads::SqliteReads::new(file))),
                        Some(std::sync::Arc::new(writes)),
                    )
                }
            }
            Backend::Postgres => (None, None),
        };
        Ok(Self {
            pool,
            writer,
            backend,
            reads,
            writes,
        })
    }

    fn pool_options(backend: Backend, max_connections: u32) -> AnyPoolOptions {
        AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            // No ping before each use: on PostgreSQL it was a round trip of its own on every
            // query (two per validation). A connection the database dropped fails its next
            // query, and sqlx closes it; the pool opens a new one for the next request.
            .test_before_acquire(false)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
    }

    /// Applies the embedded migrations of this backend. On PostgreSQL, sqlx takes an
    /// advisory lock, so replicas starting together migrate once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.writer).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.writer).await?,
        }
        Ok(())
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The native SQLite writer (group commit), on SQLite.
    fn sqlite_writes(&self) -> Option<&SqliteWrites> {
        self.writes.as_deref()
    }

    /// The pool for reads.
    fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for single-statement writes.
    fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Starts a transaction that holds the write lock from its first statement on SQLite
    /// (`BEGIN IMMEDIATE`), so check-then-insert invariants cannot interleave. On PostgreSQL
    /// callers lock the parent row with [`Store::lock_license`].
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
    }

    /// Cheap liveness probe for `/healthz`.
    pub async fn ping(&self) -> Result<(), crate::platform::error::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(Into::into)
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        if let Some(reads) = &self.reads {
            reads.close();
        }
        if let Some(writes) = &self.writes {
            writes.close();
        }
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Encodes a list of strings as the JSON text stored in a column.
pub fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// Decodes a JSON list column; a corrupt value reads as empty rather than failing a request.
pub fn parse_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

impl Store {
    /// `sqlite` or `postgres`, for logs.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}
