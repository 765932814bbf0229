//! Download products: uploads, links, counting, ranges, expiry, refunds, races.

use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::*;

/// A download product (`app`, 2 downloads per purchase) with one uploaded file, and a
/// purchase of it: `(purchase id, download URL, file bytes)`.
async fn bought(api: &Api) -> (String, String, Vec<u8>) {
    let (status, p) = api
        .admin_post(
            "/v1/admin/products",
            json!({ "slug": "app", "name": "The App", "kind": "download", "max_activations": 1, "download_limit": 2 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let res = api
        .http
        .post(
            api.server
                .url("/v1/admin/products/app/files?name=The%20App%201.0.dmg"),
        )
        .bearer_auth(&api.server.admin_token)
        .header("content-type", "application/x-apple-diskimage")
        .body(bytes.clone())
        .send()
        .await
        .expect("upload");
    let (status, file) = decode(res).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    assert_eq!(file["size"], 300_000);
    assert_eq!(file["sha256"], hex(&Sha256::digest(&bytes)));
    let (status, purchase) = api
        .admin_post(
            "/v1/admin/purchases",
            json!({ "email": "dl@example.com", "products": ["app"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{purchase}");
    let id = str_of(&purchase, "id");
    let (_, links) = api
        .admin_post(&format!("/v1/admin/purchases/{id}/links"), json!({}))
        .await;
    let url = links["items"][0]["url"]
        .as_str()
        .expect("a link")
        .to_owned();
    (id, url, bytes)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn get(api: &Api, url: &str, range: Option<&str>) -> reqwest::Response {
    let mut req = api.http.get(url).header("user-agent", "licet-test");
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await.expect("download")
}

async fn downloads_used(api: &Api, purchase: &str) -> i64 {
    api.admin_get(&format!("/v1/admin/purchases/{purchase}"))
        .await
        .1["download_count"]
        .as_i64()
        .expect("count")
}

#[tokio::test]
async fn a_link_downloads_the_file_with_the_headers_a_download_needs() {
    let api = Api::start().await;
    let (purchase, url, bytes) = bought(&api).await;
    let res = get(&api, &url, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h["content-length"], "300000");
    assert_eq!(h["content-type"], "application/x-apple-diskimage");
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"The App 1.0.dmg\"; filename*=UTF-8''The%20App%201.0.dmg"
    );
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(
        h["etag"].to_str().expect("ascii"),
        format!("\"{}\"", hex(&Sha256::digest(&bytes)))
    );
    assert!(
        h["repr-digest"]
            .to_str()
            .expect("ascii")
            .starts_with("sha-256=:")
    );
    assert_eq!(res.bytes().await.expect("body").as_ref(), bytes.as_slice());
    assert_eq!(downloads_used(&api, &purchase).await, 1);
    // The client's IP and user agent are recorded (the log is written in the background).
    let log = eventually(async || {
        let log = api
            .server
            .store()
            .downloads_of(&purchase)
            .await
            .expect("log");
        (!log.is_empty()).then_some(log)
    })
    .await
    .unwrap_or_default();
    assert_eq!(
        log,
        vec![(
            Some("127.0.0.1".to_owned()),
            Some("licet-test".to_owned()),
            1
        )]
    );
}

#[tokio::test]
async fn head_and_resumed_ranges_take_no_download_and_the_limit_holds() {
    let api = Api::start().await;
    let (purchase, url, bytes) = bought(&api).await;
    // A link scanner's HEAD burns nothing.
    let head = api.http.head(&url).send().await.expect("head");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "300000");
    assert_eq!(downloads_used(&api, &purchase).await, 0);

    let first = get(&api, &url, Some("bytes=0-999")).await;
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(first.headers()["content-range"], "bytes 0-999/300000");
    assert_eq!(first.bytes().await.expect("body").as_ref(), &bytes[..1000]);
    assert_eq!(
        downloads_used(&api, &purchase).await,
        1,
        "a range from byte 0 counts"
    );
    let rest = get(&api, &url, Some("bytes=1000-")).await;
    assert_eq!(rest.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(rest.bytes().await.expect("body").as_ref(), &bytes[1000..]);
    assert_eq!(
        downloads_used(&api, &purchase).await,
        1,
        "the same client resuming does not count"
    );
    let res = get(&api, &url, Some("bytes=400000-")).await;
    let (status, body) = decode(res).await;
    assert_error(status, &body, 416, "RANGE_NOT_SATISFIABLE");

    assert_eq!(get(&api, &url, None).await.status(), StatusCode::OK);
    let (status, body) = decode(get(&api, &url, None).await).await;
    assert_error(status, &body, 403, "DOWNLOAD_LIMIT_REACHED");
    let (status, body) = api
        .admin_post(&format!("/v1/admin/purchases/{purchase}/links"), json!({}))
        .await;
    assert_error(status, &body, 403, "DOWNLOAD_LIMIT_REACHED");
}

/// `GET` with a user agent of our choosing (a different "client" to the resume rules).
async fn get_as(api: &Api, url: &str, agent: &str, range: &str) -> reqwest::Response {
    api.http
        .get(url)
        .header("user-agent", agent)
        .header("range", range)
        .send()
        .await
        .expect("download")
}

/// The attack: once a purchase had one download, `Range: bytes=1-` used to serve the file
/// (minus a byte) for free, forever, to anyone holding a link. A range with no counted
/// download of the same client behind it now counts, and is refused once the budget is
/// spent.
#[tokio::test]
async fn a_range_without_a_counted_download_of_the_same_client_behind_it_counts() {
    let api = Api::start().await;
    let (purchase, url, bytes) = bought(&api).await;
    // Ranges before any download count too (there is nothing to resume).
    let res = get_as(&api, &url, "sharer", "bytes=1-").await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.expect("body").as_ref(), &bytes[1..]);
    assert_eq!(downloads_used(&api, &purchase).await, 1);
    // Another client (the link passed on) cannot ride on that download.
    assert_eq!(
        get_as(&api, &url, "someone-else", "bytes=1-")
            .await
            .status(),
        StatusCode::PARTIAL_CONTENT
    );
    assert_eq!(downloads_used(&api, &purchase).await, 2, "it counted");
    let (status, body) = decode(get_as(&api, &url, "third-party", "bytes=1-").await).await;
    assert_error(status, &body, 403, "DOWNLOAD_LIMIT_REACHED");
    // The same client after its resume window: counted again, so refused now.
    api.server
        .clock
        .advance(licet_server::testkit::internals::RESUME_WINDOW_SECS + 1);
    let (status, body) = decode(get_as(&api, &url, "someone-else", "bytes=1000-").await).await;
    assert_error(status, &body, 403, "DOWNLOAD_LIMIT_REACHED");
    assert_eq!(downloads_used(&api, &purchase).await, 2);
}

/// A legitimate resume stays free: same link, same client, within the window, until the
/// resumes have fetched the file's size twice over; past that a resume counts.
#[tokio::test]
async fn resumes_are_free_within_their_window_and_byte_budget() {
    let api = Api::start().await;
    let (purchase, url, bytes) = bought(&api).await;
    let agent = "download-manager/1.0";
    let first = get_as(&api, &url, agent, "bytes=0-").await;
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(downloads_used(&api, &purchase).await, 1);
    // Three interrupted tries resume from later and later bytes: 200,000 + 150,000 +
    // 100,000 = 450,000 bytes, within twice the 300,000-byte file.
    for start in [100_000usize, 150_000, 200_000] {
        api.server.clock.advance(600);
        let res = get_as(&api, &url, agent, &format!("bytes={start}-")).await;
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(res.bytes().await.expect("body").as_ref(), &bytes[start..]);
        assert_eq!(
            downloads_used(&api, &purchase).await,
            1,
            "resume from {start} is free"
        );
    }
    // 299,999 more bytes would pass the budget: this one counts.
    assert_eq!(
        get_as(&api, &url, agent, "bytes=1-").await.status(),
        StatusCode::PARTIAL_CONTENT
    );
    assert_eq!(downloads_used(&api, &purchase).await, 2);
}

/// Two clicks on the last download at the same moment: one file, one refusal. If taking a
/// download were not one atomic update, both would get it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_requests_for_the_last_download_yield_one_file() {
    let api = std::sync::Arc::new(Api::start().await);
    let (purchase, url, _) = bought(&api).await;
    assert_eq!(get(&api, &url, None).await.status(), StatusCode::OK);
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let api = api.clone();
            let url = url.clone();
            tokio::spawn(async move { get(&api, &url, None).await.status() })
        })
        .collect();
    let mut ok = 0;
    for r in racers {
        match r.await.expect("task") {
            StatusCode::OK => ok += 1,
            StatusCode::FORBIDDEN => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(downloads_used(&api, &purchase).await, 2);
}

#[tokio::test]
async fn expired_forged_and_refunded_links_are_refused_in_the_error_shape() {
    let api = Api::start().await;
    let (purchase, url, _) = bought(&api).await;
    let base = url
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .expect("base");
    for forged in [
        format!("{base}/AAAA"),
        format!("{base}/..%2F..%2Fetc%2Fpasswd"),
        format!("{base}/%00"),
    ] {
        let (status, body) = decode(get(&api, &forged, None).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{forged}: {body}");
        assert_eq!(body["error"]["code"], "NOT_FOUND");
    }
    api.server.clock.advance(24 * 3600 + 1);
    let (status, body) = decode(get(&api, &url, None).await).await;
    assert_error(status, &body, 410, "LINK_EXPIRED");
    api.server.clock.advance(-(24 * 3600 + 1));

    // A refund (here: the manual purchase's licenses and downloads end with its status).
    let app = api.server.app.clone();
    licet_server::testkit::internals::sales::refund(&app, "test", "manual", "none")
        .await
        .expect("no-op refund");
    licet_server::testkit::internals::sales::set_status(
        &app,
        "test",
        &purchase,
        licet_proto::admin::PurchaseStatus::Refunded,
        None,
    )
    .await
    .expect("status");
    let (status, body) = decode(get(&api, &url, None).await).await;
    assert_error(status, &body, 403, "PURCHASE_NOT_ACTIVE");
    let (status, body) = api
        .admin_post(&format!("/v1/admin/purchases/{purchase}/links"), json!({}))
        .await;
    assert_error(status, &body, 403, "PURCHASE_NOT_ACTIVE");
}

#[tokio::test]
async fn uploads_refuse_unsafe_names_and_need_the_admin_token() {
    let api = Api::start().await;
    api.admin_post(
        "/v1/admin/products",
        json!({ "slug": "app", "name": "App", "kind": "download", "max_activations": 1 }),
    )
    .await;
    for name in ["..%2Fescape", "a%2Fb", "%2E%2E", ""] {
        let (status, body) = api.upload("app", name, "x").await;
        assert_error(status, &body, 400, "INVALID_REQUEST");
    }
    let res = api
        .http
        .post(api.server.url("/v1/admin/products/app/files?name=x"))
        .body("x")
        .send()
        .await
        .expect("upload");
    let (status, body) = decode(res).await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    let (_, files) = api.admin_get("/v1/admin/products/app/files").await;
    assert_eq!(files["items"], json!([]));
}

#[tokio::test]
async fn the_delivery_email_carries_working_download_links() {
    let api = Api::start().await;
    let (_, _, bytes) = bought(&api).await;
    let mail = api.mails(1).await.pop().unwrap_or_default();
    let url = url_in(&mail, "/v1/downloads/").expect("a download link in the email");
    let res = get(&api, &url, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.expect("body").len(), bytes.len());
    // The outbox row is marked sent, its body dropped, just after the message is written.
    let scrubbed = eventually(async || {
        let mails = api
            .server
            .store()
            .mail_to("dl@example.com")
            .await
            .expect("outbox");
        mails
            .first()
            .is_some_and(|m| m.body_text == "(delivered)")
            .then_some(())
    })
    .await;
    assert!(
        scrubbed.is_some(),
        "the token is not kept in the outbox once sent"
    );
}

#[tokio::test]
async fn stateless_signed_urls_serve_free_files_until_they_expire() {
    let api = Api::start().await;
    bought(&api).await;
    let (_, files) = api.admin_get("/v1/admin/products/app/files").await;
    let file_id = files["items"][0]["id"]
        .as_str()
        .expect("file id")
        .to_owned();
    let (status, link) = api
        .admin_post(
            &format!("/v1/admin/files/{file_id}/signed-url"),
            json!({ "expires_in": 60 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let url = str_of(&link, "url");
    let res = get(&api, &url, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.expect("body").len(), 300_000);
    assert_eq!(
        get(&api, &url, Some("bytes=10-19")).await.status(),
        StatusCode::PARTIAL_CONTENT
    );

    let sig_at = url.find("sig=").expect("sig") + 4;
    let mut bad_sig = url.clone();
    bad_sig.replace_range(
        sig_at..sig_at + 1,
        if &url[sig_at..sig_at + 1] == "0" {
            "1"
        } else {
            "0"
        },
    );
    let expires: i64 = link["expires_at"].as_i64().expect("expires");
    let longer = url.replace(
        &format!("expires={expires}"),
        &format!("expires={}", expires + 3600),
    );
    let other_kid = url.replace("kid=k1", "kid=k9");
    let no_sig = url[..url.find("&sig=").expect("sig")].to_owned();
    for forged in [bad_sig, longer, other_kid, no_sig] {
        let (status, body) = decode(get(&api, &forged, None).await).await;
        assert_error(status, &body, 403, "FORBIDDEN");
    }
    api.server.clock.advance(61);
    let (status, body) = decode(get(&api, &url, None).await).await;
    assert_error(status, &body, 410, "LINK_EXPIRED");
}
