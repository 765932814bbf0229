//! Validation that signs only when something changed: a machine names the lease it holds,
//! and while that lease still says what a fresh one would (and has more than half its life
//! left) the server answers "unchanged" with no token.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// What a client says of the lease `token`: its `jti`, `iat` and signing key.
fn held(api_jwks: &Value, token: &str) -> Value {
    let claims = verify_independently(token, api_jwks, "photo").expect("a valid lease");
    let kid = jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid");
    json!({ "jti": claims["jti"], "iat": claims["iat"], "kid": kid })
}

/// Validates naming the lease `lease` holds.
async fn validate_holding(api: &Api, key: &str, fpr: &str, lease: &Value) -> (StatusCode, Value) {
    api.post(
        "/v1/licenses/validate",
        json!({ "key": key, "fingerprint": fpr, "lease": lease }),
    )
    .await
}

/// Activates `fpr` and answers the lease it got, as a client would name it.
async fn activated(api: &Api, key: &str, fpr: &str) -> (String, Value) {
    let (status, body) = api.activate(key, fpr).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = str_of(&body, "token");
    let lease = held(&api.jwks().await, &token);
    (token, lease)
}

fn is_unchanged(body: &Value) -> bool {
    body["unchanged"] == true && body.get("token").is_none()
}

#[tokio::test]
async fn a_lease_that_still_stands_is_confirmed_without_a_new_token() {
    let api = Api::start().await;
    let (id, key) = api.seeded(2).await;
    let (_, lease) = activated(&api, &key, "v1:m").await;

    // Minutes later, well inside the first half of the hour-long lease.
    api.server.clock.advance(10 * 60);
    let (status, body) = validate_holding(&api, &key, "v1:m", &lease).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(is_unchanged(&body), "{body}");
    assert_eq!(body["license"]["id"], id.as_str(), "the state comes along");
    assert_eq!(body["license"]["status"], "ACTIVE");
    assert_eq!(body["activation"]["fingerprint"], "v1:m");

    // A client that names nothing (every client before this) gets a fresh lease as before.
    let (status, body) = api.validate(&key, "v1:m").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["token"].is_string(), "{body}");
    assert!(body.get("unchanged").is_none(), "{body}");

    let metrics = api.metrics().await;
    assert!(
        metrics.contains("licet_validations_unchanged_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn any_change_the_lease_would_show_gets_a_fresh_lease() {
    let api = Api::start().await;
    let (id, key) = api.seeded(3).await;
    let (_, lease) = activated(&api, &key, "v1:m").await;
    api.server.clock.advance(60);
    assert!(is_unchanged(
        &validate_holding(&api, &key, "v1:m", &lease).await.1
    ));

    // Entitlements changed.
    let (status, body) = api
        .admin(
            reqwest::Method::PATCH,
            &format!("/v1/admin/licenses/{id}"),
            Some(json!({ "entitlements": ["pro", "beta"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = validate_holding(&api, &key, "v1:m", &lease).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = str_of(&body, "token");
    let claims = verify_independently(&fresh, &api.jwks().await, "photo").expect("verifies");
    assert_eq!(claims["ent"], json!(["pro", "beta"]));

    // The fresh lease stands in turn, until another machine takes a seat (the seat count
    // is part of the lease).
    let lease = held(&api.jwks().await, &fresh);
    assert!(is_unchanged(
        &validate_holding(&api, &key, "v1:m", &lease).await.1
    ));
    activated(&api, &key, "v1:other").await;
    let (_, body) = validate_holding(&api, &key, "v1:m", &lease).await;
    let fresh = str_of(&body, "token");
    let claims = verify_independently(&fresh, &api.jwks().await, "photo").expect("verifies");
    assert_eq!(claims["lic"]["active_activations"], 2);

    // A new seat limit.
    let lease = held(&api.jwks().await, &fresh);
    let (status, body) = api
        .admin(
            reqwest::Method::PATCH,
            &format!("/v1/admin/licenses/{id}"),
            Some(json!({ "max_activations": 5 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = validate_holding(&api, &key, "v1:m", &lease).await;
    let claims = verify_independently(&str_of(&body, "token"), &api.jwks().await, "photo")
        .expect("verifies");
    assert_eq!(claims["lic"]["max_activations"], 5);
}

#[tokio::test]
async fn a_lease_past_half_its_life_is_replaced() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    let (_, lease) = activated(&api, &key, "v1:m").await;
    let iat = lease["iat"].as_i64().expect("iat");
    // The lease lives an hour: up to half an hour after `iat` it stands (a few seconds of
    // slack: the real clock ticks under the test's offset).
    api.server
        .clock
        .advance(iat + 1790 - api.server.clock_now());
    assert!(is_unchanged(
        &validate_holding(&api, &key, "v1:m", &lease).await.1
    ));
    api.server
        .clock
        .advance(iat + 1800 - api.server.clock_now());
    let (status, body) = validate_holding(&api, &key, "v1:m", &lease).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = verify_independently(&str_of(&body, "token"), &api.jwks().await, "photo")
        .expect("verifies");
    assert!(claims["iat"].as_i64().expect("iat") > iat, "a newer lease");
}

#[tokio::test]
async fn a_key_rotation_replaces_leases_of_the_old_key() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    let (_, lease) = activated(&api, &key, "v1:m").await;
    let (status, body) = api.admin_post("/v1/admin/keys/rotate", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = validate_holding(&api, &key, "v1:m", &lease).await;
    let fresh = str_of(&body, "token");
    let kid = jsonwebtoken::decode_header(&fresh)
        .expect("header")
        .kid
        .expect("kid");
    assert_ne!(json!(kid), lease["kid"], "signed by the new key");
}

#[tokio::test]
async fn guessed_foreign_or_future_leases_get_a_fresh_lease_and_verdicts_still_win() {
    let api = Api::start().await;
    let (id, key) = api.seeded(2).await;
    let (_, lease) = activated(&api, &key, "v1:m").await;
    let (_, other) = activated(&api, &key, "v1:other").await;
    api.server.clock.advance(60);
    let mut guessed = lease.clone();
    guessed["jti"] = json!("0".repeat(32));
    let mut future = lease.clone();
    future["iat"] = json!(lease["iat"].as_i64().expect("iat") + 600);
    let mut off_grid = lease.clone();
    off_grid["iat"] = json!(lease["iat"].as_i64().expect("iat") + 1);
    // `other`'s lease names another machine: not this machine's lease, whatever it says.
    for wrong in [&guessed, &future, &off_grid, &other] {
        let (status, body) = validate_holding(&api, &key, "v1:m", wrong).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body["token"].is_string(),
            "{wrong} gets a fresh lease: {body}"
        );
    }

    // A suspension is a verdict whatever the machine holds.
    api.admin_post(&format!("/v1/admin/licenses/{id}/suspend"), json!({}))
        .await;
    let (status, body) = validate_holding(&api, &key, "v1:m", &lease).await;
    assert_error(status, &body, 403, "LICENSE_SUSPENDED");
}

#[tokio::test]
async fn a_malformed_held_lease_is_a_clear_error() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    let (_, lease) = activated(&api, &key, "v1:m").await;
    let mut unknown = lease.clone();
    unknown["exp"] = json!(1);
    let mut wrong_type = lease.clone();
    wrong_type["iat"] = json!("yesterday");
    for bad in [unknown, wrong_type, json!("a token")] {
        let (status, body) = validate_holding(&api, &key, "v1:m", &bad).await;
        assert_error(status, &body, 400, "INVALID_REQUEST");
    }
}
