//! Every failure answers non-2xx with `{"error":{"code","message"}}` and writes nothing.

use licet_server::testkit::TestServer;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

const ENDPOINTS: [&str; 3] = [
    "/v1/licenses/activate",
    "/v1/licenses/validate",
    "/v1/licenses/deactivate",
];

#[tokio::test]
async fn malformed_bodies_are_invalid_requests() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    for path in ENDPOINTS {
        for body in [
            "{not json".to_owned(),
            "[]".to_owned(),
            r#"{"key":"x"}"#.to_owned(),
            format!(r#"{{"key":"{key}","fingerprint":42}}"#),
            format!(r#"{{"key":"{key}","fingerprint":"v1:a","surprise":true}}"#),
            format!(r#"{{"key":"{key}","fingerprint":""}}"#),
            format!(r#"{{"key":"{key}","fingerprint":"has space"}}"#),
            String::new(),
        ] {
            let res = api
                .http
                .post(api.server.url(path))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("request");
            let (status, value) = decode(res).await;
            assert_error(status, &value, 400, "INVALID_REQUEST");
            let _ = body;
        }
    }
    let (_, lic) = api.admin_get("/v1/admin/licenses").await;
    assert_eq!(
        lic["items"][0]["active_activations"], 0,
        "nothing was activated"
    );
}

/// Only `application/json` (parameters allowed) is JSON. A missing header or a look-alike
/// such as `application/jsonp` used to be parsed anyway; a body no client labelled as JSON
/// must not take a seat.
#[tokio::test]
async fn a_body_not_labelled_application_json_is_refused_and_changes_nothing() {
    let api = Api::start().await;
    let (id, key) = api.seeded(3).await;
    let body = json!({ "key": key, "fingerprint": "v1:m" }).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/jsonp"),
        Some("application/json-patch+json"),
        None,
    ] {
        let mut req = api
            .http
            .post(api.server.url("/v1/licenses/activate"))
            .body(body.clone());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let (status, answer) = decode(req.send().await.expect("request")).await;
        assert_error(status, &answer, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    assert_eq!(live_seats(&api, &id).await, 0, "nothing was activated");
    let res = api
        .http
        .post(api.server.url("/v1/licenses/activate"))
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK, "parameters and case are fine");
}

#[tokio::test]
async fn invented_or_mistyped_keys_are_refused_by_format() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    let mut typo: Vec<char> = key.chars().collect();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    for bad in [
        "",
        "hello",
        "PHOTO-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA",
        &typo,
        &"A".repeat(5000),
    ] {
        for path in ENDPOINTS {
            let (status, body) = api
                .post(path, json!({ "key": bad, "fingerprint": "v1:m" }))
                .await;
            assert_error(status, &body, 400, "INVALID_KEY_FORMAT");
        }
    }
}

#[tokio::test]
async fn a_well_formed_unknown_key_is_not_found() {
    let api = Api::start().await;
    api.seeded(1).await;
    // Minted with the server's own secret, so it passes the check segment, but never issued.
    let key = api.server.unissued_key("PHOTO");
    for path in ENDPOINTS {
        let (status, body) = api
            .post(path, json!({ "key": key, "fingerprint": "v1:m" }))
            .await;
        assert_error(status, &body, 404, "LICENSE_NOT_FOUND");
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_parsing() {
    let api = Api::start().await;
    let big = json!({ "key": "x".repeat(20_000), "fingerprint": "v1:m" }).to_string();
    let res = api
        .http
        .post(api.server.url("/v1/licenses/activate"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .expect("request");
    let (status, body) = decode(res).await;
    assert_error(status, &body, 413, "PAYLOAD_TOO_LARGE");

    // Chunked, without Content-Length: the stream itself is cut off at the limit.
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(1000)
        .map(|c| Ok(String::from_utf8_lossy(c).into_owned()))
        .collect();
    let res = api
        .http
        .post(api.server.url("/v1/licenses/activate"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("request");
    let (status, body) = decode(res).await;
    assert_error(status, &body, 413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn admin_endpoints_need_the_admin_token() {
    let api = Api::start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/v1/admin/products"),
        (reqwest::Method::POST, "/v1/admin/products"),
        (reqwest::Method::POST, "/v1/admin/licenses"),
        (reqwest::Method::GET, "/v1/admin/licenses"),
        (reqwest::Method::POST, "/v1/admin/keys/rotate"),
        (reqwest::Method::GET, "/v1/admin/audit"),
    ] {
        for auth in [None, Some("Bearer wrong"), Some("Basic YWRtaW46YWRtaW4=")] {
            let mut req = api
                .http
                .request(method.clone(), api.server.url(path))
                .json(&json!({}));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let (status, body) = decode(req.send().await.expect("request")).await;
            assert_error(status, &body, 401, "UNAUTHORIZED");
        }
    }
    let (_, keys) = api.admin_get("/v1/admin/keys").await;
    assert_eq!(
        keys["items"].as_array().map(Vec::len),
        Some(1),
        "no rotation happened"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let api = Api::start().await;
    let (status, body) = decode(
        api.http
            .get(api.server.url("/v1/nope"))
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_error(status, &body, 404, "NOT_FOUND");
    let (status, body) = decode(
        api.http
            .get(api.server.url("/v1/licenses/activate"))
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_error(status, &body, 405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn rate_limits_apply_per_key_and_per_ip_with_retry_after() {
    let server = TestServer::start_with(|c| {
        c.rate_limit_per_ip = 8;
        c.rate_limit_per_key = 3;
    })
    .await
    .expect("server");
    let api = Api::with(server);
    // Start at the beginning of a one-minute window, so the requests below share one.
    api.start_rate_window();
    let (_, key) = api.seeded(5).await;
    for _ in 0..3 {
        assert_eq!(api.validate(&key, "v1:none").await.0, StatusCode::NOT_FOUND);
    }
    let res = api
        .http
        .post(api.server.url("/v1/licenses/validate"))
        .json(&json!({ "key": key, "fingerprint": "v1:none" }))
        .send()
        .await
        .expect("request");
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    let (status, body) = decode(res).await;
    assert_error(status, &body, 429, "RATE_LIMITED");

    // Other keys from the same IP still pass until the per-IP budget is spent.
    for i in 0..4 {
        let (status, _) = api.validate(&format!("GUESS-{i}"), "v1:none").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, body) = api.validate("GUESS-X", "v1:none").await;
    assert_error(status, &body, 429, "RATE_LIMITED");

    // A new window lets the caller back in.
    api.server.clock.advance(61);
    assert_eq!(api.validate(&key, "v1:none").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_database_failure_is_internal_without_details() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    api.server.store().close().await;
    let (status, body) = api.validate(&key, "v1:m").await;
    assert_error(status, &body, 500, "INTERNAL");
    let text = body.to_string().to_lowercase();
    assert!(!text.contains("pool") && !text.contains("sql"), "{text}");
}

#[tokio::test]
async fn invalid_admin_input_writes_nothing() {
    let api = Api::start().await;
    api.product("photo", 1).await;
    for bad in [
        json!({ "slug": "Bad Slug", "name": "x", "max_activations": 1 }),
        json!({ "slug": "ok", "name": "x", "max_activations": 0 }),
        json!({ "slug": "ok", "name": "x", "max_activations": 1, "token_lifetime_secs": 1 }),
        json!({ "slug": "ok", "name": "x", "max_activations": 1, "entitlements": ["has space"] }),
        json!({ "slug": "ok", "name": "x", "max_activations": "three" }),
        json!({ "slug": "ok", "name": "x", "max_activations": 1, "metadata": [1] }),
        json!({ "slug": "ok", "name": "x", "max_activations": 1, "colour": "red" }),
    ] {
        let (status, body) = api.admin_post("/v1/admin/products", bad).await;
        assert_error(status, &body, 400, "INVALID_REQUEST");
    }
    let (status, body) = api
        .admin_post(
            "/v1/admin/products",
            json!({ "slug": "photo", "name": "again", "max_activations": 1 }),
        )
        .await;
    assert_error(status, &body, 409, "CONFLICT");
    let (status, body) = api
        .admin_post(
            "/v1/admin/licenses",
            json!({ "product": "photo", "email": "not-an-email" }),
        )
        .await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
    let (status, body) = api
        .admin_post(
            "/v1/admin/licenses",
            json!({ "product": "nope", "email": "a@b.co" }),
        )
        .await;
    assert_error(status, &body, 404, "NOT_FOUND");

    let (_, products) = api.admin_get("/v1/admin/products").await;
    assert_eq!(products["items"].as_array().map(Vec::len), Some(1));
    let (_, licenses) = api.admin_get("/v1/admin/licenses").await;
    assert_eq!(licenses["items"].as_array().map(Vec::len), Some(0));
    let (_, audit) = api.admin_get("/v1/admin/audit").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.starts_with("product.") || a.starts_with("license."))
            .count(),
        1,
        "{actions:?}"
    );
}

/// Admin tokens are 256-bit and cannot be guessed, but failed ones are still limited per
/// IP: past the limit that IP is refused before its token is looked at (so the limit is no
/// oracle), while other IPs are not affected.
#[tokio::test]
async fn failed_admin_tokens_are_rate_limited_per_ip() {
    let api = Api::behind_proxy().await;
    let max = licet_server::testkit::internals::rate_limit::ADMIN_TOKEN_FAILURES_PER_IP.max;
    for _ in 0..max {
        let res = browser_from("203.0.113.9")
            .get(api.server.url("/v1/admin/products"))
            .bearer_auth("lct_admin_guess")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = browser_from("203.0.113.9")
        .get(api.server.url("/v1/admin/products"))
        .bearer_auth(&api.server.admin_token)
        .send()
        .await
        .expect("request");
    assert!(res.headers().contains_key("retry-after"));
    let (status, body) = decode(res).await;
    assert_error(status, &body, 429, "RATE_LIMITED");
    let res = browser_from("198.51.100.3")
        .get(api.server.url("/v1/admin/products"))
        .bearer_auth(&api.server.admin_token)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK, "another IP is not affected");
}

/// Once a replica knows a bucket is over its limit, it refuses from memory: a flood of
/// refused requests used to cost a database write each and slowed every honest request.
#[tokio::test]
async fn refused_requests_are_not_written_to_the_database() {
    let server = TestServer::start_with(|c| {
        c.rate_limit_per_ip = 5;
        c.rate_limit_per_key = 0;
    })
    .await
    .expect("server");
    let api = Api::with(server);
    api.start_rate_window();
    let (_, key) = api.seeded(1).await;
    let mut refused = 0;
    for _ in 0..50 {
        if api.validate(&key, "v1:none").await.0 == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert_eq!(refused, 45);
    let now = api.server.clock_now();
    let window = now - now.rem_euclid(licet_server::testkit::internals::rate_limit::WINDOW_SECS);
    let hits = api
        .server
        .store()
        .rate_hits(&[("ip:127.0.0.1", window)])
        .await
        .expect("hits");
    assert_eq!(
        hits,
        vec![6],
        "the five allowed and the first refusal, nothing more"
    );
}

/// Behind a trusted proxy the client is the address the proxy appended, not whatever the
/// client put first: a client that rotates a fake first `X-Forwarded-For` line, or IPv6
/// addresses within its /64, is still one client to the rate limits.
#[tokio::test]
async fn spoofed_forwarded_for_lines_and_ipv6_rotation_do_not_escape_the_limits() {
    let server = TestServer::start_with(|c| {
        c.rate_limit_per_ip = 3;
        c.rate_limit_per_key = 0;
        c.trust_forwarded_for = true;
    })
    .await
    .expect("server");
    let api = Api::with(server);
    api.start_rate_window();
    let (_, key) = api.seeded(1).await;
    let body = json!({ "key": key, "fingerprint": "v1:none" });
    let mut last = StatusCode::OK;
    for n in 0..4 {
        last = api
            .http
            .post(api.server.url("/v1/licenses/validate"))
            .header("x-forwarded-for", format!("10.9.8.{n}"))
            .header("x-forwarded-for", "203.0.113.20")
            .json(&body)
            .send()
            .await
            .expect("request")
            .status();
    }
    assert_eq!(
        last,
        StatusCode::TOO_MANY_REQUESTS,
        "one client despite four first lines"
    );
    for n in 0..4 {
        last = api
            .http
            .post(api.server.url("/v1/licenses/validate"))
            .header("x-forwarded-for", format!("2001:db8:aa:bb::{n:x}"))
            .json(&body)
            .send()
            .await
            .expect("request")
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "one /64, one client");
}
