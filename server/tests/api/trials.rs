//! Trials: one per machine and product, ever; a lease like a license's that ends with the
//! trial; converted when a license is activated on the machine.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const DAY: i64 = 86_400;

/// A product `photo` with a 14-day trial granting `trial-pro`.
async fn with_trial(api: &Api) {
    let (status, body) = api
        .admin_post(
            "/v1/admin/products",
            json!({ "slug": "photo", "name": "Photo", "max_activations": 2,
                    "entitlements": ["pro"],
                    "trial": { "duration_secs": 14 * DAY, "entitlements": ["trial-pro"] } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["trial"]["duration_secs"], 14 * DAY);
}

async fn start(api: &Api, fpr: &str) -> (StatusCode, Value) {
    api.post(
        "/v1/trials/activate",
        json!({ "product": "photo", "fingerprint": fpr, "name": "Ada's laptop", "platform": "linux-x86_64" }),
    )
    .await
}

async fn trials(api: &Api, query: &str) -> Vec<Value> {
    let (status, body) = api.admin_get(&format!("/v1/admin/trials{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_trial_starts_without_a_key_and_its_lease_says_so() {
    let api = Api::start().await;
    with_trial(&api).await;
    let (status, body) = start(&api, "v1:machine-a").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ends = body["license"]["expires_at"].as_i64().expect("an end");
    let now = api.server.clock_now();
    assert!(
        (now + 14 * DAY - 2..=now + 14 * DAY).contains(&ends),
        "{ends} vs {now}"
    );
    assert_eq!(body["license"]["kind"], "trial");
    assert_eq!(body["license"]["entitlements"], json!(["trial-pro"]));

    let claims = verify_independently(&str_of(&body, "token"), &api.jwks().await, "photo")
        .expect("a valid lease");
    assert_eq!(claims["lic"]["kind"], "trial");
    assert_eq!(claims["lic"]["expires_at"], ends);
    assert_eq!(claims["fpr"], "v1:machine-a");
    assert!(claims["exp"].as_i64() <= Some(ends));
    assert!(str_of(&claims, "sub").starts_with("trl_"));
}

#[tokio::test]
async fn asking_again_later_answers_the_same_trial_never_a_fresh_one() {
    let api = Api::start().await;
    with_trial(&api).await;
    let (_, first) = start(&api, "v1:machine-a").await;
    api.server.clock.advance(5 * DAY);
    let (status, again) = start(&api, "v1:machine-a").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["license"]["id"], first["license"]["id"]);
    assert_eq!(
        again["license"]["expires_at"],
        first["license"]["expires_at"]
    );
    assert_eq!(trials(&api, "").await.len(), 1);

    // Another machine gets its own.
    let (_, other) = start(&api, "v1:machine-b").await;
    assert_ne!(other["license"]["id"], first["license"]["id"]);
}

#[tokio::test]
async fn twenty_concurrent_starts_from_one_machine_make_one_trial() {
    let api = Api::start().await;
    with_trial(&api).await;
    let answers = futures_util::future::join_all((0..20).map(|_| start(&api, "v1:racer"))).await;
    let mut ids = std::collections::BTreeSet::new();
    let mut ends = std::collections::BTreeSet::new();
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        ids.insert(str_of(&body["license"], "id"));
        ends.insert(body["license"]["expires_at"].as_i64());
    }
    assert_eq!(ids.len(), 1, "every answer names the same trial: {ids:?}");
    assert_eq!(ends.len(), 1, "with the same end: {ends:?}");
    assert_eq!(trials(&api, "").await.len(), 1, "one record");
}

#[tokio::test]
async fn an_ended_trial_is_refused_and_never_restarted() {
    let api = Api::start().await;
    with_trial(&api).await;
    assert_eq!(start(&api, "v1:machine-a").await.0, StatusCode::OK);
    api.server.clock.advance(14 * DAY);
    let (status, body) = start(&api, "v1:machine-a").await;
    assert_error(status, &body, 403, "TRIAL_EXPIRED");
    let listed = trials(&api, "?state=expired").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["state"], "expired");
    assert!(trials(&api, "?state=active").await.is_empty());
}

#[tokio::test]
async fn activating_a_license_on_the_machine_converts_its_trial() {
    let api = Api::start().await;
    with_trial(&api).await;
    let (_, trial) = start(&api, "v1:machine-a").await;
    let trial_id = str_of(&trial["license"], "id");
    start(&api, "v1:machine-b").await;
    let (license_id, key) = api.license("photo").await;

    let (status, body) = api.activate(&key, "v1:machine-a").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["license"].get("kind").is_none(), "a license: {body}");
    let converted = trials(&api, "?state=converted").await;
    assert_eq!(converted.len(), 1);
    assert_eq!(converted[0]["id"], trial_id);
    assert_eq!(converted[0]["converted_license_id"], license_id);

    // The license is what is in force there now: the trial is over on that machine.
    let (status, body) = start(&api, "v1:machine-a").await;
    assert_error(status, &body, 403, "TRIAL_EXPIRED");

    let (_, stats) = api.admin_get("/v1/admin/trials/stats").await;
    assert_eq!(
        stats["items"],
        json!([{ "product": "photo", "started": 2, "active": 1, "expired": 0, "converted": 1 }])
    );
    let (_, audit) = api
        .admin_get(&format!("/v1/admin/audit?subject={license_id}"))
        .await;
    assert!(
        audit["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["action"] == "trial.converted")),
        "{audit}"
    );
}

#[tokio::test]
async fn products_without_a_trial_and_unknown_products_offer_none() {
    let api = Api::start().await;
    api.product("photo", 1).await;
    let (status, body) = start(&api, "v1:machine-a").await;
    assert_error(status, &body, 404, "TRIAL_NOT_AVAILABLE");
    let (status, body) = api
        .post(
            "/v1/trials/activate",
            json!({ "product": "nope", "fingerprint": "v1:machine-a" }),
        )
        .await;
    assert_error(status, &body, 404, "TRIAL_NOT_AVAILABLE");

    // Offered, then withdrawn: started trials keep their end, new ones are refused.
    let (status, _) = api
        .admin(
            Method::PATCH,
            "/v1/admin/products/photo",
            Some(json!({ "trial": { "duration_secs": 7 * DAY } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(start(&api, "v1:machine-a").await.0, StatusCode::OK);
    let (_, product) = api
        .admin(
            Method::PATCH,
            "/v1/admin/products/photo",
            Some(json!({ "trial": null })),
        )
        .await;
    assert!(product["trial"].is_null(), "{product}");
    let (status, body) = start(&api, "v1:machine-b").await;
    assert_error(status, &body, 404, "TRIAL_NOT_AVAILABLE");
}

#[tokio::test]
async fn malformed_trial_requests_are_refused_and_write_nothing() {
    let api = Api::start().await;
    with_trial(&api).await;
    for bad in [
        json!({ "product": "photo" }),
        json!({ "product": "photo", "fingerprint": "" }),
        json!({ "product": "photo", "fingerprint": "v1:a b" }),
        json!({ "product": "photo", "fingerprint": "v1:a", "extra": 1 }),
        json!({ "product": 7, "fingerprint": "v1:a" }),
        json!({ "product": "photo", "fingerprint": "v1:a", "name": "x".repeat(500) }),
    ] {
        let (status, body) = api.post("/v1/trials/activate", bad.clone()).await;
        assert_error(status, &body, 400, "INVALID_REQUEST");
    }
    assert!(trials(&api, "").await.is_empty());
    let (status, body) = api
        .admin(
            Method::PATCH,
            "/v1/admin/products/photo",
            Some(json!({ "trial": { "duration_secs": 10 } })),
        )
        .await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
}

#[tokio::test]
async fn trial_starts_are_rate_limited_like_the_license_api() {
    let server = licet_server::testkit::TestServer::start_with(|c| {
        c.rate_limit_per_ip = 6;
        c.rate_limit_per_key = 3;
    })
    .await
    .expect("server");
    let api = Api::with(server);
    // At the start of a one-minute window, so the requests below share one.
    api.start_rate_window();
    with_trial(&api).await;
    for _ in 0..3 {
        assert_eq!(start(&api, "v1:same").await.0, StatusCode::OK);
    }
    let (status, body) = start(&api, "v1:same").await;
    assert_error(status, &body, 429, "RATE_LIMITED");
    // Other machines from the same address pass until the address's budget is spent.
    for i in 0..2 {
        assert_eq!(
            start(&api, &format!("v1:other-{i}")).await.0,
            StatusCode::OK
        );
    }
    let (status, body) = start(&api, "v1:one-more").await;
    assert_error(status, &body, 429, "RATE_LIMITED");
}
