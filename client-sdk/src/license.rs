//! What a valid license grants.

use licet_proto::{Claims, LicenseStatus};

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
    /// When the current lease was signed (Unix seconds).
    pub issued_at: i64,
    /// The time this answer was computed for (Unix seconds).
    pub checked_at: i64,
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
            issued_at: c.iat,
            checked_at: now,
        }
    }

    /// True if the license grants this feature flag.
    pub fn has_entitlement(&self, name: &str) -> bool {
        self.entitlements.iter().any(|e| e == name)
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
