//! Releases and license-gated updates: the vendor publishes versions on channels and
//! platforms; a licensed app asks for the newest it may have, by lease or by key, and gets
//! a signed manifest and a short-lived download URL.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

use crate::release_fixtures::*;
use crate::support::*;

const DAY: i64 = 86_400;
const LINUX: &str = "linux-x86_64";
const WINDOWS: &str = "windows-x86_64";

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An activated machine: (key, fingerprint, lease).
async fn machine(api: &Api, fpr: &str) -> (String, String, String) {
    let (_, key) = api.license("app").await;
    let (status, body) = api.activate(&key, fpr).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (key, fpr.to_owned(), str_of(&body, "token"))
}

/// How an update check proves its license.
#[derive(Clone, Copy)]
enum By<'a> {
    Key(&'a str, &'a str),
    Lease(&'a str),
    Nothing,
}

async fn check(
    api: &Api,
    by: By<'_>,
    platform: &str,
    channel: &str,
    version: &str,
) -> (StatusCode, Value) {
    let url = api.server.url(&format!(
        "/v1/releases/latest?product=app&platform={platform}&channel={channel}&version={version}"
    ));
    send_check(api, api.http.get(url), by).await
}

async fn send_check(api: &Api, req: reqwest::RequestBuilder, by: By<'_>) -> (StatusCode, Value) {
    let _ = api;
    let req = match by {
        By::Key(key, fpr) => req
            .header("licet-license-key", key)
            .header("licet-fingerprint", fpr),
        By::Lease(lease) => req.bearer_auth(lease),
        By::Nothing => req,
    };
    let res = req.send().await.expect("check");
    let status = res.status();
    if status == StatusCode::NO_CONTENT {
        assert!(res.bytes().await.expect("body").is_empty());
        return (status, Value::Null);
    }
    decode(res).await
}

/// Downloads a URL whole, checking it is a 200.
async fn fetch(api: &Api, url: &str) -> Vec<u8> {
    let res = api.http.get(url).send().await.expect("download");
    assert_eq!(res.status(), StatusCode::OK, "{url}");
    res.bytes().await.expect("bytes").to_vec()
}

#[tokio::test]
async fn the_newest_release_of_the_callers_channel_and_platform_is_offered_signed() {
    let api = Api::start().await;
    product(&api, json!({})).await;
    published(
        &api,
        "1.0.0",
        json!({ "channel": "stable" }),
        &[LINUX, WINDOWS],
    )
    .await;
    published(&api, "1.1.0", json!({ "channel": "stable" }), &[LINUX]).await;
    published(&api, "1.2.0-beta.1", json!({ "channel": "beta" }), &[LINUX]).await;
    let (key, fpr, lease) = machine(&api, "v1:machine-a").await;

    for by in [By::Key(&key, &fpr), By::Lease(&lease)] {
        let (status, body) = check(&api, by, LINUX, "stable", "1.0.0").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "update_available");
        assert_eq!(body["release"]["version"], "1.1.0");
        assert_eq!(body["release"]["channel"], "stable");
        assert_eq!(body["release"]["notes"], "What is new in 1.1.0");
        assert!(body.get("newer_not_allowed").is_none(), "{body}");
        let expected = bytes_of("1.1.0", LINUX);
        assert_eq!(body["artifact"]["platform"], LINUX);
        assert_eq!(body["artifact"]["size"], expected.len());
        assert_eq!(body["artifact"]["sha256"], sha256_hex(&expected));

        // The manifest is a JWS from the lease key ring, checked with another library.
        let manifest = str_of(&body, "manifest");
        let claims =
            verify_independently(&manifest, &api.jwks().await, "app").expect("a valid manifest");
        assert_eq!(claims["fpr"], fpr);
        assert_eq!(claims["rel"]["version"], "1.1.0");
        assert_eq!(claims["rel"]["platform"], LINUX);
        assert_eq!(claims["rel"]["sha256"], sha256_hex(&expected));
        assert_eq!(claims["rel"]["size"], expected.len());
        assert!(str_of(&claims, "sub").starts_with("lic_"));
        let header: Value =
            serde_json::from_slice(&base64_url(manifest.split('.').next().expect("header")))
                .expect("header json");
        assert_eq!(header["typ"], "licet-release+jwt");
        assert_eq!(body["artifact"]["url_expires_at"], claims["exp"]);

        // The URL serves exactly the published bytes.
        let got = fetch(&api, &str_of(&body["artifact"], "url")).await;
        assert_eq!(sha256_hex(&got), sha256_hex(&expected));
    }

    // The beta channel follows stable too, and its own newest wins.
    let (status, body) = check(&api, By::Lease(&lease), LINUX, "beta", "1.0.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["release"]["version"], "1.2.0-beta.1");
    // Windows has nothing newer than 1.0.0; up to date is 204 with no body.
    let (status, _) = check(&api, By::Lease(&lease), WINDOWS, "stable", "1.0.0").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = check(&api, By::Key(&key, &fpr), LINUX, "stable", "1.1.0").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // A pre-release sorts before its release: 1.2.0-beta.1 < 1.2.0.
    published(&api, "1.2.0", json!({ "channel": "stable" }), &[LINUX]).await;
    let (status, body) = check(&api, By::Lease(&lease), LINUX, "beta", "1.2.0-beta.1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["release"]["version"], "1.2.0");

    // Platforms and channels the product does not ship are told apart.
    let (status, body) = check(&api, By::Lease(&lease), "darwin-aarch64", "stable", "1.0.0").await;
    assert_error(status, &body, 404, "PLATFORM_NOT_FOUND");
}

#[tokio::test]
async fn a_perpetual_license_keeps_the_releases_of_its_maintenance_period() {
    let api = Api::start().await;
    product(&api, json!({ "maintenance_secs": 30 * DAY })).await;
    published(&api, "1.0.0", json!({ "channel": "stable" }), &[LINUX]).await;
    let (key, fpr, _) = machine(&api, "v1:machine-a").await;
    let (_, licenses) = api.admin_get("/v1/admin/licenses?product=app").await;
    let license = licenses["items"][0].clone();
    let issued = license["created_at"].as_i64().expect("issued");
    assert_eq!(license["updates_until"], issued + 30 * DAY);
    assert_eq!(license["expires_at"], Value::Null, "perpetual");

    published(&api, "1.1.0", json!({ "channel": "stable" }), &[LINUX]).await;
    api.server.clock.advance(31 * DAY);
    published(&api, "2.0.0", json!({ "channel": "stable" }), &[LINUX]).await;
    // A fresh lease after the maintenance ended (the first one expired meanwhile).
    let (status, validated) = api.validate(&key, &fpr).await;
    assert_eq!(status, StatusCode::OK, "{validated}");
    let lease = str_of(&validated, "token");

    for by in [By::Key(&key, &fpr), By::Lease(&lease)] {
        // From 1.0.0: 1.1.0 (published in maintenance), and word of 2.0.0.
        let (status, body) = check(&api, by, LINUX, "stable", "1.0.0").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "update_available");
        assert_eq!(body["release"]["version"], "1.1.0");
        assert_eq!(body["newer_not_allowed"]["version"], "2.0.0");
        assert_eq!(body["newer_not_allowed"]["reason"], "updates_ended");
        assert_eq!(
            body["newer_not_allowed"]["updates_until"],
            issued + 30 * DAY
        );
        // From 1.1.0: only word of 2.0.0, no file, no manifest.
        let (status, body) = check(&api, by, LINUX, "stable", "1.1.0").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "update_available_not_allowed");
        assert_eq!(body["newer_not_allowed"]["version"], "2.0.0");
        assert!(body.get("artifact").is_none() && body.get("manifest").is_none());
    }

    // Renewing maintenance unlocks 2.0.0, at once for the key and with the next lease.
    let id = str_of(&license, "id");
    let (status, body) = api
        .admin(
            Method::PATCH,
            &format!("/v1/admin/licenses/{id}"),
            Some(json!({ "updates_until": api.server.clock_now() + 365 * DAY })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = check(&api, By::Key(&key, &fpr), LINUX, "stable", "1.1.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["release"]["version"], "2.0.0");
    let (_, validated) = api.validate(&key, &fpr).await;
    let claims = verify_independently(&str_of(&validated, "token"), &api.jwks().await, "app")
        .expect("lease");
    assert_eq!(
        claims["lic"]["updates_until"],
        api.server.clock_now() + 365 * DAY
    );
    let (status, body) = check(
        &api,
        By::Lease(&str_of(&validated, "token")),
        LINUX,
        "stable",
        "1.1.0",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["release"]["version"], "2.0.0");
}

#[tokio::test]
async fn entitlements_trials_and_yanks_decide_what_is_offered() {
    let api = Api::start().await;
    product(
        &api,
        json!({ "trial": { "duration_secs": 14 * DAY, "entitlements": [] } }),
    )
    .await;
    published(&api, "1.0.0", json!({ "channel": "stable" }), &[LINUX]).await;
    let (key, fpr, lease) = machine(&api, "v1:machine-a").await;

    // A release for `studio` licenses only.
    let (status, body) = api
        .admin_post(
            "/v1/admin/products/app/releases",
            json!({ "version": "1.1.0", "entitlement": "studio" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let studio = str_of(&body, "id");
    attach(&api, &studio, LINUX, "", bytes_of("1.1.0", LINUX)).await;
    publish(&api, &studio, json!({})).await;
    let (status, body) = check(&api, By::Lease(&lease), LINUX, "stable", "1.0.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "update_available_not_allowed");
    assert_eq!(body["newer_not_allowed"]["reason"], "entitlement_required");
    assert_eq!(body["newer_not_allowed"]["entitlement"], "studio");

    // Trials get no releases unless the product says so.
    let (status, trial) = api
        .post(
            "/v1/trials/activate",
            json!({ "product": "app", "fingerprint": "v1:trial-machine" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{trial}");
    let trial_lease = str_of(&trial, "token");
    let (status, body) = check(&api, By::Lease(&trial_lease), LINUX, "stable", "0.9.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["newer_not_allowed"]["reason"], "trial_excluded");
    let (status, body) = api
        .admin(
            Method::PATCH,
            "/v1/admin/products/app",
            Some(json!({ "trial_updates": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = check(&api, By::Lease(&trial_lease), LINUX, "stable", "0.9.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["release"]["version"], "1.0.0");

    // A yanked release is offered to no one, and its URLs stop working.
    let id = published(&api, "1.2.0", json!({ "channel": "stable" }), &[LINUX]).await;
    let (status, body) = check(&api, By::Key(&key, &fpr), LINUX, "stable", "1.0.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["release"]["version"], "1.2.0");
    let url = str_of(&body["artifact"], "url");
    let (status, body) = api
        .admin_post(&format!("/v1/admin/releases/{id}/yank"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "yanked");
    let (status, body) = check(&api, By::Key(&key, &fpr), LINUX, "stable", "1.0.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["status"], "update_available_not_allowed",
        "only the studio release is newer now: {body}"
    );
    let res = api.http.get(&url).send().await.expect("download");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn artifact_urls_are_signed_expire_resume_and_count() {
    let api = Api::start().await;
    product(&api, json!({})).await;
    let id = published(&api, "1.0.0", json!({ "channel": "stable" }), &[LINUX]).await;
    let (key, fpr, _) = machine(&api, "v1:machine-a").await;
    let (_, body) = check(&api, By::Key(&key, &fpr), LINUX, "stable", "0.1.0").await;
    let url = str_of(&body["artifact"], "url");
    let expected = bytes_of("1.0.0", LINUX);

    // Resume: a range from the middle is the rest of the file, and is not a new download.
    let whole = fetch(&api, &url).await;
    assert_eq!(whole, expected);
    let half = expected.len() / 2;
    let res = api
        .http
        .get(&url)
        .header("range", format!("bytes={half}-"))
        .send()
        .await
        .expect("range");
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    let rest = res.bytes().await.expect("rest");
    assert_eq!(&rest[..], &expected[half..]);
    let head = api.http.head(&url).send().await.expect("head");
    assert_eq!(head.status(), StatusCode::OK);
    let (_, shown) = api.admin_get(&format!("/v1/admin/releases/{id}")).await;
    assert_eq!(shown["artifacts"][0]["downloads"], 1, "{shown}");

    // A changed signature or expiry is refused; an expired URL is gone.
    let forged = url.replace("sig=", "sig=0");
    let (status, body) = decode(api.http.get(&forged).send().await.expect("get")).await;
    assert_error(status, &body, 403, "FORBIDDEN");
    let stretched = url.replace("expires=", "expires=9");
    let (status, body) = decode(api.http.get(&stretched).send().await.expect("get")).await;
    assert_error(status, &body, 403, "FORBIDDEN");
    api.server.clock.advance(2 * 3600);
    let (status, body) = decode(api.http.get(&url).send().await.expect("get")).await;
    assert_error(status, &body, 410, "LINK_EXPIRED");
}

#[tokio::test]
async fn update_checks_refuse_what_they_cannot_trust() {
    let api = Api::start().await;
    product(&api, json!({})).await;
    published(&api, "1.0.0", json!({ "channel": "stable" }), &[LINUX]).await;
    let (key, fpr, lease) = machine(&api, "v1:machine-a").await;

    let (status, body) = check(&api, By::Nothing, LINUX, "stable", "0.1.0").await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    // A lease signed by a key the server never published.
    let forged = {
        let other = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let mut claims: licet_proto::Claims =
            serde_json::from_slice(&base64_url(lease.split('.').nth(1).expect("claims")))
                .expect("claims");
        claims.lic.expires_at = None;
        licet_proto::token::sign(&claims, &other)
    };
    let (status, body) = check(&api, By::Lease(&forged), LINUX, "stable", "0.1.0").await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    let mut tampered = lease.clone();
    tampered.insert(lease.len() / 2, 'x');
    let (status, body) = check(&api, By::Lease(&tampered), LINUX, "stable", "0.1.0").await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    // An expired lease must be renewed first.
    api.server.clock.advance(8 * DAY);
    let (status, body) = check(&api, By::Lease(&lease), LINUX, "stable", "0.1.0").await;
    assert_error(status, &body, 401, "UNAUTHORIZED");

    // Key path: the machine must hold a seat, the license must be usable.
    let (status, body) = check(
        &api,
        By::Key(&key, "v1:elsewhere"),
        LINUX,
        "stable",
        "0.1.0",
    )
    .await;
    assert_error(status, &body, 404, "NOT_ACTIVATED");
    let (status, body) = check(&api, By::Key("not-a-key", &fpr), LINUX, "stable", "0.1.0").await;
    assert_error(status, &body, 400, "INVALID_KEY_FORMAT");
    let (_, licenses) = api.admin_get("/v1/admin/licenses?product=app").await;
    let id = str_of(&licenses["items"][0], "id");
    let (status, _) = api
        .admin_post(&format!("/v1/admin/licenses/{id}/suspend"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = check(&api, By::Key(&key, &fpr), LINUX, "stable", "0.1.0").await;
    assert_error(status, &body, 403, "LICENSE_SUSPENDED");

    // Malformed questions.
    for (platform, channel, version) in [
        (LINUX, "stable", "1.0"),
        (LINUX, "stable", "v1.0.0"),
        ("linux", "stable", "1.0.0"),
        (LINUX, "Stable!", "1.0.0"),
    ] {
        let (status, body) = check(&api, By::Key(&key, &fpr), platform, channel, version).await;
        assert_error(status, &body, 400, "INVALID_REQUEST");
    }
    let url = api
        .server
        .url("/v1/releases/latest?product=app&platform=linux-x86_64&version=1.0.0&surprise=1");
    let (status, body) = send_check(&api, api.http.get(url), By::Key(&key, &fpr)).await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
}

#[tokio::test]
async fn a_product_without_releases_on_a_channel_says_so() {
    let api = Api::start().await;
    product(&api, json!({})).await;
    let (key, fpr, _) = machine(&api, "v1:machine-a").await;
    let (status, body) = check(&api, By::Key(&key, &fpr), LINUX, "stable", "1.0.0").await;
    assert_error(status, &body, 404, "RELEASE_NOT_FOUND");
    // A draft is not published.
    draft(&api, "1.1.0", json!({ "channel": "stable" }), &[LINUX]).await;
    let (status, body) = check(&api, By::Key(&key, &fpr), LINUX, "stable", "1.0.0").await;
    assert_error(status, &body, 404, "RELEASE_NOT_FOUND");
}

#[tokio::test]
async fn the_vendor_manages_releases_and_bad_input_writes_nothing() {
    let api = Api::start().await;
    product(&api, json!({})).await;
    let id = draft(&api, "1.0.0", json!({ "channel": "stable" }), &[]).await;

    // Publishing needs a file.
    let (status, body) = api
        .admin_post(&format!("/v1/admin/releases/{id}/publish"), json!({}))
        .await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
    // Versions are semver and unique per product.
    for bad in [
        json!({ "version": "1.0" }),
        json!({ "version": "1.0.0-", "channel": "stable" }),
        json!({ "version": "2.0.0", "channel": "Beta" }),
        json!({ "version": "2.0.0", "surprise": true }),
        json!({ "version": 2 }),
    ] {
        let (status, body) = api
            .admin_post("/v1/admin/products/app/releases", bad.clone())
            .await;
        assert_error(status, &body, 400, "INVALID_REQUEST");
    }
    let (status, body) = api
        .admin_post(
            "/v1/admin/products/app/releases",
            json!({ "version": "1.0.0" }),
        )
        .await;
    assert_error(status, &body, 409, "CONFLICT");
    let (status, body) = attach(&api, &id, "linux", "", b"x".to_vec()).await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
    let long = "s".repeat(5000);
    let (status, body) = attach(
        &api,
        &id,
        LINUX,
        &format!("&signature={long}"),
        b"x".to_vec(),
    )
    .await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
    let (_, shown) = api.admin_get(&format!("/v1/admin/releases/{id}")).await;
    assert_eq!(shown["artifacts"], json!([]), "nothing attached: {shown}");

    // A draft's file can be replaced; once published it is fixed, but a new platform may
    // still be added.
    attach(&api, &id, LINUX, "&signature=first", b"first".to_vec()).await;
    let (status, body) = attach(
        &api,
        &id,
        LINUX,
        "&signature=second",
        bytes_of("1.0.0", LINUX),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["artifacts"][0]["signature"], "second");
    assert_eq!(body["artifacts"][0]["size"], bytes_of("1.0.0", LINUX).len());
    let published = publish(&api, &id, json!({})).await;
    assert!(published["published_at"].as_i64().is_some());
    let (status, body) = attach(&api, &id, LINUX, "", b"changed".to_vec()).await;
    assert_error(status, &body, 409, "CONFLICT");
    let (status, body) = attach(&api, &id, WINDOWS, "", bytes_of("1.0.0", WINDOWS)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["artifacts"].as_array().map(Vec::len), Some(2));
    let (status, body) = api
        .admin_post(&format!("/v1/admin/releases/{id}/publish"), json!({}))
        .await;
    assert_error(status, &body, 409, "CONFLICT");
    // Backdating is for imports of old releases; the future is refused.
    let old = draft(&api, "0.9.0", json!({ "channel": "stable" }), &[LINUX]).await;
    let future = api.server.clock_now() + DAY;
    let (status, body) = api
        .admin_post(
            &format!("/v1/admin/releases/{old}/publish"),
            json!({ "published_at": future }),
        )
        .await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
    let past = api.server.clock_now() - 300 * DAY;
    let body = publish(&api, &old, json!({ "published_at": past })).await;
    assert_eq!(body["published_at"], past);

    // The list is newest version first; drafts cannot be yanked.
    let (status, list) = api.admin_get("/v1/admin/products/app/releases").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let versions: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["version"].as_str())
        .collect();
    assert_eq!(versions, ["1.0.0", "0.9.0"]);
    let draft_id = draft(&api, "1.1.0", json!({ "channel": "stable" }), &[]).await;
    let (status, body) = api
        .admin_post(&format!("/v1/admin/releases/{draft_id}/yank"), json!({}))
        .await;
    assert_error(status, &body, 409, "CONFLICT");
    // Every change is audited.
    let (_, audit) = api.admin_get("/v1/admin/audit?limit=100").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "release.created",
        "release.artifact_added",
        "release.published",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    // Only the vendor manages releases.
    let res = api
        .http
        .get(api.server.url("/v1/admin/products/app/releases"))
        .send()
        .await
        .expect("get");
    let (status, body) = decode(res).await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn tauris_updater_gets_its_own_shape_with_the_vendors_signature() {
    let api = Api::start().await;
    product(&api, json!({})).await;
    published(&api, "1.0.0", json!({ "channel": "stable" }), &[LINUX]).await;
    let (key, fpr, lease) = machine(&api, "v1:machine-a").await;
    let tauri = |target: &str, arch: &str, version: &str| {
        api.http.get(
            api.server
                .url(&format!("/v1/releases/tauri/app/{target}/{arch}/{version}")),
        )
    };
    // Without the vendor's updater signature Tauri would refuse the update: not offered.
    let (status, _) =
        send_check(&api, tauri("linux", "x86_64", "0.9.0"), By::Key(&key, &fpr)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let signature = "dW50cnVzdGVkIGNvbW1lbnQ6IHNpZ25hdHVyZSBmcm9tIHRhdXJpIHNlY3JldCBrZXkK";
    let id = draft(&api, "1.1.0", json!({ "channel": "stable" }), &[]).await;
    attach(
        &api,
        &id,
        LINUX,
        &format!("&signature={signature}"),
        bytes_of("1.1.0", LINUX),
    )
    .await;
    publish(&api, &id, json!({})).await;
    for by in [By::Key(&key, &fpr), By::Lease(&lease)] {
        let (status, body) = send_check(&api, tauri("linux", "x86_64", "1.0.0"), by).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Tauri v2's dynamic update server format: exactly these fields.
        let mut fields: Vec<&String> = body.as_object().expect("object").keys().collect();
        fields.sort();
        assert_eq!(fields, ["notes", "pub_date", "signature", "url", "version"]);
        assert_eq!(body["version"], "1.1.0");
        assert_eq!(body["notes"], "What is new in 1.1.0");
        assert_eq!(body["signature"], signature);
        let date = str_of(&body, "pub_date");
        assert!(
            date.len() == 20 && date.ends_with('Z') && date.as_bytes()[10] == b'T',
            "RFC 3339: {date}"
        );
        let got = fetch(&api, &str_of(&body, "url")).await;
        assert_eq!(got, bytes_of("1.1.0", LINUX));
    }
    let (status, _) = send_check(&api, tauri("linux", "x86_64", "1.1.0"), By::Lease(&lease)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send_check(&api, tauri("linux", "x86_64", "1.1.0"), By::Nothing).await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
}

fn base64_url(part: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url")
}

#[tokio::test]
async fn racing_vendors_create_one_release_and_publish_it_once() {
    let api = Api::start().await;
    product(&api, json!({})).await;
    let creates = (0..10).map(|_| {
        api.admin_post(
            "/v1/admin/products/app/releases",
            json!({ "version": "1.0.0" }),
        )
    });
    let results = futures_util::future::join_all(creates).await;
    let created: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT)
    );
    let id = str_of(created[0], "id");
    attach(&api, &id, LINUX, "", bytes_of("1.0.0", LINUX)).await;
    let path = format!("/v1/admin/releases/{id}/publish");
    let publishes = (0..10).map(|_| api.admin_post(&path, json!({})));
    let results = futures_util::future::join_all(publishes).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    let (_, audit) = api.admin_get("/v1/admin/audit?limit=100").await;
    let published = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "release.published")
        .count();
    assert_eq!(published, 1, "one publish, audited once");
}
