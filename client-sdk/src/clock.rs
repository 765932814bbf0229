//! The source of "now".

/// Unix time in seconds. Replace it in tests to move time.
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
            .map_or(0, |d| d.as_secs() as i64)
    }
}
