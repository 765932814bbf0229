//! Releases in the pages: the vendor's releases page (create, upload, publish, yank through
//! forms, each with its CSRF token), download counts on the overview, the release fields
//! of the product and license pages, and the customer portal's downloads of what a
//! license covers, with what a renewal would add.

use licet_server::testkit::internals::dates;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::portal::{ask_for_link, follow_sign_in_link, portal_csrf, sign_in_link};
use crate::release_fixtures::*;
use crate::support::*;

const DAY: i64 = 86_400;
const LINUX: &str = "linux-x86_64";
const WINDOWS: &str = "windows-x86_64";

/// `app`'s releases as the admin API lists them.
async fn releases(api: &Api) -> Vec<Value> {
    let (status, body) = api.admin_get("/v1/admin/products/app/releases").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().expect("items").clone()
}

/// The release of `app` with this version, from the admin API.
async fn release(api: &Api, version: &str) -> Value {
    releases(api)
        .await
        .into_iter()
        .find(|r| r["version"] == version)
        .unwrap_or_else(|| panic!("no release {version}"))
}

/// The dashboard's upload form, as a browser sends it: token first, file last.
fn upload_form(
    csrf: &str,
    platform: &str,
    signature: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("csrf", csrf.to_owned())
        .text("platform", platform.to_owned())
        .text("signature", signature.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_owned())
                .mime_str("application/octet-stream")
                .expect("mime"),
        )
}

/// Posts an upload form to the dashboard: status and HTML.
async fn upload(
    b: &reqwest::Client,
    api: &Api,
    release_id: &str,
    form: reqwest::multipart::Form,
) -> (StatusCode, String) {
    let res = b
        .post(
            api.server
                .url(&format!("/admin/releases/app/{release_id}/files")),
        )
        .multipart(form)
        .send()
        .await
        .expect("upload");
    (res.status(), res.text().await.expect("html"))
}

/// The download links of a portal page, in page order.
fn download_links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| href.contains("/v1/releases/artifacts/"))
        .map(|href| href.replace("&amp;", "&"))
        .collect()
}

#[tokio::test]
async fn the_releases_page_lists_what_the_admin_api_published() {
    let api = Api::start().await;
    product(&api, json!({ "maintenance_secs": 365 * DAY })).await;
    published(&api, "1.0.0", json!({}), &[LINUX, WINDOWS]).await;
    published(&api, "1.1.0-beta.1", json!({ "channel": "beta" }), &[LINUX]).await;
    draft(&api, "1.1.0", json!({ "entitlement": "pro" }), &[]).await;
    let (b, _) = signed_in(&api).await;

    let (status, html) = get_page(&b, &api, "/admin/releases").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(">Releases</strong>"),
        "the nav marks the page: {html}"
    );
    assert!(html.contains("href=\"/admin/releases/app\""), "{html}");
    assert!(
        html.contains("1.1.0-beta.1"),
        "the newest published: {html}"
    );

    let (status, html) = get_page(&b, &api, "/admin/releases/app").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Releases of App</h1>"), "{html}");
    assert!(
        html.contains("first 365 days"),
        "the product's policy: {html}"
    );
    let stable = release(&api, "1.0.0").await;
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle} is on the page: {html}"))
    };
    // Newest version first; each with its state, channel and files.
    assert!(at("id=\"release-1.1.0\"") < at("id=\"release-1.1.0-beta.1\""));
    assert!(at("id=\"release-1.1.0-beta.1\"") < at("id=\"release-1.0.0\""));
    assert!(html.contains("status-draft") && html.contains("status-published"));
    assert!(html.contains("<code>beta</code>") && html.contains("needs <code>pro</code>"));
    for artifact in stable["artifacts"].as_array().expect("files") {
        let sha = str_of(artifact, "sha256");
        assert!(
            html.contains(&format!("title=\"{sha}\">{}…", &sha[..12])),
            "{html}"
        );
        assert!(html.contains(&str_of(artifact, "platform")));
    }
    assert_eq!(bytes_of("1.0.0", LINUX).len(), 115_000);
    assert!(html.contains("112.3 KiB"), "sizes for people: {html}");
    // A draft can be published; a published release yanked; nothing else is offered.
    assert_eq!(html.matches(">Publish</button>").count(), 1, "{html}");
    assert_eq!(html.matches(">Yank</button>").count(), 2, "{html}");

    let (status, _) = get_page(&b, &api, "/admin/releases/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_vendor_creates_uploads_publishes_and_yanks_a_release_through_the_forms() {
    let api = Api::start().await;
    product(&api, json!({})).await;
    let (b, csrf) = signed_in(&api).await;

    // A refused version comes back with the reason and what was typed.
    let mut create = vec![
        ("csrf", csrf.as_str()),
        ("version", "1.2"),
        ("channel", "beta"),
        ("notes", "Faster sync.\r\nDark mode."),
        ("entitlement", "pro"),
    ];
    let (status, html, _) = post_form(&b, &api, "/admin/releases/app", &create).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("semantic version"), "{html}");
    assert!(
        html.contains("value=\"1.2\"") && html.contains("Faster sync."),
        "{html}"
    );
    assert!(releases(&api).await.is_empty());

    create[1] = ("version", "1.2.0");
    let (status, _, location) = post_form(&b, &api, "/admin/releases/app", &create).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/admin/releases/app?saved=1"));
    let created = release(&api, "1.2.0").await;
    assert_eq!(created["state"], "draft");
    assert_eq!(created["channel"], "beta");
    assert_eq!(created["notes"], "Faster sync.\nDark mode.");
    assert_eq!(created["entitlement"], "pro");
    let id = str_of(&created, "id");

    // Publishing a draft without files is refused, and says why.
    let (status, html, _) = post_form(
        &b,
        &api,
        &format!("/admin/releases/app/{id}/publish"),
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("at least one file"), "{html}");

    // Files through the multipart form: a signed Linux file and a Windows one.
    let linux = bytes_of("1.2.0", LINUX);
    let signature = "untrusted comment: signature from tauri secret key\r\nRUSsig==";
    let (status, html) = upload(
        &b,
        &api,
        &id,
        upload_form(&csrf, LINUX, signature, "App.AppImage", linux.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let windows = bytes_of("1.2.0", WINDOWS);
    let (status, html) = upload(
        &b,
        &api,
        &id,
        upload_form(&csrf, WINDOWS, "", "App Setup.exe", windows.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    // A bad platform is refused with the domain's reason; nothing is attached.
    let (status, html) = upload(
        &b,
        &api,
        &id,
        upload_form(&csrf, "Linux 64", "", "x.bin", b"x".to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("os-arch"), "{html}");

    let files = release(&api, "1.2.0").await["artifacts"].clone();
    assert_eq!(files.as_array().map(Vec::len), Some(2), "{files}");
    assert_eq!(files[0]["platform"], LINUX);
    assert_eq!(files[0]["name"], "App.AppImage");
    assert_eq!(files[0]["size"], linux.len());
    assert_eq!(
        files[0]["signature"], "untrusted comment: signature from tauri secret key\nRUSsig==",
        "the signature's text, with the browser's line ends undone"
    );
    assert_eq!(files[1]["platform"], WINDOWS);
    assert_eq!(files[1]["name"], "App Setup.exe");
    assert_eq!(files[1]["signature"], Value::Null);

    let (status, _, location) = post_form(
        &b,
        &api,
        &format!("/admin/releases/app/{id}/publish"),
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/admin/releases/app?saved=1"));
    let shown = release(&api, "1.2.0").await;
    assert_eq!(shown["state"], "published");
    assert!(shown["published_at"].as_i64().is_some());

    // A published platform's file is fixed: the form says so.
    let (status, html) = upload(
        &b,
        &api,
        &id,
        upload_form(&csrf, LINUX, "", "Other.AppImage", b"other".to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("fixed"), "{html}");

    let (status, _, _) = post_form(
        &b,
        &api,
        &format!("/admin/releases/app/{id}/yank"),
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(release(&api, "1.2.0").await["state"], "yanked");
    let (_, html) = get_page(&b, &api, "/admin/releases/app?saved=1").await;
    assert!(
        html.contains("status-yanked") && html.contains("Saved."),
        "{html}"
    );
    assert!(
        !html.contains(">Upload</button>"),
        "a yanked release takes no files: {html}"
    );
}

#[tokio::test]
async fn release_forms_without_the_sessions_token_change_nothing() {
    let api = Api::start().await;
    product(&api, json!({})).await;
    api.admin_post(
        "/v1/admin/products",
        json!({ "slug": "other", "name": "Other", "max_activations": 1 }),
    )
    .await;
    let draft_id = draft(&api, "1.0.0", json!({}), &[LINUX]).await;
    let live_id = published(&api, "0.9.0", json!({}), &[LINUX]).await;
    let (b, csrf) = signed_in(&api).await;

    for token in ["", "forged"] {
        let (status, _, _) = post_form(
            &b,
            &api,
            "/admin/releases/app",
            &[("csrf", token), ("version", "2.0.0")],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        for (id, action) in [(&draft_id, "publish"), (&live_id, "yank")] {
            let path = format!("/admin/releases/app/{id}/{action}");
            let (status, _, _) = post_form(&b, &api, &path, &[("csrf", token)]).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{action} with {token:?}");
        }
        let (status, _) = upload(
            &b,
            &api,
            &draft_id,
            upload_form(token, WINDOWS, "", "App.exe", b"forged".to_vec()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _, _) = post_form(&b, &api, "/admin/releases/app", &[("version", "2.0.0")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token at all");
    let all = releases(&api).await;
    assert_eq!(all.len(), 2, "nothing created");
    assert_eq!(release(&api, "1.0.0").await["state"], "draft");
    assert_eq!(
        release(&api, "1.0.0").await["artifacts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(release(&api, "0.9.0").await["state"], "published");

    // Signed out, the pages send the browser to sign in and a post is refused as such; a
    // release is acted on only under its own product.
    let signed_out = browser();
    for path in ["/admin/releases", "/admin/releases/app"] {
        let res = signed_out
            .get(api.server.url(path))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(res.headers()["location"], "/admin", "{path}");
    }
    let path = format!("/admin/releases/app/{draft_id}/publish");
    let (status, html, _) = post_form(&signed_out, &api, &path, &[("csrf", "x")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{html}");
    let path = format!("/admin/releases/other/{draft_id}/publish");
    let (status, _, _) = post_form(&b, &api, &path, &[("csrf", csrf.as_str())]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(release(&api, "1.0.0").await["state"], "draft");
}

#[tokio::test]
async fn the_overview_and_the_releases_page_count_downloads_per_release_and_platform() {
    let api = Api::start().await;
    product(&api, json!({})).await;
    published(&api, "1.0.0", json!({}), &[LINUX, WINDOWS]).await;
    let (b, _) = signed_in(&api).await;
    let (_, html) = get_page(&b, &api, "/admin").await;
    assert!(html.contains("Release downloads"), "{html}");

    // An app on 0.9.0 checks for updates and downloads what it is offered.
    let (_, key) = api.license("app").await;
    assert_eq!(api.activate(&key, "v1:machine-a").await.0, StatusCode::OK);
    let res = api
        .http
        .get(api.server.url(&format!(
            "/v1/releases/latest?product=app&platform={LINUX}&version=0.9.0"
        )))
        .header("licet-license-key", &key)
        .header("licet-fingerprint", "v1:machine-a")
        .send()
        .await
        .expect("check");
    let (status, offer) = decode(res).await;
    assert_eq!(status, StatusCode::OK, "{offer}");
    let url = str_of(&offer["artifact"], "url");
    let got = api.http.get(&url).send().await.expect("download");
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.expect("bytes"), bytes_of("1.0.0", LINUX));

    let (_, html) = get_page(&b, &api, "/admin").await;
    let row = |platform: &str, count: u32| {
        format!("<td>1.0.0</td><td><code>{platform}</code></td><td>{count}</td>")
    };
    assert!(html.contains(&row(LINUX, 1)), "{html}");
    assert!(html.contains(&row(WINDOWS, 0)), "{html}");
    assert_eq!(html.matches("<svg").count(), 3, "the charts are unchanged");
    // On the releases page: (signed, downloads) per file, Linux first.
    let (_, html) = get_page(&b, &api, "/admin/releases/app").await;
    let linux = html
        .find("<td>no</td><td>1</td>")
        .expect("Linux: one download");
    let windows = html.find("<td>no</td><td>0</td>").expect("Windows: none");
    assert!(linux < windows, "{html}");
}

#[tokio::test]
async fn the_product_and_license_pages_set_the_updates_period_and_the_end_of_updates() {
    let api = Api::start().await;
    let (b, csrf) = signed_in(&api).await;
    let form = [
        ("csrf", csrf.as_str()),
        ("slug", "app"),
        ("kind", "license"),
        ("name", "App"),
        ("max_activations", "2"),
        ("token_days", "7"),
        ("download_limit", "5"),
        ("maintenance_days", "365"),
        ("trial_updates", "1"),
    ];
    let (status, html, _) = post_form(&b, &api, "/admin/products", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, p) = api.admin_get("/v1/admin/products/app").await;
    assert_eq!(p["maintenance_secs"], 365 * DAY);
    assert_eq!(p["trial_updates"], true);
    let (_, html) = get_page(&b, &api, "/admin/products/app").await;
    assert!(
        html.contains(
            "id=\"maintenance_days\" name=\"maintenance_days\" inputmode=\"numeric\" value=\"365\""
        ),
        "{html}"
    );
    assert!(
        html.contains("name=\"trial_updates\" value=\"1\" checked"),
        "{html}"
    );

    // Emptied and unticked: until each license expires, and no updates for trials.
    let edit = [
        ("csrf", csrf.as_str()),
        ("kind", "license"),
        ("name", "App"),
        ("max_activations", "2"),
        ("token_days", "7"),
        ("download_limit", "5"),
        ("maintenance_days", ""),
    ];
    let (status, html, _) = post_form(&b, &api, "/admin/products/app", &edit).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, p) = api.admin_get("/v1/admin/products/app").await;
    assert_eq!(p["maintenance_secs"], Value::Null);
    assert_eq!(p["trial_updates"], false);

    // A license's end of updates: shown, set to a date, refused when not one, then cleared.
    let (id, _) = api.license("app").await;
    let page = format!("/admin/licenses/{id}");
    let (_, html) = get_page(&b, &api, &page).await;
    assert!(
        html.contains("Updates until") && html.contains("every release"),
        "{html}"
    );
    let action = format!("/admin/licenses/{id}/updates");
    let set = [("csrf", csrf.as_str()), ("updates_until", "2031-06-30")];
    let (status, _, location) = post_form(&b, &api, &action, &set).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(page.as_str()));
    let (_, lic) = api.admin_get(&format!("/v1/admin/licenses/{id}")).await;
    assert_eq!(lic["updates_until"], 1_940_544_000, "2031-06-30 00:00 UTC");
    let (_, html) = get_page(&b, &api, &page).await;
    assert!(
        html.contains("releases published until 2031-06-30"),
        "{html}"
    );

    let bad = [("csrf", csrf.as_str()), ("updates_until", "next year")];
    let (status, html, _) = post_form(&b, &api, &action, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("the end of updates as a date") && html.contains("value=\"next year\""),
        "{html}"
    );

    let clear = [
        ("csrf", csrf.as_str()),
        ("updates_until", ""),
        ("follow_expiry", "1"),
    ];
    let (status, _, _) = post_form(&b, &api, &action, &clear).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, lic) = api.admin_get(&format!("/v1/admin/licenses/{id}")).await;
    assert_eq!(
        lic["updates_until"],
        Value::Null,
        "a perpetual license: every release"
    );

    let forged = [("csrf", "forged"), ("updates_until", "2020-01-01")];
    let (status, _, _) = post_form(&b, &api, &action, &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, lic) = api.admin_get(&format!("/v1/admin/licenses/{id}")).await;
    assert_eq!(lic["updates_until"], Value::Null);
}

#[tokio::test]
async fn the_portal_offers_the_releases_a_license_covers_and_says_what_renewing_adds() {
    let api = Api::start().await;
    // Each license gets 30 days of updates; the customer's has the `pro` entitlement.
    product(&api, json!({ "maintenance_secs": 30 * DAY })).await;
    published(&api, "1.0.0", json!({}), &[LINUX, WINDOWS]).await;
    published(&api, "1.1.0-beta.1", json!({ "channel": "beta" }), &[LINUX]).await;
    published(
        &api,
        "1.1.0",
        json!({ "entitlement": "enterprise" }),
        &[LINUX],
    )
    .await;
    let yanked = published(&api, "1.0.1", json!({}), &[LINUX]).await;
    api.admin_post(&format!("/v1/admin/releases/{yanked}/yank"), json!({}))
        .await;
    draft(&api, "1.2.0", json!({}), &[LINUX]).await;
    let purchase = api.grant("ada@example.com", &["app"]).await;
    // Two months on: the license's updates ended a month ago; 2.0.0 and 2.1.0 come out.
    api.server.clock.advance(60 * DAY);
    published(&api, "2.0.0", json!({}), &[LINUX]).await;
    published(&api, "2.1.0", json!({}), &[LINUX]).await;
    let newest = release(&api, "2.1.0").await;

    let b = browser();
    let csrf = portal_csrf(&b, &api).await;
    ask_for_link(&b, &api, "ada@example.com", &csrf).await;
    let link = sign_in_link(&api, "ada@example.com")
        .await
        .expect("a sign-in email");
    assert_eq!(
        follow_sign_in_link(&b, &link).await.status(),
        StatusCode::SEE_OTHER
    );
    let path = format!("/portal/purchases/{}", str_of(&purchase, "id"));
    let (status, html) = get_page(&b, &api, &path).await;
    assert_eq!(status, StatusCode::OK);

    // Covered, newest first, on any channel; not the yanked, draft, entitled or later ones.
    let at = |needle: &str| html.find(needle);
    let beta = at("<strong>1.1.0-beta.1</strong> (beta)").expect("the beta release");
    let stable = at("<strong>1.0.0</strong>").expect("1.0.0");
    assert!(beta < stable, "newest first: {html}");
    for absent in [
        "<strong>1.1.0</strong>",
        "<strong>1.0.1</strong>",
        "<strong>1.2.0</strong>",
    ] {
        assert!(at(absent).is_none(), "{absent} is not offered: {html}");
    }
    assert!(html.contains("What is new in 1.0.0"), "{html}");
    let published_on = dates::date(newest["published_at"].as_i64().expect("date"));
    assert!(
        html.contains(&format!(
            "Renew to get <strong>2.1.0</strong>, published {published_on} (and 1 more release)."
        )),
        "{html}"
    );

    // Every link downloads the right bytes, and counts.
    let links = download_links(&html);
    assert_eq!(links.len(), 3, "{html}");
    assert!(links.iter().all(|l| l.contains("expires=")), "{links:?}");
    let expected = [
        bytes_of("1.1.0-beta.1", LINUX),
        bytes_of("1.0.0", LINUX),
        bytes_of("1.0.0", WINDOWS),
    ];
    for (url, want) in links.iter().zip(expected) {
        let res = api.http.get(url).send().await.expect("download");
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        assert_eq!(res.bytes().await.expect("bytes"), want, "{url}");
    }
    let counted = release(&api, "1.0.0").await;
    assert_eq!(counted["artifacts"][0]["downloads"], 1);

    // Renewed for good: every release is the license's, and there is nothing to renew for.
    let license = purchase["licenses"][0].as_str().expect("license");
    api.admin(
        reqwest::Method::PATCH,
        &format!("/v1/admin/licenses/{license}"),
        Some(json!({ "updates_until": null })),
    )
    .await;
    let (_, html) = get_page(&b, &api, &path).await;
    assert!(html.contains("<strong>2.1.0</strong>"), "{html}");
    assert!(!html.contains("Renew to get"), "{html}");
    // A suspended license downloads nothing.
    api.admin_post(&format!("/v1/admin/licenses/{license}/suspend"), json!({}))
        .await;
    let (_, html) = get_page(&b, &api, &path).await;
    assert!(html.contains("This license is suspended."), "{html}");
    assert!(download_links(&html).is_empty(), "{html}");
}
