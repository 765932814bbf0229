//! The customer portal: passwordless sign-in, sessions, CSRF, only one's own purchases.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

/// The sign-in link of the email sent to `email` (waits for the outbox).
pub async fn sign_in_link(api: &Api, email: &str) -> Option<String> {
    eventually(async || {
        let mails = api.server.store().mail_to(email).await.expect("outbox");
        let m = mails.iter().find(|m| m.subject == "Your sign-in link")?;
        // Read from the written file: the stored body is dropped once sent.
        let dir = api.server.data_dir().join("mail");
        let text = std::fs::read_to_string(dir.join(format!("{}.eml", m.id))).ok()?;
        url_in(&text, "/portal/auth/")
    })
    .await
}

/// The portal's sign-in form in browser `b`: its form token.
pub async fn portal_csrf(b: &reqwest::Client, api: &Api) -> String {
    let form = b
        .get(api.server.url("/portal"))
        .send()
        .await
        .expect("portal");
    hidden_csrf(&form.text().await.expect("html"))
}

/// Asks for a sign-in link for `email` from browser `b`, with the form token `csrf`.
pub async fn ask_for_link(
    b: &reqwest::Client,
    api: &Api,
    email: &str,
    csrf: &str,
) -> reqwest::Response {
    b.post(api.server.url("/portal/sign-in"))
        .form(&[("email", email), ("csrf", csrf)])
        .send()
        .await
        .expect("sign-in")
}

/// Opens a sign-in link in browser `b` and presses its "Sign in" button: the answer to the
/// button's POST.
pub async fn follow_sign_in_link(b: &reqwest::Client, link: &str) -> reqwest::Response {
    let page = b.get(link).send().await.expect("the link's page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains(">Sign in</button>"), "{html}");
    b.post(link)
        .form(&[("csrf", hidden_csrf(&html).as_str())])
        .send()
        .await
        .expect("sign in")
}

#[tokio::test]
async fn a_customer_signs_in_by_email_link_and_sees_only_their_purchases() {
    let api = Api::start().await;
    api.product("photo", 1).await;
    api.grant("ada@example.com", &["photo"]).await;
    api.grant("bob@example.com", &["photo"]).await;

    let b = browser();
    let form = b
        .get(api.server.url("/portal"))
        .send()
        .await
        .expect("portal");
    assert_eq!(form.status(), StatusCode::OK);
    assert!(
        form.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .contains("HttpOnly")
    );
    let csrf = hidden_csrf(&form.text().await.expect("html"));
    let sent = b
        .post(api.server.url("/portal/sign-in"))
        .form(&[("email", "ada@example.com"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign-in");
    assert_eq!(sent.status(), StatusCode::OK);
    let sent_page = sent.text().await.expect("html");
    // The same answer for an email without purchases: nothing is revealed, nothing sent.
    let other = b
        .post(api.server.url("/portal/sign-in"))
        .form(&[("email", "eve@example.com"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign-in");
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(
        other
            .text()
            .await
            .expect("html")
            .replace("eve@example.com", "X"),
        sent_page.replace("ada@example.com", "X")
    );
    assert!(
        api.server
            .store()
            .mail_to("eve@example.com")
            .await
            .expect("outbox")
            .is_empty()
    );

    let link = sign_in_link(&api, "ada@example.com")
        .await
        .expect("a sign-in email");
    let signed_in = follow_sign_in_link(&b, &link).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()["location"], "/portal/purchases");
    let page = b
        .get(api.server.url("/portal/purchases"))
        .send()
        .await
        .expect("purchases");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("ada@example.com") && html.contains("photo"),
        "{html}"
    );
    assert!(!html.contains("bob@example.com"));

    // The link works once: afterwards even its page says so.
    let again = browser().get(&link).send().await.expect("auth");
    assert_eq!(again.status(), StatusCode::GONE);
    let other = browser();
    let res = other
        .post(&link)
        .form(&[("csrf", "x")])
        .header("cookie", "licet_csrf=x")
        .send()
        .await
        .expect("auth");
    assert_eq!(res.status(), StatusCode::GONE);

    // Signing out needs the session's CSRF token, then ends the session.
    let forged = b
        .post(api.server.url("/portal/sign-out"))
        .form(&[("csrf", "nope")])
        .send()
        .await
        .expect("out");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let out = b
        .post(api.server.url("/portal/sign-out"))
        .form(&[("csrf", hidden_csrf(&html).as_str())])
        .send()
        .await
        .expect("out");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = b
        .get(api.server.url("/portal/purchases"))
        .send()
        .await
        .expect("purchases");
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_with_bad_input_are_refused_clearly() {
    let api = Api::start().await;
    let b = browser();
    let form = b
        .get(api.server.url("/portal"))
        .send()
        .await
        .expect("portal");
    let csrf = hidden_csrf(&form.text().await.expect("html"));
    let forged = browser()
        .post(api.server.url("/portal/sign-in"))
        .form(&[("email", "ada@example.com"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign-in");
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "another browser's token is no good"
    );
    let bad = b
        .post(api.server.url("/portal/sign-in"))
        .form(&[("email", "not an email <script>"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign-in");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let html = bad.text().await.expect("html");
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(
        html.contains("not an email &lt;script&gt;"),
        "the input is kept, escaped: {html}"
    );
    assert!(!html.contains("<script>"));
}

/// Signs a browser in as `email` (which must have a purchase) and returns it.
pub async fn signed_in_browser(api: &Api, email: &str) -> reqwest::Client {
    let b = browser();
    let csrf = portal_csrf(&b, api).await;
    ask_for_link(&b, api, email, &csrf).await;
    let link = sign_in_link(api, email).await.expect("a sign-in email");
    assert_eq!(
        follow_sign_in_link(&b, &link).await.status(),
        StatusCode::SEE_OTHER
    );
    b
}

#[tokio::test]
async fn a_customer_frees_a_seat_and_gets_download_links_but_never_sees_another_purchase() {
    let api = Api::start().await;
    api.product("photo", 1).await;
    api.download_product("app", "App", "app.zip", &[7u8; 1000])
        .await;
    let mine = api.grant("ada@example.com", &["photo", "app"]).await;
    let theirs = api.grant("bob@example.com", &["photo"]).await;
    let license = api
        .admin_get(&format!(
            "/v1/admin/licenses/{}",
            mine["licenses"][0].as_str().expect("license")
        ))
        .await
        .1;
    let key = str_of(&license, "key");
    assert_eq!(api.activate(&key, "v1:old-laptop").await.0, StatusCode::OK);

    let b = signed_in_browser(&api, "ada@example.com").await;
    let url = api
        .server
        .url(&format!("/portal/purchases/{}", str_of(&mine, "id")));
    let html = b
        .get(&url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains(&key), "{html}");
    assert!(
        html.contains("Ada&#39;s laptop") || html.contains("Ada's laptop"),
        "the machine is listed: {html}"
    );
    assert!(
        html.contains("Deactivate this machine") && html.contains("Generate download link"),
        "{html}"
    );

    // Another customer's purchase is not found, not forbidden: it does not exist for Ada.
    let other = b
        .get(
            api.server
                .url(&format!("/portal/purchases/{}", str_of(&theirs, "id"))),
        )
        .send()
        .await
        .expect("page");
    assert_eq!(other.status(), StatusCode::NOT_FOUND);

    let csrf = hidden_csrf(&html);
    let action = html
        .split("action=\"")
        .find(|s| s.contains("/deactivate"))
        .and_then(|s| s.split('"').next())
        .expect("a deactivate form")
        .to_owned();
    let freed = b
        .post(api.server.url(&action))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("deactivate");
    assert_eq!(freed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        api.activate(&key, "v1:new-laptop").await.0,
        StatusCode::OK,
        "the seat is free again"
    );

    let links = b
        .post(
            api.server
                .url(&format!("/portal/purchases/{}/links", str_of(&mine, "id"))),
        )
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("links");
    assert_eq!(links.status(), StatusCode::OK);
    let page = links.text().await.expect("html");
    let download = page
        .split("href=\"")
        .find(|s| s.contains("/v1/downloads/"))
        .and_then(|s| s.split('"').next())
        .expect("a download link")
        .to_owned();
    let file = api.http.get(&download).send().await.expect("download");
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.bytes().await.expect("bytes").len(), 1000);
}

#[tokio::test]
async fn access_products_show_their_link_and_refunded_purchases_show_no_working_links() {
    let api = Api::start().await;
    api.product("photo", 1).await;
    let (status, body) = api
        .admin_post(
            "/v1/admin/products",
            json!({ "slug": "course", "name": "Course", "kind": "access", "max_activations": 1,
                    "metadata": { "access_url": "https://learn.example.com/course" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let kept = api.grant("ada@example.com", &["course", "photo"]).await;
    let (_, refunded) = api
        .admin_post(
            "/v1/admin/purchases",
            json!({ "email": "ada@example.com", "products": ["course", "photo"],
                    "provider": "paddle", "provider_payment_id": "pay_refunded" }),
        )
        .await;
    licet_server::testkit::internals::sales::refund(
        &api.server.app,
        "test",
        "paddle",
        "pay_refunded",
    )
    .await
    .expect("refund");

    let b = signed_in_browser(&api, "ada@example.com").await;
    let page = |id: String| {
        let b = b.clone();
        let url = api.server.url(&format!("/portal/purchases/{id}"));
        async move { html_of(&b, &url).await }
    };
    let html = page(str_of(&kept, "id")).await;
    assert!(
        html.contains("href=\"https://learn.example.com/course\""),
        "{html}"
    );
    assert!(html.contains("data-copy="), "copy buttons: {html}");

    let html = page(str_of(&refunded, "id")).await;
    assert!(html.contains("Refunded"), "{html}");
    assert!(html.contains("no longer work"), "{html}");
    assert!(
        !html.contains("learn.example.com"),
        "no access link: {html}"
    );
    assert!(!html.contains("data-copy="), "no key to copy: {html}");
    assert!(html.contains("revoked"), "the key shows as revoked: {html}");

    let list = b
        .get(api.server.url("/portal/purchases"))
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("html");
    assert!(
        list.contains("Refunded") && list.contains("Completed"),
        "{list}"
    );
}

#[tokio::test]
async fn asking_for_sign_in_links_is_rate_limited() {
    let server = licet_server::testkit::TestServer::start_with(|c| c.rate_limit_per_ip = 1000)
        .await
        .expect("server");
    let api = Api::with(server);
    let b = browser();
    let form = b
        .get(api.server.url("/portal"))
        .send()
        .await
        .expect("portal");
    let csrf = hidden_csrf(&form.text().await.expect("html"));
    api.start_rate_window();
    let mut last = StatusCode::OK;
    for _ in 0..=licet_server::testkit::internals::rate_limit::SIGN_IN_PER_IP {
        last = b
            .post(api.server.url("/portal/sign-in"))
            .form(&[("email", "eve@example.com"), ("csrf", csrf.as_str())])
            .send()
            .await
            .expect("sign-in")
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

/// One address used to receive 30 sign-in emails a minute from rotating IPs. Requests for
/// one recipient are now limited whoever asks (and counted whether or not the address has
/// purchases, so the limit tells nothing about who bought).
#[tokio::test]
async fn sign_in_emails_to_one_address_are_limited_whoever_asks() {
    let api = Api::behind_proxy().await;
    let b = browser();
    let form = b
        .get(api.server.url("/portal"))
        .send()
        .await
        .expect("portal");
    let csrf = hidden_csrf(&form.text().await.expect("html"));
    let max = licet_server::testkit::internals::rate_limit::SIGN_IN_LINKS_PER_RECIPIENT;
    let into = api.server.clock_now().rem_euclid(max.window);
    api.server.clock.advance(max.window - into);
    let ask = async |ip: String| {
        b.post(api.server.url("/portal/sign-in"))
            .header("x-forwarded-for", ip)
            .form(&[("email", "victim@example.com"), ("csrf", csrf.as_str())])
            .send()
            .await
            .expect("sign-in")
            .status()
    };
    for n in 0..max.max {
        assert_eq!(ask(format!("203.0.113.{n}")).await, StatusCode::OK);
    }
    assert_eq!(
        ask("198.51.100.200".into()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Mail scanners and link previews fetch links before the customer clicks. The link used to
/// be spent by that GET; now the GET only shows a button, and using the link takes a POST
/// carrying the page's form token (so another site cannot sign a browser in either).
#[tokio::test]
async fn opening_a_sign_in_link_uses_nothing_until_the_customer_presses_sign_in() {
    let api = Api::start().await;
    api.product("photo", 1).await;
    api.grant("ada@example.com", &["photo"]).await;
    let b = browser();
    let csrf = portal_csrf(&b, &api).await;
    ask_for_link(&b, &api, "ada@example.com", &csrf).await;
    let link = sign_in_link(&api, "ada@example.com").await.expect("a link");
    // A scanner fetches it three times.
    for _ in 0..3 {
        let scanner = browser();
        let res = scanner.get(&link).send().await.expect("prefetch");
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get("location").is_none());
    }
    // A post without the page's form token uses nothing either.
    let forged = browser()
        .post(&link)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // The customer's click still signs in.
    let res = follow_sign_in_link(&b, &link).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/portal/purchases");
}

/// The answer to "email me a link" comes before the server looks up whether the address
/// has purchases, so buyers and strangers wait the same (minting and queueing a buyer's
/// link used to happen before the reply: a timing signal of who bought). Shown with the
/// link table locked: the answer does not wait for it, and the email follows once the lock
/// is gone.
#[tokio::test]
async fn the_sign_in_answer_does_not_wait_for_the_link_to_be_made() {
    let api = Api::start().await;
    api.product("photo", 1).await;
    api.grant("ada@example.com", &["photo"]).await;
    let b = browser();
    let csrf = portal_csrf(&b, &api).await;
    let store = &api.server.store();
    let lock = store.lock_sign_in_links().await.expect("write lock");
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        ask_for_link(&b, &api, "ada@example.com", &csrf),
    )
    .await
    .expect("answered while the link table is locked");
    assert_eq!(answer.status(), StatusCode::OK);
    lock.release().await.expect("unlock");
    assert!(sign_in_link(&api, "ada@example.com").await.is_some());
}
