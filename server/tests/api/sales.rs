//! Sales: Stripe webhooks, manual grants, fulfilment, refunds, disputes, the outbox.

use licet_server::config::Secret;
use licet_server::testkit::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const SECRET: &str = "whsec_licet_test_secret";

async fn shop() -> Api {
    let server = TestServer::start_with(|c| c.stripe_webhook_secrets = vec![Secret::new(SECRET)])
        .await
        .expect("server");
    let api = Api::with(server);
    api.product("photo", 2).await;
    api
}

/// A Stripe fixture with the given overrides applied to `data.object` and the envelope.
fn event(name: &str, id: &str, object: Value) -> String {
    let path = format!(
        "{}/tests/fixtures/stripe/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut e: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    e["id"] = id.into();
    if let (Some(target), Some(patch)) = (e["data"]["object"].as_object_mut(), object.as_object()) {
        for (k, v) in patch {
            target.insert(k.clone(), v.clone());
        }
    }
    e.to_string()
}

impl Api {
    async fn stripe(&self, body: &str) -> (StatusCode, Value) {
        let sig = licet_server::testkit::internals::stripe::sign(
            body.as_bytes(),
            SECRET,
            self.server.clock_now(),
        );
        self.stripe_signed(body, Some(&sig)).await
    }

    async fn stripe_signed(&self, body: &str, signature: Option<&str>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(self.server.url("/v1/webhooks/stripe"))
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_owned());
        if let Some(s) = signature {
            req = req.header("stripe-signature", s);
        }
        decode(req.send().await.expect("webhook")).await
    }

    async fn purchases(&self, query: &str) -> Vec<Value> {
        let (_, page) = self.admin_get(&format!("/v1/admin/purchases{query}")).await;
        page["items"].as_array().cloned().unwrap_or_default()
    }

    async fn purchase(&self, id: &str) -> Value {
        self.admin_get(&format!("/v1/admin/purchases/{id}")).await.1
    }
}

fn key_in(mail: &str) -> String {
    mail.split("License key: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a license key in the email")
        .trim_end_matches('<')
        .to_owned()
}

#[tokio::test]
async fn a_paid_checkout_is_fulfilled_once_and_the_emailed_key_activates() {
    let api = shop().await;
    let body = event("checkout.session.completed", "evt_paid_1", json!({}));
    let (status, ack) = api.stripe(&body).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["duplicate"], false);

    let purchases = api.purchases("").await;
    assert_eq!(purchases.len(), 1);
    let p = api.purchase(purchases[0]["id"].as_str().expect("id")).await;
    assert_eq!(p["status"], "COMPLETED");
    assert_eq!(p["email"], "ada@example.com");
    assert_eq!(p["amount"], 4900);
    assert_eq!(p["licenses"].as_array().map(Vec::len), Some(1));

    let mails = api.mails(1).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(mail.contains("Subject: Your purchase: photo app"), "{mail}");
    assert!(
        mail.contains("multipart/alternative") && mail.contains("text/html"),
        "{mail}"
    );
    assert!(mail.contains("/portal"), "{mail}");
    let key = key_in(mail);
    let (status, lease) = api.activate(&key, "v1:buyer").await;
    assert_eq!(status, StatusCode::OK, "the emailed key activates: {lease}");

    // Stripe delivers the same event again: acknowledged, nothing new.
    let (status, ack) = api.stripe(&body).await;
    assert_eq!(
        (status, ack["duplicate"].clone()),
        (StatusCode::OK, json!(true))
    );
    // The same payment announced by another event: still one purchase, one license, one email.
    let (status, _) = api
        .stripe(&event(
            "checkout.session.async_payment_succeeded",
            "evt_paid_again",
            json!({}),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.purchases("").await.len(), 1);
    assert_eq!(
        api.purchase(p["id"].as_str().expect("id")).await["licenses"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(api.mails(1).await.len(), 1, "one email");
    // Marked delivered just after the message is written.
    let id = p["id"].as_str().expect("id");
    let delivered = eventually(async || {
        Some(api.purchase(id).await).filter(|shown| shown["delivered_at"].is_i64())
    })
    .await;
    assert!(delivered.is_some(), "the purchase is marked delivered");
}

/// Ten deliveries of one event at the same moment. If fulfilment were not one locked,
/// idempotent transaction, a customer would get several keys and emails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_of_one_event_fulfil_once() {
    let api = std::sync::Arc::new(shop().await);
    let body = event("checkout.session.completed", "evt_race", json!({}));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let api = api.clone();
            let body = body.clone();
            tokio::spawn(async move { api.stripe(&body).await.0 })
        })
        .collect();
    for t in tasks {
        let status = t.await.expect("task");
        assert!(
            status == StatusCode::OK || status == StatusCode::INTERNAL_SERVER_ERROR,
            "{status}"
        );
    }
    // Stripe retries anything that was not 2xx; after that everything is settled.
    assert_eq!(api.stripe(&body).await.0, StatusCode::OK);
    let purchases = api.purchases("").await;
    assert_eq!(purchases.len(), 1);
    let p = api.purchase(purchases[0]["id"].as_str().expect("id")).await;
    assert_eq!(p["licenses"].as_array().map(Vec::len), Some(1));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(api.mails(1).await.len(), 1);
}

#[tokio::test]
async fn forged_stale_or_missing_signatures_are_refused_and_nothing_is_written() {
    let api = shop().await;
    let body = event("checkout.session.completed", "evt_forged", json!({}));
    let now = api.server.clock_now();
    let wrong =
        licet_server::testkit::internals::stripe::sign(body.as_bytes(), "whsec_someone_else", now);
    let stale = licet_server::testkit::internals::stripe::sign(body.as_bytes(), SECRET, now - 301);
    let other_body = licet_server::testkit::internals::stripe::sign(b"{}", SECRET, now);
    for sig in [
        Some(wrong.as_str()),
        Some(stale.as_str()),
        Some(other_body.as_str()),
        Some("t=1,v1=00"),
        Some("garbage"),
        None,
    ] {
        let (status, err) = api.stripe_signed(&body, sig).await;
        assert_error(status, &err, 400, "INVALID_SIGNATURE");
    }
    assert!(api.purchases("").await.is_empty());
    // Nothing recorded either: the real event still fulfils afterwards.
    assert_eq!(api.stripe(&body).await.1["duplicate"], false);
}

#[tokio::test]
async fn several_secrets_verify_during_rotation() {
    let server = TestServer::start_with(|c| {
        c.stripe_webhook_secrets = vec![Secret::new("whsec_new_one"), Secret::new(SECRET)];
    })
    .await
    .expect("server");
    let api = Api::with(server);
    api.product("photo", 1).await;
    let (status, _) = api
        .stripe(&event("checkout.session.completed", "evt_rot", json!({})))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn without_a_secret_the_stripe_endpoint_is_off() {
    let api = Api::start().await;
    let (status, err) = api.stripe("{}").await;
    assert_error(status, &err, 404, "NOT_FOUND");
    assert!(
        licet_server::config::parse_webhook_secrets("whsec_a,").is_err(),
        "an empty secret refuses to start"
    );
}

#[tokio::test]
async fn a_refund_revokes_licenses_and_a_refund_before_completion_blocks_the_grant() {
    let api = shop().await;
    api.stripe(&event("checkout.session.completed", "evt_c1", json!({})))
        .await;
    let key = key_in(&api.mails(1).await[0]);
    assert_eq!(api.activate(&key, "v1:m").await.0, StatusCode::OK);
    let (status, _) = api
        .stripe(&event("charge.refunded", "evt_r1", json!({})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.validate(&key, "v1:m").await;
    assert_error(status, &body, 403, "LICENSE_REVOKED");
    assert_eq!(api.purchases("").await[0]["status"], "REFUNDED");

    // Another payment: the refund arrives first, then the completion.
    let pi = json!({ "payment_intent": "pi_refunded_early" });
    api.stripe(&event("charge.refunded", "evt_r2", pi.clone()))
        .await;
    let session = json!({ "id": "cs_test_second", "payment_intent": "pi_refunded_early" });
    api.stripe(&event("checkout.session.completed", "evt_c2", session))
        .await;
    let second = api.purchases("?status=REFUNDED").await;
    assert_eq!(second.len(), 2);
    let late = second
        .iter()
        .find(|p| p["provider_payment_id"] == "pi_refunded_early")
        .expect("second");
    assert_eq!(
        api.purchase(late["id"].as_str().expect("id")).await["licenses"],
        json!([]),
        "nothing granted"
    );
}

#[tokio::test]
async fn disputes_suspend_then_reinstate_when_won_or_revoke_when_lost() {
    let api = shop().await;
    api.stripe(&event("checkout.session.completed", "evt_c", json!({})))
        .await;
    let key = key_in(&api.mails(1).await[0]);
    api.activate(&key, "v1:m").await;
    api.stripe(&event("charge.dispute.created", "evt_d1", json!({})))
        .await;
    assert_error(
        api.validate(&key, "v1:m").await.0,
        &api.validate(&key, "v1:m").await.1,
        403,
        "LICENSE_SUSPENDED",
    );
    assert_eq!(api.purchases("").await[0]["status"], "DISPUTED");
    api.stripe(&event(
        "charge.dispute.closed",
        "evt_d2",
        json!({ "status": "won" }),
    ))
    .await;
    assert_eq!(api.validate(&key, "v1:m").await.0, StatusCode::OK);
    assert_eq!(api.purchases("").await[0]["status"], "COMPLETED");
    api.stripe(&event("charge.dispute.created", "evt_d3", json!({})))
        .await;
    api.stripe(&event(
        "charge.dispute.closed",
        "evt_d4",
        json!({ "status": "lost" }),
    ))
    .await;
    let (status, body) = api.validate(&key, "v1:m").await;
    assert_error(status, &body, 403, "LICENSE_REVOKED");
}

/// A dispute can reach Licet before the checkout it disputes (events arrive out of order).
/// If this fails, a cardholder who disputes at once gets a working license anyway.
#[tokio::test]
async fn a_dispute_before_the_completion_grants_suspended_licenses_until_it_is_won() {
    let api = shop().await;
    let pi = json!({ "payment_intent": "pi_disputed_early" });
    let (status, _) = api
        .stripe(&event("charge.dispute.created", "evt_d1", pi.clone()))
        .await;
    assert_eq!(status, StatusCode::OK);
    let session = json!({ "id": "cs_test_disputed", "payment_intent": "pi_disputed_early" });
    api.stripe(&event("checkout.session.completed", "evt_c1", session))
        .await;
    let purchase = &api.purchases("").await[0];
    assert_eq!(purchase["status"], "DISPUTED", "{purchase}");
    let id = str_of(purchase, "id");
    let licenses = api.purchase(&id).await["licenses"].clone();
    assert_eq!(licenses.as_array().map(Vec::len), Some(1), "{licenses}");
    let key = key_in(&api.mails(1).await[0]);
    let (status, body) = api.activate(&key, "v1:m").await;
    assert_error(status, &body, 403, "LICENSE_SUSPENDED");

    // Closed in the vendor's favour: the license works, the purchase is complete.
    let mut won = json!({ "status": "won" });
    won["payment_intent"] = "pi_disputed_early".into();
    api.stripe(&event("charge.dispute.closed", "evt_d2", won))
        .await;
    assert_eq!(api.purchase(&id).await["status"], "COMPLETED");
    assert_eq!(api.activate(&key, "v1:m").await.0, StatusCode::OK);

    // A late, out-of-order copy of "dispute created" does not reopen a closed dispute.
    api.stripe(&event("charge.dispute.created", "evt_d3", pi))
        .await;
    assert_eq!(api.validate(&key, "v1:m").await.0, StatusCode::OK);
    assert_eq!(api.purchase(&id).await["status"], "COMPLETED");
}

/// Lost before the completion arrives: the money is gone, nothing is granted.
#[tokio::test]
async fn a_dispute_lost_before_the_completion_grants_nothing() {
    let api = shop().await;
    let mut lost = json!({ "status": "lost" });
    lost["payment_intent"] = "pi_lost_early".into();
    api.stripe(&event(
        "charge.dispute.created",
        "evt_d1",
        json!({ "payment_intent": "pi_lost_early" }),
    ))
    .await;
    api.stripe(&event("charge.dispute.closed", "evt_d2", lost))
        .await;
    let session = json!({ "id": "cs_test_lost", "payment_intent": "pi_lost_early" });
    api.stripe(&event("checkout.session.completed", "evt_c1", session))
        .await;
    let purchase = &api.purchases("").await[0];
    assert_eq!(purchase["status"], "REFUNDED", "{purchase}");
    assert_eq!(
        api.purchase(&str_of(purchase, "id")).await["licenses"],
        json!([])
    );
}

#[tokio::test]
async fn delayed_payments_are_fulfilled_when_they_succeed_and_not_when_they_fail() {
    let api = shop().await;
    let unpaid = json!({ "payment_status": "unpaid" });
    api.stripe(&event(
        "checkout.session.completed",
        "evt_u",
        unpaid.clone(),
    ))
    .await;
    let p = &api.purchases("").await[0];
    assert_eq!(p["status"], "PENDING");
    assert_eq!(
        api.purchase(p["id"].as_str().expect("id")).await["licenses"],
        json!([])
    );
    api.stripe(&event(
        "checkout.session.async_payment_succeeded",
        "evt_ok",
        json!({}),
    ))
    .await;
    let p = api.purchase(p["id"].as_str().expect("id")).await;
    assert_eq!(
        (p["status"].clone(), p["licenses"].as_array().map(Vec::len)),
        (json!("COMPLETED"), Some(1))
    );

    let other =
        json!({ "id": "cs_test_fails", "payment_intent": "pi_fails", "payment_status": "unpaid" });
    api.stripe(&event(
        "checkout.session.completed",
        "evt_u2",
        other.clone(),
    ))
    .await;
    api.stripe(&event(
        "checkout.session.async_payment_failed",
        "evt_f",
        other,
    ))
    .await;
    assert_eq!(api.purchases("?status=FAILED").await.len(), 1);
}

#[tokio::test]
async fn unknown_event_types_are_acknowledged_and_ignored() {
    let api = shop().await;
    let body = json!({ "id": "evt_other", "object": "event", "type": "customer.created", "data": { "object": { "id": "cus_1", "object": "customer" } } }).to_string();
    let (status, ack) = api.stripe(&body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ack["ignored"], true);
}

#[tokio::test]
async fn a_failed_fulfilment_is_visible_and_can_be_retried() {
    let api = shop().await;
    let body = event(
        "checkout.session.completed",
        "evt_x",
        json!({ "metadata": { "licet_product": "video" } }),
    );
    assert_eq!(api.stripe(&body).await.0, StatusCode::OK);
    let failed = api.purchases("?failed=true").await;
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["fulfilment_error"]
            .as_str()
            .is_some_and(|e| e.contains("video")),
        "{failed:?}"
    );
    api.product("video", 1).await;
    let id = failed[0]["id"].as_str().expect("id");
    let (status, p) = api
        .admin_post(&format!("/v1/admin/purchases/{id}/fulfil"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["fulfilment_error"], Value::Null);
    assert_eq!(p["licenses"].as_array().map(Vec::len), Some(1));
    assert!(api.purchases("?failed=true").await.is_empty());
}

#[tokio::test]
async fn a_manual_grant_is_fulfilled_like_a_payment_including_access_products() {
    let api = shop().await;
    let (status, _) = api
        .admin_post(
            "/v1/admin/products",
            json!({ "slug": "course", "name": "Rust course", "kind": "access", "max_activations": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, p) = api
        .admin_post(
            "/v1/admin/purchases",
            json!({ "email": "bob@example.com", "products": ["photo", "course"], "amount": 0, "provider_payment_id": "gift-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["status"], "COMPLETED");
    assert_eq!(p["provider"], "manual");
    assert_eq!(
        p["licenses"].as_array().map(Vec::len),
        Some(1),
        "the access product mints no key"
    );
    let (_, access) = api
        .admin_get("/v1/access?email=BOB@example.com&product=course")
        .await;
    assert_eq!(access["granted"], true, "{access}");
    let (_, none) = api
        .admin_get("/v1/access?email=eve@example.com&product=course")
        .await;
    assert_eq!(none["granted"], false);
    let (status, err) = api.admin_get("/v1/access?email=bob@example.com").await;
    assert_error(status, &err, 400, "INVALID_REQUEST");

    // The same grant again (same provider payment id) is the same purchase.
    let (_, again) = api
        .admin_post(
            "/v1/admin/purchases",
            json!({ "email": "bob@example.com", "products": ["photo", "course"], "provider_payment_id": "gift-1" }),
        )
        .await;
    assert_eq!(again["id"], p["id"]);
    assert_eq!(again["licenses"], p["licenses"]);

    for bad in [
        json!({ "email": "not-an-email", "products": ["photo"] }),
        json!({ "email": "a@b.co", "products": [] }),
        json!({ "email": "a@b.co", "products": ["photo"], "provider": "stripe" }),
        json!({ "email": "a@b.co", "products": ["photo"], "extra": 1 }),
    ] {
        let (status, err) = api.admin_post("/v1/admin/purchases", bad).await;
        assert_error(status, &err, 400, "INVALID_REQUEST");
    }
    let (status, err) = api
        .admin_post(
            "/v1/admin/purchases",
            json!({ "email": "a@b.co", "products": ["nope"] }),
        )
        .await;
    assert_error(status, &err, 404, "NOT_FOUND");
}

/// The whole path: Stripe's signed event, the email, the download link in it, the key in it.
#[tokio::test]
async fn from_a_signed_webhook_to_the_email_to_the_download_to_an_activated_key() {
    let api = shop().await;
    let installer: Vec<u8> = (0..50_000u32).map(|i| (i % 199) as u8).collect();
    api.download_product("app", "Photo installer", "photo-setup.exe", &installer)
        .await;
    let body = event(
        "checkout.session.completed",
        "evt_full",
        json!({ "metadata": { "licet_product": "photo,app" } }),
    );
    assert_eq!(api.stripe(&body).await.0, StatusCode::OK);

    let mail = api.mails(1).await.pop().expect("the delivery email");
    let link = url_in(&mail, "/v1/downloads/").expect("a download link");
    let download = api.http.get(&link).send().await.expect("download");
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(
        download.bytes().await.expect("bytes").as_ref(),
        installer.as_slice()
    );
    let key = key_in(&mail);
    let (status, lease) = api.activate(&key, "v1:customer-pc").await;
    assert_eq!(status, StatusCode::OK, "{lease}");
}

#[tokio::test]
async fn products_are_also_found_by_the_stripe_price_ids_of_line_items() {
    let api = shop().await;
    let (status, _) = api
        .admin(
            reqwest::Method::PATCH,
            "/v1/admin/products/photo",
            Some(json!({ "stripe_price_ids": ["price_1LicetPhotoPro"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let session = json!({
        "metadata": {},
        "line_items": { "object": "list", "data": [
            { "id": "li_1", "object": "item", "quantity": 1, "price": { "id": "price_1LicetPhotoPro", "object": "price" } }
        ] }
    });
    assert_eq!(
        api.stripe(&event("checkout.session.completed", "evt_prices", session))
            .await
            .0,
        StatusCode::OK
    );
    let p = &api.purchases("").await[0];
    assert_eq!(p["products"], json!(["photo"]));
    assert_eq!(
        api.purchase(p["id"].as_str().expect("id")).await["licenses"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
