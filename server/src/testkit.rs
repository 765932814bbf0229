//! A real Licet server inside the current process, on a random port with a throw-away data
//! directory: for Licet's own tests and for vendors testing their app's integration.
//!
//! The database is SQLite in the temporary directory, or, when `LICET_TEST_DATABASE_URL`
//! names a PostgreSQL database, a fresh schema in it per server (so tests never share rows).
//!
//! ```no_run
//! # async fn demo() -> licet_server::Result<()> {
//! let server = licet_server::testkit::TestServer::start().await?;
//! println!("{} (admin token {})", server.url, server.admin_token);
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::platform::clock::OffsetClock;
use crate::platform::config::{Config, Secret};
use crate::platform::crypto::{hex, random_bytes, random_secret};
use crate::platform::error::{Error, Result};

/// What Licet's own integration tests drive directly: set-up that has no HTTP route (a
/// purchase recorded as Stripe would, an expired session, a refund) and the limits and
/// windows they assert against. Not a stable API.
pub mod internals {
    pub use crate::auth::admin::set_password;
    pub use crate::auth::{Actor, Admin, sessions};
    pub use crate::catalogue::{
        StatusChange, change_status, create_product, extend, issue_license,
    };
    pub use crate::commerce::downloads::RESUME_WINDOW_SECS;
    pub use crate::commerce::mail::{CLAIM_SECS, MAX_REFUSED_ATTEMPTS};
    pub use crate::commerce::{sales, stripe};
    pub use crate::licensing::LEASE_GRID_SECS;
    pub use crate::platform::dates;
    pub use crate::platform::rate_limit;
    pub use crate::store::{Backend, OutboxRow};
}

/// The vendor acting from the server's host, as the CLI does (audit actor `cli`): for tests
/// that call the vendor's operations directly rather than through the admin API.
pub fn operator() -> crate::auth::Admin {
    crate::auth::Admin::local_operator()
}

/// Environment variable naming a PostgreSQL database for tests.
pub const TEST_DATABASE_ENV: &str = "LICET_TEST_DATABASE_URL";

/// A running in-process server.
pub struct TestServer {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// Admin token accepted by this server.
    pub admin_token: String,
    /// The server's state (for moving its clock or reaching its store).
    pub app: Arc<App>,
    /// The clock the server runs on; `advance` moves its time.
    pub clock: OffsetClock,
    addr: SocketAddr,
    config: Config,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// The server's database, for set-up and checks that have no HTTP route.
    pub fn store(&self) -> &crate::store::Store {
        &self.app.store
    }

    /// The server's outgoing mail, for tests that play the outbox worker's part.
    pub fn mailer(&self) -> &crate::commerce::mail::Mailer {
        &self.app.mail
    }

    /// The public keys the server signs leases with (what `/.well-known/jwks.json` serves).
    pub fn jwks(&self) -> licet_proto::token::Jwks {
        self.app.keys.jwks()
    }

    /// A well-formed license key that was never issued (its check segment is right).
    pub fn unissued_key(&self, prefix: &str) -> String {
        self.app.key_format.generate(prefix)
    }

    /// Starts a server with the default test configuration (rate limits off).
    pub async fn start() -> Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after letting `configure` adjust the configuration.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|e| Error::Internal(e.to_string()))?;
        let database_url = test_database_url(dir.path()).await?;
        let mut config = Config::for_data_dir(dir.path(), Some(database_url));
        config.rate_limit_per_ip = 0;
        config.rate_limit_per_key = 0;
        let admin_token = random_secret("lct_admin_test_").to_string();
        config.admin_token = Some(Secret::new(admin_token.clone()));
        configure(&mut config);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Internal(e.to_string()))?;
        config.public_url = format!("http://{addr}");
        let clock = OffsetClock::default();
        let opened = App::open(config.clone(), Arc::new(clock.clone())).await?;
        let mut server = Self {
            url: format!("http://{addr}"),
            admin_token,
            app: opened.app,
            clock,
            addr,
            config,
            running: None,
            _dir: dir,
        };
        server.spawn(listener);
        Ok(server)
    }

    fn spawn(&mut self, listener: tokio::net::TcpListener) {
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(crate::serve(self.app.clone(), listener, async {
            let _ = rx.await;
        }));
        self.running = Some((tx, task));
    }

    /// Stops serving HTTP (open connections drain); the data stays for [`TestServer::restart`].
    pub async fn stop(&mut self) {
        if let Some((tx, task)) = self.running.take() {
            let _ = tx.send(());
            let _ = task.await;
        }
    }

    /// Serves again on the same address with the same data, through a freshly opened app
    /// (as a restarted process would).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let opened = App::open(self.config.clone(), Arc::new(self.clock.clone())).await?;
        self.app = opened.app;
        self.spawn(listener);
        Ok(())
    }

    /// `url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some((tx, task)) = self.running.take() {
            let _ = tx.send(());
            task.abort();
        }
    }
}

/// SQLite in `dir`, or a fresh schema in the PostgreSQL database named by
/// `LICET_TEST_DATABASE_URL` (which must then be reachable: a test run that asked for
/// PostgreSQL fails rather than quietly using SQLite).
pub async fn test_database_url(dir: &std::path::Path) -> Result<String> {
    let Ok(base) = std::env::var(TEST_DATABASE_ENV) else {
        return Ok(crate::platform::config::sqlite_url(dir));
    };
    postgres_test_schema(&base).await
}

/// A fresh schema of the PostgreSQL database at `base`, as a URL whose connections use it
/// (for tests that need PostgreSQL whatever `LICET_TEST_DATABASE_URL` says, e.g. replicas).
pub async fn postgres_test_schema(base: &str) -> Result<String> {
    let now = crate::platform::clock::Clock::now(&crate::platform::clock::SystemClock);
    let schema = format!("licet_t_{now}_{}", hex(&random_bytes::<6>()));
    let store = crate::store::Store::connect(base, 1)
        .await
        .map_err(|e| Error::Internal(format!("{TEST_DATABASE_ENV}={base} is unreachable: {e}")))?;
    store.create_test_schema(&schema, now).await?;
    store.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

impl TestServer {
    /// The server's current Unix time (system time plus any [`OffsetClock::advance`]).
    pub fn clock_now(&self) -> i64 {
        crate::platform::clock::Clock::now(&self.clock)
    }
}
