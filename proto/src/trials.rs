//! Trials: a product's trial policy, the public trial endpoint's body and the vendor's view
//! of trials.
//!
//! A trial is bound to one machine of one product, ever: `POST /v1/trials/activate` starts
//! it the first time a fingerprint asks and answers the same trial (same end) every time
//! after, so reinstalling the app never buys a fresh one. Its lease has the shape of a
//! license activation's, with `lic.kind = "trial"` and `lic.expires_at` = the trial's end.

use serde::{Deserialize, Serialize};

use crate::api::MachineInfo;

/// Shortest trial, in seconds (one hour).
pub const MIN_TRIAL_SECS: i64 = 3600;
/// Longest trial, in seconds (one year).
pub const MAX_TRIAL_SECS: i64 = 366 * 24 * 3600;

/// A product's trial: how long, and what it grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialPolicy {
    /// Length of a trial in seconds, from its start (e.g. 1209600 for 14 days).
    pub duration_secs: i64,
    /// Feature flags during the trial; `null` or absent: the product's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlements: Option<Vec<String>>,
}

/// `POST /v1/trials/activate`: start (or resume) this machine's trial of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartTrialRequest {
    /// The product slug.
    pub product: String,
    /// The machine fingerprint (the SDK's `v1:<hex HMAC>` of the OS machine id).
    pub fingerprint: String,
    /// A human name for the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The platform, e.g. `linux-x86_64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Descriptive machine facts; never part of the fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineInfo>,
}

/// Where a trial stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialState {
    /// Running: its end is ahead.
    Active,
    /// Its end has passed without a license on the machine.
    Expired,
    /// A license was activated on the machine: the license is in force there.
    Converted,
}

impl TrialState {
    /// The wire spelling (`active`, `expired`, `converted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Converted => "converted",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "expired" => Some(Self::Expired),
            "converted" => Some(Self::Converted),
            _ => None,
        }
    }
}

/// A trial as the admin API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    /// Server-side id (the lease's `sub`).
    pub id: String,
    /// Product slug.
    pub product: String,
    /// The machine fingerprint.
    pub fingerprint: String,
    /// Machine name, if given.
    pub name: Option<String>,
    /// Platform, if given.
    pub platform: Option<String>,
    /// Where it stands now.
    pub state: TrialState,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds: the trial's end.
    pub ends_at: i64,
    /// When a license took over on the machine (Unix seconds).
    pub converted_at: Option<i64>,
    /// The license that took over.
    pub converted_license_id: Option<String>,
}

/// Trials of one product, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialStats {
    /// Product slug.
    pub product: String,
    /// Trials ever started.
    pub started: u64,
    /// Running now.
    pub active: u64,
    /// Ended without a license.
    pub expired: u64,
    /// Followed by a license on the same machine.
    pub converted: u64,
}

impl TrialStats {
    /// Converted trials as a share of the trials that ended (converted or expired), in
    /// percent; `None` before any ended.
    pub fn conversion_rate(&self) -> Option<f64> {
        let ended = self.converted + self.expired;
        (ended > 0).then(|| self.converted as f64 * 100.0 / ended as f64)
    }
}
