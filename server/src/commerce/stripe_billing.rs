//! The fields Licet reads from Stripe Billing's objects (invoices and subscriptions), in both
//! the shapes before API version 2025-03-31 ("basil") and after it.
//!
//! What moved in basil: an invoice's subscription went from `subscription` to
//! `parent.subscription_details.subscription`; a line's subscription went from
//! `subscription` / `type: "subscription"` to `parent.subscription_item_details`; a
//! subscription's `current_period_end` went onto its items (`items.data[].current_period_end`).
//! An endpoint receives the shape of the API version it was created with, so both are read.
//! An invoice's own `period_end` is not used: for subscription invoices it is the end of
//! the period *before* the one paid for; the lines carry the paid period.

use licet_proto::SubscriptionStatus;
use serde_json::Value;

/// What an invoice says about a subscription's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// `in_…`.
    pub id: String,
    /// The subscription it bills, when it bills one.
    pub subscription_id: Option<String>,
    /// End of the period it bills for: the latest `period.end` of its subscription lines.
    pub period_end: Option<i64>,
    /// `amount_paid`.
    pub amount_paid: Option<i64>,
    /// `currency`.
    pub currency: Option<String>,
    /// `billing_reason`, e.g. `subscription_cycle`.
    pub billing_reason: Option<String>,
    /// The payment intents that paid it: `payment_intent` before basil,
    /// `payments.data[].payment.payment_intent` in basil (when the event includes them;
    /// else `invoice_payment.paid` brings them, see [`InvoicePayment`]).
    pub payment_ids: Vec<String>,
}

/// A basil `invoice_payment` object: which payment paid which invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicePayment {
    /// `in_…`.
    pub invoice_id: String,
    /// `pi_…`.
    pub payment_id: String,
}

impl InvoicePayment {
    /// Reads an `invoice_payment` object paid by a payment intent; `None` otherwise.
    pub fn from_object(o: &Value) -> Option<Self> {
        if o.get("object").and_then(Value::as_str) != Some("invoice_payment") {
            return None;
        }
        Some(Self {
            invoice_id: id_of(o.get("invoice"))?,
            payment_id: id_of(o.get("payment").and_then(|p| p.get("payment_intent")))?,
        })
    }
}

/// What a subscription object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `sub_…`.
    pub id: String,
    /// Stripe's status folded into Licet's; `None` for a status Licet does not know.
    pub status: Option<SubscriptionStatus>,
    /// End of the current period: `current_period_end`, or the latest of its items'.
    pub period_end: Option<i64>,
    /// True when it ends at the period's end (`cancel_at_period_end`, or a `cancel_at` at
    /// the period's end, as newer dashboards set it).
    pub cancel_at_period_end: bool,
    /// The price of its first item.
    pub price_id: Option<String>,
    /// Monthly recurring revenue of all its items, smallest currency unit.
    pub monthly_amount: Option<i64>,
    /// `currency`.
    pub currency: Option<String>,
}

/// An id that may be expanded into its object.
fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(id) => Some(id.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn list<'a>(o: &'a Value, field: &str) -> &'a [Value] {
    o.get(field)
        .and_then(|l| l.get("data"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

impl Invoice {
    /// Reads an `invoice` object; `None` if it is not one.
    pub fn from_object(o: &Value) -> Option<Self> {
        if o.get("object").and_then(Value::as_str) != Some("invoice") {
            return None;
        }
        let subscription_id = id_of(o.get("subscription")).or_else(|| {
            id_of(
                o.get("parent")
                    .and_then(|p| p.get("subscription_details"))
                    .and_then(|d| d.get("subscription")),
            )
        });
        let lines = list(o, "lines");
        let is_subscription_line = |l: &Value| {
            l.get("type").and_then(Value::as_str) == Some("subscription")
                || l.get("parent")
                    .and_then(|p| p.get("type"))
                    .and_then(Value::as_str)
                    == Some("subscription_item_details")
        };
        let end = |l: &Value| {
            l.get("period")
                .and_then(|p| p.get("end"))
                .and_then(Value::as_i64)
        };
        let period_end = lines
            .iter()
            .filter(|l| is_subscription_line(l))
            .filter_map(end)
            .max()
            .or_else(|| lines.iter().filter_map(end).max());
        Some(Self {
            id: o.get("id")?.as_str()?.to_owned(),
            subscription_id,
            period_end,
            amount_paid: o.get("amount_paid").and_then(Value::as_i64),
            currency: o.get("currency").and_then(Value::as_str).map(str::to_owned),
            billing_reason: o
                .get("billing_reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
            payment_ids: id_of(o.get("payment_intent"))
                .into_iter()
                .chain(
                    list(o, "payments").iter().filter_map(|p| {
                        id_of(p.get("payment").and_then(|p| p.get("payment_intent")))
                    }),
                )
                .collect(),
        })
    }
}

/// Stripe's subscription statuses as Licet's; `None` for one it does not know.
pub fn status(stripe: &str) -> Option<SubscriptionStatus> {
    match stripe {
        "active" | "trialing" => Some(SubscriptionStatus::Active),
        "past_due" | "unpaid" | "incomplete" | "paused" => Some(SubscriptionStatus::PastDue),
        "canceled" | "incomplete_expired" => Some(SubscriptionStatus::Canceled),
        _ => None,
    }
}

/// A recurring price's amount per month, rounded to the smallest currency unit.
fn monthly(item: &Value) -> Option<i64> {
    let price = item.get("price").or_else(|| item.get("plan"))?;
    let unit = price
        .get("unit_amount")
        .or_else(|| price.get("amount"))
        .and_then(Value::as_i64)?;
    let quantity = item.get("quantity").and_then(Value::as_i64).unwrap_or(1);
    let recurring = price.get("recurring").unwrap_or(price);
    let interval = recurring.get("interval").and_then(Value::as_str)?;
    let count = recurring
        .get("interval_count")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(1);
    // Amount per interval × (months per year / intervals per year), in 128 bits.
    let per_year: i128 = match interval {
        "day" => 365,
        "week" => 52,
        "month" => 12,
        "year" => 1,
        _ => return None,
    };
    let total = i128::from(unit) * i128::from(quantity) * per_year;
    let divisor = 12 * i128::from(count);
    i64::try_from((total + divisor / 2) / divisor).ok()
}

impl Subscription {
    /// Reads a `subscription` object; `None` if it is not one.
    pub fn from_object(o: &Value) -> Option<Self> {
        if o.get("object").and_then(Value::as_str) != Some("subscription") {
            return None;
        }
        let items = list(o, "items");
        let period_end = o
            .get("current_period_end")
            .and_then(Value::as_i64)
            .or_else(|| {
                items
                    .iter()
                    .filter_map(|i| i.get("current_period_end").and_then(Value::as_i64))
                    .max()
            });
        let cancel_at = o.get("cancel_at").and_then(Value::as_i64);
        let cancel_at_period_end = o
            .get("cancel_at_period_end")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || matches!((cancel_at, period_end), (Some(c), Some(p)) if c <= p);
        let amounts: Option<Vec<i64>> = items.iter().map(monthly).collect();
        Some(Self {
            id: o.get("id")?.as_str()?.to_owned(),
            status: o.get("status").and_then(Value::as_str).and_then(status),
            period_end,
            cancel_at_period_end,
            price_id: items
                .first()
                .and_then(|i| id_of(i.get("price").or_else(|| i.get("plan")))),
            monthly_amount: amounts.filter(|a| !a.is_empty()).map(|a| a.iter().sum()),
            currency: o.get("currency").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).expect("json")
    }

    #[test]
    fn invoices_name_their_subscription_and_paid_period_in_both_shapes() {
        // (invoice object, subscription, period end)
        let cases: &[(&str, Option<&str>, Option<i64>)] = &[
            // Before basil: top-level `subscription`, lines of `type: subscription`; the
            // invoice's own period_end (the previous period) is not what was paid for.
            (
                r#"{"object":"invoice","id":"in_1","subscription":"sub_1","period_end":100,
                    "lines":{"data":[{"type":"subscription","period":{"start":100,"end":200}}]}}"#,
                Some("sub_1"),
                Some(200),
            ),
            // Basil: `parent.subscription_details.subscription`, lines with a parent.
            (
                r#"{"object":"invoice","id":"in_2","subscription":null,
                    "parent":{"type":"subscription_details","subscription_details":{"subscription":"sub_2"}},
                    "lines":{"data":[{"parent":{"type":"subscription_item_details"},"period":{"start":1,"end":300}},
                                     {"parent":{"type":"invoice_item_details"},"period":{"start":1,"end":999}}]}}"#,
                Some("sub_2"),
                Some(300),
            ),
            // An expanded subscription; lines without a type still give a period.
            (
                r#"{"object":"invoice","id":"in_3","subscription":{"id":"sub_3"},
                    "lines":{"data":[{"period":{"end":400}},{"period":{"end":350}}]}}"#,
                Some("sub_3"),
                Some(400),
            ),
            // A one-off invoice: no subscription, no lines.
            (r#"{"object":"invoice","id":"in_4"}"#, None, None),
        ];
        for (text, sub, end) in cases {
            let inv = Invoice::from_object(&json(text)).expect("an invoice");
            assert_eq!(inv.subscription_id.as_deref(), *sub, "{text}");
            assert_eq!(inv.period_end, *end, "{text}");
        }
        assert_eq!(
            Invoice::from_object(&json(r#"{"object":"charge","id":"ch"}"#)),
            None
        );
    }

    #[test]
    fn subscriptions_read_their_period_from_the_top_or_from_their_items() {
        let old = json(
            r#"{"object":"subscription","id":"sub_1","status":"active","current_period_end":500,
                "cancel_at_period_end":false,"currency":"usd",
                "items":{"data":[{"price":{"id":"price_m","unit_amount":1000,"recurring":{"interval":"month","interval_count":1}},"quantity":2}]}}"#,
        );
        let new = json(
            r#"{"object":"subscription","id":"sub_2","status":"past_due","cancel_at":600,
                "cancel_at_period_end":false,"currency":"eur",
                "items":{"data":[{"current_period_end":600,"price":{"id":"price_y","unit_amount":12000,"recurring":{"interval":"year","interval_count":1}},"quantity":1}]}}"#,
        );
        assert_eq!(
            Subscription::from_object(&old),
            Some(Subscription {
                id: "sub_1".into(),
                status: Some(SubscriptionStatus::Active),
                period_end: Some(500),
                cancel_at_period_end: false,
                price_id: Some("price_m".into()),
                monthly_amount: Some(2000),
                currency: Some("usd".into()),
            })
        );
        assert_eq!(
            Subscription::from_object(&new),
            Some(Subscription {
                id: "sub_2".into(),
                status: Some(SubscriptionStatus::PastDue),
                period_end: Some(600),
                cancel_at_period_end: true,
                price_id: Some("price_y".into()),
                monthly_amount: Some(1000),
                currency: Some("eur".into()),
            })
        );
    }

    #[test]
    fn stripe_statuses_fold_into_three() {
        let cases = [
            ("active", Some(SubscriptionStatus::Active)),
            ("trialing", Some(SubscriptionStatus::Active)),
            ("past_due", Some(SubscriptionStatus::PastDue)),
            ("unpaid", Some(SubscriptionStatus::PastDue)),
            ("canceled", Some(SubscriptionStatus::Canceled)),
            ("incomplete_expired", Some(SubscriptionStatus::Canceled)),
            ("something_new", None),
        ];
        for (s, want) in cases {
            assert_eq!(status(s), want, "{s}");
        }
    }
}
