//! Stripe webhooks: signature verification exactly as Stripe specifies, and the few fields
//! Licet reads from Stripe's event objects.
//!
//! `Stripe-Signature: t=1712345678,v1=<hex>,v1=<hex>,v0=<hex>`: the signed payload is
//! `"{t}.{raw body}"`, the MAC is HMAC-SHA256 keyed with the endpoint secret's bytes (the
//! whole `whsec_…` string, not base64-decoded). Any `v1` may match any configured secret
//! (secret rotation); `v0` and unknown schemes are ignored; the timestamp must be within
//! the tolerance (300 s) of now, both ways.

use serde_json::Value;

use crate::platform::crypto::{ct_eq, hex, hmac_sha256};

/// Default timestamp tolerance, as Stripe's libraries use.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header, or no `t=` in it.
    #[error("missing or malformed Stripe-Signature header")]
    Malformed,
    /// No `v1=` signature in the header.
    #[error("no v1 signature in the Stripe-Signature header")]
    NoSignature,
    /// The timestamp is outside the tolerance (a replay, or a badly wrong clock).
    #[error("the signature timestamp is outside the tolerance")]
    Stale,
    /// No `v1` matches any configured secret.
    #[error("no signature matches")]
    Mismatch,
}

/// Verifies `header` for `payload` against any of `secrets`.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[String],
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" => timestamp = v.parse::<i64>().ok(),
            "v1" => signatures.push(v),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    if (now - t).abs() > tolerance {
        return Err(SignatureError::Stale);
    }
    let mut signed = Vec::with_capacity(payload.len() + 16);
    signed.extend_from_slice(t.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(payload);
    let mut matched = false;
    for secret in secrets {
        let expected = hex(&hmac_sha256(secret.as_bytes(), &signed));
        for sig in &signatures {
            // Every pair is compared, in constant time, so timing tells nothing.
            matched |= ct_eq(expected.as_bytes(), sig.as_bytes());
        }
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Signs a payload the way Stripe does (for tests and for tools that replay events).
#[cfg(feature = "testkit")]
pub fn sign(payload: &[u8], secret: &str, t: i64) -> String {
    let mut signed = t.to_string().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(payload);
    format!("t={t},v1={}", hex(&hmac_sha256(secret.as_bytes(), &signed)))
}

/// The parts of a Stripe event Licet acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `evt_…`, unique per event.
    pub id: String,
    /// e.g. `checkout.session.completed`.
    pub kind: String,
    /// `data.object`.
    pub object: Value,
    /// `created`, Unix seconds (0 when absent): orders events about one object.
    pub created: i64,
}

impl Event {
    /// Reads the envelope; `None` if it is not a Stripe event.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(body).ok()?;
        if v.get("object")?.as_str()? != "event" {
            return None;
        }
        Some(Self {
            id: v.get("id")?.as_str()?.to_owned(),
            kind: v.get("type")?.as_str()?.to_owned(),
            object: v.get("data")?.get("object")?.clone(),
            created: v.get("created").and_then(Value::as_i64).unwrap_or(0),
        })
    }

    /// A string field of the object.
    pub fn str(&self, field: &str) -> Option<&str> {
        self.object.get(field).and_then(Value::as_str)
    }
}

/// What a checkout session says about a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// `cs_…`.
    pub session_id: String,
    /// `pi_…`, when the session created a payment intent.
    pub payment_id: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    /// `customer_details.email` (or `customer_email`).
    pub email: Option<String>,
    /// Product slugs from `metadata.licet_product` (comma-separated).
    pub product_slugs: Vec<String>,
    /// Price ids of the line items, when the session carries them.
    pub price_ids: Vec<String>,
    /// `amount_total`, in the currency's smallest unit.
    pub amount: Option<i64>,
    /// `currency`.
    pub currency: Option<String>,
    /// The subscription it started (`mode: "subscription"`), if any.
    pub subscription_id: Option<String>,
}

impl Checkout {
    /// Reads a `checkout.session` object.
    pub fn from_object(o: &Value) -> Option<Self> {
        let s = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).map(str::to_owned);
        let email = o
            .get("customer_details")
            .and_then(|d| s(d, "email"))
            .or_else(|| s(o, "customer_email"));
        let product_slugs = o
            .get("metadata")
            .and_then(|m| s(m, "licet_product"))
            .map(|p| {
                p.split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let price_ids = o
            .get("line_items")
            .and_then(|l| l.get("data"))
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.get("price").and_then(|p| s(p, "id")))
                    .collect()
            })
            .unwrap_or_default();
        let payment_id = match o.get("payment_intent") {
            Some(Value::String(id)) => Some(id.clone()),
            Some(Value::Object(pi)) => pi.get("id").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        Some(Self {
            session_id: s(o, "id")?,
            payment_id,
            payment_status: s(o, "payment_status").unwrap_or_default(),
            email,
            product_slugs,
            price_ids,
            amount: o.get("amount_total").and_then(Value::as_i64),
            currency: s(o, "currency"),
            subscription_id: match o.get("subscription") {
                Some(Value::String(id)) => Some(id.clone()),
                Some(Value::Object(sub)) => {
                    sub.get("id").and_then(Value::as_str).map(str::to_owned)
                }
                _ => None,
            }
            .filter(|_| s(o, "mode").as_deref() == Some("subscription")),
        })
    }

    /// True when the money is in (or none was needed): time to fulfil.
    pub fn is_paid(&self) -> bool {
        matches!(self.payment_status.as_str(), "paid" | "no_payment_required")
    }
}

/// The payment intent a charge or dispute object belongs to.
pub fn payment_of(o: &Value) -> Option<String> {
    match o.get("payment_intent") {
        Some(Value::String(id)) => Some(id.clone()),
        Some(Value::Object(pi)) => pi.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// True when a `charge` object is refunded in full.
pub fn is_full_refund(charge: &Value) -> bool {
    let refunded = charge
        .get("refunded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let amount = charge.get("amount").and_then(Value::as_i64);
    let amount_refunded = charge.get("amount_refunded").and_then(Value::as_i64);
    refunded || matches!((amount, amount_refunded), (Some(a), Some(r)) if a > 0 && r >= a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn a_stripe_signature_verifies_and_a_changed_body_does_not() {
        let body = br#"{"id":"evt_1","object":"event"}"#;
        let header = sign(body, SECRET, 1_700_000_000);
        assert_eq!(
            verify(
                Some(&header),
                body,
                &[SECRET.into()],
                1_700_000_100,
                TOLERANCE_SECS
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                Some(&header),
                b"{}",
                &[SECRET.into()],
                1_700_000_100,
                TOLERANCE_SECS
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                Some(&header),
                body,
                &[SECRET.into()],
                1_700_000_301,
                TOLERANCE_SECS
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(None, body, &[SECRET.into()], 0, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some("t=1"), body, &[SECRET.into()], 1, 300),
            Err(SignatureError::NoSignature)
        );
    }

    #[test]
    fn any_v1_may_match_any_secret_during_rotation() {
        let body = b"{}";
        let old = sign(body, "whsec_old", 10);
        let new = sign(body, "whsec_new", 10);
        let both = format!(
            "{},{},v0=ignored",
            new,
            old.split(',').nth(1).unwrap_or_default()
        );
        assert_eq!(
            verify(Some(&both), body, &["whsec_old".into()], 10, 300),
            Ok(())
        );
        assert_eq!(
            verify(
                Some(&old),
                body,
                &["whsec_other".into(), "whsec_old".into()],
                10,
                300
            ),
            Ok(())
        );
    }

    fn checkout(json: &str) -> Option<Checkout> {
        Checkout::from_object(&serde_json::from_str(json).expect("json"))
    }

    #[test]
    fn checkout_sessions_yield_the_purchase_fields() {
        // (session object, what Licet reads from it)
        let cases: &[(&str, Option<Checkout>)] = &[
            (
                r#"{"id":"cs_1","payment_intent":"pi_1","payment_status":"paid",
                    "customer_details":{"email":"ada@example.com"},
                    "metadata":{"licet_product":"photo, video,,"},
                    "amount_total":4900,"currency":"eur"}"#,
                Some(Checkout {
                    session_id: "cs_1".into(),
                    payment_id: Some("pi_1".into()),
                    payment_status: "paid".into(),
                    email: Some("ada@example.com".into()),
                    product_slugs: vec!["photo".into(), "video".into()],
                    price_ids: vec![],
                    amount: Some(4900),
                    currency: Some("eur".into()),
                    subscription_id: None,
                }),
            ),
            // An expanded payment intent, the older `customer_email`, and line items.
            (
                r#"{"id":"cs_2","payment_intent":{"id":"pi_2"},"payment_status":"unpaid",
                    "customer_email":"bob@example.com",
                    "line_items":{"data":[{"price":{"id":"price_a"}},{"price":{}},{"price":{"id":"price_b"}}]}}"#,
                Some(Checkout {
                    session_id: "cs_2".into(),
                    payment_id: Some("pi_2".into()),
                    payment_status: "unpaid".into(),
                    email: Some("bob@example.com".into()),
                    product_slugs: vec![],
                    price_ids: vec!["price_a".into(), "price_b".into()],
                    amount: None,
                    currency: None,
                    subscription_id: None,
                }),
            ),
            // `customer_details.email` wins over `customer_email`; no payment intent.
            (
                r#"{"id":"cs_3","payment_intent":null,"payment_status":"no_payment_required",
                    "customer_details":{"email":"new@example.com"},"customer_email":"old@example.com"}"#,
                Some(Checkout {
                    session_id: "cs_3".into(),
                    payment_id: None,
                    payment_status: "no_payment_required".into(),
                    email: Some("new@example.com".into()),
                    product_slugs: vec![],
                    price_ids: vec![],
                    amount: None,
                    currency: None,
                    subscription_id: None,
                }),
            ),
            // Without a session id it is not a checkout session.
            (r#"{"payment_status":"paid"}"#, None),
        ];
        for (json, want) in cases {
            assert_eq!(&checkout(json), want, "{json}");
        }
    }

    #[test]
    fn only_paid_or_free_sessions_are_paid() {
        let cases = [
            ("paid", true),
            ("no_payment_required", true),
            ("unpaid", false),
            ("", false),
        ];
        for (status, want) in cases {
            let c = checkout(&format!(r#"{{"id":"cs","payment_status":"{status}"}}"#));
            assert_eq!(c.map(|c| c.is_paid()), Some(want), "{status}");
        }
    }

    #[test]
    fn events_are_read_from_their_envelope() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            (
                r#"{"id":"evt_1","object":"event","type":"charge.refunded","data":{"object":{"id":"ch_1"}}}"#,
                Some(("evt_1", "charge.refunded")),
            ),
            (
                r#"{"id":"evt_1","object":"charge","type":"x","data":{"object":{}}}"#,
                None,
            ),
            (r#"{"id":"evt_1","object":"event","type":"x"}"#, None),
            (
                r#"{"object":"event","type":"x","data":{"object":{}}}"#,
                None,
            ),
            ("not json", None),
        ];
        for (body, want) in cases {
            let got = Event::parse(body.as_bytes());
            assert_eq!(
                got.as_ref().map(|e| (e.id.as_str(), e.kind.as_str())),
                *want,
                "{body}"
            );
        }
    }

    #[test]
    fn charges_and_disputes_name_their_payment_and_full_refunds() {
        // (charge or dispute object, its payment intent, refunded in full)
        let cases: &[(&str, Option<&str>, bool)] = &[
            (
                r#"{"payment_intent":"pi_1","refunded":true}"#,
                Some("pi_1"),
                true,
            ),
            (
                r#"{"payment_intent":{"id":"pi_2"},"amount":500,"amount_refunded":500}"#,
                Some("pi_2"),
                true,
            ),
            (
                r#"{"payment_intent":"pi_3","amount":500,"amount_refunded":200}"#,
                Some("pi_3"),
                false,
            ),
            (
                r#"{"payment_intent":"pi_4","amount":0,"amount_refunded":0}"#,
                Some("pi_4"),
                false,
            ),
            (r#"{"payment_intent":null,"refunded":false}"#, None, false),
            (r#"{}"#, None, false),
        ];
        for (json, payment, full) in cases {
            let o: Value = serde_json::from_str(json).expect("json");
            assert_eq!(payment_of(&o).as_deref(), *payment, "{json}");
            assert_eq!(is_full_refund(&o), *full, "{json}");
        }
    }
}
