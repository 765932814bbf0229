//! Floating (concurrent) licenses: at most N machines at the same time, on any number of
//! machines overall.
//!
//! A running app holds a seat through a short seat lease that it renews with heartbeats
//! (`POST /v1/licenses/checkout` again; `/heartbeat` is the same operation under another
//! name). A seat counts only while its lease is live, so a seat whose app stopped renewing
//! is free once its lease ends, with no cleanup job. `POST /v1/licenses/release` gives it
//! back at once. A seat can be borrowed for offline use (a longer lease, up to the product's
//! maximum); per-instance seats (`instance`) let processes that share a machine id each
//! hold one.

use serde::{Deserialize, Serialize};

use crate::api::{LicenseInfo, MachineInfo};

/// Default seat lease: 15 minutes.
pub const DEFAULT_SEAT_LEASE_SECS: i64 = 900;
/// Shortest seat lease: one minute.
pub const MIN_SEAT_LEASE_SECS: i64 = 60;
/// Longest seat lease: one day (longer is borrowing).
pub const MAX_SEAT_LEASE_SECS: i64 = 86_400;
/// Longest borrow a product may allow: 90 days.
pub const MAX_BORROW_SECS: i64 = 90 * 86_400;
/// Longest instance id.
pub const MAX_INSTANCE_LEN: usize = 128;

/// A product's floating policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloatingPolicy {
    /// How long a seat lasts without a heartbeat, in seconds (default 900).
    #[serde(default = "default_lease")]
    pub lease_secs: i64,
    /// Longest borrow, in seconds; 0 (default): no borrowing.
    #[serde(default)]
    pub max_borrow_secs: i64,
}

fn default_lease() -> i64 {
    DEFAULT_SEAT_LEASE_SECS
}

/// `POST /v1/licenses/checkout` (and `/heartbeat`): take this machine's seat, or renew it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The license key.
    pub key: String,
    /// The machine fingerprint.
    pub fingerprint: String,
    /// A per-process id (containers, CI runners): each instance of one fingerprint holds
    /// its own seat. Absent: one seat per machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// A human name for the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The platform, e.g. `linux-x86_64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Descriptive machine facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineInfo>,
    /// Borrow the seat for this many seconds of offline use (up to the product's maximum)
    /// instead of a heartbeat lease. A heartbeat never shortens a borrow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrow_secs: Option<i64>,
}

/// `POST /v1/licenses/release`: give the seat back (also ends a borrow early).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSeatRequest {
    /// The license key.
    pub key: String,
    /// The machine fingerprint.
    pub fingerprint: String,
    /// The instance id the seat was taken with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// One live seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatInfo {
    /// Seat id.
    pub id: String,
    /// The machine.
    pub fingerprint: String,
    /// The instance, for per-instance seats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Machine name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Unix seconds: when this holder took the seat.
    pub checked_out_at: i64,
    /// Unix seconds: the seat is free after this unless renewed.
    pub lease_ends_at: i64,
    /// Whether the seat is borrowed for offline use.
    pub borrowed: bool,
}

/// The answer of a checkout: a lease token (its `exp` is the seat's end), the license, the
/// seat, and how many seats are in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutResponse {
    /// The signed lease (as for an activation; `lic.seat` describes the seat).
    pub token: String,
    /// The license.
    pub license: LicenseInfo,
    /// This holder's seat.
    pub seat: SeatInfo,
    /// Live seats now, this one included.
    pub seats_in_use: u32,
}

/// The answer of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseSeatResponse {
    /// Whether a live seat was given back (false: it had ended already, or never was).
    pub released: bool,
}

/// The seat part of a floating lease's claims (`lic.seat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatClaim {
    /// Seat id.
    pub id: String,
    /// The instance, for per-instance seats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Whether the seat is borrowed (the lease's `exp` is then the borrow's end).
    #[serde(default)]
    pub borrowed: bool,
}
