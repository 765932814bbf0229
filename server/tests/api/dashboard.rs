//! The vendor dashboard: sign-in by admin token or password, sessions and CSRF, products,
//! purchases and licenses through forms, escaped output, charts.

use licet_proto::admin::PurchaseStatus;
use licet_server::testkit::internals::sales::{self, NewPurchase};
use licet_server::testkit::internals::sessions::{self, Kind};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn every_dashboard_page_needs_an_admin_session() {
    let api = Api::start().await;
    let b = browser();
    for path in [
        "/admin/products",
        "/admin/products/new",
        "/admin/products/photo",
        "/admin/purchases",
        "/admin/purchases/pur_x",
        "/admin/licenses",
        "/admin/licenses/lic_x",
        "/admin/emails",
    ] {
        let res = b.get(api.server.url(path)).send().await.expect("get");
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(res.headers()["location"], "/admin", "{path}");
    }
    for path in [
        "/admin/products",
        "/admin/licenses",
        "/admin/licenses/lic_x/revoke",
        "/admin/purchases/pur_x/fulfil",
        "/admin/emails/msg_x/retry",
    ] {
        let (status, html, _) = post_form(&b, &api, path, &[("csrf", "x")]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {html}");
        assert!(html.contains("sign in again"), "{html}");
    }
    // A customer's session does not open the dashboard, even under the admin cookie.
    let customer = sessions::start(&api.server.app, Kind::Customer, "ada@example.com", 600)
        .await
        .expect("session");
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(api.server.url("/admin/licenses"))
        .header("cookie", format!("licet_admin={}", customer.cookie))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_vendor_creates_and_edits_a_product_and_a_refused_form_keeps_its_input() {
    let api = Api::start().await;
    let (b, csrf) = signed_in(&api).await;
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("slug", "photo-pro"),
        ("kind", "license"),
        ("name", "Photo <b>Pro</b>"),
        ("max_activations", "three"),
        ("license_days", ""),
        ("token_days", "7"),
        ("entitlements", "export, raw"),
        ("download_limit", "5"),
        ("stripe_price_ids", ""),
        ("access_url", ""),
    ];
    let (status, html, _) = post_form(&b, &api, "/admin/products", &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("Machines per license must be a whole number"),
        "{html}"
    );
    assert!(html.contains("value=\"photo-pro\""), "input kept: {html}");
    assert!(html.contains("value=\"three\""), "input kept: {html}");
    assert!(
        html.contains("Photo &lt;b&gt;Pro&lt;/b&gt;"),
        "escaped: {html}"
    );
    assert_eq!(
        api.admin_get("/v1/admin/products").await.1["items"],
        json!([])
    );

    form[4] = ("max_activations", "3");
    let (status, _, location) = post_form(&b, &api, "/admin/products", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/admin/products/photo-pro?saved=1")
    );
    let (_, p) = api.admin_get("/v1/admin/products/photo-pro").await;
    assert_eq!(p["max_activations"], 3);
    assert_eq!(p["entitlements"], json!(["export", "raw"]));
    assert_eq!(p["license_duration_secs"], json!(null));

    // "new" names the create form, so it is no product's slug.
    let mut reserved = form.clone();
    reserved[1] = ("slug", "new");
    let (status, html, _) = post_form(&b, &api, "/admin/products", &reserved).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("reserved"), "{html}");

    // The same slug again is refused with the domain's message.
    let (status, html, _) = post_form(&b, &api, "/admin/products", &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("role=\"alert\""), "{html}");

    let edit = [
        ("csrf", csrf.as_str()),
        ("name", "Photo Pro"),
        ("max_activations", "5"),
        ("license_days", "365"),
        ("token_days", "14"),
        ("entitlements", "export"),
        ("download_limit", "3"),
        ("stripe_price_ids", "price_123"),
    ];
    let (status, _, _) = post_form(&b, &api, "/admin/products/photo-pro", &edit).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, p) = api.admin_get("/v1/admin/products/photo-pro").await;
    assert_eq!(p["max_activations"], 5);
    assert_eq!(p["license_duration_secs"], 365 * 86_400);
    assert_eq!(p["token_lifetime_secs"], 14 * 86_400);
    assert_eq!(p["stripe_price_ids"], json!(["price_123"]));
    let (status, html) = get_page(&b, &api, "/admin/products/photo-pro?saved=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Saved."));

    // An access product's link is edited with its policy, and the rest of its metadata kept.
    api.admin_post(
        "/v1/admin/products",
        json!({ "slug": "course", "name": "Course", "kind": "access", "max_activations": 1,
                "metadata": { "access_url": "https://old.example.com", "team": "edu" } }),
    )
    .await;
    let (_, html) = get_page(&b, &api, "/admin/products/course").await;
    assert!(html.contains("value=\"https://old.example.com\""), "{html}");
    let course = [
        ("csrf", csrf.as_str()),
        ("kind", "access"),
        ("name", "Course"),
        ("max_activations", "1"),
        ("license_days", ""),
        ("token_days", "7"),
        ("entitlements", ""),
        ("download_limit", "5"),
        ("stripe_price_ids", ""),
        ("access_url", "https://learn.example.com"),
    ];
    let (status, _, _) = post_form(&b, &api, "/admin/products/course", &course).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, p) = api.admin_get("/v1/admin/products/course").await;
    assert_eq!(
        p["metadata"],
        json!({ "access_url": "https://learn.example.com", "team": "edu" })
    );

    // A forged CSRF token changes nothing.
    let mut forged = edit;
    forged[0] = ("csrf", "forged");
    forged[2] = ("max_activations", "99");
    let (status, _, _) = post_form(&b, &api, "/admin/products/photo-pro", &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        api.admin_get("/v1/admin/products/photo-pro").await.1["max_activations"],
        5
    );

    // Unknown form fields are refused, not ignored.
    let (status, _, _) = post_form(
        &b,
        &api,
        "/admin/products/photo-pro",
        &[("csrf", csrf.as_str()), ("name", "x"), ("is_admin", "1")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_vendor_attaches_a_file_with_the_sessions_form_token() {
    let api = Api::start().await;
    api.product("photo", 1).await;
    let (b, csrf) = signed_in(&api).await;
    let upload = |csrf: String| {
        reqwest::multipart::Form::new().text("csrf", csrf).part(
            "file",
            reqwest::multipart::Part::bytes(b"installer bytes".to_vec())
                .file_name("Photo Setup.exe")
                .mime_str("application/octet-stream")
                .expect("mime"),
        )
    };
    let res = b
        .post(api.server.url("/admin/products/photo/files"))
        .multipart(upload("forged".into()))
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (_, files) = api.admin_get("/v1/admin/products/photo/files").await;
    assert_eq!(files["items"], json!([]));

    let res = b
        .post(api.server.url("/admin/products/photo/files"))
        .multipart(upload(csrf))
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, files) = api.admin_get("/v1/admin/products/photo/files").await;
    assert_eq!(files["items"][0]["name"], "Photo Setup.exe");
    assert_eq!(files["items"][0]["size"], 15);
    let (_, html) = get_page(&b, &api, "/admin/products/photo").await;
    assert!(html.contains("Photo Setup.exe"));
}

#[tokio::test]
async fn a_vendor_issues_finds_suspends_extends_and_revokes_a_license_and_frees_a_seat() {
    let api = Api::start().await;
    api.product("photo", 2).await;
    let (b, csrf) = signed_in(&api).await;

    let (status, html, _) = post_form(
        &b,
        &api,
        "/admin/licenses",
        &[
            ("csrf", &csrf),
            ("product", "photo"),
            ("email", "not an email"),
            ("expires", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("value=\"not an email\""),
        "input kept: {html}"
    );

    let (status, _, location) = post_form(
        &b,
        &api,
        "/admin/licenses",
        &[
            ("csrf", &csrf),
            ("product", "photo"),
            ("email", "ada@example.com"),
            ("expires", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let page = location.expect("license page");
    let id = page.rsplit('/').next().expect("id").to_owned();
    let (_, lic) = api.admin_get(&format!("/v1/admin/licenses/{id}")).await;
    let key = str_of(&lic, "key");
    assert_eq!(api.activate(&key, "v1:fpr-one").await.0, StatusCode::OK);

    // Found by key (in any case) and by email.
    for q in [key.to_lowercase(), "ada@example.com".into()] {
        let (status, html) = get_page(&b, &api, &format!("/admin/licenses?q={q}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(&key), "{q}: {html}");
    }
    let (_, html) = get_page(&b, &api, "/admin/licenses?q=bob@example.com").await;
    assert!(html.contains("No licenses match."));

    let (_, html) = get_page(&b, &api, &page).await;
    assert!(html.contains("1 of 2"), "{html}");
    let act_id = html
        .split("/activations/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("a remove form")
        .to_owned();

    for (action, status) in [("suspend", "SUSPENDED"), ("reinstate", "ACTIVE")] {
        let (s, _, _) = post_form(&b, &api, &format!("{page}/{action}"), &[("csrf", &csrf)]).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{action}");
        assert_eq!(
            api.admin_get(&format!("/v1/admin/licenses/{id}")).await.1["status"],
            status
        );
    }

    let (s, html, _) = post_form(
        &b,
        &api,
        &format!("{page}/extend"),
        &[("csrf", &csrf), ("expires", "2031-02-30")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("value=\"2031-02-30\""), "input kept: {html}");
    let (s, _, _) = post_form(
        &b,
        &api,
        &format!("{page}/extend"),
        &[("csrf", &csrf), ("expires", "2031-01-15")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, lic) = api.admin_get(&format!("/v1/admin/licenses/{id}")).await;
    assert_eq!(lic["expires_at"], 1_926_201_600);
    let (s, _, _) = post_form(
        &b,
        &api,
        &format!("{page}/extend"),
        &[("csrf", &csrf), ("expires", ""), ("perpetual", "1")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        api.admin_get(&format!("/v1/admin/licenses/{id}")).await.1["expires_at"],
        json!(null)
    );

    let (s, _, _) = post_form(
        &b,
        &api,
        &format!("{page}/activations/{act_id}/remove"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(live_seats(&api, &id).await, 0);
    assert_eq!(
        api.validate(&key, "v1:fpr-one").await.1["error"]["code"],
        "NOT_ACTIVATED"
    );

    let (s, _, _) = post_form(&b, &api, &format!("{page}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (status, body) = api.activate(&key, "v1:fpr-two").await;
    assert_error(status, &body, 403, "LICENSE_REVOKED");
    let (_, html) = get_page(&b, &api, &page).await;
    assert!(html.contains("status-REVOKED"));
    assert!(
        !html.contains("/reinstate\""),
        "no way back from revoked: {html}"
    );

    // Every change is in the audit log under the dashboard session's actor.
    let (_, audit) = api
        .admin_get(&format!("/v1/admin/audit?subject={id}"))
        .await;
    let actors: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["actor"].as_str())
        .collect();
    assert!(actors.iter().all(|a| *a == "admin:env"), "{actors:?}");
}

#[tokio::test]
async fn purchases_are_searched_and_a_failed_fulfilment_is_retried_from_its_page() {
    let api = Api::start().await;
    api.product("photo", 1).await;
    api.admin_post(
        "/v1/admin/purchases",
        json!({ "email": "ada@example.com", "products": ["photo"], "amount": 4900, "currency": "eur" }),
    )
    .await;
    let app = &api.server.app;
    let failed = sales::record(
        app,
        "test",
        &NewPurchase {
            email: "bob@example.com".into(),
            products: vec!["video".into()],
            amount: Some(1900),
            currency: Some("eur".into()),
            provider: "stripe".into(),
            session_id: Some("cs_test_1".into()),
            payment_id: Some("pi_test_1".into()),
            status: PurchaseStatus::Completed,
        },
    )
    .await
    .expect("recorded");
    assert!(
        sales::fulfil(
            app,
            licet_server::testkit::internals::Actor::System,
            &failed.id
        )
        .await
        .is_err()
    );

    let (b, csrf) = signed_in(&api).await;
    let (_, html) = get_page(&b, &api, "/admin/purchases?email=ada@example.com").await;
    assert!(html.contains("ada@example.com") && !html.contains("bob@example.com"));
    let (_, html) = get_page(&b, &api, "/admin/purchases?failed=1").await;
    assert!(html.contains("bob@example.com") && !html.contains("ada@example.com"));
    let (_, html) = get_page(&b, &api, "/admin/purchases?status=REFUNDED").await;
    assert!(html.contains("No purchases match."));
    let today = licet_server::testkit::internals::dates::date(api.server.clock_now());
    let (_, html) = get_page(
        &b,
        &api,
        &format!("/admin/purchases?from={today}&to={today}"),
    )
    .await;
    assert!(html.contains("ada@example.com") && html.contains("bob@example.com"));
    let (_, html) = get_page(&b, &api, "/admin/purchases?to=2000-01-01").await;
    assert!(html.contains("No purchases match."));
    let (status, html) = get_page(&b, &api, "/admin/purchases?from=someday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("From must be a date"));

    let page = format!("/admin/purchases/{}", failed.id);
    let (_, html) = get_page(&b, &api, &page).await;
    assert!(
        html.contains("failed: ") && html.contains("video"),
        "{html}"
    );
    assert!(html.contains("Retry fulfilment"));
    api.product("video", 1).await;
    let (s, _, _) = post_form(&b, &api, &format!("{page}/fulfil"), &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = get_page(&b, &api, &page).await;
    assert!(!html.contains("Retry fulfilment"), "{html}");
    assert!(
        html.contains("/admin/licenses/"),
        "the minted license is linked: {html}"
    );
}

#[tokio::test]
async fn the_overview_draws_sales_activations_and_licenses_by_product_as_svg() {
    let api = Api::start().await;
    api.product("photo", 3).await;
    let (_, key) = api.license("photo").await;
    assert_eq!(api.activate(&key, "v1:fpr-a").await.0, StatusCode::OK);
    api.grant("ada@example.com", &["photo"]).await;
    let (b, _) = signed_in(&api).await;
    let (_, html) = get_page(&b, &api, "/admin").await;
    assert_eq!(html.matches("<svg").count(), 3, "{html}");
    assert!(
        html.contains("1 in the last 30 days"),
        "sales and activations: {html}"
    );
    assert!(
        html.contains("<strong>2</strong> active licenses of 2"),
        "{html}"
    );
    assert!(html.contains("photo app: 2"), "by product: {html}");
    assert!(
        html.contains("<strong>1</strong> machines activated"),
        "{html}"
    );
}

/// Amounts are whatever a provider or a vendor sends, up to `i64::MAX` each; their sum used
/// to overflow in the database and turn the overview into a 500 for good.
#[tokio::test]
async fn the_overview_sums_revenue_without_overflow_however_large_the_amounts() {
    let api = Api::start().await;
    api.product("photo", 3).await;
    for amount in [i64::MAX, i64::MAX, 1] {
        let (status, body) = api
            .admin_post(
                "/v1/admin/purchases",
                json!({ "email": "big@example.com", "products": ["photo"], "amount": amount, "currency": "usd" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (b, _) = signed_in(&api).await;
    let (status, html) = get_page(&b, &api, "/admin").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    // 2 × (2^63 − 1) + 1 = 2^64 − 1 = 18446744073709551615 cents.
    assert!(
        html.contains("184467440737095516.15 USD in the last 30 days"),
        "{html}"
    );
}

#[tokio::test]
async fn the_trials_page_and_the_overview_show_trials_and_their_conversion() {
    let api = Api::start().await;
    let (status, body) = api
        .admin_post(
            "/v1/admin/products",
            json!({ "slug": "photo", "name": "Photo", "max_activations": 2,
                    "trial": { "duration_secs": 14 * 86_400 } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for fpr in ["v1:a", "v1:b", "v1:c", "v1:d"] {
        let (status, _) = api
            .post(
                "/v1/trials/activate",
                json!({ "product": "photo", "fingerprint": fpr, "name": format!("machine {fpr}") }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, key) = api.license("photo").await;
    assert_eq!(api.activate(&key, "v1:a").await.0, StatusCode::OK);
    // The other three end unconverted: one of four ended trials converted.
    api.server.clock.advance(15 * 86_400);

    let (b, _) = signed_in(&api).await;
    let html = html_of(&b, &api.server.url("/admin/trials")).await;
    assert!(html.contains("machine v1:b"), "{html}");
    assert!(
        html.contains("<td class=\"conversion\">25%</td>"),
        "1 of 4 ended: {html}"
    );
    let converted = html_of(&b, &api.server.url("/admin/trials?state=converted")).await;
    assert!(converted.contains("machine v1:a") && !converted.contains("machine v1:b"));
    let overview = html_of(&b, &api.server.url("/admin")).await;
    assert!(overview.contains("Trials and conversion"), "{overview}");
    let bad = b
        .get(api.server.url("/admin/trials?state=nope"))
        .send()
        .await
        .expect("get");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}
