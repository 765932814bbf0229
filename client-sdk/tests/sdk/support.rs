//! One harness: a real server on its own runtime, clients wired to it, a movable clock, and a
//! fake server that answers every request with a canned lease.

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use licet_proto::Claims;
use licet_server::testkit::TestServer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        Self::start_with(seats, |_| {})
    }

    /// [`Harness::start`] with the server's configuration changed by `configure`.
    pub fn start_with(
        seats: u32,
        configure: impl FnOnce(&mut licet_server::Config) + Send + 'static,
    ) -> Self {
        // The harness's own HTTP client needs a process-wide TLS provider; the SDK does not
        // (it configures its own), so installing one here hides nothing.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt
            .block_on(TestServer::start_with(configure))
            .expect("server starts");
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

    /// The value of counter `name` in the server's `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let text = self.rt.block_on(async {
            let res = self
                .http
                .get(self.server.url("/metrics"))
                .send()
                .await
                .expect("metrics");
            res.text().await.expect("text")
        });
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in {text}"))
    }

    /// A public API call without credentials, as a client would make it; the JSON answer.
    pub fn post(&self, path: &str, body: Value) -> Value {
        self.rt.block_on(async {
            let res = self
                .http
                .post(self.server.url(path))
                .json(&body)
                .send()
                .await
                .expect("post");
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.json().await.expect("json")
        })
    }

    /// The server's own activation answer for machine `fpr` (a genuine signed lease), taken
    /// without the SDK, so that a fake server can replay it later.
    pub fn genuine_lease(&self, key: &str, fpr: &str) -> Value {
        self.post(
            "/v1/licenses/activate",
            json!({ "key": key, "fingerprint": fpr }),
        )
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

    /// A new license activated on machine `fpr` by a client on `clock`, storing in a new
    /// directory: `(dir, key, license id)`.
    pub fn activated(
        &self,
        fpr: &str,
        clock: &Arc<TestClock>,
    ) -> (tempfile::TempDir, String, String) {
        let (id, key) = self.license();
        let dir = tempfile::tempdir().expect("dir");
        self.client(dir.path(), fpr, clock)
            .activate(&key)
            .expect("activates");
        (dir, key, id)
    }

    /// A release of `photo` with one file per `(platform, bytes)` (named
    /// `Photo-<platform>.bin`, notes "What is new in <version>"), published with `publish`
    /// (`{}`: now; `{"published_at": t}`: backdated to `t`); its id.
    pub fn release(
        &self,
        version: &str,
        channel: &str,
        files: &[(&str, &[u8])],
        publish: Value,
    ) -> String {
        let draft = self.admin(
            "POST",
            "/v1/admin/products/photo/releases",
            Some(json!({ "version": version, "channel": channel,
                         "notes": format!("What is new in {version}") })),
        );
        let id = draft["id"].as_str().expect("release id").to_owned();
        for (platform, bytes) in files {
            self.upload(&id, platform, bytes);
        }
        self.admin(
            "POST",
            &format!("/v1/admin/releases/{id}/publish"),
            Some(publish),
        );
        id
    }

    /// Uploads `bytes` as the release's file for `platform`.
    pub fn upload(&self, release_id: &str, platform: &str, bytes: &[u8]) -> Value {
        self.rt.block_on(async {
            let url = self.server.url(&format!(
                "/v1/admin/releases/{release_id}/artifacts?platform={platform}&name=Photo-{platform}.bin"
            ));
            let res = self
                .http
                .post(url)
                .bearer_auth(&self.server.admin_token)
                .body(bytes.to_vec())
                .send()
                .await
                .expect("upload");
            assert!(res.status().is_success(), "upload: {}", res.status());
            res.json().await.expect("json")
        })
    }

    /// Where the server keeps the file with this SHA-256 (its local blob store).
    pub fn blob_path(&self, sha256: &str) -> std::path::PathBuf {
        self.server
            .data_dir()
            .join("files")
            .join(&sha256[..2])
            .join(sha256)
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
        self.builder_at(&self.server.url, dir, fpr, clock)
    }

    /// A floating product `photo-floating` with `seats` seats (2-minute seat leases, borrows
    /// up to 7 days) and one license of it: `(id, key)`.
    pub fn floating(&self, seats: u32) -> (String, String) {
        self.admin(
            "POST",
            "/v1/admin/products",
            Some(json!({
                "slug": "photo-floating", "name": "Photo Floating", "max_activations": seats,
                "floating": { "lease_secs": 120, "max_borrow_secs": 604_800 }
            })),
        );
        let lic = self.admin(
            "POST",
            "/v1/admin/licenses",
            Some(json!({"product": "photo-floating", "email": "ada@example.com"})),
        );
        (
            lic["id"].as_str().expect("id").into(),
            lic["key"].as_str().expect("key").into(),
        )
    }

    /// A client of `photo-floating` (see [`Harness::floating`]) for machine `fpr`.
    pub fn floating_builder(
        &self,
        dir: &Path,
        fpr: &str,
        clock: &Arc<TestClock>,
    ) -> licet::ClientBuilder {
        licet::Client::builder(&self.server.url, "photo-floating")
            .pinned_jwks(&self.jwks)
            .expect("pinned jwks")
            .storage_dir(dir)
            .use_keyring(false)
            .fingerprint_override(fpr)
            .timeout(std::time::Duration::from_secs(3))
            .clock(clock.clone())
    }

    /// A client builder like [`Harness::builder`] that talks to `url` (a [`FakeServer`]) but
    /// pins this server's keys.
    pub fn builder_at(
        &self,
        url: &str,
        dir: &Path,
        fpr: &str,
        clock: &Arc<TestClock>,
    ) -> licet::ClientBuilder {
        licet::Client::builder(url, "photo")
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

/// The claims of a compact JWS, read without verifying it.
pub fn claims_of(token: &str) -> Claims {
    let body = token.split('.').nth(1).expect("claims part");
    serde_json::from_slice(&B64.decode(body).expect("base64")).expect("claims")
}

/// The stored cache file as JSON.
pub fn read_cache(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(lease_path(dir)).expect("lease file")).expect("json")
}

pub fn write_cache(dir: &Path, cache: &Value) {
    std::fs::write(lease_path(dir), cache.to_string()).expect("write lease file");
}

/// An HTTP/1.1 server that is not Licet: whatever it is asked, it answers `200` with one canned
/// JSON body and, if given, a `Date` header of its choosing. It stands for a server on an
/// `http://` URL, or one behind a certificate authority the user controls, replaying a lease
/// it captured earlier.
pub struct FakeServer {
    pub url: String,
    requests: Arc<AtomicUsize>,
    paths: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    pub fn start(h: &Harness, body: &Value, date: Option<i64>) -> Self {
        let listener =
            h.rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let body = body.to_string();
        let date = date.map(|t| {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64);
            format!("Date: {}\r\n", httpdate::fmt_http_date(at))
        });
        let (count, seen) = (requests.clone(), paths.clone());
        let task = h.rt.spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let Some(path) = read_request(&mut socket).await else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                seen.lock().expect("paths").push(path);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\n{}Content-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    date.as_deref().unwrap_or(""),
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Self {
            url,
            requests,
            paths,
            task,
        }
    }

    /// How many requests it answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The paths it was asked for, in order.
    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().expect("paths").clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP/1.1 request (headers and a `Content-Length` body); its path.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<String> {
    let (head, _) = read_message(socket).await?;
    head.split_whitespace().nth(1).map(str::to_owned)
}

/// Reads one HTTP/1.1 request: its head (request line and headers) and its body.
async fn read_message(socket: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((head, buf.split_off(head_end)))
}

/// An HTTP proxy in front of the server (one request per connection) that cuts its first
/// `cuts` answers to release file downloads after `after` bytes of their body: a network
/// that drops connections mid-download.
pub struct CuttingProxy {
    pub url: String,
    cuts_left: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    pub fn start(h: &Harness, cuts: usize, after: usize) -> Self {
        let listener =
            h.rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let cuts_left = Arc::new(AtomicUsize::new(cuts));
        let left = cuts_left.clone();
        let task = h.rt.spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let left = left.clone();
                tokio::spawn(async move {
                    let _ = relay(socket, &left, after).await;
                });
            }
        });
        Self {
            url,
            cuts_left,
            task,
        }
    }

    /// How many downloads it has yet to cut.
    pub fn cuts_left(&self) -> usize {
        self.cuts_left.load(Ordering::SeqCst)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards one proxied request (`GET http://host/path HTTP/1.1`) to its host and its
/// answer back, cut short if it is a download and cuts are left.
async fn relay(
    mut client: tokio::net::TcpStream,
    cuts_left: &AtomicUsize,
    after: usize,
) -> Option<()> {
    let (head, body) = read_message(&mut client).await?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target, version) = (
        request_line.next()?,
        request_line.next()?,
        request_line.next()?,
    );
    let (authority, path) = target.strip_prefix("http://")?.split_once('/')?;
    let mut request = format!("{method} /{path} {version}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        if !["connection", "proxy-connection", "keep-alive"].contains(&name.as_str()) {
            request.push_str(line);
            request.push_str("\r\n");
        }
    }
    request.push_str("Connection: close\r\n\r\n");
    let mut upstream = tokio::net::TcpStream::connect(authority).await.ok()?;
    upstream.write_all(request.as_bytes()).await.ok()?;
    upstream.write_all(&body).await.ok()?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer).await.ok()?;
    let cut = path.starts_with("v1/releases/artifacts/")
        && cuts_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if cut {
        let body_start = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        answer.truncate((body_start + after).min(answer.len()));
    }
    client.write_all(&answer).await.ok()?;
    client.shutdown().await.ok()
}
