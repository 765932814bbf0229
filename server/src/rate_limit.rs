//! Limits on the guessable license API, per client IP and per license key.
//!
//! Counters are fixed one-minute windows in the shared database, so a limit holds across
//! every replica (ten replicas do not mean ten times the guesses). Keys are counted under a
//! hash, never stored in the clear. Set both limits to 0 to turn limiting off (benchmarks).

use crate::crypto::sha256_hex;
use crate::error::{Error, Result};
use crate::store::Store;

/// Window length in seconds.
pub const WINDOW_SECS: i64 = 60;

/// Sign-in attempts (portal links asked for, dashboard passwords tried) per IP per window.
pub const SIGN_IN_PER_IP: i64 = 10;
/// Sign-in attempts per subject (one email, or the dashboard as a whole) per window, so a
/// botnet cannot flood one inbox or guess the admin password from many addresses.
pub const SIGN_IN_PER_SUBJECT: i64 = 30;

/// The configured limits.
#[derive(Debug, Clone, Copy)]
pub struct RateLimiter {
    per_ip: u32,
    per_key: u32,
}

impl RateLimiter {
    /// Limits per minute; 0 disables one.
    pub fn new(per_ip: u32, per_key: u32) -> Self {
        Self { per_ip, per_key }
    }

    /// Counts this request; `RATE_LIMITED` (with the seconds left in the window) when the
    /// IP or the key has used up its window.
    pub async fn check(&self, store: &Store, now: i64, ip: &str, key: &str) -> Result<()> {
        if self.per_ip == 0 && self.per_key == 0 {
            return Ok(());
        }
        let window = now - now.rem_euclid(WINDOW_SECS);
        let ip_bucket = format!("ip:{ip}");
        let normalised = key.trim().to_ascii_uppercase();
        let key_bucket = format!("key:{}", &sha256_hex(normalised.as_bytes())[..32]);
        let [ip_hits, key_hits] = store
            .hit_rate_buckets([&ip_bucket, &key_bucket], window)
            .await?;
        let over = |limit: u32, hits: i64| limit > 0 && hits > i64::from(limit);
        if over(self.per_ip, ip_hits) || over(self.per_key, key_hits) {
            return Err(Error::RateLimited {
                retry_after: u64::try_from(window + WINDOW_SECS - now)
                    .unwrap_or(1)
                    .max(1),
            });
        }
        Ok(())
    }

    /// Counts a sign-in attempt from `ip` for `subject`; `RATE_LIMITED` past
    /// [`SIGN_IN_PER_IP`] or [`SIGN_IN_PER_SUBJECT`] in the window. Off with per-IP limiting.
    pub async fn check_sign_in(
        &self,
        store: &Store,
        now: i64,
        ip: &str,
        subject: &str,
    ) -> Result<()> {
        if self.per_ip == 0 {
            return Ok(());
        }
        let window = now - now.rem_euclid(WINDOW_SECS);
        let ip_bucket = format!("signin-ip:{ip}");
        let normalised = subject.trim().to_ascii_lowercase();
        let subject_bucket = format!("signin:{}", &sha256_hex(normalised.as_bytes())[..32]);
        let [ip_hits, subject_hits] = store
            .hit_rate_buckets([&ip_bucket, &subject_bucket], window)
            .await?;
        if ip_hits > SIGN_IN_PER_IP || subject_hits > SIGN_IN_PER_SUBJECT {
            return Err(Error::RateLimited {
                retry_after: u64::try_from(window + WINDOW_SECS - now)
                    .unwrap_or(1)
                    .max(1),
            });
        }
        Ok(())
    }
}
