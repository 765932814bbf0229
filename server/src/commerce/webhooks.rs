//! Payment-provider webhooks: Stripe's events, verified, stored once, then acted on.
//!
//! Every event is stored (unique on its id) before anything happens. A duplicate delivery of
//! a processed event is acknowledged and ignored; a delivery of an event whose earlier
//! processing failed is processed again. Business keys (one purchase per session and per
//! payment, one license per purchase and product, one email per purchase) make the same
//! payment reached through two different events fulfil once.

use licet_proto::ErrorCode;
use licet_proto::admin::PurchaseStatus;
use serde::Serialize;

use crate::auth::Actor;
use crate::commerce::Context;
use crate::commerce::sales::{self, NewPurchase};
use crate::commerce::stripe::{self, Checkout, Event};
use crate::commerce::stripe_billing::{Invoice, InvoicePayment, Subscription};
use crate::commerce::subscriptions;
use crate::platform::error::{Error, Result};

/// Actor name in the audit log of the Stripe-only operations (recording a purchase, its
/// refunds and disputes); fulfilment, which the vendor can also retry, takes [`Actor::Stripe`].
const ACTOR: &str = "stripe";

/// What the endpoint answers (2xx).
#[derive(Debug, Clone, Serialize)]
pub struct Ack {
    pub received: bool,
    /// True when this event had been processed before.
    pub duplicate: bool,
    /// True for event types Licet does not act on.
    pub ignored: bool,
}

/// Handles one delivery of a Stripe webhook.
pub async fn stripe(app: &impl Context, signature: Option<&str>, body: &[u8]) -> Result<Ack> {
    let secrets: Vec<String> = app
        .config()
        .stripe_webhook_secrets
        .iter()
        .map(|s| s.expose().to_owned())
        .collect();
    if secrets.is_empty() {
        return Err(Error::new(
            ErrorCode::NotFound,
            "Stripe webhooks are not configured on this server",
        ));
    }
    stripe::verify(signature, body, &secrets, app.now(), stripe::TOLERANCE_SECS)
        .map_err(|e| Error::new(ErrorCode::InvalidSignature, e.to_string()))?;
    let event =
        Event::parse(body).ok_or_else(|| Error::invalid("the body is not a Stripe event"))?;
    let payload = String::from_utf8_lossy(body);
    let fresh = app
        .store()
        .record_event(&event.id, "stripe", &event.kind, &payload, app.now())
        .await?;
    if !fresh && app.store().event_processed(&event.id).await? {
        return Ok(Ack {
            received: true,
            duplicate: true,
            ignored: false,
        });
    }
    match process(app, &event).await {
        Ok(ignored) => {
            app.store().finish_event(&event.id, app.now(), None).await?;
            Ok(Ack {
                received: true,
                duplicate: false,
                ignored,
            })
        }
        Err(e @ Error::Api { .. }) => {
            // A business failure (e.g. a session naming no known product) is recorded on the
            // purchase for the vendor; Stripe retrying would not fix it.
            app.store().finish_event(&event.id, app.now(), None).await?;
            tracing::warn!(event = %event.id, error = %e, "Stripe event could not be fulfilled");
            Ok(Ack {
                received: true,
                duplicate: false,
                ignored: false,
            })
        }
        Err(e) => {
            // Left unprocessed: Stripe's retry will process it.
            let _ = app
                .store()
                .finish_event(&event.id, app.now(), Some("internal error"))
                .await;
            Err(e)
        }
    }
}

/// Acts on an event; `Ok(true)` for types Licet ignores.
async fn process(app: &impl Context, event: &Event) -> Result<bool> {
    match event.kind.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let checkout = Checkout::from_object(&event.object)
                .ok_or_else(|| Error::invalid("not a checkout session"))?;
            let paid =
                checkout.is_paid() || event.kind == "checkout.session.async_payment_succeeded";
            let purchase = record_checkout(
                app,
                &checkout,
                if paid {
                    PurchaseStatus::Completed
                } else {
                    PurchaseStatus::Pending
                },
            )
            .await?;
            if let Some(subscription) = &checkout.subscription_id {
                // Before fulfilment, so the license is minted with the period paid so far.
                subscriptions::link(app, subscription, &purchase.id).await?;
            }
            if paid {
                if purchase.status == PurchaseStatus::Pending {
                    sales::set_status(
                        app,
                        ACTOR,
                        &purchase.id,
                        PurchaseStatus::Completed,
                        checkout.payment_id.as_deref(),
                    )
                    .await?;
                }
                sales::fulfil(app, Actor::Stripe, &purchase.id).await?;
            }
            Ok(false)
        }
        "checkout.session.async_payment_failed" => {
            let checkout = Checkout::from_object(&event.object)
                .ok_or_else(|| Error::invalid("not a checkout session"))?;
            let purchase = record_checkout(app, &checkout, PurchaseStatus::Failed).await?;
            if purchase.status == PurchaseStatus::Pending {
                sales::set_status(app, ACTOR, &purchase.id, PurchaseStatus::Failed, None).await?;
            }
            Ok(false)
        }
        "charge.refunded" => {
            let payment =
                stripe::payment_of(&event.object).filter(|_| stripe::is_full_refund(&event.object));
            if let Some(payment) = payment {
                sales::refund(app, ACTOR, "stripe", &payment).await?;
            }
            Ok(false)
        }
        "charge.dispute.created" => {
            if let Some(payment) = stripe::payment_of(&event.object) {
                sales::dispute_opened(app, ACTOR, "stripe", &payment).await?;
            }
            Ok(false)
        }
        "charge.dispute.closed" => {
            if let Some(payment) = stripe::payment_of(&event.object) {
                let won = event.str("status") == Some("won");
                sales::dispute_closed(app, ACTOR, "stripe", &payment, won).await?;
            }
            Ok(false)
        }
        // Stripe sends `invoice.paid` and `invoice.payment_succeeded` for one payment; the
        // invoice id makes them one.
        "invoice.paid" | "invoice.payment_succeeded" => {
            let invoice = Invoice::from_object(&event.object)
                .ok_or_else(|| Error::invalid("not an invoice"))?;
            subscriptions::payments_seen(
                app,
                &invoice.id,
                invoice.subscription_id.as_deref(),
                &invoice.payment_ids,
            )
            .await?;
            subscriptions::invoice_paid(app, ACTOR, &invoice).await?;
            Ok(invoice.subscription_id.is_none())
        }
        // Basil: which payment paid which invoice (refunds and disputes name the payment).
        "invoice_payment.paid" => {
            let Some(paid) = InvoicePayment::from_object(&event.object) else {
                return Ok(true);
            };
            subscriptions::payments_seen(
                app,
                &paid.invoice_id,
                None,
                std::slice::from_ref(&paid.payment_id),
            )
            .await?;
            Ok(false)
        }
        "invoice.payment_failed" => {
            let invoice = Invoice::from_object(&event.object)
                .ok_or_else(|| Error::invalid("not an invoice"))?;
            let at = if event.created > 0 {
                event.created
            } else {
                app.now()
            };
            subscriptions::payment_failed(app, ACTOR, &invoice, at).await?;
            Ok(invoice.subscription_id.is_none())
        }
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => {
            let subscription = Subscription::from_object(&event.object)
                .ok_or_else(|| Error::invalid("not a subscription"))?;
            let deleted = event.kind == "customer.subscription.deleted";
            subscriptions::state_changed(app, ACTOR, &subscription, event.created, deleted).await?;
            Ok(false)
        }
        _ => Ok(true),
    }
}

/// Records (or finds) the purchase of a checkout session. Products come from the session's
/// `licet_product` metadata and from line-item price ids mapped to products.
async fn record_checkout(
    app: &impl Context,
    c: &Checkout,
    status: PurchaseStatus,
) -> Result<crate::store::PurchaseRow> {
    let mut products = c.product_slugs.clone();
    if !c.price_ids.is_empty() {
        for product in app.store().products().await? {
            if product
                .price_id_list()
                .iter()
                .any(|p| c.price_ids.contains(p))
                && !products.contains(&product.slug)
            {
                products.push(product.slug.clone());
            }
        }
    }
    let email = c
        .email
        .clone()
        .ok_or_else(|| Error::invalid("the checkout session has no customer email"))?;
    sales::record(
        app,
        ACTOR,
        &NewPurchase {
            email,
            products,
            amount: c.amount,
            currency: c.currency.clone(),
            provider: "stripe".into(),
            session_id: Some(c.session_id.clone()),
            payment_id: c.payment_id.clone(),
            status,
        },
    )
    .await
}
