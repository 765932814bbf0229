//! What a valid license grants.

use licet_proto::api::LicenseMetadata;
use licet_proto::{Claims, LicenseKind, LicenseStatus, SubscriptionClaim};

/// A license that is valid on this machine now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// Server-side license id.
    pub id: String,
    /// Product slug.
    pub product: String,
    /// Status (always `Active` for a valid license).
    pub status: LicenseStatus,
    /// Feature flags.
    pub entitlements: Vec<String>,
    /// When the license itself expires (Unix seconds); `None` for perpetual.
    pub expires_at: Option<i64>,
    /// Until when the app may run offline on the current lease (Unix seconds).
    pub offline_valid_until: i64,
    /// Seats of the license.
    pub max_activations: u32,
    /// Seats in use when the lease was signed, this machine's included (`None` from a
    /// server that does not say).
    pub activations_in_use: Option<u32>,
    /// The customer's email, when the server sent it.
    pub email: Option<String>,
    /// The vendor's key/value notes on the license (a CRM id, an edition), as signed into
    /// the lease; empty when the vendor set none.
    pub metadata: LicenseMetadata,
    /// A license, or this machine's trial of the product.
    pub kind: LicenseKind,
    /// When the current lease was signed (Unix seconds).
    pub issued_at: i64,
    /// The time this answer was computed for (Unix seconds).
    pub checked_at: i64,
    /// The subscription that pays for the license, when it was sold by one (as signed into
    /// the lease).
    pub subscription: Option<SubscriptionClaim>,
}

impl License {
    pub(crate) fn from_claims(c: &Claims, now: i64) -> Self {
        Self {
            id: c.sub.clone(),
            product: c.aud.clone(),
            status: c.lic.status,
            entitlements: c.ent.clone(),
            expires_at: c.lic.expires_at,
            offline_valid_until: c.exp,
            max_activations: c.lic.max_activations,
            activations_in_use: c.lic.active_activations,
            email: c.lic.email.clone(),
            metadata: c.lic.metadata.clone(),
            kind: c.lic.kind,
            issued_at: c.iat,
            checked_at: now,
            subscription: c.lic.subscription,
        }
    }

    /// When the subscription renews next (Unix seconds); `None` when the license is not
    /// sold by subscription or the subscription is canceled (now or at period end).
    ///
    /// ```
    /// # fn show(license: &licet::License) {
    /// match (license.renews_at(), license.subscription_ends_at()) {
    ///     (Some(at), _) => println!("Renews on {at}"),
    ///     (None, Some(at)) => println!("Ends on {at}"),
    ///     (None, None) => {}
    /// }
    /// # }
    /// ```
    pub fn renews_at(&self) -> Option<i64> {
        self.subscription.and_then(|s| s.renews_at())
    }

    /// When the subscription ends (Unix seconds): the end of its period once it is
    /// canceled; `None` while it renews or when there is none. The license itself runs to
    /// [`License::expires_at`].
    pub fn subscription_ends_at(&self) -> Option<i64> {
        self.subscription.and_then(|s| s.ends_at())
    }

    /// True when the customer canceled the subscription and it ends at the period's end.
    pub fn cancels_at_period_end(&self) -> bool {
        self.subscription.is_some_and(|s| s.cancel_at_period_end)
    }

    /// True if the license grants this feature flag.
    pub fn has_entitlement(&self, name: &str) -> bool {
        self.entitlements.iter().any(|e| e == name)
    }

    /// True when this is a trial (started with [`crate::Client::start_trial`]), not a
    /// license.
    pub fn is_trial(&self) -> bool {
        self.kind == LicenseKind::Trial
    }

    /// When the trial ends (Unix seconds); `None` for a license.
    ///
    /// ```
    /// # fn banner(license: &licet::License) -> Option<String> {
    /// let ends = license.trial_ends_at()?;
    /// let days = (ends - license.checked_at).max(0) / 86_400;
    /// Some(format!("Trial: {days} days left"))
    /// # }
    /// ```
    pub fn trial_ends_at(&self) -> Option<i64> {
        if self.is_trial() {
            self.expires_at
        } else {
            None
        }
    }

    /// The value the vendor set for `key` in the license's metadata.
    ///
    /// ```
    /// # fn show(license: &licet::License) {
    /// if let Some(edition) = license.metadata_value("edition") {
    ///     println!("Edition: {edition}");
    /// }
    /// # }
    /// ```
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// Seconds the app may still run offline.
    pub fn offline_secs_left(&self) -> i64 {
        (self.offline_valid_until - self.checked_at).max(0)
    }

    /// Whole days the app may still run offline.
    pub fn offline_days_left(&self) -> i64 {
        self.offline_secs_left() / 86_400
    }
}

/// A license key with its middle hidden, for display (`PHOTO-*****-*****-*****-*****-UJ6VB`):
/// the prefix and the last group stay, every other symbol becomes `*`.
pub fn mask_key(key: &str) -> String {
    let groups: Vec<&str> = key.split('-').collect();
    let last = groups.len().saturating_sub(1);
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            if i == 0 || i == last {
                (*g).to_owned()
            } else {
                "*".repeat(g.chars().count())
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::mask_key;

    #[test]
    fn masks_hide_the_middle() {
        for (key, want) in [
            (
                "PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB",
                "PHOTO-*****-*****-*****-*****-UJ6VB",
            ),
            ("LIC-AAAAA-BBBBB", "LIC-*****-BBBBB"),
            ("NODASHES", "NODASHES"),
            ("", ""),
        ] {
            assert_eq!(mask_key(key), want, "{key}");
        }
    }
}
