//! Licet client SDK: link it into your app so that an end user can activate on first launch
//! and the app can answer "am I licensed, and for what?" on every launch: in microseconds,
//! offline, and without being fooled by a forged token, a token copied from another machine,
//! a clock set back, an old lease replayed by a fake server, or a casually edited state file.
//!
//! ```no_run
//! # fn main() -> Result<(), licet::Error> {
//! let client = licet::Client::builder("https://licensing.example.com", "photo")
//!     .pinned_jwks(include_str!("../tests/fixtures/example-jwks.json"))?
//!     .app_name("Photo Pro")
//!     .build()?;
//! match client.check() {
//!     Ok(license) if license.has_entitlement("pro") => println!("Pro features on"),
//!     Ok(_) => println!("licensed"),
//!     Err(licet::Error::NotActivated(_)) => {
//!         let license = client.activate("PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB")?;
//!         println!("activated until {:?}", license.expires_at);
//!     }
//!     Err(e) if e.is_verdict() => println!("not licensed: {e}"),
//!     Err(e) => println!("could not check the license: {e}"),
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`Client`] and [`ClientBuilder`]: the operations (`activate`, `check`, `validate`,
//!   `deactivate`) and their configuration.
//! - [`License`]: what a valid license grants; [`Error`]: every other outcome, with the
//!   server's stable codes ([`Error::code`]) and a split between license verdicts and
//!   failures to get one ([`Error::is_verdict`]).
//! - [`Seat`]: a floating license's seat from [`Client::checkout`], renewed in the
//!   background and given back when dropped; [`SeatStatus`] says whether it is still held.
//! - [`Update`]: what [`Client::check_for_update`] finds (a newer release the license
//!   covers, or one it does not), and its verified, resumable download.
//! - [`fingerprint`]: the privacy-preserving machine fingerprint and machine facts.
//! - [`storage`]: where the key (OS keyring, file fallback), the sealed lease cache and its
//!   keyring anchor live. How time and stored state are trusted: "Time and stored-state trust
//!   in the SDK" in `docs/architecture.md`.
//! - [`Clock`]: the source of "now" (replaceable in tests).
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod air_gapped;
mod cache;
mod client;
mod download;
mod error;
pub mod fingerprint;
mod license;
mod seal;
mod seat;
pub mod storage;
mod transport;
mod update;

pub use air_gapped::OfflineDocument;
pub use client::{Client, ClientBuilder};
pub use error::{Error, NotActivatedReason, Result};
pub use license::{License, mask_key};
pub use licet_proto::api::LicenseMetadata;
pub use licet_proto::clock::{Clock, SystemClock};
pub use licet_proto::offline::Document as OfflineDocumentKind;
pub use licet_proto::{
    ErrorCode, LicenseKind, LicenseStatus, SubscriptionClaim, SubscriptionStatus,
};
pub use seat::{LostCallback, Seat, SeatStatus};
pub use update::{NotAllowed, NotAllowedReason, Update};
