//! The Licet wire format, shared by the server (`licet-server`) and the client SDK (`licet`).
//!
//! # Layout
//! - [`error`]: the stable error codes every failure carries, and the JSON error body.
//! - [`api`]: request and response bodies of the public license API.
//! - [`admin`]: request and response bodies of the vendor's admin API.
//! - [`clock`]: the one notion of "now" (a trait, so tests can move time).
//! - [`floating`]: floating (concurrent) licenses: seats with heartbeats and borrowing.
//! - [`key`]: the shape of a license key (the server adds its keyed check group).
//! - [`offline`]: air-gapped activation: the activation request, the activation response
//!   and the deactivation proof, and the text blocks that carry them by hand.
//! - [`releases`]: releases and updates: the update check, its signed manifest, the
//!   Tauri updater's shape, the vendor's view.
//! - [`trials`]: a product's trial policy, the trial endpoint's body, the vendor's view.
//! - [`token`]: the Ed25519-signed offline lease (a compact JWS, `alg: EdDSA`), its claims,
//!   signing, strict verification and the JWKS document that publishes the public keys.
//!
//! Everything here is plain data plus pure functions (token checks take "now" as an
//! argument), so that the server, the SDK and the C ABI agree byte for byte.
#![deny(missing_docs)]

pub mod admin;
pub mod api;
pub mod clock;
pub mod error;
pub mod floating;
pub mod key;
pub mod offline;
pub mod releases;
pub mod token;
pub mod trials;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use token::{
    Claims, Jwk, Jwks, KeySet, LicenseClaim, SubscriptionClaim, SubscriptionStatus, TokenError,
    VerifiedToken,
};

/// Status of a license as the vendor set it. Expiry is reported apart (`expires_at`), so a
/// license can be `ACTIVE` and expired at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LicenseStatus {
    /// The license may be used.
    Active,
    /// Temporarily blocked by the vendor (e.g. a payment dispute); can be reinstated.
    Suspended,
    /// Permanently withdrawn (e.g. refund); activations no longer validate.
    Revoked,
}

impl LicenseStatus {
    /// The stored and transmitted spelling (`ACTIVE`, `SUSPENDED`, `REVOKED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::Revoked => "REVOKED",
        }
    }

    /// Parses the stored spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "SUSPENDED" => Some(Self::Suspended),
            "REVOKED" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// What a lease stands for: a license, or a machine's trial of the product.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LicenseKind {
    /// A license bought or granted (the default, and what leases without `kind` are).
    #[default]
    License,
    /// A trial bound to one machine; `expires_at` is the trial's end.
    Trial,
}

impl LicenseKind {
    /// True for [`LicenseKind::License`] (left out of leases, which keeps them as before).
    pub fn is_license(&self) -> bool {
        *self == Self::License
    }
}
