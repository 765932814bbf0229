//! Bodies of the vendor's admin API under `/v1/admin/` (bearer admin token).

use serde::{Deserialize, Deserializer, Serialize};

use crate::LicenseStatus;
use crate::api::{ActivationInfo, LicenseMetadata};
use crate::trials::TrialPolicy;

/// Default offline-token lifetime: 7 days.
pub const DEFAULT_TOKEN_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// What a product delivers. Licensing applies to every kind that issues keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductKind {
    /// Desktop software licensed by key (the default).
    #[default]
    License,
    /// Downloadable files, no key.
    Download,
    /// Course or membership style access, no key.
    Access,
}

impl ProductKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::License => "license",
            Self::Download => "download",
            Self::Access => "access",
        }
    }

    /// Every kind, the default first.
    pub const ALL: [Self; 3] = [Self::License, Self::Download, Self::Access];

    /// How the vendor reads it in a form (`License keys`).
    pub fn label(self) -> &'static str {
        match self {
            Self::License => "License keys",
            Self::Download => "Downloads",
            Self::Access => "Access",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "license" => Some(Self::License),
            "download" => Some(Self::Download),
            "access" => Some(Self::Access),
            _ => None,
        }
    }
}

/// `POST /v1/admin/products`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    /// URL-safe identifier: lowercase letters, digits and `-`, 1 to 64 characters.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// What the product delivers.
    #[serde(default)]
    pub kind: ProductKind,
    /// Seats per license (1 or more).
    pub max_activations: u32,
    /// License lifetime from issue, in seconds; `null` or absent for perpetual.
    #[serde(default)]
    pub license_duration_secs: Option<i64>,
    /// Lifetime of an offline token, in seconds (default 7 days).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: i64,
    /// Feature flags every license of this product grants.
    #[serde(default)]
    pub entitlements: Vec<String>,
    /// Free-form vendor data (a JSON object).
    #[serde(default = "empty_object")]
    pub metadata: serde_json::Value,
    /// Stripe price ids that sell this product (matched against checkout line items).
    #[serde(default)]
    pub stripe_price_ids: Vec<String>,
    /// Downloads per purchase (download products).
    #[serde(default = "default_download_limit")]
    pub download_limit: u32,
    /// The trial a machine may start without a key; `null` or absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<TrialPolicy>,
    // --- Subscriptions (issue 13).
    /// Sold by subscription: how long a license outlives the paid period, in seconds, while
    /// a late renewal payment is retried (default 3 days).
    #[serde(default = "default_subscription_grace")]
    pub subscription_grace_secs: i64,
    /// Sold by subscription: the customer's billing portal (a Stripe customer-portal login
    /// link) shown on the purchase; default: the server's `LICET_STRIPE_BILLING_PORTAL_URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_portal_url: Option<String>,
    // --- Releases (issue 14).
    /// Updates period of a license from its issue, in seconds (its "maintenance"): releases
    /// published in it stay the license's forever. `null` or absent: a license gets updates
    /// until it expires (forever, for a perpetual one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_secs: Option<i64>,
    /// Whether machines on a trial are offered releases (default: no).
    #[serde(default)]
    pub trial_updates: bool,
    /// Floating: licenses of this product hold seats at most `max_activations` at a time,
    /// through checkout and heartbeats, instead of node-locked activations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floating: Option<crate::floating::FloatingPolicy>,
}

/// Default grace after a subscription's paid period: 3 days.
pub const DEFAULT_SUBSCRIPTION_GRACE_SECS: i64 = 3 * 24 * 3600;

fn default_subscription_grace() -> i64 {
    DEFAULT_SUBSCRIPTION_GRACE_SECS
}

/// Default downloads per purchase.
pub const DEFAULT_DOWNLOAD_LIMIT: u32 = 5;

fn default_download_limit() -> u32 {
    DEFAULT_DOWNLOAD_LIMIT
}

fn default_token_lifetime() -> i64 {
    DEFAULT_TOKEN_LIFETIME_SECS
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// `PATCH /v1/admin/products/{slug}`: every field optional; absent fields stay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New seat count for licenses without an override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_activations: Option<u32>,
    /// New license lifetime for licenses issued from now on; `null` makes them perpetual.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub license_duration_secs: Option<Option<i64>>,
    /// New offline-token lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_secs: Option<i64>,
    /// New entitlements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlements: Option<Vec<String>>,
    /// New metadata (replaces the old object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// New Stripe price ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_price_ids: Option<Vec<String>>,
    /// New downloads per purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_limit: Option<u32>,
    /// New trial policy; `null` stops offering trials (trials started keep their end).
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub trial: Option<Option<TrialPolicy>>,
    // --- Subscriptions (issue 13).
    /// New grace after a subscription's paid period, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_grace_secs: Option<i64>,
    /// New billing portal link; `null` falls back to the server's.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub billing_portal_url: Option<Option<String>>,
    // --- Releases (issue 14).
    /// New updates period for licenses issued from now on; `null`: until they expire.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub maintenance_secs: Option<Option<i64>>,
    /// Whether trials are offered releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_updates: Option<bool>,
    /// New floating policy; `null` makes the product node-locked.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub floating: Option<Option<crate::floating::FloatingPolicy>>,
}

/// Distinguishes "field absent" (`None`) from "field is null" (`Some(None)`).
fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// A product as the admin API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Server-side id.
    pub id: String,
    /// URL-safe identifier.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// What the product delivers.
    pub kind: ProductKind,
    /// Seats per license.
    pub max_activations: u32,
    /// License lifetime in seconds; `null` for perpetual.
    pub license_duration_secs: Option<i64>,
    /// Offline-token lifetime in seconds.
    pub token_lifetime_secs: i64,
    /// Feature flags.
    pub entitlements: Vec<String>,
    /// Vendor data.
    pub metadata: serde_json::Value,
    /// Stripe price ids that sell this product.
    pub stripe_price_ids: Vec<String>,
    /// Downloads per purchase.
    pub download_limit: u32,
    /// The trial it offers, if any.
    #[serde(default)]
    pub trial: Option<TrialPolicy>,
    /// Grace after a subscription's paid period, in seconds.
    #[serde(default = "default_subscription_grace")]
    pub subscription_grace_secs: i64,
    /// The product's own billing portal link, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_portal_url: Option<String>,
    /// Updates period of a license from its issue, in seconds; `null`: until it expires.
    #[serde(default)]
    pub maintenance_secs: Option<i64>,
    /// Whether trials are offered releases.
    #[serde(default)]
    pub trial_updates: bool,
    /// The floating policy, when licenses hold seats rather than activations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floating: Option<crate::floating::FloatingPolicy>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// `POST /v1/admin/licenses`: issue a license.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueLicense {
    /// Product slug.
    pub product: String,
    /// Customer email.
    pub email: String,
    /// Explicit expiry (Unix seconds); default: now + the product's license duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Per-license seat override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_activations: Option<u32>,
    /// Per-license offline-token lifetime override, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_secs: Option<i64>,
    /// Per-license entitlements (replace the product's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlements: Option<Vec<String>>,
    /// The vendor's key/value notes, carried in every lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<LicenseMetadata>,
    /// Releases published until then are the license's (Unix seconds); default: issue +
    /// the product's maintenance period, else the license's expiry (none: forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates_until: Option<i64>,
}

/// `POST /v1/admin/licenses/{id}/extend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendLicense {
    /// New expiry in Unix seconds, or `null` to make the license perpetual.
    pub expires_at: Option<i64>,
}

/// `PATCH /v1/admin/licenses/{id}`: per-license policy overrides; `null` removes one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateLicense {
    /// Seat override.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_activations: Option<Option<u32>>,
    /// Offline-token lifetime override.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_lifetime_secs: Option<Option<i64>>,
    /// Entitlements override.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub entitlements: Option<Option<Vec<String>>>,
    /// Customer email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The vendor's metadata, replaced as a whole (`{}` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<LicenseMetadata>,
    /// End of the license's updates (Unix seconds); `null`: until it expires (e.g. after
    /// maintenance is renewed for good).
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub updates_until: Option<Option<i64>>,
}

/// A license as the admin API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct License {
    /// Server-side id.
    pub id: String,
    /// The license key.
    pub key: String,
    /// Product slug.
    pub product: String,
    /// Customer email.
    pub email: String,
    /// Status set by the vendor.
    pub status: LicenseStatus,
    /// Unix seconds; `null` for perpetual.
    pub expires_at: Option<i64>,
    /// Effective seats (override or product policy).
    pub max_activations: u32,
    /// Effective offline-token lifetime.
    pub token_lifetime_secs: i64,
    /// Effective entitlements.
    pub entitlements: Vec<String>,
    /// The per-license overrides, `null` where the product's policy applies.
    pub overrides: LicenseOverrides,
    /// Seats in use now.
    pub active_activations: u32,
    /// The vendor's key/value notes.
    #[serde(default)]
    pub metadata: LicenseMetadata,
    /// Releases published until then are the license's (Unix seconds; the end of its
    /// maintenance, else its expiry); `null`: every release.
    #[serde(default)]
    pub updates_until: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Activations (current and past), only when one license is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activations: Option<Vec<ActivationInfo>>,
    /// The subscription that pays for the license, when it was sold by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<crate::token::SubscriptionClaim>,
}

/// Per-license overrides of the product policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseOverrides {
    /// Seat override.
    pub max_activations: Option<u32>,
    /// Offline-token lifetime override.
    pub token_lifetime_secs: Option<i64>,
    /// Entitlements override.
    pub entitlements: Option<Vec<String>>,
}

/// A page of results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
}

/// One audit-log entry: who changed what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// `admin`, `cli`, `public` (a license holder through the license API) or `system`.
    pub actor: String,
    /// What happened, e.g. `license.revoked`.
    pub action: String,
    /// Kind of thing changed: `product`, `license`, `activation`, `signing_key`, `admin_token`.
    pub subject_type: String,
    /// Its id.
    pub subject_id: String,
    /// Details as JSON (never secrets).
    pub details: serde_json::Value,
}

/// Status of a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PurchaseStatus {
    /// Checkout finished, payment not yet confirmed (e.g. bank transfer).
    Pending,
    /// Paid (or free): fulfilled.
    Completed,
    /// The payment failed.
    Failed,
    /// Refunded in full: licenses revoked, downloads and access ended.
    Refunded,
    /// Under dispute: licenses suspended.
    Disputed,
}

impl PurchaseStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Refunded => "REFUNDED",
            Self::Disputed => "DISPUTED",
        }
    }

    /// Every status, in the order a purchase usually goes through them.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Completed,
        Self::Failed,
        Self::Refunded,
        Self::Disputed,
    ];

    /// How a person reads it, capitalised (`Refunded`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Refunded => "Refunded",
            Self::Disputed => "Disputed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            "COMPLETED" => Some(Self::Completed),
            "FAILED" => Some(Self::Failed),
            "REFUNDED" => Some(Self::Refunded),
            "DISPUTED" => Some(Self::Disputed),
            _ => None,
        }
    }
}

/// `POST /v1/admin/purchases`: a completed purchase created by hand (free grants, other
/// payment providers), fulfilled like a paid one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePurchase {
    /// Customer email.
    pub email: String,
    /// Product slugs.
    pub products: Vec<String>,
    /// Amount in the currency's smallest unit (0 for a free grant).
    #[serde(default)]
    pub amount: Option<i64>,
    /// ISO currency code.
    #[serde(default)]
    pub currency: Option<String>,
    /// Where it was paid, e.g. `manual`, `paddle`, `invoice` (default `manual`).
    #[serde(default)]
    pub provider: Option<String>,
    /// The provider's payment id, making the grant idempotent.
    #[serde(default)]
    pub provider_payment_id: Option<String>,
}

/// A purchase as the admin API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// Id.
    pub id: String,
    /// Customer email.
    pub email: String,
    /// Product slugs.
    pub products: Vec<String>,
    /// Amount in the currency's smallest unit.
    pub amount: Option<i64>,
    /// ISO currency.
    pub currency: Option<String>,
    /// `stripe`, `manual`, …
    pub provider: String,
    /// Checkout session id.
    pub provider_session_id: Option<String>,
    /// Payment id.
    pub provider_payment_id: Option<String>,
    /// Status.
    pub status: PurchaseStatus,
    /// When fulfilment committed.
    pub fulfilled_at: Option<i64>,
    /// Why the last fulfilment attempt failed (then it can be retried).
    pub fulfilment_error: Option<String>,
    /// When the delivery email was accepted by the mail server.
    pub delivered_at: Option<i64>,
    /// Downloads used.
    pub download_count: i64,
    /// Downloads allowed.
    pub download_limit: i64,
    /// License ids minted by this purchase.
    #[serde(default)]
    pub licenses: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// The subscription, when the purchase is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Subscription>,
}

/// A purchase's subscription as the admin API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The provider's subscription id (`sub_…`).
    pub id: String,
    /// Where it stands.
    pub status: crate::token::SubscriptionStatus,
    /// End of the current billing period (Unix seconds), when known.
    pub period_end: Option<i64>,
    /// End of the last paid period (Unix seconds): licenses run to this plus the grace.
    pub paid_through: Option<i64>,
    /// True when it ends at `period_end` instead of renewing.
    pub cancel_at_period_end: bool,
    /// When the last renewal payment failed, while it is unpaid.
    pub payment_failed_at: Option<i64>,
    /// The provider's price id.
    pub price_id: Option<String>,
    /// Monthly recurring revenue of this subscription, in the currency's smallest unit.
    pub monthly_amount: Option<i64>,
    /// ISO currency, lower case.
    pub currency: Option<String>,
    /// Unix seconds.
    pub updated_at: i64,
}

/// `GET /v1/access?email=&product=`: does this customer have access?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// The email asked about.
    pub email: String,
    /// The product slug asked about.
    pub product: String,
    /// True while at least one grant is live.
    pub granted: bool,
    /// Purchases that grant it.
    pub purchases: Vec<String>,
}
