//! One harness: a real server on its own runtime, clients wired to it, a movable clock.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use licet_server::testkit::TestServer;
use serde_json::{Value, json};

/// A clock the test moves.
#[derive(Debug, Default)]
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl licet::Clock for TestClock {
    fn now(&self) -> i64 {
        licet::Clock::now(&licet::SystemClock) + self.0.load(Ordering::SeqCst)
    }
}

/// A running server with one product (`photo`, `seats` seats, 1-hour leases, `pro`).
pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub server: TestServer,
    pub http: reqwest::Client,
    pub jwks: String,
}

impl Harness {
    pub fn start(seats: u32) -> Self {
        // The harness's own HTTP client needs a process-wide TLS provider; the SDK does not
        // (it configures its own), so installing one here hides nothing.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt.block_on(TestServer::start()).expect("server starts");
        let h = Self {
            rt,
            server,
            http: reqwest::Client::new(),
            jwks: String::new(),
        };
        let jwks = h.get("/.well-known/jwks.json").to_string();
        let h = Self { jwks, ..h };
        h.admin(
            "POST",
            "/v1/admin/products",
            Some(json!({
                "slug": "photo", "name": "Photo Pro", "max_activations": seats,
                "entitlements": ["pro"], "token_lifetime_secs": 3600
            })),
        );
        h
    }

    pub fn get(&self, path: &str) -> Value {
        self.rt.block_on(async {
            let res = self
                .http
                .get(self.server.url(path))
                .send()
                .await
                .expect("get");
            res.json().await.expect("json")
        })
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.rt.block_on(async {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = self
                .http
                .request(method, self.server.url(path))
                .bearer_auth(&self.server.admin_token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let res = req.send().await.expect("admin request");
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.json().await.expect("json")
        })
    }

    /// Issues a license and returns `(id, key)`.
    pub fn license(&self) -> (String, String) {
        let lic = self.admin(
            "POST",
            "/v1/admin/licenses",
            Some(json!({"product": "photo", "email": "ada@example.com"})),
        );
        (
            lic["id"].as_str().expect("id").into(),
            lic["key"].as_str().expect("key").into(),
        )
    }

    pub fn seats_in_use(&self, license_id: &str) -> u64 {
        self.admin("GET", &format!("/v1/admin/licenses/{license_id}"), None)["active_activations"]
            .as_u64()
            .expect("count")
    }

    pub fn stop(&mut self) {
        self.rt.block_on(self.server.stop());
    }

    pub fn restart(&mut self) {
        self.rt.block_on(self.server.restart()).expect("restart");
    }

    /// A client for machine `fpr`, storing in `dir`, on clock `clock`.
    pub fn client(&self, dir: &Path, fpr: &str, clock: &Arc<TestClock>) -> licet::Client {
        self.builder(dir, fpr, clock).build().expect("client")
    }

    pub fn builder(&self, dir: &Path, fpr: &str, clock: &Arc<TestClock>) -> licet::ClientBuilder {
        licet::Client::builder(&self.server.url, "photo")
            .pinned_jwks(&self.jwks)
            .expect("pinned jwks")
            .storage_dir(dir)
            .use_keyring(false)
            .fingerprint_override(fpr)
            .timeout(std::time::Duration::from_secs(3))
            .clock(clock.clone())
    }
}

pub fn clock() -> Arc<TestClock> {
    Arc::new(TestClock::default())
}

pub fn lease_path(dir: &Path) -> std::path::PathBuf {
    dir.join("photo.lease.json")
}
