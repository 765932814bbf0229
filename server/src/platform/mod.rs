//! What every layer may use: configuration, errors, secrets and crypto, the clock,
//! metrics, rate limits, calendar dates.

pub mod clock;
pub mod config;
pub mod crypto;
pub mod dates;
pub mod error;
pub mod metrics;
pub mod rate_limit;
