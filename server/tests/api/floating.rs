//! Floating licenses: at most N machines at once, held through seat leases that heartbeats
//! renew, free again when a lease ends (no cleanup job), borrowable for offline use, and
//! per instance for hosts that share a machine id.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const LEASE: i64 = 900;
const DAY: i64 = 86_400;

/// A floating product `cad` with `seats` seats (15-minute leases, borrows up to 7 days),
/// and one license of it; its key.
async fn floating(api: &Api, seats: u32) -> String {
    let (status, body) = api
        .admin_post(
            "/v1/admin/products",
            json!({ "slug": "cad", "name": "CAD", "max_activations": seats,
                    "floating": { "lease_secs": LEASE, "max_borrow_secs": 7 * DAY } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["floating"]["lease_secs"], LEASE);
    api.license("cad").await.1
}

async fn checkout(
    api: &Api,
    key: &str,
    fpr: &str,
    extra: Value,
) -> (StatusCode, Value, Option<u64>) {
    let mut body = json!({ "key": key, "fingerprint": fpr });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let res = api
        .http
        .post(api.server.url("/v1/licenses/checkout"))
        .json(&body)
        .send()
        .await
        .expect("checkout");
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let (status, body) = decode(res).await;
    (status, body, retry_after)
}

async fn release(api: &Api, key: &str, fpr: &str, extra: Value) -> Value {
    let mut body = json!({ "key": key, "fingerprint": fpr });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (status, body) = api.post("/v1/licenses/release", body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn heartbeat(api: &Api, key: &str, fpr: &str) -> (StatusCode, Value) {
    api.post(
        "/v1/licenses/heartbeat",
        json!({ "key": key, "fingerprint": fpr }),
    )
    .await
}

/// The id of the (first) license of `cad`.
async fn cad_license_id(api: &Api) -> String {
    let (_, licenses) = api.admin_get("/v1/admin/licenses?product=cad").await;
    str_of(&licenses["items"][0], "id")
}

#[tokio::test]
async fn of_thirty_machines_racing_exactly_the_licenses_seats_win() {
    let api = Api::start().await;
    let key = floating(&api, 3).await;
    let attempts = (0..30).map(|i| {
        let key = key.clone();
        let api = &api;
        async move { checkout(api, &key, &format!("v1:machine-{i}"), json!({})).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    let won = results
        .iter()
        .filter(|(s, ..)| *s == StatusCode::OK)
        .count();
    assert_eq!(won, 3, "{results:?}");
    for (status, body, retry_after) in results.iter().filter(|(s, ..)| *s != StatusCode::OK) {
        assert_error(*status, body, 409, "NO_FREE_SEAT");
        let wait = retry_after.expect("Retry-After");
        assert!((1..=LEASE as u64).contains(&wait), "{wait}");
    }
    let (_, licenses) = api.admin_get("/v1/admin/licenses?product=cad").await;
    let id = str_of(&licenses["items"][0], "id");
    let (status, seats) = api
        .admin_get(&format!("/v1/admin/licenses/{id}/seats"))
        .await;
    assert_eq!(status, StatusCode::OK, "{seats}");
    assert_eq!(seats["items"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_seat_whose_heartbeat_stops_is_free_when_its_lease_ends() {
    let api = Api::start().await;
    let key = floating(&api, 1).await;
    let (status, body, _) = checkout(&api, &key, "v1:a", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = api.server.clock_now();
    let ends = body["seat"]["lease_ends_at"].as_i64().expect("end");
    assert!((now + LEASE - 2..=now + LEASE).contains(&ends));
    assert_eq!(body["seats_in_use"], 1);
    // The lease token ends with the seat and names it.
    let claims = verify_independently(&str_of(&body, "token"), &api.jwks().await, "cad")
        .expect("a valid lease");
    assert_eq!(claims["exp"], ends);
    assert_eq!(claims["fpr"], "v1:a");
    assert_eq!(claims["lic"]["seat"]["id"], body["seat"]["id"]);

    let (status, body, retry_after) = checkout(&api, &key, "v1:b", json!({})).await;
    assert_error(status, &body, 409, "NO_FREE_SEAT");
    assert!(retry_after.is_some_and(|w| w <= LEASE as u64));

    // Heartbeats keep the seat: 10 minutes later A renews, 10 more and it is still A's.
    api.server.clock.advance(600);
    let (status, body) = api
        .post(
            "/v1/licenses/heartbeat",
            json!({ "key": key, "fingerprint": "v1:a" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.server.clock.advance(600);
    let (status, body, _) = checkout(&api, &key, "v1:b", json!({})).await;
    assert_error(status, &body, 409, "NO_FREE_SEAT");

    // A stops; once its lease has run out, B takes the seat at once.
    api.server.clock.advance(LEASE - 600 + 1);
    let (status, body, _) = checkout(&api, &key, "v1:b", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A comes back: now it waits.
    let (status, body, _) = checkout(&api, &key, "v1:a", json!({})).await;
    assert_error(status, &body, 409, "NO_FREE_SEAT");
    // B gives the seat back on exit; A takes it.
    assert_eq!(
        release(&api, &key, "v1:b", json!({})).await["released"],
        true
    );
    assert_eq!(
        release(&api, &key, "v1:b", json!({})).await["released"],
        false
    );
    let (status, body, _) = checkout(&api, &key, "v1:a", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_borrowed_seat_counts_until_it_is_returned_or_ends() {
    let api = Api::start().await;
    let key = floating(&api, 1).await;
    let (status, body, _) = checkout(&api, &key, "v1:a", json!({ "borrow_secs": 3 * DAY })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["seat"]["borrowed"], true);
    let claims = verify_independently(&str_of(&body, "token"), &api.jwks().await, "cad")
        .expect("a valid lease");
    // The server's "now" may be a second behind the test's by the time the answer is in.
    let exp = claims["exp"].as_i64().expect("exp");
    let now = api.server.clock_now();
    assert!(
        (now + 3 * DAY - 1..=now + 3 * DAY).contains(&exp),
        "{claims}"
    );
    assert_eq!(claims["lic"]["seat"]["borrowed"], true);
    // Longer than the product allows, or on a product that allows none: refused.
    let (status, body, _) = checkout(&api, &key, "v1:a", json!({ "borrow_secs": 8 * DAY })).await;
    assert_error(status, &body, 400, "INVALID_REQUEST");

    // Past a heartbeat lease, the borrowed seat still counts; a heartbeat does not shorten it.
    api.server.clock.advance(DAY);
    let (status, body, _) = checkout(&api, &key, "v1:b", json!({})).await;
    assert_error(status, &body, 409, "NO_FREE_SEAT");
    let (status, body, _) = checkout(&api, &key, "v1:a", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["seat"]["lease_ends_at"], claims["exp"],
        "the borrow's end stands"
    );
    // Returned early: free at once.
    assert_eq!(
        release(&api, &key, "v1:a", json!({})).await["released"],
        true
    );
    let (status, body, _) = checkout(&api, &key, "v1:b", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn per_instance_seats_share_a_machine_and_node_locked_licenses_refuse_checkout() {
    let api = Api::start().await;
    let key = floating(&api, 2).await;
    for runner in ["ci-1", "ci-2"] {
        let (status, body, _) =
            checkout(&api, &key, "v1:shared-host", json!({ "instance": runner })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["seat"]["instance"], runner);
    }
    let (status, body, _) =
        checkout(&api, &key, "v1:shared-host", json!({ "instance": "ci-3" })).await;
    assert_error(status, &body, 409, "NO_FREE_SEAT");
    assert_eq!(
        release(&api, &key, "v1:shared-host", json!({ "instance": "ci-1" })).await["released"],
        true
    );
    let (status, body, _) =
        checkout(&api, &key, "v1:shared-host", json!({ "instance": "ci-3" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Bad input is refused with nothing taken.
    let (status, body, _) = checkout(
        &api,
        &key,
        "v1:other",
        json!({ "instance": "bad id with spaces" }),
    )
    .await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
    let (status, body, _) = checkout(&api, &key, "v1:other", json!({ "surprise": 1 })).await;
    assert_error(status, &body, 400, "INVALID_REQUEST");

    // A floating license has no activations: its seats are checked out.
    let (status, body) = api.activate(&key, "v1:other").await;
    assert_error(status, &body, 409, "CONFLICT");
    // A node-locked license activates; it has no seats to check out.
    let (_, locked) = api.seeded(1).await;
    let (status, body, _) = checkout(&api, &locked, "v1:a", json!({})).await;
    assert_error(status, &body, 409, "CONFLICT");
    // A floating product can be made node-locked again.
    let (status, body) = api
        .admin(
            Method::PATCH,
            "/v1/admin/products/cad",
            Some(json!({ "floating": null })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("floating").is_none(), "{body}");
}

#[tokio::test]
async fn the_vendor_sees_live_seats_and_frees_a_stuck_one() {
    let api = Api::start().await;
    let key = floating(&api, 1).await;
    let (status, body, _) = checkout(&api, &key, "v1:stuck", json!({ "name": "Lab PC 7" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seat = str_of(&body["seat"], "id");
    let (_, licenses) = api.admin_get("/v1/admin/licenses?product=cad").await;
    let id = str_of(&licenses["items"][0], "id");

    // The dashboard's license page lists the seat, and its Kick button frees it.
    let (b, _) = signed_in(&api).await;
    let page = format!("/admin/licenses/{id}");
    let (status, html) = get_page(&b, &api, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Floating seats in use") && html.contains("Lab PC 7"),
        "{html}"
    );
    let csrf = hidden_csrf(&html);
    let (status, _, _) = post_form(&b, &api, &format!("{page}/seats/{seat}/end"), &[]).await;
    assert_ne!(status, StatusCode::SEE_OTHER, "no CSRF token, no change");
    let (status, _, _) = post_form(
        &b,
        &api,
        &format!("{page}/seats/{seat}/end"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, body, _) = checkout(&api, &key, "v1:next", json!({})).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the kicked seat is free at once: {body}"
    );

    // The admin API does the same, once.
    let seat = str_of(&body["seat"], "id");
    let path = format!("/v1/admin/licenses/{id}/seats/{seat}");
    let (status, body) = api.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"], json!([]));
    let (status, body) = api.admin(Method::DELETE, &path, None).await;
    assert_error(status, &body, 404, "NOT_FOUND");
    let (_, audit) = api.admin_get("/v1/admin/audit?limit=50").await;
    let ended = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "seat.ended")
        .count();
    assert_eq!(ended, 2);
}

#[tokio::test]
async fn the_customer_sees_the_seats_in_use_and_releases_a_stuck_one() {
    use crate::portal::{ask_for_link, follow_sign_in_link, portal_csrf, sign_in_link};
    let api = Api::start().await;
    floating(&api, 1).await;
    let purchase = api.grant("ada@example.com", &["cad"]).await;
    let (_, licenses) = api
        .admin_get("/v1/admin/licenses?email=ada@example.com&product=cad")
        .await;
    let key = str_of(&licenses["items"][0], "key");
    let (status, body, _) = checkout(&api, &key, "v1:office", json!({ "name": "Office PC" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seat = str_of(&body["seat"], "id");

    let b = browser();
    let csrf = portal_csrf(&b, &api).await;
    ask_for_link(&b, &api, "ada@example.com", &csrf).await;
    let link = sign_in_link(&api, "ada@example.com")
        .await
        .expect("a sign-in email");
    follow_sign_in_link(&b, &link).await;
    let path = format!("/portal/purchases/{}", str_of(&purchase, "id"));
    let (status, html) = get_page(&b, &api, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Floating seats in use") && html.contains("Office PC"),
        "{html}"
    );
    let csrf = hidden_csrf(&html);
    let (status, _, _) = post_form(
        &b,
        &api,
        &format!("{path}/seats/{seat}/release"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, body, _) = checkout(&api, &key, "v1:home", json!({})).await;
    assert_eq!(status, StatusCode::OK, "the released seat is free: {body}");
    // A seat of someone else's license cannot be released from this purchase.
    let other = floating_key_of_other_customer(&api).await;
    let (_, body, _) = checkout(&api, &other, "v1:theirs", json!({})).await;
    let theirs = str_of(&body["seat"], "id");
    let (status, _, _) = post_form(
        &b,
        &api,
        &format!("{path}/seats/{theirs}/release"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body, _) = checkout(&api, &other, "v1:theirs", json!({})).await;
    assert_eq!(status, StatusCode::OK, "still theirs: {body}");
}

/// A license of `cad` for another customer; its key.
async fn floating_key_of_other_customer(api: &Api) -> String {
    let (status, body) = api
        .admin_post(
            "/v1/admin/licenses",
            json!({ "product": "cad", "email": "bob@example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    str_of(&body, "key")
}

/// A heartbeat renews in one conditional update that checks the license too: if it skipped
/// the license's state, a suspended, revoked or expired license would keep its seats
/// renewed and its lease tokens signed.
#[tokio::test]
async fn a_heartbeat_renews_the_seat_in_place_and_is_refused_once_the_license_is_not_usable() {
    let api = Api::start().await;
    let key = floating(&api, 2).await;
    let id = cad_license_id(&api).await;
    let (status, first, _) = checkout(&api, &key, "v1:a", json!({ "name": "Lab PC 1" })).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, other, _) = checkout(&api, &key, "v1:b", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{other}");

    // The same seat, its lease running from now; the token ends with it.
    api.server.clock.advance(300);
    let (status, body) = heartbeat(&api, &key, "v1:a").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = api.server.clock_now();
    assert_eq!(body["seat"]["id"], first["seat"]["id"]);
    assert_eq!(body["seat"]["name"], "Lab PC 1");
    assert_eq!(
        body["seat"]["checked_out_at"],
        first["seat"]["checked_out_at"]
    );
    let a_ends = body["seat"]["lease_ends_at"].as_i64().expect("end");
    assert!((now + LEASE - 1..=now + LEASE).contains(&a_ends), "{body}");
    assert_eq!(body["seats_in_use"], 2);
    assert_eq!(body["license"]["status"], "ACTIVE");
    let claims = verify_independently(&str_of(&body, "token"), &api.jwks().await, "cad")
        .expect("a valid lease");
    assert_eq!(claims["exp"], a_ends);
    assert_eq!(claims["lic"]["seat"]["id"], first["seat"]["id"]);
    assert_eq!(claims["lic"]["active_activations"], 2);

    api.admin_post(&format!("/v1/admin/licenses/{id}/suspend"), json!({}))
        .await;
    let (status, body) = heartbeat(&api, &key, "v1:a").await;
    assert_error(status, &body, 403, "LICENSE_SUSPENDED");
    api.admin_post(&format!("/v1/admin/licenses/{id}/reinstate"), json!({}))
        .await;
    let (status, body) = heartbeat(&api, &key, "v1:a").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["seat"]["id"], first["seat"]["id"], "still its seat");
    let a_ends = body["seat"]["lease_ends_at"].as_i64().expect("end");

    // Near its expiry, the lease ends with the license; past it, refused.
    let (status, body) = api
        .admin_post(
            &format!("/v1/admin/licenses/{id}/extend"),
            json!({ "expires_at": now + 100 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = heartbeat(&api, &key, "v1:a").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["seat"]["lease_ends_at"], a_ends, "never shortened");
    let claims = verify_independently(&str_of(&body, "token"), &api.jwks().await, "cad")
        .expect("a valid lease");
    assert_eq!(claims["exp"], now + 100, "the token ends with the license");
    let (status, body) = heartbeat(&api, &key, "v1:b").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let b_ends = other["seat"]["lease_ends_at"].as_i64().expect("end");
    assert_eq!(
        body["seat"]["lease_ends_at"], b_ends,
        "B's lease already ran past the new expiry: kept, not lengthened"
    );
    api.server.clock.advance(200);
    let (status, body) = heartbeat(&api, &key, "v1:a").await;
    assert_error(status, &body, 403, "LICENSE_EXPIRED");

    api.admin_post(&format!("/v1/admin/licenses/{id}/revoke"), json!({}))
        .await;
    let (status, body) = heartbeat(&api, &key, "v1:a").await;
    assert_error(status, &body, 403, "LICENSE_REVOKED");
}

#[tokio::test]
async fn a_heartbeat_after_the_lease_ended_takes_a_free_seat_or_waits() {
    let api = Api::start().await;
    let key = floating(&api, 1).await;
    let (status, first, _) = checkout(&api, &key, "v1:a", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{first}");

    // A's app slept past its lease; the seat was free, so its heartbeat takes it anew.
    api.server.clock.advance(LEASE + 1);
    let (status, body) = heartbeat(&api, &key, "v1:a").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = api.server.clock_now();
    assert_ne!(body["seat"]["id"], first["seat"]["id"], "a new holding");
    let since = body["seat"]["checked_out_at"].as_i64().expect("since");
    assert!((now - 1..=now).contains(&since), "{body}");
    assert_eq!(body["seat"]["lease_ends_at"], since + LEASE);
    assert_eq!(body["seats_in_use"], 1);

    // Slept again, and B took the seat meanwhile: A waits.
    api.server.clock.advance(LEASE + 1);
    let (status, body, _) = checkout(&api, &key, "v1:b", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = heartbeat(&api, &key, "v1:a").await;
    assert_error(status, &body, 409, "NO_FREE_SEAT");
}

#[tokio::test]
async fn the_license_page_charts_the_most_seats_in_use_at_once_each_day() {
    let api = Api::start().await;
    let key = floating(&api, 3).await;
    let id = cad_license_id(&api).await;
    let (b, _) = signed_in(&api).await;
    let page = format!("/admin/licenses/{id}");
    let (status, html) = get_page(&b, &api, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("At most 0 at once in the last 30 days.")
            && html.contains("No seat is in use now."),
        "a floating license's chart, before any checkout: {html}"
    );

    // Two at once; then one leaves before a third comes: still two at most. (At one in the
    // morning, so all of it falls on one day.)
    let now = api.server.clock_now();
    api.server.clock.advance(DAY - now.rem_euclid(DAY) + 3_600);
    for fpr in ["v1:a", "v1:b"] {
        let (status, body, _) = checkout(&api, &key, fpr, json!({ "name": "Lab PC" })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    api.server.clock.advance(60);
    release(&api, &key, "v1:a", json!({})).await;
    let (status, body, _) = checkout(&api, &key, "v1:c", json!({ "instance": "ci-1" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Up to a day passed on the server's clock: a session from before may have ended.
    let (b, _) = signed_in(&api).await;
    let (status, html) = get_page(&b, &api, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"aria-labelledby="seat-peaks-t seat-peaks-d""#)
            && html.contains("At most 2 at once in the last 30 days."),
        "{html}"
    );
    assert_eq!(
        html.matches(": 2</title>").count(),
        1,
        "today's bar: {html}"
    );
    assert_eq!(html.matches(": 0</title>").count(), 29, "{html}");
    // Who holds a seat, since when, until when.
    assert!(
        html.contains("v1:b")
            && html.contains("v1:c")
            && html.contains("ci-1")
            && !html.contains("v1:a"),
        "{html}"
    );
    // A node-locked license has no seats to chart.
    let (locked, _) = api.seeded(1).await;
    let (status, html) = get_page(&b, &api, &format!("/admin/licenses/{locked}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("seat-peaks"), "{html}");
}
