//! Helpers shared by the API tests: one HTTP client wrapper, fixtures, token checks.

use licet_server::testkit::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A server plus an HTTP client for it.
pub struct Api {
    pub server: TestServer,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn start() -> Self {
        Self::with(TestServer::start().await.expect("server starts"))
    }

    /// A server behind a trusted reverse proxy (clients pick their IP with
    /// `X-Forwarded-For`, see [`browser_from`]) with the sign-in and admin-token limits on.
    pub async fn behind_proxy() -> Self {
        Self::with(
            TestServer::start_with(|c| {
                c.rate_limit_per_ip = 1000;
                c.trust_forwarded_for = true;
            })
            .await
            .expect("server starts"),
        )
    }

    pub fn with(server: TestServer) -> Self {
        // In a workspace build reqwest may be compiled without a default TLS provider (the
        // SDK brings its own); these plain-HTTP tests only need one installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            server,
            http: reqwest::Client::new(),
        }
    }

    /// POST JSON without credentials.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .http
            .post(self.server.url(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        decode(res).await
    }

    /// A request with the admin token.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.server.url(path))
            .bearer_auth(&self.server.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        decode(req.send().await.expect("request")).await
    }

    /// The emails the file transport has written (only finished `.eml` files, never one
    /// still being written), sorted; waits for at least `at_least` of them.
    pub async fn mails(&self, at_least: usize) -> Vec<String> {
        let dir = self.server.data_dir().join("mail");
        let read = || {
            let mut found: Vec<String> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            found
        };
        let enough = eventually(async || Some(read()).filter(|f| f.len() >= at_least)).await;
        enough.unwrap_or_else(read)
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.admin(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        self.admin(reqwest::Method::GET, path, None).await
    }

    /// Creates a license product with `seats` seats and the `pro` entitlement.
    pub async fn product(&self, slug: &str, seats: u32) -> Value {
        let (status, body) = self
            .admin_post(
                "/v1/admin/products",
                json!({ "slug": slug, "name": format!("{slug} app"), "max_activations": seats,
                        "entitlements": ["pro"], "token_lifetime_secs": 3600 }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Issues a license and returns `(id, key)`.
    pub async fn license(&self, product: &str) -> (String, String) {
        let (status, body) = self
            .admin_post(
                "/v1/admin/licenses",
                json!({ "product": product, "email": "ada@example.com" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (str_of(&body, "id"), str_of(&body, "key"))
    }

    /// A product with `seats` seats and one license for it: `(license id, key)`.
    pub async fn seeded(&self, seats: u32) -> (String, String) {
        self.product("photo", seats).await;
        self.license("photo").await
    }

    pub async fn activate(&self, key: &str, fpr: &str) -> (StatusCode, Value) {
        self.post("/v1/licenses/activate", json!({ "key": key, "fingerprint": fpr, "name": "Ada's laptop", "platform": "linux-x86_64" }))
            .await
    }

    pub async fn validate(&self, key: &str, fpr: &str) -> (StatusCode, Value) {
        self.post(
            "/v1/licenses/validate",
            json!({ "key": key, "fingerprint": fpr }),
        )
        .await
    }

    pub async fn deactivate(&self, key: &str, fpr: &str) -> (StatusCode, Value) {
        self.post(
            "/v1/licenses/deactivate",
            json!({ "key": key, "fingerprint": fpr }),
        )
        .await
    }

    /// A completed purchase of `products` by `email`, granted by hand and fulfilled.
    pub async fn grant(&self, email: &str, products: &[&str]) -> Value {
        let (status, body) = self
            .admin_post(
                "/v1/admin/purchases",
                json!({ "email": email, "products": products }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// A download product `slug` with one file `file_name` holding `bytes`.
    pub async fn download_product(&self, slug: &str, name: &str, file_name: &str, bytes: &[u8]) {
        let (status, body) = self
            .admin_post(
                "/v1/admin/products",
                json!({ "slug": slug, "name": name, "kind": "download", "max_activations": 1 }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, file) = self.upload(slug, file_name, bytes.to_vec()).await;
        assert_eq!(status, StatusCode::CREATED, "{file}");
    }

    /// Uploads `body` as the file `name` (already URL-encoded) of product `slug`.
    pub async fn upload(
        &self,
        slug: &str,
        name: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let res = self
            .http
            .post(
                self.server
                    .url(&format!("/v1/admin/products/{slug}/files?name={name}")),
            )
            .bearer_auth(&self.server.admin_token)
            .body(body)
            .send()
            .await
            .expect("upload");
        decode(res).await
    }

    /// Moves the server's clock to the start of a rate-limit window, so a test that counts
    /// requests cannot straddle two windows.
    pub fn start_rate_window(&self) {
        self.start_window_of(licet_server::testkit::internals::rate_limit::WINDOW_SECS);
    }

    /// Moves the server's clock to the start of a window `window` seconds long (the longer
    /// windows of the sign-in limits).
    pub fn start_window_of(&self, window: i64) {
        let into = self.server.clock_now().rem_euclid(window);
        self.server.clock.advance(window - into);
    }

    /// The server's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.server.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    pub async fn jwks(&self) -> Value {
        let res = self
            .http
            .get(self.server.url("/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks");
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.expect("jwks json")
    }
}

pub async fn decode(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.expect("body");
    let value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, value)
}

pub fn str_of(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing in {v}"))
        .to_owned()
}

/// Asserts the error shape and code.
pub fn assert_error(status: StatusCode, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Verifies a token with an independent JWT implementation (`jsonwebtoken`) against the
/// server's published JWKS; returns the claims.
pub fn verify_independently(token: &str, jwks: &Value, audience: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let jwk = set.find(&kid).ok_or("kid not in JWKS")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

/// Live activations of a license, read from the admin API.
pub async fn live_seats(api: &Api, license_id: &str) -> u64 {
    let (_, lic) = api
        .admin_get(&format!("/v1/admin/licenses/{license_id}"))
        .await;
    lic["active_activations"].as_u64().expect("count")
}

/// The first URL in an email that contains `marker`, with quoted-printable soft line breaks
/// undone (Licet's tokens are base64url, so they contain no `=` of their own).
pub fn url_in(mail: &str, marker: &str) -> Option<String> {
    mail.replace("=\r\n", "")
        .replace("=3D", "=")
        .split_whitespace()
        .find(|w| w.contains(marker))
        .map(|w| {
            w.trim_matches(|c| c == '<' || c == '>' || c == '"')
                .to_owned()
        })
}

/// How long a test waits for background work (the outbox, the download log) before it
/// gives up. Generous: CI runs these tests next to a browser on two cores.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Polls `check` every 50 ms until it yields a value, or [`PATIENCE`] runs out.
pub async fn eventually<T>(mut check: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A vendor's browser signed in to the dashboard, and the session's CSRF token.
pub async fn signed_in(api: &Api) -> (reqwest::Client, String) {
    let b = browser();
    let form = b.get(api.server.url("/admin")).send().await.expect("admin");
    assert_eq!(form.status(), StatusCode::OK);
    let csrf = hidden_csrf(&form.text().await.expect("html"));
    let res = b
        .post(api.server.url("/admin/sign-in"))
        .form(&[
            ("secret", api.server.admin_token.as_str()),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .expect("sign-in");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.starts_with("licet_admin="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let overview = b
        .get(api.server.url("/admin"))
        .send()
        .await
        .expect("overview");
    let html = overview.text().await.expect("html");
    assert!(html.contains("<h1>Overview</h1>"), "{html}");
    (b, hidden_csrf(&html))
}

/// The HTML of a page fetched by browser `b`.
pub async fn html_of(b: &reqwest::Client, url: &str) -> String {
    b.get(url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html")
}

/// A browser-like client whose requests come, through the trusted proxy, from `ip`.
pub fn browser_from(ip: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        reqwest::header::HeaderValue::from_str(ip).expect("ip"),
    );
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

pub fn hidden_csrf(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a csrf field")
        .to_owned()
}

/// A page fetched by browser `b`: its status and HTML.
pub async fn get_page(b: &reqwest::Client, api: &Api, path: &str) -> (StatusCode, String) {
    let res = b.get(api.server.url(path)).send().await.expect("get");
    (res.status(), res.text().await.expect("html"))
}

/// A form posted by browser `b`: status, HTML and the redirect target.
pub async fn post_form(
    b: &reqwest::Client,
    api: &Api,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let res = b
        .post(api.server.url(path))
        .form(form)
        .send()
        .await
        .expect("post");
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("ascii").to_owned());
    (res.status(), res.text().await.expect("html"), location)
}
