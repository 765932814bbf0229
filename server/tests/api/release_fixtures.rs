//! Fixtures of the release tests: a product `app`, releases made through the admin API,
//! and the bytes of their files.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// The bytes of a version's file for a platform (larger than one read buffer).
pub fn bytes_of(version: &str, platform: &str) -> Vec<u8> {
    format!("{version} on {platform}; ")
        .repeat(5000)
        .into_bytes()
}

/// A license product `app` (2 seats, entitlement `pro`) with extra fields.
pub async fn product(api: &Api, extra: Value) {
    let mut body = json!({ "slug": "app", "name": "App", "max_activations": 2,
                           "entitlements": ["pro"] });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (status, body) = api.admin_post("/v1/admin/products", body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A draft of `app` (notes "What is new in …", plus `extra` fields) with a file per
/// platform; its id.
pub async fn draft(api: &Api, version: &str, extra: Value, platforms: &[&str]) -> String {
    let mut body = json!({ "version": version, "notes": format!("What is new in {version}") });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (status, body) = api
        .admin_post("/v1/admin/products/app/releases", body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = str_of(&body, "id");
    for platform in platforms {
        let (status, body) = attach(api, &id, platform, "", bytes_of(version, platform)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    id
}

/// Uploads `bytes` as release `id`'s file for `platform` (`extra_query` is appended to
/// the query, e.g. `&signature=…`).
pub async fn attach(
    api: &Api,
    id: &str,
    platform: &str,
    extra_query: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let res = api
        .http
        .post(api.server.url(&format!(
            "/v1/admin/releases/{id}/artifacts?platform={platform}&name=App-{platform}.bin{extra_query}"
        )))
        .bearer_auth(&api.server.admin_token)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    decode(res).await
}

/// Publishes release `id` (`body`: `{}` or `{"published_at": …}`); the release.
pub async fn publish(api: &Api, id: &str, body: Value) -> Value {
    let (status, body) = api
        .admin_post(&format!("/v1/admin/releases/{id}/publish"), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "published");
    body
}

/// A published release of `app`; its id.
pub async fn published(api: &Api, version: &str, extra: Value, platforms: &[&str]) -> String {
    let id = draft(api, version, extra, platforms).await;
    publish(api, &id, json!({})).await;
    id
}
