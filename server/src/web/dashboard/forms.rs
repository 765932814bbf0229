//! The dashboard's forms, kept as typed text so a refused form shows what was entered, and
//! the rules that turn them into the domain's requests.

use licet_proto::admin::{
    CreateProduct, ExtendLicense, Product, ProductKind, UpdateLicense, UpdateProduct,
};
use licet_proto::releases::CreateRelease;
use licet_proto::trials::TrialPolicy;
use serde::Deserialize;

use crate::platform::error::{Error, Result};
use crate::web::shell::parse_date;

/// `POST /admin/sign-in`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignInForm {
    pub(super) secret: String,
}

/// The product form (create and update).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProductForm {
    #[serde(default)]
    pub(super) slug: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) max_activations: String,
    #[serde(default)]
    pub(super) license_days: String,
    #[serde(default)]
    pub(super) token_days: String,
    #[serde(default)]
    pub(super) entitlements: String,
    #[serde(default)]
    pub(super) download_limit: String,
    #[serde(default)]
    pub(super) access_url: String,
    #[serde(default)]
    pub(super) stripe_price_ids: String,
    /// Trial length in days; empty: no trial.
    #[serde(default)]
    pub(super) trial_days: String,
    /// Trial entitlements (comma-separated); empty: the product's.
    #[serde(default)]
    pub(super) trial_entitlements: String,
    /// Subscription grace in days (empty: the default, 3).
    #[serde(default)]
    pub(super) grace_days: String,
    #[serde(default)]
    pub(super) billing_portal_url: String,
    /// Updates period of each license in days ("maintenance"); empty: until it expires.
    #[serde(default)]
    pub(super) maintenance_days: String,
    /// The "Trials get updates" box: present when ticked.
    pub(super) trial_updates: Option<String>,
}

impl ProductForm {
    /// The form filled in with a product's policy.
    pub(super) fn from_product(p: &Product) -> Self {
        Self {
            slug: p.slug.clone(),
            name: p.name.clone(),
            kind: p.kind.as_str().to_owned(),
            max_activations: p.max_activations.to_string(),
            license_days: p
                .license_duration_secs
                .map(|s| (s / 86_400).to_string())
                .unwrap_or_default(),
            token_days: (p.token_lifetime_secs / 86_400).to_string(),
            entitlements: p.entitlements.join(", "),
            download_limit: p.download_limit.to_string(),
            access_url: p
                .metadata
                .get("access_url")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
            stripe_price_ids: p.stripe_price_ids.join(", "),
            trial_days: p
                .trial
                .as_ref()
                .map(|t| (t.duration_secs / 86_400).to_string())
                .unwrap_or_default(),
            trial_entitlements: p
                .trial
                .as_ref()
                .and_then(|t| t.entitlements.as_ref())
                .map(|e| e.join(", "))
                .unwrap_or_default(),
            grace_days: (p.subscription_grace_secs / 86_400).to_string(),
            billing_portal_url: p.billing_portal_url.clone().unwrap_or_default(),
            maintenance_days: p
                .maintenance_secs
                .map(|s| (s / 86_400).to_string())
                .unwrap_or_default(),
            trial_updates: p.trial_updates.then(|| "1".to_owned()),
        }
    }

    /// Whether the form shows the fields of license products (trials, updates): when
    /// creating, and when editing a license product.
    pub(super) fn licenses_fields(&self, creating: bool) -> bool {
        creating || self.kind == ProductKind::License.as_str()
    }

    /// The trial the form asks for (`None`: no trial).
    fn trial(&self) -> Result<Option<TrialPolicy>> {
        let Some(duration_secs) = days(&self.trial_days, "Trial length")? else {
            return Ok(None);
        };
        let entitlements = list(&self.trial_entitlements);
        Ok(Some(TrialPolicy {
            duration_secs,
            entitlements: (!entitlements.is_empty()).then_some(entitlements),
        }))
    }

    /// The subscription grace in seconds (an empty field is the default).
    fn grace_secs(&self) -> Result<i64> {
        Ok(days(&self.grace_days, "Subscription grace")?
            .unwrap_or(licet_proto::admin::DEFAULT_SUBSCRIPTION_GRACE_SECS))
    }

    fn portal_url(&self) -> Option<String> {
        Some(self.billing_portal_url.trim().to_owned()).filter(|u| !u.is_empty())
    }

    fn metadata(&self, mut base: serde_json::Value) -> Result<serde_json::Value> {
        let url = self.access_url.trim();
        if !url.is_empty() && !crate::catalogue::access::is_access_url(url) {
            return Err(Error::invalid("the access link must start with https://"));
        }
        if let Some(map) = base.as_object_mut() {
            if url.is_empty() {
                map.remove("access_url");
            } else {
                map.insert("access_url".into(), url.into());
            }
        }
        Ok(base)
    }

    /// The request creating the product.
    pub(super) fn to_create(&self) -> Result<CreateProduct> {
        let kind = ProductKind::parse(self.kind.trim())
            .ok_or_else(|| Error::invalid("choose a kind: license, download or access"))?;
        Ok(CreateProduct {
            slug: self.slug.trim().to_owned(),
            name: self.name.trim().to_owned(),
            kind,
            max_activations: number(&self.max_activations, "Machines per license")?,
            license_duration_secs: days(&self.license_days, "License duration")?,
            token_lifetime_secs: days(&self.token_days, "Offline lease")?
                .unwrap_or(licet_proto::admin::DEFAULT_TOKEN_LIFETIME_SECS),
            entitlements: list(&self.entitlements),
            metadata: self.metadata(serde_json::json!({}))?,
            stripe_price_ids: list(&self.stripe_price_ids),
            download_limit: number(&self.download_limit, "Downloads per purchase")?,
            trial: self.trial()?,
            subscription_grace_secs: self.grace_secs()?,
            billing_portal_url: self.portal_url(),
            maintenance_secs: days(&self.maintenance_days, "Updates period")?,
            trial_updates: self.trial_updates.is_some(),
            floating: None,
        })
    }

    /// The request changing the policy of a product whose metadata is `metadata`.
    /// The update fields of license products are left alone for other kinds, whose form does
    /// not show them.
    pub(super) fn to_update(&self, metadata: &serde_json::Value) -> Result<UpdateProduct> {
        let licenses = self.licenses_fields(false);
        Ok(UpdateProduct {
            name: Some(self.name.trim().to_owned()),
            max_activations: Some(number(&self.max_activations, "Machines per license")?),
            license_duration_secs: Some(days(&self.license_days, "License duration")?),
            token_lifetime_secs: Some(
                days(&self.token_days, "Offline lease")?
                    .unwrap_or(licet_proto::admin::DEFAULT_TOKEN_LIFETIME_SECS),
            ),
            entitlements: Some(list(&self.entitlements)),
            metadata: Some(self.metadata(metadata.clone())?),
            stripe_price_ids: Some(list(&self.stripe_price_ids)),
            download_limit: Some(number(&self.download_limit, "Downloads per purchase")?),
            trial: Some(self.trial()?),
            subscription_grace_secs: Some(self.grace_secs()?),
            billing_portal_url: Some(self.portal_url()),
            maintenance_secs: if licenses {
                Some(days(&self.maintenance_days, "Updates period")?)
            } else {
                None
            },
            trial_updates: licenses.then_some(self.trial_updates.is_some()),
            floating: None,
        })
    }
}

/// `POST /admin/licenses`: issue a license.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IssueForm {
    #[serde(default)]
    pub(super) product: String,
    #[serde(default)]
    pub(super) email: String,
    #[serde(default)]
    pub(super) expires: String,
}

impl IssueForm {
    /// The expiry asked for: `None` for the product's own duration.
    pub(super) fn expires_at(&self) -> Result<Option<i64>> {
        match self.expires.trim() {
            "" => Ok(None),
            d => Ok(Some(parse_date(d).ok_or_else(|| {
                Error::invalid("the expiry must be a date (YYYY-MM-DD)")
            })?)),
        }
    }
}

/// `POST /admin/licenses/{id}/extend`: a new expiry date, or none (perpetual).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExtendForm {
    #[serde(default)]
    pub(super) expires: String,
    pub(super) perpetual: Option<String>,
}

impl ExtendForm {
    /// The request: the ticked box wins over any date.
    pub(super) fn to_extend(&self) -> Result<ExtendLicense> {
        let expires_at = date_unless_ticked(
            &self.expires,
            self.perpetual.is_some(),
            "give the new expiry as a date (YYYY-MM-DD), or tick \u{201c}never expires\u{201d}",
        )?;
        Ok(ExtendLicense { expires_at })
    }
}

/// `POST /admin/licenses/{id}/updates`: the end of the license's updates, or none (they
/// follow its expiry).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdatesForm {
    #[serde(default)]
    pub(super) updates_until: String,
    pub(super) follow_expiry: Option<String>,
}

impl UpdatesForm {
    /// The request: the ticked box wins over any date.
    pub(super) fn to_update(&self) -> Result<UpdateLicense> {
        let until = date_unless_ticked(
            &self.updates_until,
            self.follow_expiry.is_some(),
            "give the end of updates as a date (YYYY-MM-DD), or tick \u{201c}until it expires\u{201d}",
        )?;
        Ok(UpdateLicense {
            updates_until: Some(until),
            ..UpdateLicense::default()
        })
    }
}

/// `POST /admin/releases/{slug}`: a new draft release.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseForm {
    #[serde(default)]
    pub(super) version: String,
    #[serde(default)]
    pub(super) channel: String,
    #[serde(default)]
    pub(super) notes: String,
    #[serde(default)]
    pub(super) entitlement: String,
}

impl ReleaseForm {
    /// The request: an empty channel is `stable`, an empty entitlement none; notes keep
    /// their text with `\n` line ends (a browser sends `\r\n`).
    pub(super) fn to_create(&self) -> CreateRelease {
        let some = |t: &str| Some(t.trim().to_owned()).filter(|t| !t.is_empty());
        CreateRelease {
            version: self.version.trim().to_owned(),
            channel: some(&self.channel),
            notes: self.notes.replace("\r\n", "\n").trim_end().to_owned(),
            entitlement: some(&self.entitlement),
        }
    }
}

/// A date field beside a box that stands for "no date": `None` when the box is ticked
/// (whatever the field says), else the date, or `refusal` when it is not one.
fn date_unless_ticked(text: &str, ticked: bool, refusal: &str) -> Result<Option<i64>> {
    if ticked {
        return Ok(None);
    }
    parse_date(text)
        .map(Some)
        .ok_or_else(|| Error::invalid(refusal.to_owned()))
}

/// A whole number typed into the field named `what`.
fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T> {
    text.trim()
        .parse()
        .map_err(|_| Error::invalid(format!("{what} must be a whole number")))
}

/// A number of days as seconds; empty means none.
fn days(text: &str, what: &str) -> Result<Option<i64>> {
    match text.trim() {
        "" => Ok(None),
        t => {
            let d: i64 = number(t, what)?;
            Ok(Some(d.saturating_mul(86_400)))
        }
    }
}

/// A list typed as comma- or line-separated items; blanks are dropped.
fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: Error) -> String {
        e.public_message()
    }

    #[test]
    fn numbers_are_whole_and_may_be_padded() {
        let table: &[(&str, std::result::Result<u32, &str>)] = &[
            ("3", Ok(3)),
            (" 12 ", Ok(12)),
            ("0", Ok(0)),
            ("", Err("Seats must be a whole number")),
            ("-1", Err("Seats must be a whole number")),
            ("1.5", Err("Seats must be a whole number")),
            ("three", Err("Seats must be a whole number")),
            ("99999999999", Err("Seats must be a whole number")),
        ];
        for (text, want) in table {
            let got = number::<u32>(text, "Seats").map_err(message);
            assert_eq!(got, want.map_err(str::to_owned), "{text:?}");
        }
    }

    #[test]
    fn days_become_seconds_and_empty_means_none() {
        let table: &[(&str, Option<Option<i64>>)] = &[
            ("", Some(None)),
            ("  ", Some(None)),
            ("1", Some(Some(86_400))),
            (" 30 ", Some(Some(2_592_000))),
            ("0", Some(Some(0))),
            ("-2", Some(Some(-172_800))),
            ("9223372036854775807", Some(Some(i64::MAX))),
            ("a week", None),
            ("1.5", None),
        ];
        for (text, want) in table {
            assert_eq!(days(text, "Days").ok(), *want, "{text:?}");
        }
    }

    #[test]
    fn lists_split_on_commas_and_lines_and_drop_blanks() {
        let table: &[(&str, &[&str])] = &[
            ("", &[]),
            (" , ,\n", &[]),
            ("pro", &["pro"]),
            ("pro, export", &["pro", "export"]),
            ("pro,export\nsync", &["pro", "export", "sync"]),
            (" pro \r\n export ", &["pro", "export"]),
            ("two words, x", &["two words", "x"]),
        ];
        for (text, want) in table {
            assert_eq!(list(text), *want, "{text:?}");
        }
    }

    fn form(kind: &str) -> ProductForm {
        ProductForm {
            slug: " photo ".into(),
            name: " Photo Pro ".into(),
            kind: kind.into(),
            max_activations: "3".into(),
            license_days: "".into(),
            token_days: "".into(),
            entitlements: "pro, export".into(),
            download_limit: "5".into(),
            access_url: "".into(),
            stripe_price_ids: "price_1,price_2".into(),
            trial_days: "".into(),
            trial_entitlements: "".into(),
            grace_days: "".into(),
            billing_portal_url: "".into(),
            maintenance_days: "".into(),
            trial_updates: None,
        }
    }

    #[test]
    fn trial_days_offer_a_trial_and_an_empty_field_offers_none() {
        assert_eq!(form("license").to_create().expect("valid").trial, None);
        let mut f = form("license");
        f.trial_days = "14".into();
        f.trial_entitlements = "trial-pro".into();
        let trial = f.to_create().expect("valid").trial.expect("a trial");
        assert_eq!(trial.duration_secs, 14 * 86_400);
        assert_eq!(trial.entitlements, Some(vec!["trial-pro".to_owned()]));
        let update = form("license")
            .to_update(&serde_json::json!({}))
            .expect("valid");
        assert_eq!(
            update.trial,
            Some(None),
            "an emptied field withdraws the trial"
        );
        f.trial_days = "two weeks".into();
        assert!(f.to_create().is_err());
    }

    #[test]
    fn a_product_form_becomes_a_create_request() {
        let req = form("license").to_create().expect("valid");
        assert_eq!(req.slug, "photo");
        assert_eq!(req.name, "Photo Pro");
        assert_eq!(req.kind, ProductKind::License);
        assert_eq!(req.max_activations, 3);
        assert_eq!(req.license_duration_secs, None);
        assert_eq!(
            req.token_lifetime_secs,
            licet_proto::admin::DEFAULT_TOKEN_LIFETIME_SECS
        );
        assert_eq!(req.entitlements, ["pro", "export"]);
        assert_eq!(req.stripe_price_ids, ["price_1", "price_2"]);
        assert_eq!(req.metadata, serde_json::json!({}));
    }

    #[test]
    fn product_forms_are_refused_with_the_field_that_is_wrong() {
        type Edit = fn(&mut ProductForm);
        let table: &[(Edit, Option<&str>)] = &[
            (|_| {}, None),
            (
                |f| f.kind = "".into(),
                Some("choose a kind: license, download or access"),
            ),
            (
                |f| f.kind = "seat".into(),
                Some("choose a kind: license, download or access"),
            ),
            (|f| f.kind = " access ".into(), None),
            (
                |f| f.max_activations = "many".into(),
                Some("Machines per license must be a whole number"),
            ),
            (
                |f| f.license_days = "forever".into(),
                Some("License duration must be a whole number"),
            ),
            (
                |f| f.token_days = "7d".into(),
                Some("Offline lease must be a whole number"),
            ),
            (
                |f| f.download_limit = "".into(),
                Some("Downloads per purchase must be a whole number"),
            ),
            (
                |f| f.access_url = "ftp://x".into(),
                Some("the access link must start with https://"),
            ),
            (
                |f| f.access_url = "javascript:alert(1)".into(),
                Some("the access link must start with https://"),
            ),
            (|f| f.access_url = "https://app.example.com".into(), None),
            (|f| f.access_url = "http://intranet".into(), None),
        ];
        for (i, (edit, want)) in table.iter().enumerate() {
            let mut f = form("license");
            edit(&mut f);
            let got = f.to_create().err().map(message);
            assert_eq!(got.as_deref(), *want, "row {i}");
        }
    }

    #[test]
    fn the_access_link_is_set_kept_or_removed_in_the_metadata() {
        let base = serde_json::json!({"access_url": "https://old", "team": "a"});
        let table: &[(&str, serde_json::Value)] = &[
            ("", serde_json::json!({"team": "a"})),
            (
                " https://new ",
                serde_json::json!({"access_url": "https://new", "team": "a"}),
            ),
        ];
        for (url, want) in table {
            let mut f = form("access");
            f.access_url = (*url).into();
            let req = f.to_update(&base).expect("valid");
            assert_eq!(req.metadata.as_ref(), Some(want), "{url:?}");
        }
    }

    /// The product a create request makes.
    fn product_of(req: CreateProduct) -> Product {
        Product {
            id: "prd_1".into(),
            slug: req.slug,
            name: req.name,
            kind: req.kind,
            max_activations: req.max_activations,
            license_duration_secs: req.license_duration_secs,
            token_lifetime_secs: req.token_lifetime_secs,
            entitlements: req.entitlements,
            metadata: req.metadata,
            stripe_price_ids: req.stripe_price_ids,
            download_limit: req.download_limit,
            trial: req.trial,
            subscription_grace_secs: req.subscription_grace_secs,
            billing_portal_url: req.billing_portal_url,
            maintenance_secs: req.maintenance_secs,
            trial_updates: req.trial_updates,
            floating: req.floating,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_product_fills_the_form_it_is_edited_with() {
        let mut f = form("access");
        f.access_url = "https://app.example.com".into();
        f.license_days = "30".into();
        f.token_days = "7".into();
        let req = f.to_create().expect("valid");
        let product = product_of(req);
        let back = ProductForm::from_product(&product);
        assert_eq!(back.slug, "photo");
        assert_eq!(back.kind, "access");
        assert_eq!(back.license_days, "30");
        assert_eq!(back.token_days, "7");
        assert_eq!(back.entitlements, "pro, export");
        assert_eq!(back.access_url, "https://app.example.com");
        assert_eq!(back.stripe_price_ids, "price_1, price_2");
    }

    #[test]
    fn expiry_dates_are_calendar_dates_or_empty() {
        let table: &[(&str, Option<Option<i64>>)] = &[
            ("", Some(None)),
            (" ", Some(None)),
            ("1970-01-02", Some(Some(86_400))),
            (" 2000-02-29 ", Some(Some(951_782_400))),
            ("2031-02-30", None),
            ("tomorrow", None),
        ];
        for (text, want) in table {
            let f = IssueForm {
                expires: (*text).into(),
                ..IssueForm::default()
            };
            assert_eq!(f.expires_at().ok(), *want, "{text:?}");
        }
    }

    #[test]
    fn extending_needs_a_date_unless_perpetual_is_ticked() {
        // (expires, perpetual, the expiry asked for, or None when refused)
        type Row<'a> = (&'a str, Option<&'a str>, Option<Option<i64>>);
        let table: &[Row] = &[
            ("1970-01-02", None, Some(Some(86_400))),
            ("", Some("1"), Some(None)),
            ("1970-01-02", Some("1"), Some(None)),
            ("", None, None),
            ("2031-02-30", None, None),
        ];
        for (expires, perpetual, want) in table {
            let f = ExtendForm {
                expires: (*expires).into(),
                perpetual: perpetual.map(str::to_owned),
            };
            let got = f.to_extend().ok().map(|r| r.expires_at);
            assert_eq!(got, *want, "{expires:?} {perpetual:?}");
        }
    }

    #[test]
    fn the_updates_period_and_trial_updates_reach_the_request_and_come_back() {
        let mut f = form("license");
        f.maintenance_days = "365".into();
        f.trial_updates = Some("1".into());
        let req = f.to_create().expect("valid");
        assert_eq!(req.maintenance_secs, Some(365 * 86_400));
        assert!(req.trial_updates);
        let update = f.to_update(&serde_json::json!({})).expect("valid");
        assert_eq!(update.maintenance_secs, Some(Some(365 * 86_400)));
        assert_eq!(update.trial_updates, Some(true));

        f.maintenance_days = " ".into();
        f.trial_updates = None;
        let update = f.to_update(&serde_json::json!({})).expect("valid");
        assert_eq!(
            update.maintenance_secs,
            Some(None),
            "an emptied period lasts until each license expires"
        );
        assert_eq!(update.trial_updates, Some(false), "an unticked box is off");
        // Other kinds' forms do not show the fields: saving them changes neither.
        let update = form("download")
            .to_update(&serde_json::json!({}))
            .expect("valid");
        assert_eq!(
            (update.maintenance_secs, update.trial_updates),
            (None, None)
        );
        f.maintenance_days = "a year".into();
        assert!(f.to_create().is_err());

        f.maintenance_days = "30".into();
        f.trial_updates = Some("1".into());
        let back = ProductForm::from_product(&product_of(f.to_create().expect("valid")));
        assert_eq!(back.maintenance_days, "30");
        assert_eq!(back.trial_updates.as_deref(), Some("1"));
    }

    #[test]
    fn the_end_of_updates_is_a_date_or_follows_the_expiry() {
        // (date, box ticked, the end asked for, or None when refused)
        type Row<'a> = (&'a str, Option<&'a str>, Option<Option<i64>>);
        let table: &[Row] = &[
            ("1970-01-02", None, Some(Some(86_400))),
            ("", Some("1"), Some(None)),
            ("1970-01-02", Some("1"), Some(None)),
            ("", None, None),
            ("soon", None, None),
        ];
        for (date, follow, want) in table {
            let f = UpdatesForm {
                updates_until: (*date).into(),
                follow_expiry: follow.map(str::to_owned),
            };
            let got = f.to_update().ok().map(|r| r.updates_until.expect("set"));
            assert_eq!(got, *want, "{date:?} {follow:?}");
        }
    }

    #[test]
    fn a_release_form_becomes_a_create_request() {
        let f = ReleaseForm {
            version: " 1.2.0 ".into(),
            channel: " ".into(),
            notes: "Faster.\r\nSmaller.\r\n".into(),
            entitlement: "".into(),
        };
        let req = f.to_create();
        assert_eq!(req.version, "1.2.0");
        assert_eq!(req.channel, None, "empty: the default channel");
        assert_eq!(req.notes, "Faster.\nSmaller.");
        assert_eq!(req.entitlement, None);
        let f = ReleaseForm {
            channel: "beta".into(),
            entitlement: " pro ".into(),
            ..f
        };
        let req = f.to_create();
        assert_eq!(req.channel.as_deref(), Some("beta"));
        assert_eq!(req.entitlement.as_deref(), Some("pro"));
    }
}
