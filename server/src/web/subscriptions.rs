//! How a subscription reads on a page, the same in the portal and on the dashboard:
//! "Renews on …", "Ends on …", "Payment failed on …", "Ended on …".

use licet_proto::admin::Subscription;
use licet_proto::{SubscriptionClaim, SubscriptionStatus};
use maud::{Markup, html};

use crate::platform::dates::date;

/// One sentence: where the subscription stands and the date that matters.
pub(crate) fn state_text(s: &Subscription) -> String {
    let on = |t: Option<i64>| t.map(date).unwrap_or_else(|| "a date not known yet".into());
    match s.status {
        SubscriptionStatus::Canceled => format!("Ended on {}", on(s.paid_through.or(s.period_end))),
        SubscriptionStatus::PastDue => format!("Payment failed on {}", on(s.payment_failed_at)),
        SubscriptionStatus::Active if s.cancel_at_period_end => {
            format!("Ends on {}", on(s.period_end))
        }
        SubscriptionStatus::Active => format!("Renews on {}", on(s.period_end)),
    }
}

/// The same for a license's subscription as its lease states it.
pub(crate) fn claim_text(c: &SubscriptionClaim) -> String {
    let on = |t: Option<i64>| t.map(date).unwrap_or_else(|| "a date not known yet".into());
    match (c.status, c.renews_at(), c.ends_at()) {
        (SubscriptionStatus::PastDue, _, _) => "Payment failed; Stripe is retrying".into(),
        (SubscriptionStatus::Canceled, _, end) => format!("Ended on {}", on(end)),
        (_, Some(at), _) => format!("Renews on {}", date(at)),
        (_, None, end) => format!("Ends on {}", on(end)),
    }
}

/// The state as a badge-like line: the status class colours it.
pub(crate) fn state(s: &Subscription) -> Markup {
    let class = match s.status {
        SubscriptionStatus::Active => "status-active",
        SubscriptionStatus::PastDue => "status-suspended",
        SubscriptionStatus::Canceled => "status-revoked",
    };
    html! { span class=(class) { (state_text(s)) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(status: SubscriptionStatus, cancel: bool) -> Subscription {
        Subscription {
            id: "sub_1".into(),
            status,
            period_end: Some(1_795_745_638),
            paid_through: Some(951_782_400),
            cancel_at_period_end: cancel,
            payment_failed_at: Some(0),
            price_id: None,
            monthly_amount: None,
            currency: None,
            updated_at: 0,
        }
    }

    #[test]
    fn each_state_names_its_date() {
        let cases = [
            (
                sub(SubscriptionStatus::Active, false),
                "Renews on 2026-11-27",
            ),
            (sub(SubscriptionStatus::Active, true), "Ends on 2026-11-27"),
            (
                sub(SubscriptionStatus::PastDue, false),
                "Payment failed on 1970-01-01",
            ),
            (
                sub(SubscriptionStatus::Canceled, true),
                "Ended on 2000-02-29",
            ),
        ];
        for (s, want) in cases {
            assert_eq!(state_text(&s), want);
        }
    }
}
