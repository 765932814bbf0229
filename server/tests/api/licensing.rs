//! Activate, validate, deactivate: the happy paths and the license verdicts.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn activation_returns_a_token_an_independent_jwt_library_verifies() {
    let api = Api::start().await;
    let (id, key) = api.seeded(3).await;
    let (status, body) = api.activate(&key, "v1:machine-a").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["license"]["id"], id.as_str());
    assert_eq!(body["license"]["status"], "ACTIVE");
    assert_eq!(body["license"]["active_activations"], 1);
    assert_eq!(body["activation"]["fingerprint"], "v1:machine-a");
    assert_eq!(body["activation"]["name"], "Ada's laptop");

    let token = str_of(&body, "token");
    let claims =
        verify_independently(&token, &api.jwks().await, "photo").expect("jsonwebtoken verifies");
    assert_eq!(claims["iss"], api.server.url.as_str());
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["aud"], "photo");
    assert_eq!(claims["fpr"], "v1:machine-a");
    assert_eq!(claims["ent"], json!(["pro"]));
    assert_eq!(claims["lic"]["status"], "ACTIVE");
    assert_eq!(claims["lic"]["max_activations"], 3);
    assert_eq!(claims["lic"]["expires_at"], serde_json::Value::Null);
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - iat,
        3600,
        "lease = product token lifetime"
    );
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("licet-lease+jwt"));
}

#[tokio::test]
async fn activating_again_from_the_same_machine_takes_no_extra_seat() {
    let api = Api::start().await;
    let (id, key) = api.seeded(1).await;
    let (s1, first) = api.activate(&key, "v1:same").await;
    let (s2, second) = api.activate(&key, "v1:same").await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first["activation"]["id"], second["activation"]["id"]);
    assert_eq!(live_seats(&api, &id).await, 1);
    // Leases are issued on a one-minute grid: the same minute gives the same lease, the
    // next minute a fresh one.
    let grid = licet_server::testkit::internals::LEASE_GRID_SECS;
    api.server.clock.advance(grid);
    let (_, third) = api.activate(&key, "v1:same").await;
    assert_ne!(
        first["token"], third["token"],
        "a fresh lease in a new minute"
    );
    assert_eq!(live_seats(&api, &id).await, 1);
}

#[tokio::test]
async fn a_second_and_third_machine_hit_the_limit() {
    let api = Api::start().await;
    let (id, key) = api.seeded(2).await;
    assert_eq!(api.activate(&key, "v1:one").await.0, StatusCode::OK);
    assert_eq!(api.activate(&key, "v1:two").await.0, StatusCode::OK);
    let (status, body) = api.activate(&key, "v1:three").await;
    assert_error(status, &body, 403, "ACTIVATION_LIMIT_REACHED");
    assert_eq!(
        live_seats(&api, &id).await,
        2,
        "the refused activation wrote nothing"
    );
}

#[tokio::test]
async fn validate_refreshes_the_lease_and_last_seen() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    let (_, act) = api.activate(&key, "v1:m").await;
    api.server.clock.advance(600);
    let (status, body) = api.validate(&key, "v1:m").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["activation"]["last_seen_at"].as_i64() > act["activation"]["last_seen_at"].as_i64(),
        "{body}"
    );
    let claims = verify_independently(&str_of(&body, "token"), &api.jwks().await, "photo")
        .expect("verifies");
    let seen = body["activation"]["last_seen_at"]
        .as_i64()
        .expect("last seen");
    let grid = licet_server::testkit::internals::LEASE_GRID_SECS;
    assert_eq!(
        claims["iat"],
        seen - seen.rem_euclid(grid),
        "iat is on the lease grid"
    );
}

#[tokio::test]
async fn deactivation_frees_the_seat_and_the_old_machine_stops_validating() {
    let api = Api::start().await;
    let (id, key) = api.seeded(1).await;
    assert_eq!(api.activate(&key, "v1:old").await.0, StatusCode::OK);
    let (status, body) = api.deactivate(&key, "v1:old").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["activation"]["deactivated_at"].is_i64());
    assert_eq!(body["license"]["active_activations"], 0);

    let (status, body) = api.validate(&key, "v1:old").await;
    assert_error(status, &body, 404, "NOT_ACTIVATED");
    let (status, body) = api.deactivate(&key, "v1:old").await;
    assert_error(status, &body, 404, "NOT_ACTIVATED");
    assert_eq!(
        api.activate(&key, "v1:new").await.0,
        StatusCode::OK,
        "the seat is free again"
    );
    assert_eq!(live_seats(&api, &id).await, 1);
}

#[tokio::test]
async fn suspended_revoked_and_expired_licenses_are_refused_with_their_codes() {
    let api = Api::start().await;
    let (id, key) = api.seeded(2).await;
    assert_eq!(api.activate(&key, "v1:m").await.0, StatusCode::OK);

    api.admin_post(&format!("/v1/admin/licenses/{id}/suspend"), json!({}))
        .await;
    let (s, b) = api.validate(&key, "v1:m").await;
    assert_error(s, &b, 403, "LICENSE_SUSPENDED");
    let (s, b) = api.activate(&key, "v1:other").await;
    assert_error(s, &b, 403, "LICENSE_SUSPENDED");

    api.admin_post(&format!("/v1/admin/licenses/{id}/reinstate"), json!({}))
        .await;
    assert_eq!(api.validate(&key, "v1:m").await.0, StatusCode::OK);

    let now = api.server.clock_now();
    let (s, b) = api
        .admin_post(
            &format!("/v1/admin/licenses/{id}/extend"),
            json!({ "expires_at": now + 100 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, lease) = api.validate(&key, "v1:m").await;
    let claims = verify_independently(&str_of(&lease, "token"), &api.jwks().await, "photo")
        .expect("verifies");
    assert_eq!(
        claims["exp"],
        now + 100,
        "the lease never outlives the license"
    );
    api.server.clock.advance(200);
    let (s, b) = api.validate(&key, "v1:m").await;
    assert_error(s, &b, 403, "LICENSE_EXPIRED");

    api.admin_post(&format!("/v1/admin/licenses/{id}/revoke"), json!({}))
        .await;
    let (s, b) = api.validate(&key, "v1:m").await;
    assert_error(s, &b, 403, "LICENSE_REVOKED");
    let (s, b) = api
        .admin_post(&format!("/v1/admin/licenses/{id}/reinstate"), json!({}))
        .await;
    assert_error(s, &b, 409, "CONFLICT");
}

#[tokio::test]
async fn keys_are_accepted_in_any_case_and_with_surrounding_blanks() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    let (status, body) = api
        .activate(&format!("  {}  ", key.to_lowercase()), "v1:m")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn metrics_count_requests_and_license_operations() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    api.activate(&key, "v1:m").await;
    api.validate(&key, "v1:m").await;
    let text = api.metrics().await;
    assert!(text.contains("licet_activations_total 1"), "{text}");
    assert!(text.contains("licet_validations_total 1"), "{text}");
    assert!(
        text.contains(r#"licet_http_requests_total{method="POST",route="/v1/licenses/activate",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("licet_http_request_duration_seconds_bucket{route=\"/v1/licenses/validate\"")
    );
}

#[tokio::test]
async fn validations_in_one_minute_share_a_lease_until_the_license_changes() {
    let api = Api::start().await;
    let (id, key) = api.seeded(1).await;
    assert_eq!(api.activate(&key, "v1:m").await.0, StatusCode::OK);
    // Stay inside one grid minute for the comparisons.
    let grid = licet_server::testkit::internals::LEASE_GRID_SECS;
    let into = api.server.clock_now().rem_euclid(grid);
    api.server.clock.advance(grid - into);
    let first = str_of(&api.validate(&key, "v1:m").await.1, "token");
    let second = str_of(&api.validate(&key, "v1:m").await.1, "token");
    assert_eq!(first, second, "the same lease, signed once");
    let jwks = api.jwks().await;
    verify_independently(&second, &jwks, "photo").expect("verifies");

    // A change of state is a different lease at once, within the same minute.
    let (status, body) = api
        .admin(
            reqwest::Method::PATCH,
            &format!("/v1/admin/licenses/{id}"),
            Some(serde_json::json!({ "entitlements": ["pro", "beta"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let third = str_of(&api.validate(&key, "v1:m").await.1, "token");
    assert_ne!(second, third);
    let claims = verify_independently(&third, &jwks, "photo").expect("verifies");
    assert_eq!(claims["ent"], serde_json::json!(["pro", "beta"]));
    let earlier = verify_independently(&second, &jwks, "photo").expect("verifies");
    assert_ne!(
        claims["jti"], earlier["jti"],
        "distinct leases have distinct ids"
    );
}

/// A machine that deactivates and activates again keeps one activation row: churn (a
/// shared key cycling through seats, an app that deactivates on every quit) used to add a
/// row per cycle forever. Each cycle is still audited, and seats still count right.
#[tokio::test]
async fn activating_again_after_deactivating_reuses_the_machines_row() {
    let api = Api::start().await;
    let (id, key) = api.seeded(1).await;
    let (_, first) = api.activate(&key, "v1:churn").await;
    let first_id = first["activation"]["id"].clone();
    for _ in 0..10 {
        assert_eq!(api.deactivate(&key, "v1:churn").await.0, StatusCode::OK);
        let (status, body) = api.activate(&key, "v1:churn").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["activation"]["id"], first_id, "the same row");
    }
    let (_, lic) = api.admin_get(&format!("/v1/admin/licenses/{id}")).await;
    assert_eq!(
        lic["activations"].as_array().map(Vec::len),
        Some(1),
        "{lic}"
    );
    assert_eq!(lic["active_activations"], 1);
    // Another machine still finds the one seat taken.
    let (status, body) = api.activate(&key, "v1:other").await;
    assert_error(status, &body, 403, "ACTIVATION_LIMIT_REACHED");
    let (_, audit) = api
        .admin_get(&format!(
            "/v1/admin/audit?subject={}",
            first_id.as_str().expect("id")
        ))
        .await;
    let reactivated = audit["items"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "activation.reactivated")
        .count();
    assert_eq!(reactivated, 10);
}

/// The audit log is kept for its retention period, then pruned in the background, so it
/// does not grow forever.
#[tokio::test]
async fn audit_entries_older_than_the_retention_are_pruned() {
    let server = licet_server::testkit::TestServer::start_with(|c| {
        c.audit_retention_days = 1;
        c.key_refresh_secs = 1;
    })
    .await
    .expect("server");
    let api = Api::with(server);
    let (_, key) = api.seeded(1).await;
    api.activate(&key, "v1:old").await;
    let count = async || {
        api.admin_get("/v1/admin/audit?limit=1000").await.1["items"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = count().await;
    assert!(before >= 3, "product, license, activation");
    api.server.clock.advance(2 * 86_400);
    api.activate(&key, "v1:old").await;
    let pruned = eventually(async || (count().await == 0).then_some(())).await;
    assert!(pruned.is_some(), "entries older than a day are gone");
}

/// On PostgreSQL, the prepared lookup's generic plan finds the machine's seat by license
/// and fingerprint together, on fresh tables without statistics too: it once scanned the
/// seats of that fingerprint on every license.
#[tokio::test]
async fn the_generic_plan_of_the_lookup_finds_a_seat_by_license_and_fingerprint() {
    let api = Api::start().await;
    let Some(plan) = api
        .server
        .store()
        .generic_plan_of_license_lookup()
        .await
        .expect("explain")
    else {
        return; // SQLite: see store::sqlite_reads.
    };
    let seat_probe = plan
        .lines()
        .skip_while(|l| !l.contains("on activations a"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        seat_probe.contains("license_id =") && seat_probe.contains("fingerprint ="),
        "{plan}"
    );
}
