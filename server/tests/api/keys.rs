//! Key rotation: new tokens use the new key, old tokens keep verifying until their key is
//! retired.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid")
}

#[tokio::test]
async fn rotation_keeps_old_tokens_verifying_until_the_old_key_is_retired() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    let (_, first) = api.activate(&key, "v1:m").await;
    let old_token = str_of(&first, "token");
    let old_kid = kid_of(&old_token);

    let (status, keys) = api.admin_post("/v1/admin/keys/rotate", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let jwks = api.jwks().await;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));

    let (_, second) = api.validate(&key, "v1:m").await;
    let new_token = str_of(&second, "token");
    assert_ne!(
        kid_of(&new_token),
        old_kid,
        "new leases are signed with the new key"
    );
    verify_independently(&new_token, &jwks, "photo").expect("new token verifies");
    verify_independently(&old_token, &jwks, "photo").expect("old token still verifies");

    let (status, body) = api
        .admin_post(&format!("/v1/admin/keys/{old_kid}/retire"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jwks = api.jwks().await;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    assert!(
        verify_independently(&old_token, &jwks, "photo").is_err(),
        "retired key's tokens fail"
    );
    verify_independently(&new_token, &jwks, "photo").expect("current key's tokens verify");

    let current = kid_of(&new_token);
    let (status, body) = api
        .admin_post(&format!("/v1/admin/keys/{current}/retire"), json!({}))
        .await;
    assert_error(status, &body, 409, "CONFLICT");
}

#[tokio::test]
async fn a_pre_generated_key_is_published_before_it_signs() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    let (_, before) = api.activate(&key, "v1:m").await;
    let (status, _) = api.admin_post("/v1/admin/keys/generate", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.jwks().await["keys"].as_array().map(Vec::len),
        Some(2),
        "published for pinning"
    );
    let (_, after) = api.validate(&key, "v1:m").await;
    assert_eq!(
        kid_of(&str_of(&after, "token")),
        kid_of(&str_of(&before, "token")),
        "still signs with the old key"
    );

    api.admin_post("/v1/admin/keys/rotate", json!({})).await;
    let (_, rotated) = api.validate(&key, "v1:m").await;
    let jwks = api.jwks().await;
    assert_eq!(
        jwks["keys"].as_array().map(Vec::len),
        Some(2),
        "rotation used the pre-generated key"
    );
    assert_ne!(
        kid_of(&str_of(&rotated, "token")),
        kid_of(&str_of(&before, "token"))
    );
}

#[tokio::test]
async fn tokens_verify_with_the_shared_proto_verifier() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    let (_, body) = api.activate(&key, "v1:m").await;
    let jwks: licet_proto::Jwks = serde_json::from_value(api.jwks().await).expect("jwks");
    let set = licet_proto::KeySet::from_jwks(&jwks).expect("keyset");
    let verified = set.verify(&str_of(&body, "token")).expect("verifies");
    let expect = licet_proto::token::Expectations {
        audience: "photo",
        fingerprint: "v1:m",
        now: api.server.clock_now(),
        leeway: 0,
    };
    verified.claims.check(&expect).expect("claims hold");
}

/// The key that signs now, from the admin list.
fn current_of(list: &serde_json::Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|k| k["state"] == "current")
        .map(|k| str_of(k, "kid"))
        .collect()
}

/// Rotations in the same second (keys created in one second used to look "newer" than
/// the current one and came back) each bring a key that never signed before.
#[tokio::test]
async fn a_rotation_never_brings_back_a_key_that_signed_before() {
    let api = Api::start().await;
    let (_, list) = api.admin_get("/v1/admin/keys").await;
    let mut signed = current_of(&list);
    assert_eq!(signed.len(), 1, "{list}");
    for _ in 0..4 {
        let (status, list) = api.admin_post("/v1/admin/keys/rotate", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let current = current_of(&list);
        assert_eq!(current.len(), 1, "one current key: {list}");
        assert!(
            !signed.contains(&current[0]),
            "{} signed before: {list}",
            current[0]
        );
        signed.push(current[0].clone());
    }
    // A key generated ahead is still the one a rotation takes.
    let (_, list) = api.admin_post("/v1/admin/keys/generate", json!({})).await;
    let ahead: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|k| k["activated_at"].is_null())
        .map(|k| str_of(k, "kid"))
        .collect();
    assert_eq!(ahead.len(), 1, "{list}");
    let (_, list) = api.admin_post("/v1/admin/keys/rotate", json!({})).await;
    assert_eq!(current_of(&list), ahead);
}

/// Racing rotations: each either makes its key current or answers `CONFLICT`; never two
/// current keys.
#[tokio::test]
async fn racing_rotations_leave_exactly_one_current_key() {
    let api = Api::start().await;
    let answers = futures_util::future::join_all(
        (0..8).map(|_| api.admin_post("/v1/admin/keys/rotate", json!({}))),
    )
    .await;
    let mut won = 0;
    for (status, body) in &answers {
        if *status == StatusCode::OK {
            won += 1;
        } else {
            assert_error(*status, body, 409, "CONFLICT");
        }
    }
    assert!(won >= 1, "{answers:?}");
    let (_, list) = api.admin_get("/v1/admin/keys").await;
    assert_eq!(current_of(&list).len(), 1, "{list}");
    let (_, key) = api.seeded(1).await;
    let (status, body) = api.activate(&key, "v1:m").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    verify_independently(&str_of(&body, "token"), &api.jwks().await, "photo").expect("verifies");
}
