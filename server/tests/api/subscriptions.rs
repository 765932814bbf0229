//! Subscriptions (Stripe Billing): a license that lives while its subscription is paid.
//!
//! Event bodies are Stripe's documented event examples, in the shape before API version
//! 2025-03-31 and in the "basil" shape after it (`tests/fixtures/stripe/*.json`), with only
//! ids, periods and statuses changed per step.

use std::sync::Arc;

use licet_server::config::Secret;
use licet_server::testkit::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const SECRET: &str = "whsec_licet_subscriptions";
const DAY: i64 = 86_400;
pub(crate) const PERIOD: i64 = 30 * DAY;
/// The default grace after a paid period.
const GRACE: i64 = 3 * DAY;
const PRICE: &str = "price_1PLicetMonthly";

/// The API version an endpoint was created with decides the shape of its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Before 2025-03-31: `invoice.subscription`, `subscription.current_period_end`.
    Before2025,
    /// 2025-03-31.basil on: `invoice.parent.subscription_details`, periods on items.
    Basil,
}

impl Shape {
    fn suffix(self) -> &'static str {
        match self {
            Self::Before2025 => "2024-06-20",
            Self::Basil => "2025-03-31.basil",
        }
    }
}

pub(crate) fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/stripe/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

/// An invoice event (`invoice.paid` or `invoice.payment_failed`) for the period ending `end`.
pub(crate) fn invoice(
    shape: Shape,
    kind: &str,
    event: &str,
    invoice: &str,
    end: i64,
    created: i64,
) -> String {
    let mut e = fixture(&format!("invoice.paid.{}", shape.suffix()));
    e["id"] = event.into();
    e["type"] = kind.into();
    e["created"] = created.into();
    let o = &mut e["data"]["object"];
    o["id"] = invoice.into();
    o["billing_reason"] = "subscription_cycle".into();
    o["lines"]["data"][0]["period"] = json!({ "start": end - PERIOD, "end": end });
    o["lines"]["data"][0]["invoice"] = invoice.into();
    if kind == "invoice.payment_failed" {
        o["status"] = "open".into();
        o["amount_paid"] = 0.into();
        o["amount_remaining"] = 1500.into();
    }
    e.to_string()
}

/// A `customer.subscription.*` event: the subscription `status`, its period ending `end`.
fn subscription(
    shape: Shape,
    kind: &str,
    event: &str,
    status: &str,
    end: i64,
    cancel_at_period_end: bool,
    created: i64,
) -> String {
    let mut e = fixture(&format!("customer.subscription.updated.{}", shape.suffix()));
    e["id"] = event.into();
    e["type"] = kind.into();
    e["created"] = created.into();
    let o = &mut e["data"]["object"];
    o["status"] = status.into();
    o["cancel_at_period_end"] = cancel_at_period_end.into();
    if status == "canceled" {
        o["canceled_at"] = created.into();
        o["ended_at"] = created.into();
    }
    match shape {
        Shape::Before2025 => {
            o["current_period_end"] = end.into();
            o["current_period_start"] = (end - PERIOD).into();
        }
        Shape::Basil => {
            o["items"]["data"][0]["current_period_end"] = end.into();
            o["items"]["data"][0]["current_period_start"] = (end - PERIOD).into();
        }
    }
    e.to_string()
}

pub(crate) fn checkout(event: &str) -> String {
    let mut e = fixture("checkout.session.completed.subscription");
    e["id"] = event.into();
    e.to_string()
}

pub(crate) async fn shop() -> Api {
    shop_with(|_| {}).await
}

/// [`shop`] with more configuration.
pub(crate) async fn shop_with(configure: impl FnOnce(&mut licet_server::Config)) -> Api {
    let server = TestServer::start_with(|c| {
        c.stripe_webhook_secrets = vec![Secret::new(SECRET)];
        c.stripe_billing_portal_url = Some("https://billing.stripe.com/p/login/test_licet".into());
        configure(c);
    })
    .await
    .expect("server");
    let api = Api::with(server);
    let (status, body) = api
        .admin_post(
            "/v1/admin/products",
            json!({ "slug": "photo", "name": "photo app", "max_activations": 2,
                    "entitlements": ["pro"], "token_lifetime_secs": 3600,
                    "stripe_price_ids": [PRICE] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    api
}

impl Api {
    /// Delivers a Stripe event signed with the endpoint's secret; it must be acknowledged.
    pub(crate) async fn billing_event(&self, body: &str) -> Value {
        let sig = licet_server::testkit::internals::stripe::sign(
            body.as_bytes(),
            SECRET,
            self.server.clock_now(),
        );
        let res = self
            .http
            .post(self.server.url("/v1/webhooks/stripe"))
            .header("content-type", "application/json")
            .header("stripe-signature", sig)
            .body(body.to_owned())
            .send()
            .await
            .expect("webhook");
        let (status, ack) = decode(res).await;
        assert_eq!(status, StatusCode::OK, "{ack}");
        ack
    }

    /// The one purchase there is, with its licenses and subscription.
    pub(crate) async fn only_purchase(&self) -> Value {
        let (_, page) = self.admin_get("/v1/admin/purchases").await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 1, "exactly one purchase: {page}");
        self.admin_get(&format!("/v1/admin/purchases/{}", str_of(&items[0], "id")))
            .await
            .1
    }

    /// The key of the purchase's one license.
    pub(crate) async fn subscription_key(&self) -> String {
        let p = self.only_purchase().await;
        let licenses = p["licenses"].as_array().cloned().unwrap_or_default();
        assert_eq!(licenses.len(), 1, "exactly one license: {p}");
        let (_, lic) = self
            .admin_get(&format!(
                "/v1/admin/licenses/{}",
                licenses[0].as_str().expect("id")
            ))
            .await;
        str_of(&lic, "key")
    }
}

/// What validate says: the license's expiry and its subscription claim (also checked in
/// the signed lease, read independently).
async fn validated(api: &Api, key: &str) -> (Option<i64>, Value) {
    let (status, body) = api.validate(key, "v1:http").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = verify_independently(str_of(&body, "token").as_str(), &api.jwks().await, "photo")
        .expect("the lease verifies");
    assert_eq!(
        claims["lic"]["subscription"], body["license"]["subscription"],
        "the lease carries what the answer says"
    );
    assert_eq!(claims["lic"]["expires_at"], body["license"]["expires_at"]);
    assert!(
        claims["exp"].as_i64() <= body["license"]["expires_at"].as_i64(),
        "a lease never outlives its license"
    );
    (
        body["license"]["expires_at"].as_i64(),
        body["license"]["subscription"].clone(),
    )
}

fn sdk_client(api: &Api, jwks: &str, dir: &std::path::Path) -> licet::Client {
    licet::Client::builder(&api.server.url, "photo")
        .pinned_jwks(jwks)
        .expect("jwks")
        .storage_dir(dir)
        .use_keyring(false)
        .fingerprint_override("v1:sdk")
        .clock(Arc::new(api.server.clock.clone()))
        .build()
        .expect("client")
}

/// Create → renew ×2 → payment failed → recovered → canceled at period end → deleted →
/// expired after the period; each step seen through validate and through the SDK.
async fn lifecycle(shape: Shape) {
    let api = shop().await;
    let t0 = api.server.clock_now();
    let end1 = t0 + PERIOD;

    // The first invoice arrives before the checkout event (Stripe sends them together, in
    // any order): the license starts out with the paid period anyway.
    let first = invoice(shape, "invoice.paid", "evt_inv1", "in_1", end1, t0);
    api.billing_event(&first).await;
    api.billing_event(&checkout("evt_checkout")).await;
    api.billing_event(&checkout("evt_checkout_again")).await;
    let key = api.subscription_key().await;
    assert_eq!(api.mails(1).await.len(), 1, "one delivery email");
    assert_eq!(api.activate(&key, "v1:http").await.0, StatusCode::OK);
    let (expires, sub) = validated(&api, &key).await;
    assert_eq!(
        expires,
        Some(end1 + GRACE),
        "the paid period plus the grace"
    );
    assert_eq!(sub["status"], "ACTIVE");
    assert_eq!(sub["period_end"], end1);
    assert_eq!(sub["cancel_at_period_end"], false);

    let jwks = api.jwks().await.to_string();
    let dir = tempfile::tempdir().expect("dir");
    let app = sdk_client(&api, &jwks, dir.path());
    let lic = app.activate_async(&key).await.expect("the SDK activates");
    assert_eq!(lic.renews_at(), Some(end1));
    assert_eq!(lic.expires_at, Some(end1 + GRACE));
    assert!(!lic.cancels_at_period_end());

    // Renewal 1, delivered twice under two event ids (invoice.paid and
    // invoice.payment_succeeded announce the same payment).
    api.server.clock.advance(PERIOD);
    let end2 = end1 + PERIOD;
    let now = api.server.clock_now();
    api.billing_event(&invoice(
        shape,
        "invoice.paid",
        "evt_inv2",
        "in_2",
        end2,
        now,
    ))
    .await;
    let ack = api
        .billing_event(&invoice(
            shape,
            "invoice.payment_succeeded",
            "evt_inv2b",
            "in_2",
            end2,
            now,
        ))
        .await;
    assert_eq!(
        ack["duplicate"], false,
        "another event, the same invoice: {ack}"
    );
    assert_eq!(validated(&api, &key).await.0, Some(end2 + GRACE));
    let lic = app.validate_async().await.expect("renewed");
    assert_eq!(
        (lic.expires_at, lic.renews_at()),
        (Some(end2 + GRACE), Some(end2))
    );

    // Renewal 2, then renewal 1 delivered again late: the expiry never moves back.
    api.server.clock.advance(PERIOD);
    let end3 = end2 + PERIOD;
    let now = api.server.clock_now();
    api.billing_event(&subscription(
        shape,
        "customer.subscription.updated",
        "evt_sub_renewed",
        "active",
        end3,
        false,
        now,
    ))
    .await;
    api.billing_event(&invoice(
        shape,
        "invoice.paid",
        "evt_inv3",
        "in_3",
        end3,
        now,
    ))
    .await;
    api.billing_event(&invoice(
        shape,
        "invoice.paid",
        "evt_inv2_late",
        "in_2",
        end2,
        now,
    ))
    .await;
    let (expires, sub) = validated(&api, &key).await;
    assert_eq!(expires, Some(end3 + GRACE));
    assert_eq!(sub["period_end"], end3);
    let lic = app.validate_async().await.expect("renewed again");
    assert_eq!(lic.renews_at(), Some(end3));

    // The third renewal fails: past due, nothing shortened.
    api.server.clock.advance(PERIOD);
    let end4 = end3 + PERIOD;
    let now = api.server.clock_now();
    api.billing_event(&subscription(
        shape,
        "customer.subscription.updated",
        "evt_sub_past_due",
        "past_due",
        end4,
        false,
        now,
    ))
    .await;
    api.billing_event(&invoice(
        shape,
        "invoice.payment_failed",
        "evt_fail4",
        "in_4",
        end4,
        now,
    ))
    .await;
    let (expires, sub) = validated(&api, &key).await;
    assert_eq!(expires, Some(end3 + GRACE), "a failure shortens nothing");
    assert_eq!(sub["status"], "PAST_DUE");
    let p = api.only_purchase().await;
    assert_eq!(p["subscription"]["status"], "PAST_DUE", "{p}");
    assert_eq!(p["subscription"]["payment_failed_at"], now);
    let lic = app
        .validate_async()
        .await
        .expect("still valid in the grace");
    assert_eq!(
        lic.subscription.map(|s| s.status),
        Some(licet::SubscriptionStatus::PastDue)
    );

    // Stripe's retry succeeds a day later.
    api.server.clock.advance(DAY);
    let now = api.server.clock_now();
    api.billing_event(&invoice(
        shape,
        "invoice.paid",
        "evt_inv4",
        "in_4",
        end4,
        now,
    ))
    .await;
    api.billing_event(&subscription(
        shape,
        "customer.subscription.updated",
        "evt_sub_recovered",
        "active",
        end4,
        false,
        now,
    ))
    .await;
    // The failure delivered again after the recovery changes nothing.
    api.billing_event(&invoice(
        shape,
        "invoice.payment_failed",
        "evt_fail4_late",
        "in_4",
        end4,
        now,
    ))
    .await;
    let (expires, sub) = validated(&api, &key).await;
    assert_eq!(expires, Some(end4 + GRACE));
    assert_eq!(sub["status"], "ACTIVE");
    assert!(api.only_purchase().await["subscription"]["payment_failed_at"].is_null());

    // The customer cancels at period end: it says when it ends instead of when it renews.
    api.server.clock.advance(DAY);
    let now = api.server.clock_now();
    let canceling = subscription(
        shape,
        "customer.subscription.updated",
        "evt_sub_cancel",
        "active",
        end4,
        true,
        now,
    );
    api.billing_event(&canceling).await;
    // An older update delivered late does not undo the cancellation.
    api.billing_event(&subscription(
        shape,
        "customer.subscription.updated",
        "evt_sub_old_update",
        "active",
        end4,
        false,
        now - 60,
    ))
    .await;
    let (_, sub) = validated(&api, &key).await;
    assert_eq!(sub["cancel_at_period_end"], true);
    let lic = app.validate_async().await.expect("valid until the end");
    assert_eq!(lic.renews_at(), None);
    assert!(lic.cancels_at_period_end());
    assert_eq!(lic.subscription_ends_at(), Some(end4));

    // At the period's end Stripe deletes it: the license runs to the end of what was paid
    // (not the grace: nothing more will be paid), then it is expired, not revoked.
    let until_end = end4 - api.server.clock_now() - 60;
    api.server.clock.advance(until_end);
    let now = api.server.clock_now();
    api.billing_event(&subscription(
        shape,
        "customer.subscription.deleted",
        "evt_sub_deleted",
        "canceled",
        end4,
        true,
        now,
    ))
    .await;
    let (expires, sub) = validated(&api, &key).await;
    assert_eq!(expires, Some(end4));
    assert_eq!(sub["status"], "CANCELED");
    let lic = app.validate_async().await.expect("the last minute");
    assert!(
        lic.offline_valid_until <= end4,
        "an offline app stops at the end too"
    );
    api.server.clock.advance(120);
    let (status, body) = api.validate(&key, "v1:http").await;
    assert_error(status, &body, 403, "LICENSE_EXPIRED");
    let err = app.validate_async().await.expect_err("expired");
    assert_eq!(err.code(), "LICENSE_EXPIRED", "{err}");
    let p = api.only_purchase().await;
    let (_, lic) = api
        .admin_get(&format!(
            "/v1/admin/licenses/{}",
            p["licenses"][0].as_str().expect("id")
        ))
        .await;
    assert_eq!(lic["status"], "ACTIVE", "expired, not revoked: {lic}");
    assert_eq!(p["status"], "COMPLETED");
    assert_eq!(
        api.mails(1).await.len(),
        1,
        "renewals send no delivery email"
    );
}

#[tokio::test]
async fn a_subscription_lifecycle_in_the_shape_before_2025() {
    lifecycle(Shape::Before2025).await;
}

#[tokio::test]
async fn a_subscription_lifecycle_in_the_basil_shape() {
    lifecycle(Shape::Basil).await;
}

/// Stripe delivers at least once and in any order. If renewals were not idempotent on the
/// invoice or could move an expiry back, a late or repeated delivery would cut a paying
/// customer off or mint a second license.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeated_and_reordered_renewals_never_shorten_or_duplicate() {
    let api = Arc::new(shop().await);
    let t0 = api.server.clock_now();
    api.billing_event(&checkout("evt_c")).await;
    let key = api.subscription_key().await;
    assert_eq!(api.activate(&key, "v1:http").await.0, StatusCode::OK);
    // Before any invoice: the grace from the checkout (a second may pass meanwhile).
    let expires = validated(&api, &key).await.0.expect("an expiry");
    assert!(
        (t0 + GRACE..=api.server.clock_now() + GRACE).contains(&expires),
        "{expires} vs {t0}"
    );

    // Five renewals in both shapes, newest first, each delivered three times at once.
    let mut bodies = Vec::new();
    for n in (1..=5i64).rev() {
        let shape = if n % 2 == 0 {
            Shape::Basil
        } else {
            Shape::Before2025
        };
        for copy in 0..3 {
            bodies.push(invoice(
                shape,
                "invoice.paid",
                &format!("evt_{n}_{copy}"),
                &format!("in_{n}"),
                t0 + n * PERIOD,
                t0,
            ));
        }
    }
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|b| {
            let api = api.clone();
            tokio::spawn(async move {
                let sig = licet_server::testkit::internals::stripe::sign(
                    b.as_bytes(),
                    SECRET,
                    api.server.clock_now(),
                );
                api.http
                    .post(api.server.url("/v1/webhooks/stripe"))
                    .header("stripe-signature", sig)
                    .header("content-type", "application/json")
                    .body(b)
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    for t in tasks {
        let status = t.await.expect("task").expect("sent");
        // A delivery that lost a race may be answered 500; Stripe retries it.
        assert!(status == StatusCode::OK || status == StatusCode::INTERNAL_SERVER_ERROR);
    }
    for n in 1..=5i64 {
        api.billing_event(&invoice(
            Shape::Basil,
            "invoice.paid",
            &format!("evt_{n}_retry"),
            &format!("in_{n}"),
            t0 + n * PERIOD,
            t0,
        ))
        .await;
    }
    assert_eq!(validated(&api, &key).await.0, Some(t0 + 5 * PERIOD + GRACE));
    let p = api.only_purchase().await;
    assert_eq!(p["licenses"].as_array().map(Vec::len), Some(1), "{p}");
    assert_eq!(p["subscription"]["paid_through"], t0 + 5 * PERIOD);
    assert_eq!(p["subscription"]["monthly_amount"], json!(null));
}

/// The admin API shows a purchase's subscription: its price, its monthly revenue, its period.
#[tokio::test]
async fn subscription_details_reach_the_admin_api() {
    let api = shop().await;
    let t0 = api.server.clock_now();
    api.billing_event(&checkout("evt_c")).await;
    api.billing_event(&subscription(
        Shape::Basil,
        "customer.subscription.created",
        "evt_created",
        "active",
        t0 + PERIOD,
        false,
        t0,
    ))
    .await;
    let p = api.only_purchase().await;
    let s = &p["subscription"];
    assert_eq!(s["id"], "sub_1PLicetSubscription", "{p}");
    assert_eq!(s["price_id"], PRICE);
    assert_eq!(s["monthly_amount"], 1500);
    assert_eq!(s["currency"], "usd");
    assert_eq!(s["period_end"], t0 + PERIOD);
}

/// The customer reads "Renews on …" / "Payment failed on …" with a link to the billing
/// portal; the vendor sees the state on the purchase and license and MRR on the overview.
#[tokio::test]
async fn the_portal_and_dashboard_show_where_a_subscription_stands() {
    let api = shop().await;
    let t0 = api.server.clock_now();
    let end = t0 + PERIOD;
    api.billing_event(&checkout("evt_c")).await;
    api.billing_event(&invoice(
        Shape::Basil,
        "invoice.paid",
        "evt_i",
        "in_1",
        end,
        t0,
    ))
    .await;
    api.billing_event(&subscription(
        Shape::Before2025,
        "customer.subscription.created",
        "evt_s",
        "active",
        end,
        false,
        t0,
    ))
    .await;
    let p = api.only_purchase().await;
    let id = str_of(&p, "id");
    let renews = format!(
        "Renews on {}",
        licet_server::testkit::internals::dates::date(end)
    );

    let customer = crate::portal::signed_in_browser(&api, "ada@example.com").await;
    let page = |b: reqwest::Client, path: String| {
        let url = api.server.url(&path);
        async move { html_of(&b, &url).await }
    };
    let html = page(customer.clone(), format!("/portal/purchases/{id}")).await;
    assert!(html.contains(&renews), "{html}");
    assert!(
        html.contains("https://billing.stripe.com/p/login/test_licet"),
        "the billing portal link: {html}"
    );

    api.billing_event(&invoice(
        Shape::Basil,
        "invoice.payment_failed",
        "evt_f",
        "in_2",
        end + PERIOD,
        end,
    ))
    .await;
    let html = page(customer, format!("/portal/purchases/{id}")).await;
    assert!(html.contains("Payment failed on"), "{html}");

    let (vendor, _) = signed_in(&api).await;
    let html = page(vendor.clone(), format!("/admin/purchases/{id}")).await;
    assert!(html.contains("Payment failed on"), "{html}");
    let lic = p["licenses"][0].as_str().expect("id").to_owned();
    let html = page(vendor.clone(), format!("/admin/licenses/{lic}")).await;
    assert!(html.contains("Payment failed"), "{html}");
    let html = page(vendor, "/admin".into()).await;
    assert!(html.contains("1</strong> active subscriptions"), "{html}");
    assert!(html.contains("15.00 USD MRR"), "{html}");
    assert!(html.contains("id=\"mrr-t\""), "the MRR chart: {html}");
}
