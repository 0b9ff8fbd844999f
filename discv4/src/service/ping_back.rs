//! Ping-backs, decided and signed by the ingress workers.
//!
//! A PING from an endpoint without a proof with us must be answered by a PING of ours (the
//! endpoint proof the sender needs before we answer its FINDNODE, and ours of it before it
//! enters the table). Signing it costs as much as the PONG, so the service task, being one,
//! could sign only about a core's worth; the workers sign in parallel instead, within a budget
//! per second, and tell the service the hash to expect in the PONG. The worker sends the
//! ping-back before it hands the PING to the service, and its PONG can only arrive after that,
//! so the service, which takes packets in arrival order, always knows the hash in time.
//!
//! A worker cannot see the service's pending requests, so it skips endpoints it pinged back
//! within the last request timeout; the service signs a ping-back itself (within the same
//! budget) in the rare case a worker skipped one it needs.

use std::{net::SocketAddr, num::NonZeroUsize, sync::Mutex, time::Duration};

use enode::PeerId;
use lru::LruCache;
use tokio::time::Instant;

use super::{priority::Priority, ratelimit::TokenBucket};

/// Recent ping-backs remembered (by node and endpoint): what a second of the default budget
/// reaches many times over.
const RECENT_ENDPOINTS: NonZeroUsize = NonZeroUsize::new(16_384).unwrap();

/// What the worker did about a PING's ping-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PingBack {
    /// Not a PING, a sender with an endpoint proof, or one pinged back moments ago.
    Skipped,
    /// Over the budget: none was sent; the sender's next PING may get one.
    OverBudget,
    /// Signed and sent; the sender's PONG must echo `hash`.
    Sent {
        /// Hash of the PING we sent.
        hash: [u8; 32],
    },
}

/// The workers' shared ping-back budget and memory.
#[derive(Debug)]
pub(crate) struct PingBacks {
    /// `None`: no budget.
    budget: Option<Mutex<TokenBucket>>,
    recent: Mutex<LruCache<(PeerId, SocketAddr), Instant>>,
    /// How long a ping-back is awaited: no second one to the same node and endpoint within it.
    in_flight: Duration,
}

impl PingBacks {
    /// `per_second`: ping-backs per second at most, with a burst of as many (`0`: no cap).
    pub(crate) fn new(per_second: u32, in_flight: Duration) -> Self {
        Self {
            budget: (per_second > 0)
                .then(|| Mutex::new(TokenBucket::new(per_second, per_second, Instant::now()))),
            recent: Mutex::new(LruCache::sparse(RECENT_ENDPOINTS)),
            in_flight,
        }
    }

    /// Whether a worker should ping `sender` at `src` back: `Sent` is returned with a zero
    /// hash for the caller to fill in once it has signed the PING.
    pub(crate) fn decide(
        &self,
        sender: PeerId,
        src: SocketAddr,
        priority: &Priority,
        now: Instant,
    ) -> PingBack {
        if priority.is_bonded(src) {
            return PingBack::Skipped;
        }
        let Ok(mut recent) = self.recent.lock() else {
            return PingBack::Skipped;
        };
        self.forget_expired(&mut recent, now);
        if recent
            .peek(&(sender, src))
            .is_some_and(|at| now.saturating_duration_since(*at) < self.in_flight)
        {
            return PingBack::Skipped;
        }
        if !self.take_budget(now) {
            return PingBack::OverBudget;
        }
        recent.put((sender, src), now);
        PingBack::Sent { hash: [0; 32] }
    }

    /// The service PINGs `node` at `endpoint` itself (a bond, a liveness check): the workers
    /// send it no ping-back while that PING is awaited, since its PONG is on the way.
    pub(crate) fn pinged(&self, node: PeerId, endpoint: SocketAddr, now: Instant) {
        if let Ok(mut recent) = self.recent.lock() {
            self.forget_expired(&mut recent, now);
            recent.put((node, endpoint), now);
        }
    }

    /// Drops the entries older than `in_flight` (they decide nothing any more) from the
    /// least recent end, so the memory holds one timeout's worth of endpoints, not the last
    /// 16,384 ever pinged. Entries are put with the time of the put, so the least recent end
    /// is the oldest; the loop stops at the first one still in flight.
    fn forget_expired(&self, recent: &mut LruCache<(PeerId, SocketAddr), Instant>, now: Instant) {
        while recent
            .peek_lru()
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) >= self.in_flight)
        {
            recent.pop_lru();
        }
    }

    /// Endpoints remembered now (for tests).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.recent.lock().map_or(0, |recent| recent.len())
    }

    /// One ping-back's worth of budget, for the service's own (rare) ping-backs.
    pub(crate) fn take_budget(&self, now: Instant) -> bool {
        match &self.budget {
            None => true,
            Some(bucket) => bucket.lock().map_or(true, |mut bucket| bucket.take(now)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i], 30303))
    }

    fn id(i: u8) -> PeerId {
        PeerId([i; 64])
    }

    #[tokio::test(start_paused = true)]
    async fn endpoints_are_forgotten_once_their_timeout_passed() {
        let priority = Priority::new(0);
        let backs = PingBacks::new(0, Duration::from_millis(500));
        let start = Instant::now();
        for i in 0..100 {
            backs.decide(id(i), addr(i), &priority, start);
        }
        backs.pinged(id(200), addr(200), start + Duration::from_millis(300));
        assert_eq!(backs.remembered(), 101);
        // At 0.6 s the first hundred are past their timeout; the service's PING is not.
        backs.decide(
            id(201),
            addr(201),
            &priority,
            start + Duration::from_millis(600),
        );
        assert_eq!(backs.remembered(), 2);
        assert_eq!(
            backs.decide(
                id(200),
                addr(200),
                &priority,
                start + Duration::from_millis(700)
            ),
            PingBack::Skipped
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_ping_back_per_endpoint_per_timeout_within_the_budget() {
        let priority = Priority::new(0);
        let backs = PingBacks::new(3, Duration::from_millis(500));
        let now = Instant::now();
        assert!(matches!(
            backs.decide(id(1), addr(1), &priority, now),
            PingBack::Sent { .. }
        ));
        // Pinged back moments ago: skipped, and no budget spent on it.
        assert_eq!(
            backs.decide(id(1), addr(1), &priority, now),
            PingBack::Skipped
        );
        assert!(matches!(
            backs.decide(id(2), addr(2), &priority, now),
            PingBack::Sent { .. }
        ));
        assert!(matches!(
            backs.decide(id(3), addr(3), &priority, now),
            PingBack::Sent { .. }
        ));
        assert_eq!(
            backs.decide(id(4), addr(4), &priority, now),
            PingBack::OverBudget
        );
        // After the timeout the same endpoint may be pinged back again, budget permitting.
        let later = now + Duration::from_secs(1);
        assert!(matches!(
            backs.decide(id(1), addr(1), &priority, later),
            PingBack::Sent { .. }
        ));
        assert!(matches!(
            backs.decide(id(4), addr(4), &priority, later),
            PingBack::Sent { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn an_endpoint_the_service_is_pinging_gets_no_ping_back() {
        let priority = Priority::new(0);
        let backs = PingBacks::new(0, Duration::from_millis(500));
        let now = Instant::now();
        backs.pinged(id(1), addr(1), now);
        assert_eq!(
            backs.decide(id(1), addr(1), &priority, now),
            PingBack::Skipped
        );
        let later = now + Duration::from_secs(1);
        assert!(matches!(
            backs.decide(id(1), addr(1), &priority, later),
            PingBack::Sent { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn bonded_endpoints_are_never_pinged_back() {
        let priority = Priority::new(0);
        priority.bonded(addr(1));
        let backs = PingBacks::new(0, Duration::from_millis(500));
        let now = Instant::now();
        assert!((0..10).all(|_| backs.decide(id(1), addr(1), &priority, now) == PingBack::Skipped));
        // No cap: every new endpoint gets one.
        assert!((2..100).all(|i| matches!(
            backs.decide(id(i), addr(i), &priority, now),
            PingBack::Sent { .. }
        )));
    }
}
