//! The one source of "now" (shared with the SDK), and a clock tests can move.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub use licet_proto::clock::{Clock, SystemClock};

/// The system clock shifted by an adjustable offset (tests move time forward with it).
#[derive(Debug, Default, Clone)]
pub struct OffsetClock {
    offset: Arc<AtomicI64>,
}

impl OffsetClock {
    /// Moves the clock forward by `secs` (negative moves it back).
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> i64 {
        SystemClock.now() + self.offset.load(Ordering::SeqCst)
    }
}
