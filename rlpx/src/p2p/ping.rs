//! Ping (0x02) / Pong (0x03): the liveness timers, and the rate at which we answer pings.

use std::time::Duration;

use tokio::time::Instant;

/// How often we ping the remote (geth's `pingInterval`).
pub const PING_INTERVAL: Duration = Duration::from_secs(15);

/// A session with no inbound message for this long ends with reason 0x0b (geth's
/// `frameReadTimeout`). Any message resets it, so the remote's pongs keep it alive. Time in
/// which we do not read (a protocol not keeping up, a peer not reading our writes, a ping
/// flood being throttled) does not count.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Pings answered at once before the rate limit applies.
pub const PONG_BURST: u32 = 16;

/// Past the burst, one Pong per this interval (4 per second). A peer pinging faster is not
/// read from until its next Pong is due: every Ping is answered, at a bounded rate, and a
/// flood only slows that peer's own session. An honest peer pings every 15 s.
pub const PONG_REFILL_INTERVAL: Duration = Duration::from_millis(250);

/// Ping and Pong payloads: an empty RLP list (before compression).
pub(super) const EMPTY_LIST: [u8; 1] = [0xc0];

/// When the next Pong may be sent: a token bucket of [`PONG_BURST`] tokens refilled one per
/// [`PONG_REFILL_INTERVAL`], kept as the single instant at which the bucket would be empty
/// again (the generic cell rate algorithm).
#[derive(Debug, Clone)]
pub(super) struct PongLimiter {
    /// When all tokens handed out so far will have been refilled.
    refilled_at: Instant,
}

impl PongLimiter {
    pub(super) fn new(now: Instant) -> Self {
        Self { refilled_at: now }
    }

    /// Takes a token if one is free at `now`; otherwise says when the next one is.
    pub(super) fn try_take(&mut self, now: Instant) -> Result<(), Instant> {
        // A full bucket is `PONG_BURST` intervals of credit; one token costs one interval.
        let tolerance = PONG_REFILL_INTERVAL * PONG_BURST.saturating_sub(1);
        let start = self.refilled_at.max(now);
        if start <= now + tolerance {
            self.refilled_at = start + PONG_REFILL_INTERVAL;
            Ok(())
        } else {
            Err(start.checked_sub(tolerance).unwrap_or(now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_pong_per_interval() {
        let t0 = Instant::now();
        let mut limiter = PongLimiter::new(t0);
        for _ in 0..PONG_BURST {
            assert_eq!(limiter.try_take(t0), Ok(()));
        }
        let next = limiter.try_take(t0).unwrap_err();
        assert_eq!(next, t0 + PONG_REFILL_INTERVAL);
        assert_eq!(limiter.try_take(next), Ok(()));
        assert_eq!(
            limiter.try_take(next).unwrap_err(),
            next + PONG_REFILL_INTERVAL
        );
        // A quiet peer earns its whole burst back, and no more.
        let later = next + PONG_REFILL_INTERVAL * 100;
        for _ in 0..PONG_BURST {
            assert_eq!(limiter.try_take(later), Ok(()));
        }
        assert!(limiter.try_take(later).is_err());
    }
}
