//! The S3 backend against an S3-compatible server process (moto, from PyPI; `.ci/run`
//! installs it): same counting rules, downloads redirected to presigned URLs.

use licet_server::testkit::TestServer;
use reqwest::StatusCode;
use serde_json::json;

use crate::moto::{Moto, moto};
use crate::support::*;

#[tokio::test]
async fn with_s3_downloads_redirect_to_presigned_urls_and_count_the_same() {
    let Some(moto) = moto().await else { return };
    let api = on_s3(&moto).await;
    api.admin_post(
        "/v1/admin/products",
        json!({ "slug": "app", "name": "App", "kind": "download", "max_activations": 1, "download_limit": 2 }),
    )
    .await;
    // Larger than one multipart part, to exercise the streamed upload.
    let bytes: Vec<u8> = (0..6_000_000u32).map(|i| (i % 253) as u8).collect();
    let (status, file) = api.upload("app", "App%20Setup.exe", bytes.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    let (_, purchase) = api
        .admin_post(
            "/v1/admin/purchases",
            json!({ "email": "s3@example.com", "products": ["app"] }),
        )
        .await;
    let id = str_of(&purchase, "id");
    let (_, links) = api
        .admin_post(&format!("/v1/admin/purchases/{id}/links"), json!({}))
        .await;
    let url = links["items"][0]["url"].as_str().expect("link").to_owned();

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let head = no_redirects.head(&url).send().await.expect("head");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "6000000");
    let res = no_redirects.get(&url).send().await.expect("get");
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        location.starts_with(&moto.endpoint) && location.contains("X-Amz-Signature"),
        "{location}"
    );
    assert_eq!(used(&api, &id).await, Some(1));

    // The presigned URL asks the storage to name the download as uploaded (S3 honours
    // `response-content-disposition`), and following it gets the file.
    assert!(
        location.contains("response-content-disposition=attachment"),
        "{location}"
    );
    assert!(
        location.contains("App%2520Setup.exe") || location.contains("App%20Setup.exe"),
        "{location}"
    );
    let file_res = reqwest::get(&location).await.expect("presigned");
    assert_eq!(file_res.status(), StatusCode::OK);
    assert_eq!(
        file_res.bytes().await.expect("body").as_ref(),
        bytes.as_slice()
    );

    // A resumed range is redirected too, without counting.
    let resumed = no_redirects
        .get(&url)
        .header("range", "bytes=100-")
        .send()
        .await
        .expect("get");
    assert_eq!(resumed.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(used(&api, &id).await, Some(1));
    assert_eq!(
        no_redirects.get(&url).send().await.expect("get").status(),
        StatusCode::TEMPORARY_REDIRECT
    );
    let (status, body) = decode(no_redirects.get(&url).send().await.expect("get")).await;
    assert_error(status, &body, 403, "DOWNLOAD_LIMIT_REACHED");
}

async fn used(api: &Api, purchase: &str) -> Option<i64> {
    api.admin_get(&format!("/v1/admin/purchases/{purchase}"))
        .await
        .1["download_count"]
        .as_i64()
}

/// A server storing files in moto's bucket.
async fn on_s3(moto: &Moto) -> Api {
    let config = moto.s3_config();
    let server = TestServer::start_with(move |c| c.s3 = Some(config))
        .await
        .expect("server");
    Api::with(server)
}

#[tokio::test]
async fn with_s3_release_files_are_offered_redirected_and_resumed() {
    let Some(moto) = moto().await else { return };
    let api = on_s3(&moto).await;
    api.product("app", 1).await;
    let (status, release) = api
        .admin_post(
            "/v1/admin/products/app/releases",
            json!({ "version": "1.1.0" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{release}");
    let id = str_of(&release, "id");
    let bytes: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
    let res = api
        .http
        .post(api.server.url(&format!(
            "/v1/admin/releases/{id}/artifacts?platform=linux-x86_64&name=App.AppImage"
        )))
        .bearer_auth(&api.server.admin_token)
        .body(bytes.clone())
        .send()
        .await
        .expect("upload");
    let (status, body) = decode(res).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api
        .admin_post(&format!("/v1/admin/releases/{id}/publish"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, key) = api.license("app").await;
    let (status, lease) = api.activate(&key, "v1:machine-a").await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    let res = api
        .http
        .get(
            api.server
                .url("/v1/releases/latest?product=app&platform=linux-x86_64&version=1.0.0"),
        )
        .bearer_auth(str_of(&lease, "token"))
        .send()
        .await
        .expect("check");
    let (status, update) = decode(res).await;
    assert_eq!(status, StatusCode::OK, "{update}");
    let url = str_of(&update["artifact"], "url");

    // The artifact URL redirects to a presigned URL of the bucket; a client following it
    // gets the bytes, and a resumed range the rest of them.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let res = no_redirects.get(&url).send().await.expect("get");
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(location.starts_with(&moto.endpoint), "{location}");
    let whole = api.http.get(&url).send().await.expect("follow");
    assert_eq!(whole.status(), StatusCode::OK);
    let got = whole.bytes().await.expect("bytes");
    assert_eq!(got.len(), bytes.len());
    assert_eq!(
        str_of(&update["artifact"], "sha256"),
        sha2_hex(&got),
        "the bytes are the ones the manifest names"
    );
    let rest = api
        .http
        .get(&url)
        .header("range", "bytes=5000000-")
        .send()
        .await
        .expect("range");
    assert_eq!(rest.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        rest.bytes().await.expect("rest").as_ref(),
        &bytes[5_000_000..]
    );
    let (_, shown) = api.admin_get(&format!("/v1/admin/releases/{id}")).await;
    assert_eq!(
        shown["artifacts"][0]["downloads"], 2,
        "two from the first byte: {shown}"
    );
}

fn sha2_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
