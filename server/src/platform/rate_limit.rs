//! Limits on guessable endpoints: the license API (per client IP and per license key),
//! sign-in (portal links per IP and per recipient, dashboard failures per IP, per browser
//! and for the dashboard as a whole) and failed admin-API tokens.
//!
//! Counters are fixed windows in the shared database, so a limit holds across every replica
//! (ten replicas do not mean ten times the guesses). Keys and emails are counted under a
//! hash, never stored in the clear; IPv6 clients are counted per /64, the block one
//! subscriber usually holds. Once the database says a bucket is over its limit, the replica
//! remembers that until the window ends and refuses further requests of that bucket from
//! memory: a flood of refused requests costs no database write each (it used to, and slowed
//! every legitimate request down with it). Set the license-API limits to 0 to turn limiting
//! off (benchmarks, tests); sign-in limits follow the per-IP setting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::platform::crypto::sha256_hex;
use crate::platform::error::{Error, Result};

/// Where the fixed-window counters are kept: the database, shared by every replica. The
/// store implements it; this module knows only the two operations it needs.
pub trait Counters: Sync {
    /// Counts one hit in each `(bucket, window start, window end)` and answers the hit
    /// counts after it, in the order given.
    fn count_hits(
        &self,
        buckets: &[(&str, i64, i64)],
    ) -> impl Future<Output = Result<Vec<i64>>> + Send;

    /// The hit counts of `(bucket, window start)` pairs, in the order given (0 for none),
    /// without counting anything.
    fn hits(&self, buckets: &[(&str, i64)]) -> impl Future<Output = Result<Vec<i64>>> + Send;
}

/// Window of the license-API limits in seconds.
pub const WINDOW_SECS: i64 = 60;

/// At most `max` events per `window` seconds in one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Events allowed in a window.
    pub max: i64,
    /// Window length in seconds.
    pub window: i64,
}

/// Portal sign-in links asked for from one IP per minute.
pub const SIGN_IN_PER_IP: i64 = 10;
/// Portal sign-in links asked for, per IP.
pub const SIGN_IN_LINKS_PER_IP: Limit = Limit {
    max: SIGN_IN_PER_IP,
    window: 60,
};
/// Portal sign-in emails one address can be sent, from anywhere: a link lives 15 minutes,
/// so a few per quarter hour is plenty for a customer and little for someone flooding them.
pub const SIGN_IN_LINKS_PER_RECIPIENT: Limit = Limit {
    max: 5,
    window: 900,
};
/// Failed dashboard sign-ins from one IP (one /64 for IPv6).
pub const DASHBOARD_FAILURES_PER_IP: Limit = Limit {
    max: 10,
    window: 300,
};
/// Failed dashboard sign-ins from one browser that signed in before (its device cookie).
pub const DASHBOARD_FAILURES_PER_DEVICE: Limit = Limit {
    max: 10,
    window: 300,
};
/// Failed dashboard sign-ins from browsers never signed in before, all IPs together. Past
/// it, such browsers sign in with an admin token only (unguessable, 256 bits); the password
/// keeps working from browsers that signed in before.
pub const DASHBOARD_FAILURES_UNKNOWN_BROWSERS: Limit = Limit {
    max: 30,
    window: 900,
};
/// Failed admin-API bearer tokens from one IP (one /64 for IPv6).
pub const ADMIN_TOKEN_FAILURES_PER_IP: Limit = Limit {
    max: 20,
    window: 300,
};

/// The limits and what this replica knows to be over them.
#[derive(Debug)]
pub struct RateLimiter {
    per_ip: u32,
    per_key: u32,
    /// Buckets known to be over their limit: `(bucket, window start) → window end`.
    over: Mutex<HashMap<(String, i64), i64>>,
}

/// Most buckets remembered as over at once; past it, ended windows are forgotten first and
/// then everything (the database still has the counts).
const MAX_REMEMBERED: usize = 100_000;

/// One bucket under one limit at one time.
struct Counter {
    bucket: String,
    limit: Limit,
    window_start: i64,
}

impl Counter {
    fn new(bucket: String, limit: Limit, now: i64) -> Self {
        Self {
            bucket,
            limit,
            window_start: now - now.rem_euclid(limit.window.max(1)),
        }
    }

    fn window_end(&self) -> i64 {
        self.window_start + self.limit.window.max(1)
    }
}

impl RateLimiter {
    /// License-API limits per minute; 0 disables one. With `per_ip` 0 the sign-in limits
    /// are off too.
    pub fn new(per_ip: u32, per_key: u32) -> Self {
        Self {
            per_ip,
            per_key,
            over: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the sign-in and admin-token limits apply.
    fn guards_sign_in(&self) -> bool {
        self.per_ip > 0
    }

    /// Counts a license-API request; `RATE_LIMITED` (with the seconds left in the window)
    /// when the IP or the key has used up its window.
    pub async fn check(&self, store: &impl Counters, now: i64, ip: &str, key: &str) -> Result<()> {
        let mut counters = Vec::with_capacity(2);
        if self.per_ip > 0 {
            let limit = Limit {
                max: i64::from(self.per_ip),
                window: WINDOW_SECS,
            };
            counters.push(Counter::new(format!("ip:{}", ip_group(ip)), limit, now));
        }
        if self.per_key > 0 {
            let limit = Limit {
                max: i64::from(self.per_key),
                window: WINDOW_SECS,
            };
            let normalised = key.trim().to_ascii_uppercase();
            counters.push(Counter::new(
                format!("key:{}", &sha256_hex(normalised.as_bytes())[..32]),
                limit,
                now,
            ));
        }
        self.hit(store, now, &counters).await
    }

    /// Counts a request for a portal sign-in link from `ip` to `email`: limited per IP and,
    /// whoever asks, per recipient. Counted whether or not the address has purchases, so the
    /// answer says nothing about who bought.
    pub async fn check_sign_in_link(
        &self,
        store: &impl Counters,
        now: i64,
        ip: &str,
        email: &str,
    ) -> Result<()> {
        if !self.guards_sign_in() {
            return Ok(());
        }
        let counters = [
            Counter::new(
                format!("signin-ip:{}", ip_group(ip)),
                SIGN_IN_LINKS_PER_IP,
                now,
            ),
            Counter::new(
                format!("signin-to:{}", hashed(&email.trim().to_ascii_lowercase())),
                SIGN_IN_LINKS_PER_RECIPIENT,
                now,
            ),
        ];
        self.hit(store, now, &counters).await
    }

    /// Refuses with `RATE_LIMITED` when any of `buckets` has used up its failures, without
    /// counting anything (failures are counted by [`RateLimiter::record_failures`]).
    pub async fn check_failures(
        &self,
        store: &impl Counters,
        now: i64,
        buckets: &[(String, Limit)],
    ) -> Result<()> {
        if !self.guards_sign_in() || buckets.is_empty() {
            return Ok(());
        }
        let counters: Vec<Counter> = buckets
            .iter()
            .map(|(b, l)| Counter::new(b.clone(), *l, now))
            .collect();
        if let Some(e) = self.remembered(&counters, now) {
            return Err(e);
        }
        let keys: Vec<(&str, i64)> = counters
            .iter()
            .map(|c| (c.bucket.as_str(), c.window_start))
            .collect();
        let hits = store.hits(&keys).await?;
        self.judge(&counters, &hits, now, |hits, max| hits >= max)
    }

    /// Counts one failure in each of `buckets`.
    pub async fn record_failures(
        &self,
        store: &impl Counters,
        now: i64,
        buckets: &[(String, Limit)],
    ) -> Result<()> {
        if !self.guards_sign_in() || buckets.is_empty() {
            return Ok(());
        }
        let counters: Vec<Counter> = buckets
            .iter()
            .map(|(b, l)| Counter::new(b.clone(), *l, now))
            .collect();
        let hits = store.count_hits(&windows(&counters)).await?;
        // Learn what is over now; the caller already answers this request.
        let _ = self.judge(&counters, &hits, now, |hits, max| hits >= max);
        Ok(())
    }

    /// Counts a request in every counter; refuses it when one is over.
    async fn hit(&self, store: &impl Counters, now: i64, counters: &[Counter]) -> Result<()> {
        if counters.is_empty() {
            return Ok(());
        }
        if let Some(e) = self.remembered(counters, now) {
            return Err(e);
        }
        let hits = store.count_hits(&windows(counters)).await?;
        self.judge(counters, &hits, now, |hits, max| hits > max)
    }

    /// `RATE_LIMITED` when a counter is over by `is_over`, remembering it until its window
    /// ends.
    fn judge(
        &self,
        counters: &[Counter],
        hits: &[i64],
        now: i64,
        is_over: impl Fn(i64, i64) -> bool,
    ) -> Result<()> {
        let mut retry_at = None;
        for (c, &n) in counters.iter().zip(hits) {
            if is_over(n, c.limit.max) {
                self.remember(c, now);
                retry_at = Some(retry_at.map_or(c.window_end(), |r: i64| r.max(c.window_end())));
            }
        }
        match retry_at {
            Some(end) => Err(limited(end, now)),
            None => Ok(()),
        }
    }

    /// The refusal for a counter this replica already knows to be over, if any.
    fn remembered(&self, counters: &[Counter], now: i64) -> Option<Error> {
        let over = self.over.lock().ok()?;
        counters
            .iter()
            .filter_map(|c| over.get(&(c.bucket.clone(), c.window_start)))
            .filter(|&&end| end > now)
            .max()
            .map(|&end| limited(end, now))
    }

    fn remember(&self, c: &Counter, now: i64) {
        let Ok(mut over) = self.over.lock() else {
            return;
        };
        if over.len() >= MAX_REMEMBERED {
            over.retain(|_, end| *end > now);
            if over.len() >= MAX_REMEMBERED {
                over.clear();
            }
        }
        over.insert((c.bucket.clone(), c.window_start), c.window_end());
    }
}

fn windows(counters: &[Counter]) -> Vec<(&str, i64, i64)> {
    counters
        .iter()
        .map(|c| (c.bucket.as_str(), c.window_start, c.window_end()))
        .collect()
}

fn limited(window_end: i64, now: i64) -> Error {
    Error::RateLimited {
        retry_after: u64::try_from(window_end - now).unwrap_or(1).max(1),
    }
}

/// A short hash naming a bucket for a secret or personal value (a key, an email).
pub fn hashed(value: &str) -> String {
    sha256_hex(value.as_bytes())[..32].to_owned()
}

/// The part of a client address that rate limits count: an IPv4 address whole, an IPv6
/// address by its /64 (one subscriber usually holds a whole /64, and could otherwise rotate
/// through 2^64 addresses); an IPv4-mapped IPv6 address as the IPv4 address it is. Text that
/// is not an address is used as given.
pub fn ip_group(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::ip_group;

    #[test]
    fn ipv6_clients_are_counted_per_slash_64_and_ipv4_per_address() {
        assert_eq!(ip_group("203.0.113.7"), "203.0.113.7");
        assert_eq!(ip_group("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            ip_group("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            ip_group("2001:db8:1:2::9"),
            "one /64, one bucket"
        );
        assert_ne!(ip_group("2001:db8:1:2::1"), ip_group("2001:db8:1:3::1"));
        assert_eq!(ip_group("::ffff:198.51.100.4"), "198.51.100.4");
        assert_eq!(ip_group("unknown"), "unknown");
    }
}
