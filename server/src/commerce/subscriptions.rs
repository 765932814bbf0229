//! Subscriptions: a product sold by a recurring price keeps its license alive while the
//! subscription is paid.
//!
//! The rules, each a pure function of the subscription as stored (read under its lock) and
//! the event:
//! - a paid invoice moves the paid-through date forward (never back) and the licenses'
//!   expiry to it plus the product's grace; the same invoice twice does nothing;
//! - a failed renewal marks the subscription past due and shortens nothing; it is ignored
//!   when that period was paid already (the events crossed);
//! - a subscription event applies only when it is newer than the last one applied
//!   (Stripe's `created`), and a canceled subscription stays canceled;
//! - a deleted subscription ends its licenses at the end of what was paid: they expire
//!   then (they are not revoked: the customer did nothing wrong).
//!
//! Refunds and disputes of subscription payments go through `sales` as for any payment.

use licet_proto::SubscriptionStatus;
use licet_proto::admin::Subscription as SubscriptionView;

use crate::commerce::Context;
use crate::commerce::mail;
use crate::commerce::stripe_billing::{Invoice, Subscription};
use crate::platform::error::Result;
use crate::store::{
    LicenseEffect, NewAudit, PaidInvoice, SubscriptionChange, SubscriptionRow, SubscriptionWrite,
};

/// The provider of every subscription so far.
const PROVIDER: &str = "stripe";

/// Attaches a subscription to the purchase its checkout recorded.
pub async fn link(app: &impl Context, subscription_id: &str, purchase_id: &str) -> Result<()> {
    app.store()
        .link_subscription(subscription_id, PROVIDER, purchase_id, app.now())
        .await?;
    Ok(())
}

/// `invoice.paid`: a period paid for.
pub async fn invoice_paid(
    app: &impl Context,
    actor: &str,
    invoice: &Invoice,
) -> Result<SubscriptionChange> {
    let (Some(subscription), Some(period_end)) = (&invoice.subscription_id, invoice.period_end)
    else {
        return Ok(SubscriptionChange::Unchanged);
    };
    let now = app.now();
    let paid = PaidInvoice {
        id: invoice.id.clone(),
        period_end,
        amount_paid: invoice.amount_paid,
        billing_reason: invoice.billing_reason.clone(),
    };
    // A renewal (not the first payment, which has its delivery email) may send a receipt,
    // queued with the change, so a repeated invoice sends none.
    let receipt = match app.store().purchase_of_subscription(subscription).await? {
        Some(purchase)
            if app.config().renewal_receipts
                && invoice.billing_reason.as_deref() == Some("subscription_cycle") =>
        {
            Some(mail::renewal_receipt(
                app,
                &purchase,
                &paid,
                invoice.currency.as_deref(),
                now,
            ))
        }
        _ => None,
    };
    Ok(app
        .store()
        .change_subscription(subscription, PROVIDER, now, Some(&paid), None, |row, _| {
            let mut write = on_paid(row, &paid, actor, now);
            write.mail = receipt.filter(|_| row.purchase_id.is_some());
            Some(write)
        })
        .await?)
}

/// Remembers which payments paid an invoice (from the invoice, or from a basil
/// `invoice_payment.paid`), so a refund or dispute of one reaches the subscription's
/// purchase like any other payment's.
pub async fn payments_seen(
    app: &impl Context,
    invoice_id: &str,
    subscription_id: Option<&str>,
    payment_ids: &[String],
) -> Result<()> {
    for payment in payment_ids {
        app.store()
            .link_subscription_payment(payment, invoice_id, subscription_id)
            .await?;
    }
    Ok(())
}

/// `invoice.payment_failed`: a renewal not paid (yet).
pub async fn payment_failed(
    app: &impl Context,
    actor: &str,
    invoice: &Invoice,
    failed_at: i64,
) -> Result<SubscriptionChange> {
    let Some(subscription) = &invoice.subscription_id else {
        return Ok(SubscriptionChange::Unchanged);
    };
    let now = app.now();
    Ok(app
        .store()
        .change_subscription(
            subscription,
            PROVIDER,
            now,
            None,
            Some(&invoice.id),
            |row, paid_before| {
                on_failed(row, invoice.period_end, failed_at, paid_before, actor, now)
            },
        )
        .await?)
}

/// `customer.subscription.created|updated|deleted`: the subscription's own state.
pub async fn state_changed(
    app: &impl Context,
    actor: &str,
    subscription: &Subscription,
    event_at: i64,
    deleted: bool,
) -> Result<SubscriptionChange> {
    // A plan change grants the entitlements of the product the new price sells.
    let mut plan = None;
    if let Some(price) = &subscription.price_id {
        for product in app.store().products().await? {
            if product.price_id_list().contains(price) {
                plan = Some(product.entitlement_list());
                break;
            }
        }
    }
    let now = app.now();
    let event = StateEvent {
        subscription,
        event_at,
        deleted,
        plan,
    };
    Ok(app
        .store()
        .change_subscription(&subscription.id, PROVIDER, now, None, None, |row, _| {
            on_state(row, &event, actor, now)
        })
        .await?)
}

/// A purchase's subscription for the admin API and the pages.
pub async fn of_purchase(
    app: &impl Context,
    purchase_id: &str,
) -> Result<Option<SubscriptionView>> {
    Ok(app
        .store()
        .subscription_of_purchase(purchase_id)
        .await?
        .map(|r| view(&r)))
}

/// The wire view of a row.
pub fn view(r: &SubscriptionRow) -> SubscriptionView {
    SubscriptionView {
        id: r.id.clone(),
        status: r.status,
        period_end: r.period_end,
        paid_through: r.paid_through,
        cancel_at_period_end: r.cancels_at_period_end(),
        payment_failed_at: r.payment_failed_at,
        price_id: r.price_id.clone(),
        monthly_amount: r.monthly_amount,
        currency: r.currency.clone(),
        updated_at: r.updated_at,
    }
}

/// Monthly recurring revenue and live subscriptions per currency: `(currency, count,
/// amount)`.
pub async fn recurring_revenue(app: &impl Context) -> Result<Vec<(String, i64, i64)>> {
    Ok(app.store().recurring_revenue().await?)
}

fn audit(
    actor: &str,
    now: i64,
    action: &str,
    row: &SubscriptionRow,
    details: serde_json::Value,
) -> NewAudit {
    NewAudit::new(now, actor, action, ("subscription", &row.id), details)
}

/// A paid invoice: paid through the later of what was paid and this period; a failure of
/// this period or an earlier one is settled.
fn on_paid(
    current: &SubscriptionRow,
    inv: &PaidInvoice,
    actor: &str,
    now: i64,
) -> SubscriptionWrite {
    let mut row = current.clone();
    let paid_through = current
        .paid_through
        .map_or(inv.period_end, |p| p.max(inv.period_end));
    row.paid_through = Some(paid_through);
    if current.period_end.is_none_or(|p| p < paid_through) {
        row.period_end = Some(paid_through);
    }
    if current
        .failed_period_end
        .is_none_or(|failed| failed <= paid_through)
    {
        row.payment_failed_at = None;
        row.failed_period_end = None;
        if row.status == SubscriptionStatus::PastDue {
            row.status = SubscriptionStatus::Active;
        }
    }
    row.updated_at = now;
    // Once canceled, the end is set by the cancellation; a late invoice does not move it.
    let licenses = if row.status == SubscriptionStatus::Canceled {
        LicenseEffect::None
    } else {
        LicenseEffect::PaidThrough(paid_through)
    };
    SubscriptionWrite {
        mail: None,
        audit: Some(audit(
            actor,
            now,
            "subscription.paid",
            &row,
            serde_json::json!({ "invoice": inv.id, "period_end": inv.period_end,
                                "paid_through": paid_through, "billing_reason": inv.billing_reason }),
        )),
        row,
        licenses,
    }
}

/// A failed renewal: past due, unless that period was paid already or it ended.
fn on_failed(
    current: &SubscriptionRow,
    period_end: Option<i64>,
    failed_at: i64,
    paid_before: bool,
    actor: &str,
    now: i64,
) -> Option<SubscriptionWrite> {
    let settled = matches!((period_end, current.paid_through), (Some(f), Some(p)) if f <= p);
    if paid_before || settled || current.status == SubscriptionStatus::Canceled {
        return None;
    }
    let mut row = current.clone();
    row.status = SubscriptionStatus::PastDue;
    row.payment_failed_at = Some(
        current
            .payment_failed_at
            .map_or(failed_at, |a| a.max(failed_at)),
    );
    row.failed_period_end = period_end
        .or(current.failed_period_end)
        .or(current.period_end);
    row.updated_at = now;
    Some(SubscriptionWrite {
        mail: None,
        audit: Some(audit(
            actor,
            now,
            "subscription.payment_failed",
            &row,
            serde_json::json!({ "period_end": period_end }),
        )),
        row,
        licenses: LicenseEffect::None,
    })
}

/// A subscription event, with what Licet looked up for it.
struct StateEvent<'a> {
    subscription: &'a Subscription,
    /// Stripe's `created` of the event.
    event_at: i64,
    /// `customer.subscription.deleted`.
    deleted: bool,
    /// Entitlements of the product the subscription's price sells, if one does.
    plan: Option<Vec<String>>,
}

/// The subscription's own state, when the event is newer than the last applied.
fn on_state(
    current: &SubscriptionRow,
    e: &StateEvent<'_>,
    actor: &str,
    now: i64,
) -> Option<SubscriptionWrite> {
    let s = e.subscription;
    if current.status == SubscriptionStatus::Canceled && current.state_at > 0 {
        return None; // canceled is final: a late update does not revive it
    }
    if !e.deleted && e.event_at < current.state_at {
        return None; // an older state than the one stored
    }
    let mut row = current.clone();
    row.state_at = e.event_at.max(current.state_at);
    row.period_end = s.period_end.or(current.period_end);
    row.cancel_at_period_end = i64::from(s.cancel_at_period_end);
    row.price_id = s.price_id.clone().or_else(|| current.price_id.clone());
    row.monthly_amount = s.monthly_amount.or(current.monthly_amount);
    row.currency = s.currency.clone().or_else(|| current.currency.clone());
    row.updated_at = now;
    let paid_for_period =
        matches!((row.paid_through, row.period_end), (Some(p), Some(e)) if p >= e);
    row.status = match (e.deleted, s.status) {
        (true, _) | (_, Some(SubscriptionStatus::Canceled)) => SubscriptionStatus::Canceled,
        // Past due only while the current period is unpaid (the invoice may have crossed).
        (_, Some(SubscriptionStatus::PastDue)) if !paid_for_period => SubscriptionStatus::PastDue,
        (_, Some(_)) => {
            row.payment_failed_at = None;
            row.failed_period_end = None;
            SubscriptionStatus::Active
        }
        (_, None) => current.status,
    };
    let (licenses, action) = if row.status == SubscriptionStatus::Canceled {
        // The end of what was paid; if no payment was seen, the period the event names.
        match row.paid_through.or(s.period_end) {
            Some(end) => (LicenseEffect::EndAt(end), "subscription.canceled"),
            None => (LicenseEffect::None, "subscription.canceled"),
        }
    } else {
        let changed_plan = current.price_id.is_some() && current.price_id != row.price_id;
        match &e.plan {
            Some(entitlements) if changed_plan => (
                LicenseEffect::Entitlements(entitlements.clone()),
                "subscription.plan_changed",
            ),
            _ => (LicenseEffect::None, "subscription.updated"),
        }
    };
    Some(SubscriptionWrite {
        mail: None,
        audit: Some(audit(
            actor,
            now,
            action,
            &row,
            serde_json::json!({ "status": row.status.as_str(), "period_end": row.period_end,
                                "cancel_at_period_end": s.cancel_at_period_end,
                                "price": row.price_id }),
        )),
        row,
        licenses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn row() -> SubscriptionRow {
        let mut r = SubscriptionRow::new("sub_1", "stripe", 0);
        r.purchase_id = Some("pur_1".into());
        r
    }

    fn paid(id: &str, end: i64) -> PaidInvoice {
        PaidInvoice {
            id: id.into(),
            period_end: end,
            amount_paid: Some(1000),
            billing_reason: None,
        }
    }

    fn sub(status: SubscriptionStatus, end: i64, cancel: bool, price: &str) -> Subscription {
        Subscription {
            id: "sub_1".into(),
            status: Some(status),
            period_end: Some(end),
            cancel_at_period_end: cancel,
            price_id: Some(price.into()),
            monthly_amount: Some(1000),
            currency: Some("usd".into()),
        }
    }

    #[test]
    fn renewals_in_any_order_only_move_the_paid_date_forward() {
        let mut r = row();
        // (invoice period end, paid through after it)
        for (end, want) in [(300, 300), (200, 300), (400, 400), (350, 400)] {
            let w = on_paid(&r, &paid("in", end), "stripe", NOW);
            assert_eq!(w.row.paid_through, Some(want), "{end}");
            assert_eq!(w.licenses, LicenseEffect::PaidThrough(want), "{end}");
            r = w.row;
        }
    }

    #[test]
    fn a_failure_marks_past_due_until_a_payment_covers_its_period() {
        let mut r = row();
        r.paid_through = Some(100);
        r = on_failed(&r, Some(200), 150, false, "stripe", NOW)
            .expect("past due")
            .row;
        assert_eq!(r.status, SubscriptionStatus::PastDue);
        assert_eq!(r.payment_failed_at, Some(150));
        // A payment of an earlier period does not settle it; of that period, it does.
        let earlier = on_paid(&r, &paid("in_0", 100), "stripe", NOW).row;
        assert_eq!(earlier.status, SubscriptionStatus::PastDue);
        let settled = on_paid(&r, &paid("in_1", 200), "stripe", NOW).row;
        assert_eq!(settled.status, SubscriptionStatus::Active);
        assert_eq!(settled.payment_failed_at, None);
        // A failure arriving after its period was paid (the events crossed) is ignored,
        // as is one whose invoice was recorded paid.
        assert!(on_failed(&settled, Some(200), 150, false, "stripe", NOW).is_none());
        assert!(on_failed(&row(), Some(900), 150, true, "stripe", NOW).is_none());
    }

    #[test]
    fn older_subscription_events_are_ignored_and_canceled_is_final() {
        let mut r = row();
        let newer = sub(SubscriptionStatus::Active, 500, true, "price_a");
        let e = StateEvent {
            subscription: &newer,
            event_at: 20,
            deleted: false,
            plan: None,
        };
        r = on_state(&r, &e, "stripe", NOW).expect("applied").row;
        assert!(r.cancels_at_period_end());
        let older = sub(SubscriptionStatus::Active, 400, false, "price_a");
        let e = StateEvent {
            subscription: &older,
            event_at: 10,
            deleted: false,
            plan: None,
        };
        assert!(on_state(&r, &e, "stripe", NOW).is_none());

        r.paid_through = Some(500);
        let gone = sub(SubscriptionStatus::Canceled, 500, true, "price_a");
        let e = StateEvent {
            subscription: &gone,
            event_at: 30,
            deleted: true,
            plan: None,
        };
        let w = on_state(&r, &e, "stripe", NOW).expect("applied");
        assert_eq!(w.row.status, SubscriptionStatus::Canceled);
        assert_eq!(
            w.licenses,
            LicenseEffect::EndAt(500),
            "runs to the end of what was paid"
        );
        let revive = sub(SubscriptionStatus::Active, 600, false, "price_a");
        let e = StateEvent {
            subscription: &revive,
            event_at: 40,
            deleted: false,
            plan: None,
        };
        assert!(on_state(&w.row, &e, "stripe", NOW).is_none());
        // A late invoice of a canceled subscription does not extend its licenses.
        assert_eq!(
            on_paid(&w.row, &paid("in_9", 600), "stripe", NOW).licenses,
            LicenseEffect::None
        );
    }

    #[test]
    fn a_new_price_grants_its_products_entitlements() {
        let mut r = row();
        r.price_id = Some("price_basic".into());
        let pro = sub(SubscriptionStatus::Active, 500, false, "price_pro");
        let e = StateEvent {
            subscription: &pro,
            event_at: 1,
            deleted: false,
            plan: Some(vec!["pro".into()]),
        };
        let w = on_state(&r, &e, "stripe", NOW).expect("applied");
        assert_eq!(w.licenses, LicenseEffect::Entitlements(vec!["pro".into()]));
        // The same price again is no plan change.
        let e = StateEvent {
            subscription: &pro,
            event_at: 2,
            deleted: false,
            plan: Some(vec!["pro".into()]),
        };
        assert_eq!(
            on_state(&w.row, &e, "stripe", NOW)
                .expect("applied")
                .licenses,
            LicenseEffect::None
        );
    }

    #[test]
    fn past_due_from_stripe_holds_only_while_the_period_is_unpaid() {
        let mut r = row();
        r.paid_through = Some(500);
        let s = sub(SubscriptionStatus::PastDue, 500, false, "price_a");
        let e = StateEvent {
            subscription: &s,
            event_at: 1,
            deleted: false,
            plan: None,
        };
        assert_eq!(
            on_state(&r, &e, "stripe", NOW).expect("applied").row.status,
            SubscriptionStatus::Active
        );
        let s = sub(SubscriptionStatus::PastDue, 600, false, "price_a");
        let e = StateEvent {
            subscription: &s,
            event_at: 2,
            deleted: false,
            plan: None,
        };
        assert_eq!(
            on_state(&r, &e, "stripe", NOW).expect("applied").row.status,
            SubscriptionStatus::PastDue
        );
    }
}
