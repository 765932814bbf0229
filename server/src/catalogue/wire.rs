//! Conversions from stored rows to the wire types of `licet-proto`.

use licet_proto::admin::{License, LicenseOverrides, Product};
use licet_proto::api::{ActivationInfo, LicenseInfo, LicenseMetadata};
use licet_proto::trials::TrialPolicy;
use licet_proto::{LicenseKind, LicenseStatus};

use crate::store::{ActivationRow, LicenseRow, ProductRow, parse_list};

impl LicenseRow {
    /// Status (an unknown stored value reads as revoked: fail closed).
    pub fn status(&self) -> LicenseStatus {
        self.status
    }

    /// Seats: the override, else the product's.
    pub fn effective_max_activations(&self) -> u32 {
        u32::try_from(self.max_activations.unwrap_or(self.product_max_activations)).unwrap_or(0)
    }

    /// Offline-token lifetime: the override, else the product's.
    pub fn effective_token_lifetime(&self) -> i64 {
        self.token_lifetime_secs
            .unwrap_or(self.product_token_lifetime_secs)
    }

    /// Entitlements: the override, else the product's.
    pub fn effective_entitlements(&self) -> Vec<String> {
        parse_list(
            self.entitlements
                .as_deref()
                .unwrap_or(&self.product_entitlements),
        )
    }

    /// Releases published until then are the license's: the explicit end of its updates
    /// (maintenance), else its expiry; `None`: every release.
    pub fn updates_until(&self) -> Option<i64> {
        self.updates_until_at.or(self.expires_at)
    }

    /// Seats in use.
    pub fn active(&self) -> u32 {
        u32::try_from(self.active_count).unwrap_or(u32::MAX)
    }

    /// The holder's view.
    pub fn info(&self) -> LicenseInfo {
        LicenseInfo {
            id: self.id.clone(),
            product: self.product_slug.clone(),
            status: self.status(),
            expires_at: self.expires_at,
            max_activations: self.effective_max_activations(),
            active_activations: self.active(),
            entitlements: self.effective_entitlements(),
            email: Some(self.email.clone()).filter(|e| !e.is_empty()),
            metadata: self.metadata(),
            kind: LicenseKind::License,
            subscription: self.subscription(),
            updates_until: self.updates_until_at,
        }
    }

    /// The vendor's metadata (a stored value that is not a JSON object of strings reads as
    /// none).
    pub fn metadata(&self) -> LicenseMetadata {
        serde_json::from_str(&self.metadata).unwrap_or_default()
    }

    /// The vendor's view.
    pub fn admin_view(&self, activations: Option<Vec<ActivationInfo>>) -> License {
        License {
            id: self.id.clone(),
            key: self.license_key.clone(),
            product: self.product_slug.clone(),
            email: self.email.clone(),
            status: self.status(),
            expires_at: self.expires_at,
            max_activations: self.effective_max_activations(),
            token_lifetime_secs: self.effective_token_lifetime(),
            entitlements: self.effective_entitlements(),
            overrides: LicenseOverrides {
                max_activations: self.max_activations.and_then(|m| u32::try_from(m).ok()),
                token_lifetime_secs: self.token_lifetime_secs,
                entitlements: self.entitlements.as_deref().map(parse_list),
            },
            active_activations: self.active(),
            metadata: self.metadata(),
            updates_until: self.updates_until(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            activations,
            subscription: self.subscription(),
        }
    }
}

impl ActivationRow {
    /// The wire view.
    pub fn info(&self) -> ActivationInfo {
        ActivationInfo {
            id: self.id.clone(),
            fingerprint: self.fingerprint.clone(),
            name: self.name.clone(),
            platform: self.platform.clone(),
            first_seen_at: self.first_seen_at,
            last_seen_at: self.last_seen_at,
            deactivated_at: self.deactivated_at,
        }
    }
}

impl ProductRow {
    /// The wire view.
    pub fn to_wire(&self) -> Product {
        Product {
            id: self.id.clone(),
            slug: self.slug.clone(),
            name: self.name.clone(),
            kind: self.kind,
            max_activations: u32::try_from(self.max_activations).unwrap_or(0),
            license_duration_secs: self.license_duration_secs,
            token_lifetime_secs: self.token_lifetime_secs,
            entitlements: self.entitlement_list(),
            metadata: serde_json::from_str(&self.metadata).unwrap_or_default(),
            stripe_price_ids: self.price_id_list(),
            download_limit: u32::try_from(self.download_limit).unwrap_or(0),
            trial: self.trial_secs.map(|duration_secs| TrialPolicy {
                duration_secs,
                entitlements: self.trial_entitlements.as_deref().map(parse_list),
            }),
            subscription_grace_secs: self.subscription_grace_secs,
            billing_portal_url: self.billing_portal_url.clone(),
            maintenance_secs: self.maintenance_secs,
            trial_updates: self.trial_updates != 0,
            floating: self.floating_policy(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}
