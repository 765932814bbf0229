//! The vendor's admin API: products, licenses, seats, audit.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn products_can_be_created_listed_shown_and_updated() {
    let api = Api::start().await;
    let created = api.product("photo", 2).await;
    assert_eq!(created["slug"], "photo");
    assert_eq!(created["kind"], "license");
    assert_eq!(created["license_duration_secs"], serde_json::Value::Null);

    let (status, updated) = api
        .admin(
            Method::PATCH,
            "/v1/admin/products/photo",
            Some(json!({ "max_activations": 5, "license_duration_secs": 86400, "entitlements": ["pro", "export"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["max_activations"], 5);
    assert_eq!(updated["license_duration_secs"], 86400);

    let (_, shown) = api.admin_get("/v1/admin/products/photo").await;
    assert_eq!(shown, updated);
    let (_, list) = api.admin_get("/v1/admin/products").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (status, body) = api.admin_get("/v1/admin/products/none").await;
    assert_error(status, &body, 404, "NOT_FOUND");

    // Licenses issued now get the product's duration.
    let (status, lic) = api
        .admin_post(
            "/v1/admin/licenses",
            json!({ "product": "photo", "email": "a@b.co" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        lic["expires_at"]
            .as_i64()
            .map(|e| e - lic["created_at"].as_i64().unwrap_or(0)),
        Some(86400)
    );
    assert_eq!(lic["max_activations"], 5);
}

#[tokio::test]
async fn licenses_can_be_found_by_key_email_and_product() {
    let api = Api::start().await;
    api.product("photo", 1).await;
    api.product("video", 1).await;
    let (_, k1) = api.license("photo").await;
    api.admin_post(
        "/v1/admin/licenses",
        json!({ "product": "video", "email": "bob@example.com" }),
    )
    .await;

    let (_, by_key) = api
        .admin_get(&format!("/v1/admin/licenses?key={}", k1.to_lowercase()))
        .await;
    assert_eq!(by_key["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(by_key["items"][0]["key"], k1.as_str());
    let (_, by_email) = api
        .admin_get("/v1/admin/licenses?email=BOB@example.com")
        .await;
    assert_eq!(by_email["items"][0]["product"], "video");
    let (_, by_product) = api.admin_get("/v1/admin/licenses?product=photo").await;
    assert_eq!(by_product["items"].as_array().map(Vec::len), Some(1));
    let (status, body) = api.admin_get("/v1/admin/licenses?colour=red").await;
    assert_error(status, &body, 400, "INVALID_REQUEST");

    let (status, shown) = api.admin_get(&format!("/v1/admin/licenses/{k1}")).await;
    assert_eq!(status, StatusCode::OK, "a license can be shown by key too");
    assert_eq!(shown["activations"], json!([]));
}

#[tokio::test]
async fn support_can_remove_an_activation_to_free_a_seat() {
    let api = Api::start().await;
    let (id, key) = api.seeded(1).await;
    let (_, act) = api.activate(&key, "v1:lost-laptop").await;
    let (status, _) = api.activate(&key, "v1:new-laptop").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let act_id = str_of(&act["activation"], "id");
    let (status, lic) = api
        .admin(
            Method::DELETE,
            &format!("/v1/admin/licenses/{id}/activations/{act_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{lic}");
    assert_eq!(lic["active_activations"], 0);
    assert!(lic["activations"][0]["deactivated_at"].is_i64());
    assert_eq!(api.activate(&key, "v1:new-laptop").await.0, StatusCode::OK);
    let (status, body) = api.validate(&key, "v1:lost-laptop").await;
    assert_error(status, &body, 404, "NOT_ACTIVATED");
}

#[tokio::test]
async fn per_license_overrides_change_seats_and_entitlements() {
    let api = Api::start().await;
    let (id, key) = api.seeded(1).await;
    let (status, lic) = api
        .admin(
            Method::PATCH,
            &format!("/v1/admin/licenses/{id}"),
            Some(json!({ "max_activations": 2, "entitlements": ["pro", "team"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{lic}");
    assert_eq!(lic["overrides"]["max_activations"], 2);
    assert_eq!(api.activate(&key, "v1:a").await.0, StatusCode::OK);
    let (status, body) = api.activate(&key, "v1:b").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["license"]["entitlements"], json!(["pro", "team"]));

    let (_, lic) = api
        .admin(
            Method::PATCH,
            &format!("/v1/admin/licenses/{id}"),
            Some(json!({ "entitlements": null })),
        )
        .await;
    assert_eq!(
        lic["entitlements"],
        json!(["pro"]),
        "null removes the override"
    );
}

#[tokio::test]
async fn license_metadata_is_set_at_issue_replaced_by_patch_and_signed_into_every_lease() {
    let api = Api::start().await;
    api.product("photo", 2).await;
    let (status, lic) = api
        .admin_post(
            "/v1/admin/licenses",
            json!({ "product": "photo", "email": "ada@example.com",
                    "metadata": { "crm_id": "C-1042", "edition": "studio" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{lic}");
    assert_eq!(
        lic["metadata"],
        json!({ "crm_id": "C-1042", "edition": "studio" })
    );
    let key = str_of(&lic, "key");
    let id = str_of(&lic, "id");

    let (status, body) = api.activate(&key, "v1:a").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["license"]["metadata"]["edition"], "studio");
    let claims = verify_independently(&str_of(&body, "token"), &api.jwks().await, "photo")
        .expect("a valid lease");
    assert_eq!(
        claims["lic"]["metadata"],
        json!({ "crm_id": "C-1042", "edition": "studio" }),
        "the lease carries the metadata, signed"
    );

    let (status, lic) = api
        .admin(
            Method::PATCH,
            &format!("/v1/admin/licenses/{id}"),
            Some(json!({ "metadata": { "edition": "pro" } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{lic}");
    assert_eq!(
        lic["metadata"],
        json!({ "edition": "pro" }),
        "replaced whole"
    );
    let (_, body) = api.validate(&key, "v1:a").await;
    let claims = verify_independently(&str_of(&body, "token"), &api.jwks().await, "photo")
        .expect("a valid lease");
    assert_eq!(claims["lic"]["metadata"], json!({ "edition": "pro" }));

    let (_, lic) = api
        .admin(
            Method::PATCH,
            &format!("/v1/admin/licenses/{id}"),
            Some(json!({ "metadata": {} })),
        )
        .await;
    assert_eq!(lic["metadata"], json!({}));
    let (_, body) = api.validate(&key, "v1:a").await;
    assert!(
        body["license"].get("metadata").is_none(),
        "empty is absent: {body}"
    );
}

#[tokio::test]
async fn license_metadata_outside_its_limits_is_refused_and_changes_nothing() {
    let api = Api::start().await;
    let (id, _) = api.seeded(1).await;
    let long = "x".repeat(5000);
    let many: serde_json::Map<String, serde_json::Value> =
        (0..33).map(|i| (format!("k{i}"), json!("v"))).collect();
    for bad in [
        json!({ "bad key": "v" }),
        json!({ "": "v" }),
        json!({ "k": 1 }),
        json!({ "k": "line\nbreak" }),
        json!({ "k": long }),
        json!(many),
        json!(["not", "an", "object"]),
    ] {
        let (status, body) = api
            .admin(
                Method::PATCH,
                &format!("/v1/admin/licenses/{id}"),
                Some(json!({ "metadata": bad })),
            )
            .await;
        assert_error(status, &body, 400, "INVALID_REQUEST");
        let (_, lic) = api.admin_get(&format!("/v1/admin/licenses/{id}")).await;
        assert_eq!(lic["metadata"], json!({}), "nothing written for {bad}");
    }
}

#[tokio::test]
async fn every_change_is_in_the_audit_log() {
    let api = Api::start().await;
    let (id, key) = api.seeded(1).await;
    api.activate(&key, "v1:m").await;
    api.admin_post(&format!("/v1/admin/licenses/{id}/suspend"), json!({}))
        .await;
    api.deactivate(&key, "v1:m").await;
    let (_, audit) = api.admin_get("/v1/admin/audit").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for expected in [
        "product.created",
        "license.issued",
        "activation.created",
        "license.suspended",
        "activation.deactivated",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let (_, for_license) = api
        .admin_get(&format!("/v1/admin/audit?subject={id}"))
        .await;
    let first = &for_license["items"][0];
    assert_eq!(first["action"], "license.suspended");
    assert!(
        first["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("admin:"))
    );
    assert!(
        !audit.to_string().contains(&key),
        "keys are not copied into the audit log"
    );
}
