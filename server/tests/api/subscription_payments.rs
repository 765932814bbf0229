//! Refunds and disputes of subscription payments: a subscription-mode checkout has no
//! payment intent of its own, so the invoices' payments lead a charge to the purchase.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::subscriptions::{PERIOD, Shape, checkout, fixture, invoice, shop, shop_with};
use crate::support::*;

/// A charge event (`charge.refunded` or `charge.dispute.created`) for payment `pi`.
fn charge_event(kind: &str, event: &str, pi: &str, created: i64) -> String {
    let mut e = fixture(kind);
    e["id"] = event.into();
    e["created"] = created.into();
    e["data"]["object"]["payment_intent"] = pi.into();
    e.to_string()
}

/// A subscription's payments are not the purchase's own (a subscription-mode checkout has
/// no payment intent): the invoices name them, before 2025 on the invoice itself and in
/// basil through `invoice_payment.paid`. A refund or a dispute of one still reaches the
/// license, as for a one-off purchase.
#[tokio::test]
async fn refunds_and_disputes_of_subscription_payments_reach_the_license() {
    for shape in [Shape::Before2025, Shape::Basil] {
        let api = shop().await;
        let t0 = api.server.clock_now();
        let mut first: Value = serde_json::from_str(&invoice(
            shape,
            "invoice.paid",
            "evt_inv1",
            "in_1",
            t0 + PERIOD,
            t0,
        ))
        .expect("json");
        first["data"]["object"]["billing_reason"] = "subscription_create".into();
        let pi = "pi_3LicetFirstPayment";
        match shape {
            Shape::Before2025 => first["data"]["object"]["payment_intent"] = pi.into(),
            Shape::Basil => {
                first["data"]["object"]
                    .as_object_mut()
                    .map(|o| o.remove("payment_intent"));
            }
        }
        api.billing_event(&checkout("evt_checkout")).await;
        api.billing_event(&first.to_string()).await;
        if shape == Shape::Basil {
            let paid = json!({
                "id": "evt_invoice_payment", "object": "event", "api_version": "2025-03-31.basil",
                "created": t0, "type": "invoice_payment.paid",
                "data": { "object": {
                    "id": "inpay_1LicetPayment", "object": "invoice_payment", "amount_paid": 1500,
                    "amount_requested": 1500, "currency": "usd", "invoice": "in_1",
                    "is_default": true, "livemode": false,
                    "payment": { "type": "payment_intent", "payment_intent": pi },
                    "status": "paid",
                    "status_transitions": { "canceled_at": null, "paid_at": t0 }
                } }
            });
            api.billing_event(&paid.to_string()).await;
        }
        let key = api.subscription_key().await;
        assert_eq!(api.activate(&key, "v1:http").await.0, StatusCode::OK);

        api.billing_event(&charge_event(
            "charge.dispute.created",
            "evt_dispute",
            pi,
            t0,
        ))
        .await;
        let (status, body) = api.validate(&key, "v1:http").await;
        assert_error(status, &body, 403, "LICENSE_SUSPENDED");

        api.billing_event(&charge_event("charge.refunded", "evt_refund", pi, t0))
            .await;
        let (status, body) = api.validate(&key, "v1:http").await;
        assert_error(status, &body, 403, "LICENSE_REVOKED");
        assert_eq!(api.only_purchase().await["status"], "REFUNDED", "{shape:?}");
    }
}

/// With `renewal_receipts` on, each renewal paid sends one short receipt (never the first
/// payment, which has its delivery email, and never twice for one invoice); off by default.
#[tokio::test]
async fn renewal_receipts_are_sent_once_per_renewal_when_the_vendor_turns_them_on() {
    for (on, want) in [(false, 1), (true, 2)] {
        let api = shop_with(|c| c.renewal_receipts = on).await;
        let t0 = api.server.clock_now();
        let mut first: Value = serde_json::from_str(&invoice(
            Shape::Basil,
            "invoice.paid",
            "evt_inv1",
            "in_1",
            t0 + PERIOD,
            t0,
        ))
        .expect("json");
        first["data"]["object"]["billing_reason"] = "subscription_create".into();
        api.billing_event(&first.to_string()).await;
        api.billing_event(&checkout("evt_checkout")).await;
        let renewal = invoice(
            Shape::Basil,
            "invoice.paid",
            "evt_inv2",
            "in_2",
            t0 + 2 * PERIOD,
            t0 + PERIOD,
        );
        api.billing_event(&renewal).await;
        api.billing_event(&renewal.replace("evt_inv2", "evt_inv2_again"))
            .await;
        let mails = api.mails(want).await;
        assert_eq!(mails.len(), want, "receipts {on}: {mails:?}");
        let receipts: Vec<&String> = mails
            .iter()
            .filter(|m| m.contains("Your subscription was renewed"))
            .collect();
        assert_eq!(receipts.len(), want - 1);
        if on {
            assert!(receipts[0].contains("15.00 USD"), "{}", receipts[0]);
        }
    }
}
