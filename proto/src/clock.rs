//! The source of "now" shared by server and SDK, so tests on either side can move time.

/// Unix time in seconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Current Unix time in seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}
