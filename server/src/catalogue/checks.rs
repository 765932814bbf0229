//! The catalogue's input rules: what a slug, a name, a seat count, a list of entitlements,
//! Stripe price ids, metadata and an email address may be. Pure functions, so the rules
//! are tested here as tables; the admin API, the dashboard and the CLI all pass through them.

use super::{
    MAX_ENTITLEMENTS, MAX_METADATA_BYTES, MAX_SEATS, MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME,
};
use crate::platform::error::{Error, Result};
use licet_proto::api::{
    LicenseMetadata, MAX_LICENSE_METADATA_BYTES, MAX_LICENSE_METADATA_ENTRIES,
    MAX_LICENSE_METADATA_KEY_LEN,
};

pub(super) fn check_slug(slug: &str) -> Result<()> {
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if slug == "new" {
        // `/admin/products/new` is the dashboard's create form.
        return Err(Error::invalid(
            "the slug \"new\" is reserved; choose another",
        ));
    }
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "slug must be 1 to 64 of a-z, 0-9 and '-', not starting with '-'",
        ))
    }
}

pub(super) fn check_name(name: &str) -> Result<()> {
    let n = name.trim().chars().count();
    if n == 0 || n > 200 || name.chars().any(char::is_control) {
        return Err(Error::invalid("name must be 1 to 200 characters"));
    }
    Ok(())
}

pub(super) fn check_seats(seats: u32) -> Result<()> {
    if seats == 0 || seats > MAX_SEATS {
        return Err(Error::invalid(format!(
            "max_activations must be 1 to {MAX_SEATS}"
        )));
    }
    Ok(())
}

pub(super) fn check_duration(d: Option<i64>) -> Result<()> {
    if d.is_some_and(|d| d <= 0) {
        return Err(Error::invalid(
            "license_duration_secs must be positive (or null for perpetual)",
        ));
    }
    Ok(())
}

pub(super) fn check_token_lifetime(t: i64) -> Result<()> {
    if !(MIN_TOKEN_LIFETIME..=MAX_TOKEN_LIFETIME).contains(&t) {
        return Err(Error::invalid(format!(
            "token_lifetime_secs must be {MIN_TOKEN_LIFETIME} to {MAX_TOKEN_LIFETIME}"
        )));
    }
    Ok(())
}

pub(super) fn check_entitlements(e: &[String]) -> Result<()> {
    let ok_name = |s: &String| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
    };
    if e.len() > MAX_ENTITLEMENTS || !e.iter().all(ok_name) {
        return Err(Error::invalid(format!(
            "entitlements: at most {MAX_ENTITLEMENTS} names of 1 to 64 of A-Z, a-z, 0-9, '.', '_', ':', '-'"
        )));
    }
    Ok(())
}

pub(super) fn check_price_ids(ids: &[String]) -> Result<()> {
    let ok = |s: &String| {
        !s.is_empty() && s.len() <= 100 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    if ids.len() > 100 || !ids.iter().all(ok) {
        return Err(Error::invalid(
            "stripe_price_ids: at most 100 ids like price_1Nx…",
        ));
    }
    Ok(())
}

/// Subscription grace: 0 to 90 days.
pub(super) fn check_grace(secs: i64) -> Result<()> {
    if (0..=90 * 24 * 3600).contains(&secs) {
        Ok(())
    } else {
        Err(Error::invalid(
            "subscription_grace_secs must be between 0 and 7776000 (90 days)",
        ))
    }
}

/// A floating policy as its columns: the seat lease (60 s to a day) and the longest borrow
/// (0 to 90 days); `(None, 0)` for a node-locked product.
pub(super) fn floating_columns(
    policy: Option<&licet_proto::floating::FloatingPolicy>,
) -> Result<(Option<i64>, i64)> {
    use licet_proto::floating::{MAX_BORROW_SECS, MAX_SEAT_LEASE_SECS, MIN_SEAT_LEASE_SECS};
    let Some(p) = policy else {
        return Ok((None, 0));
    };
    if !(MIN_SEAT_LEASE_SECS..=MAX_SEAT_LEASE_SECS).contains(&p.lease_secs) {
        return Err(Error::invalid(
            "floating.lease_secs must be between 60 and 86400 (one day)",
        ));
    }
    if !(0..=MAX_BORROW_SECS).contains(&p.max_borrow_secs) {
        return Err(Error::invalid(
            "floating.max_borrow_secs must be between 0 and 7776000 (90 days)",
        ));
    }
    Ok((Some(p.lease_secs), p.max_borrow_secs))
}

/// A maintenance (updates) period: 1 day to 20 years, or none.
pub(super) fn check_maintenance(secs: Option<i64>) -> Result<()> {
    match secs {
        Some(s) if !(86_400..=20 * 366 * 86_400).contains(&s) => Err(Error::invalid(
            "maintenance_secs must be between 86400 (1 day) and 20 years",
        )),
        _ => Ok(()),
    }
}

/// A billing portal link: an `https` URL (or `http` for a local test), at most 2,000
/// characters; blank means none.
pub(super) fn check_portal_url(url: Option<String>) -> Result<Option<String>> {
    let Some(url) = url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.len() > 2000 || url.chars().any(char::is_whitespace) {
        return Err(Error::invalid(
            "billing_portal_url must be an http(s) URL of at most 2000 characters",
        ));
    }
    Ok(Some(url))
}

pub(super) fn check_metadata(m: &serde_json::Value) -> Result<String> {
    if !m.is_object() {
        return Err(Error::invalid("metadata must be a JSON object"));
    }
    let text = m.to_string();
    if text.len() > MAX_METADATA_BYTES {
        return Err(Error::invalid(format!(
            "metadata must be at most {MAX_METADATA_BYTES} bytes"
        )));
    }
    Ok(text)
}

/// A trial's length: from an hour to a year.
pub(super) fn check_trial_duration(secs: i64) -> Result<()> {
    use licet_proto::trials::{MAX_TRIAL_SECS, MIN_TRIAL_SECS};
    if !(MIN_TRIAL_SECS..=MAX_TRIAL_SECS).contains(&secs) {
        return Err(Error::invalid(format!(
            "trial.duration_secs must be {MIN_TRIAL_SECS} to {MAX_TRIAL_SECS}"
        )));
    }
    Ok(())
}

/// The stored text of a license's metadata, if it keeps to the limits of `licet_proto::api`.
pub(super) fn check_license_metadata(m: &LicenseMetadata) -> Result<String> {
    let ok_key = |k: &String| {
        !k.is_empty()
            && k.len() <= MAX_LICENSE_METADATA_KEY_LEN
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
    };
    if m.len() > MAX_LICENSE_METADATA_ENTRIES || !m.keys().all(ok_key) {
        return Err(Error::invalid(format!(
            "metadata: at most {MAX_LICENSE_METADATA_ENTRIES} keys of 1 to \
             {MAX_LICENSE_METADATA_KEY_LEN} of A-Z, a-z, 0-9, '.', '_', ':', '-'"
        )));
    }
    if m.values().any(|v| v.chars().any(char::is_control)) {
        return Err(Error::invalid(
            "metadata: values must not contain control characters",
        ));
    }
    let text = serde_json::to_string(m).map_err(|e| Error::Internal(e.to_string()))?;
    if text.len() > MAX_LICENSE_METADATA_BYTES {
        return Err(Error::invalid(format!(
            "metadata must be at most {MAX_LICENSE_METADATA_BYTES} bytes as JSON"
        )));
    }
    Ok(text)
}

/// Refuses anything that does not look like an email address.
pub fn check_email(email: &str) -> Result<()> {
    let e = email.trim();
    let valid = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        });
    if valid {
        Ok(())
    } else {
        Err(Error::invalid("email is not a valid address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn slugs() {
        let long = "a".repeat(64);
        let too_long = "a".repeat(65);
        let cases: &[(&str, bool)] = &[
            ("photo", true),
            ("photo-studio-2", true),
            ("0day", true),
            (&long, true),
            ("", false),
            (&too_long, false),
            ("-photo", false),
            ("Photo", false),
            ("photo studio", false),
            ("photo_studio", false),
            ("fotó", false),
            ("new", false),
        ];
        for &(slug, ok) in cases {
            assert_eq!(check_slug(slug).is_ok(), ok, "{slug:?}");
        }
    }

    #[test]
    fn names() {
        let cases: &[(&str, bool)] = &[
            ("Photo Studio", true),
            ("Fotó Stúdió ✓", true),
            ("", false),
            ("   ", false),
            ("tab\tinside", false),
            ("line\nbreak", false),
        ];
        for &(name, ok) in cases {
            assert_eq!(check_name(name).is_ok(), ok, "{name:?}");
        }
        assert!(
            check_name(&"é".repeat(200)).is_ok(),
            "200 characters, not bytes"
        );
        assert!(check_name(&"é".repeat(201)).is_err());
    }

    #[test]
    fn numbers() {
        for (seats, ok) in [
            (0, false),
            (1, true),
            (MAX_SEATS, true),
            (MAX_SEATS + 1, false),
        ] {
            assert_eq!(check_seats(seats).is_ok(), ok, "seats {seats}");
        }
        for (d, ok) in [
            (None, true),
            (Some(1), true),
            (Some(0), false),
            (Some(-5), false),
        ] {
            assert_eq!(check_duration(d).is_ok(), ok, "duration {d:?}");
        }
        let lifetimes = [
            (MIN_TOKEN_LIFETIME - 1, false),
            (MIN_TOKEN_LIFETIME, true),
            (86_400, true),
            (MAX_TOKEN_LIFETIME, true),
            (MAX_TOKEN_LIFETIME + 1, false),
        ];
        for (t, ok) in lifetimes {
            assert_eq!(check_token_lifetime(t).is_ok(), ok, "token lifetime {t}");
        }
    }

    #[test]
    fn entitlements() {
        let too_many: Vec<String> = (0..=MAX_ENTITLEMENTS).map(|i| format!("e{i}")).collect();
        let cases: Vec<(Vec<String>, bool)> = vec![
            (vec![], true),
            (
                strings(&["export", "4k", "team:admin", "v2.x", "a_b-c"]),
                true,
            ),
            (strings(&[&"e".repeat(64)]), true),
            (strings(&[&"e".repeat(65)]), false),
            (strings(&[""]), false),
            (strings(&["with space"]), false),
            (strings(&["semi;colon"]), false),
            (too_many, false),
        ];
        for (list, ok) in cases {
            assert_eq!(check_entitlements(&list).is_ok(), ok, "{list:?}");
        }
    }

    #[test]
    fn stripe_price_ids() {
        let cases: &[(&[&str], bool)] = &[
            (&[], true),
            (&["price_1NxAbC"], true),
            (&["price-1"], false),
            (&[""], false),
            (&["price_1 x"], false),
        ];
        for &(ids, ok) in cases {
            assert_eq!(check_price_ids(&strings(ids)).is_ok(), ok, "{ids:?}");
        }
    }

    #[test]
    fn metadata() {
        let big = serde_json::json!({ "k": "x".repeat(MAX_METADATA_BYTES) });
        let cases = [
            (serde_json::json!({}), true),
            (serde_json::json!({"crm": "A-17", "n": 3}), true),
            (serde_json::json!([1, 2]), false),
            (serde_json::json!("text"), false),
            (serde_json::Value::Null, false),
            (big, false),
        ];
        for (m, ok) in cases {
            assert_eq!(check_metadata(&m).is_ok(), ok, "{m}");
        }
    }

    #[test]
    fn emails() {
        let cases: &[(&str, bool)] = &[
            ("ada@example.com", true),
            ("  ada@example.com ", true),
            ("a.b+tag@mail.example.co.uk", true),
            ("", false),
            ("ada", false),
            ("@example.com", false),
            ("ada@localhost", false),
            ("ada@.example.com", false),
            ("ada@example.com.", false),
            ("ada lovelace@example.com", false),
            ("ada@exa\u{7}mple.com", false),
        ];
        for &(email, ok) in cases {
            assert_eq!(check_email(email).is_ok(), ok, "{email:?}");
        }
    }
}
