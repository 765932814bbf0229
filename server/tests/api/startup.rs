//! First start and restarts.

use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn the_server_restarts_with_the_same_keys_and_data() {
    let mut api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    let (_, before) = api.activate(&key, "v1:m").await;
    let jwks_before = api.jwks().await;
    api.server.restart().await.expect("restarts");
    assert_eq!(api.jwks().await, jwks_before, "the signing key is reused");
    let (status, after) = api.validate(&key, "v1:m").await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["activation"]["id"], before["activation"]["id"]);
}

#[cfg(unix)]
#[tokio::test]
async fn the_master_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let api = Api::start().await;
    let meta =
        std::fs::metadata(api.server.data_dir().join("master.key")).expect("master.key exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn healthz_answers_when_ready() {
    let api = Api::start().await;
    let (status, body) = decode(
        api.http
            .get(api.server.url("/healthz"))
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}
