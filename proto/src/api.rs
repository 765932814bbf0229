//! Bodies of the public license API: `POST /v1/licenses/{activate,validate,deactivate}`.
//!
//! Requests reject unknown fields, so a typo in a client is an `INVALID_REQUEST`, not a
//! silently ignored option.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::LicenseStatus;

/// The vendor's key/value notes on one license (a customer id in their CRM, a plan name, an
/// edition), carried in every lease so an app reads them offline.
pub type LicenseMetadata = BTreeMap<String, String>;
/// Most entries in a license's metadata.
pub const MAX_LICENSE_METADATA_ENTRIES: usize = 32;
/// Longest metadata key, in bytes (`A-Z a-z 0-9 . _ : -`).
pub const MAX_LICENSE_METADATA_KEY_LEN: usize = 64;
/// Largest license metadata, as JSON, in bytes.
pub const MAX_LICENSE_METADATA_BYTES: usize = 4096;

/// Longest fingerprint the server accepts, in bytes.
pub const MAX_FINGERPRINT_LEN: usize = 256;
/// Longest machine name or platform string the server accepts, in characters.
pub const MAX_LABEL_LEN: usize = 200;

/// `POST /v1/licenses/activate`: bind this machine to a license seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// The license key as the customer typed it (case and surrounding blanks are forgiven).
    pub key: String,
    /// The machine fingerprint (opaque to the server; the SDK sends `v1:<hex HMAC>`).
    pub fingerprint: String,
    /// A human name for the machine, shown to the vendor and the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The platform, e.g. `linux-x86_64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Descriptive facts about the machine; never part of the fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineInfo>,
}

/// Descriptive machine facts sent with an activation, shown to the vendor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineInfo {
    /// Host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Operating system name, e.g. `Debian GNU/Linux`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_name: Option<String>,
    /// Operating system version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// CPU architecture, e.g. `x86_64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Number of logical CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<u32>,
}

/// `POST /v1/licenses/validate` and `POST /v1/licenses/deactivate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAndFingerprint {
    /// The license key.
    pub key: String,
    /// The machine fingerprint the activation was made with.
    pub fingerprint: String,
}

/// `POST /v1/licenses/validate` request body: the key and fingerprint, and optionally the
/// lease the machine holds, so that the server can answer "unchanged" instead of signing a
/// new one (see [`ValidateResponse`]). Clients that send no lease always get a fresh one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// The license key.
    pub key: String,
    /// The machine fingerprint the activation was made with.
    pub fingerprint: String,
    /// The lease this machine holds and has verified, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<HeldLease>,
}

/// What a client says of the lease it holds: enough for the server to tell whether that
/// lease still says what a fresh one would, without sending (or verifying) the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldLease {
    /// The lease's `jti` claim.
    pub jti: String,
    /// The lease's `iat` claim.
    pub iat: i64,
    /// The `kid` of the key that signed it (its JWS header).
    pub kid: String,
}
/// `POST /v1/licenses/deactivate` request body.
pub type DeactivateRequest = KeyAndFingerprint;

/// The license as its holder sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseInfo {
    /// Server-side license id (the token's `sub`).
    pub id: String,
    /// Product slug (the token's `aud`).
    pub product: String,
    /// Status set by the vendor.
    pub status: LicenseStatus,
    /// Unix seconds after which the license is expired; `null` for perpetual.
    pub expires_at: Option<i64>,
    /// Seats: how many machines may be active at once.
    pub max_activations: u32,
    /// Seats in use now.
    pub active_activations: u32,
    /// Feature flags granted by this license.
    pub entitlements: Vec<String>,
    /// The customer's email, if the license has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The vendor's metadata on the license (absent when empty).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: LicenseMetadata,
    /// A license or a trial (absent for a license; `id` is then the trial's id).
    #[serde(default, skip_serializing_if = "crate::LicenseKind::is_license")]
    pub kind: crate::LicenseKind,
    /// The subscription that pays for the license, when it was sold by one (as in the
    /// lease's `lic.subscription`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<crate::token::SubscriptionClaim>,
    /// End of the license's updates (its maintenance), when it has one of its own: releases
    /// published until then are the license's. Absent: until `expires_at` (every release,
    /// for a perpetual license).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates_until: Option<i64>,
}

/// One machine bound to a license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationInfo {
    /// Server-side activation id.
    pub id: String,
    /// The machine fingerprint.
    pub fingerprint: String,
    /// Machine name, if given.
    pub name: Option<String>,
    /// Platform, if given.
    pub platform: Option<String>,
    /// Unix seconds of the first activation.
    pub first_seen_at: i64,
    /// Unix seconds of the last activation or validation.
    pub last_seen_at: i64,
    /// Unix seconds of deactivation; `null` while the seat is held.
    pub deactivated_at: Option<i64>,
}

/// Answer to activate and validate: a fresh signed lease plus the state it encodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseResponse {
    /// The signed offline token (compact JWS, `alg: EdDSA`).
    pub token: String,
    /// The license state.
    pub license: LicenseInfo,
    /// This machine's activation.
    pub activation: ActivationInfo,
}

/// `POST /v1/licenses/activate` response body.
pub type ActivateResponse = LeaseResponse;
impl HeldLease {
    /// What to say of `token`, a lease verified earlier whose claims are `claims`.
    pub fn of(token: &str, claims: &crate::token::Claims) -> Option<Self> {
        Some(Self {
            jti: claims.jti.clone(),
            iat: claims.iat,
            kid: crate::token::header_of(token)?.kid,
        })
    }
}

/// `POST /v1/licenses/validate` response body. With `unchanged: true` there is no token:
/// the lease the request named is still the one the server would issue (same license
/// state, entitlements, seats, expiry, signing key) and has more than half its life left,
/// so the machine keeps it. Otherwise `token` is a fresh lease, exactly as from activate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateResponse {
    /// A fresh signed lease; absent when `unchanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The lease the request named stands: keep it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unchanged: bool,
    /// The license state.
    pub license: LicenseInfo,
    /// This machine's activation.
    pub activation: ActivationInfo,
}

impl From<LeaseResponse> for ValidateResponse {
    fn from(lease: LeaseResponse) -> Self {
        Self {
            token: Some(lease.token),
            unchanged: false,
            license: lease.license,
            activation: lease.activation,
        }
    }
}

/// `POST /v1/licenses/deactivate` response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeactivateResponse {
    /// The license after the seat was freed.
    pub license: LicenseInfo,
    /// The activation that ended (with `deactivated_at` set).
    pub activation: ActivationInfo,
}

/// `GET /healthz` response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"ok"` when the server answers 200.
    pub status: String,
    /// Server version.
    pub version: String,
}
