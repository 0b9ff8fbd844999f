//! The service's clock for bookkeeping timestamps (bonds, node database).
//!
//! Unix seconds derived from tokio's monotonic clock: read the wall clock once at start, then
//! advance with `tokio::time::Instant`. A wall-clock jump cannot expire every bond at once, and
//! tests on tokio's paused clock can move a day forward in an instant. Packet expirations stay
//! on the wall clock: they are compared with other nodes' clocks.

use tokio::time::Instant;

use crate::proto::now_unix_secs;

/// Unix time that advances with tokio's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnixClock {
    base_unix: u64,
    base: Instant,
}

impl UnixClock {
    /// Starts at the current wall-clock time.
    pub(crate) fn start() -> Self {
        Self {
            base_unix: now_unix_secs(),
            base: Instant::now(),
        }
    }

    /// Seconds since the Unix epoch.
    pub(crate) fn now_secs(&self) -> u64 {
        self.base_unix.saturating_add(self.base.elapsed().as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn advances_with_tokio_time() {
        let clock = UnixClock::start();
        let t0 = clock.now_secs();
        tokio::time::advance(Duration::from_secs(25 * 3600)).await;
        assert_eq!(clock.now_secs() - t0, 25 * 3600);
    }
}
