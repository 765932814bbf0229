//! Signing in to the vendor dashboard: by admin token or password, and the limits on
//! failed attempts that never lock the vendor out.

use licet_server::testkit::TestServer;
use reqwest::StatusCode;

use crate::support::*;

/// One sign-in attempt from browser `b` (which fetches the form first, for its CSRF token).
async fn try_sign_in(b: &reqwest::Client, api: &Api, secret: &str) -> (StatusCode, String) {
    let (_, html) = get_page(b, api, "/admin").await;
    let csrf = hidden_csrf(&html);
    let (status, html, _) = post_form(
        b,
        api,
        "/admin/sign-in",
        &[("secret", secret), ("csrf", &csrf)],
    )
    .await;
    (status, html)
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_a_password_set_by_the_vendor_signs_in() {
    let api = Api::start().await;
    let b = browser();
    let (_, html) = get_page(&b, &api, "/admin").await;
    let csrf = hidden_csrf(&html);
    let (status, html, _) = post_form(
        &b,
        &api,
        "/admin/sign-in",
        &[("secret", "lct_admin_guess"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("role=\"alert\""), "{html}");
    // Without the form's CSRF token the secret is not even tried.
    let (status, _, _) = post_form(
        &b,
        &api,
        "/admin/sign-in",
        &[("secret", &api.server.admin_token), ("csrf", "forged")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let app = &api.server.app;
    let short = licet_server::testkit::internals::set_password(
        app,
        &licet_server::testkit::operator(),
        "short",
    )
    .await;
    assert!(short.is_err(), "a short password is refused");
    licet_server::testkit::internals::set_password(
        app,
        &licet_server::testkit::operator(),
        "correct horse battery staple",
    )
    .await
    .expect("password");
    let (status, _, location) = post_form(
        &b,
        &api,
        "/admin/sign-in",
        &[("secret", "correct horse battery staple"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/admin"));
    let (status, html) = get_page(&b, &api, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Overview"));

    // Signing out ends the session for good.
    let csrf = hidden_csrf(&html);
    let (status, _, _) = post_form(&b, &api, "/admin/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let res = b
        .get(api.server.url("/admin/products"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn dashboard_sign_in_attempts_are_rate_limited() {
    let server = TestServer::start_with(|c| c.rate_limit_per_ip = 1000)
        .await
        .expect("server");
    let api = Api::with(server);
    let b = browser();
    let (_, html) = get_page(&b, &api, "/admin").await;
    let csrf = hidden_csrf(&html);
    api.start_rate_window();
    let mut statuses = Vec::new();
    for _ in 0..=licet_server::testkit::internals::rate_limit::SIGN_IN_PER_IP {
        let (status, _, _) = post_form(
            &b,
            &api,
            "/admin/sign-in",
            &[("secret", "lct_admin_guess"), ("csrf", &csrf)],
        )
        .await;
        statuses.push(status);
    }
    assert!(
        statuses[..statuses.len() - 1]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED)
    );
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    // Even the right token waits out the window now.
    let (status, html, _) = post_form(
        &b,
        &api,
        "/admin/sign-in",
        &[("secret", &api.server.admin_token), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{html}");
}

/// Failures elsewhere never lock the vendor out. A botnet guessing the password from many
/// IPs used to trip one global limit that also refused the real admin; now each IP is
/// limited by its own failures, a browser that signed in before by its own, and when new
/// browsers fail too often overall they are asked for an admin token (unguessable) while
/// known browsers keep signing in with the password.
#[tokio::test]
async fn failed_sign_ins_from_elsewhere_never_lock_out_the_vendor() {
    let api = Api::behind_proxy().await;
    // The 40 failures below must fall in one window of the new-browser limit.
    api.start_window_of(
        licet_server::testkit::internals::rate_limit::DASHBOARD_FAILURES_UNKNOWN_BROWSERS.window,
    );
    let password = "correct horse battery staple";
    licet_server::testkit::internals::set_password(
        &api.server.app,
        &licet_server::testkit::operator(),
        password,
    )
    .await
    .expect("password");
    // The vendor's own browser has signed in before: it holds a device cookie.
    let vendor = browser_from("198.51.100.1");
    assert_eq!(
        try_sign_in(&vendor, &api, password).await.0,
        StatusCode::SEE_OTHER
    );

    // Attackers: many IPs, a few guesses each (under the per-IP limit), 40 in all.
    for n in 0..40 {
        let attacker = browser_from(&format!("203.0.113.{}", n / 4));
        let (status, _) = try_sign_in(&attacker, &api, "guess-guess-guess").await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
    }
    // A new browser is now refused the password, however right, with a way out…
    let stranger = browser_from("192.0.2.77");
    let (status, html) = try_sign_in(&stranger, &api, password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{html}");
    assert!(html.contains("admin token"), "{html}");
    // …which works: an admin token cannot be guessed, so it passes the lock.
    let (status, _) = try_sign_in(&stranger, &api, &api.server.admin_token).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // And the vendor's known browser signs in with the password as always.
    let vendor_again = vendor.clone();
    let (_, html) = get_page(&vendor_again, &api, "/admin").await;
    let csrf = hidden_csrf(&html);
    let (status, _, _) =
        post_form(&vendor_again, &api, "/admin/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        try_sign_in(&vendor, &api, password).await.0,
        StatusCode::SEE_OTHER
    );
}

/// One IP's failures limit that IP only: another IP signs in at once.
#[tokio::test]
async fn dashboard_failures_are_limited_per_ip() {
    let api = Api::behind_proxy().await;
    api.start_window_of(
        licet_server::testkit::internals::rate_limit::DASHBOARD_FAILURES_PER_IP.window,
    );
    let noisy = browser_from("203.0.113.50");
    let max = licet_server::testkit::internals::rate_limit::DASHBOARD_FAILURES_PER_IP.max;
    for _ in 0..max {
        assert_eq!(
            try_sign_in(&noisy, &api, "guess-guess-guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        try_sign_in(&noisy, &api, "guess-guess-guess").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let other = browser_from("198.51.100.2");
    assert_eq!(
        try_sign_in(&other, &api, &api.server.admin_token).await.0,
        StatusCode::SEE_OTHER
    );
}
