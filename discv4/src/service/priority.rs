//! Load shedding under a flood: while the socket has a backlog, datagrams from endpoints that
//! hold an endpoint proof with us are verified first, and those from everyone else only within
//! a budget of signature recoveries per second; the rest are dropped before the recovery.
//!
//! A node that verifies every datagram falls behind a flood of validly signed packets (each
//! costs an ECDSA recovery, ~50–100 µs), the kernel's receive buffer fills, and the kernel
//! drops honest peers' packets with the flood's. Dropping unknown senders' packets unverified
//! while behind drains the socket at hashing speed instead, so the kernel stops dropping and
//! bonded peers keep being answered. Without a backlog nothing is shed.
//!
//! The set is keyed by UDP endpoint (IP and port) and filled by the service on each valid PONG
//! (a completed endpoint proof). A spoofer can claim a bonded endpoint's address; its packets
//! are then verified (and fail or count against the per-IP limit), as without this filter.

use std::{net::SocketAddr, num::NonZeroUsize, sync::Mutex};

use lru::LruCache;
use tokio::time::Instant;

use super::ratelimit::TokenBucket;

/// Bonded endpoints remembered: beyond a full table (16 × 256) plus its replacements.
const PRIORITY_ENDPOINTS: NonZeroUsize = NonZeroUsize::new(8192).unwrap();

/// Endpoints with an endpoint proof, and the budget for everyone else under overload.
#[derive(Debug)]
pub(crate) struct Priority {
    bonded: Mutex<LruCache<SocketAddr, ()>>,
    /// `None`: never shed.
    unknown_budget: Option<Mutex<TokenBucket>>,
}

impl Priority {
    /// `unknown_per_second`: recoveries for non-bonded senders per second while behind
    /// (`0`: never shed).
    pub(crate) fn new(unknown_per_second: u32) -> Self {
        Self {
            bonded: Mutex::new(LruCache::sparse(PRIORITY_ENDPOINTS)),
            unknown_budget: (unknown_per_second > 0).then(|| {
                Mutex::new(TokenBucket::new(
                    unknown_per_second,
                    unknown_per_second,
                    Instant::now(),
                ))
            }),
        }
    }

    /// `endpoint` completed an endpoint proof.
    pub(crate) fn bonded(&self, endpoint: SocketAddr) {
        if let Ok(mut bonded) = self.bonded.lock() {
            bonded.put(endpoint, ());
        }
    }

    /// Whether `endpoint` holds an endpoint proof with us, as far as this set remembers.
    pub(crate) fn is_bonded(&self, endpoint: SocketAddr) -> bool {
        // `peek`: a lookup must not promote an entry (a spoofer could keep one alive).
        self.bonded
            .lock()
            .is_ok_and(|b| b.peek(&endpoint).is_some())
    }

    /// Whether to verify a datagram from `src`; `backlog` is true while the socket is behind.
    pub(crate) fn admit(&self, src: SocketAddr, backlog: bool) -> bool {
        let Some(budget) = &self.unknown_budget else {
            return true;
        };
        if !backlog {
            return true;
        }
        if self.is_bonded(src) {
            return true;
        }
        budget
            .lock()
            .map(|mut bucket| bucket.take(Instant::now()))
            .unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn only_a_backlog_sheds_and_bonded_endpoints_never_are() {
        let priority = Priority::new(3);
        let bonded: SocketAddr = "10.0.0.1:30303".parse().unwrap();
        let stranger: SocketAddr = "10.0.0.2:30303".parse().unwrap();
        priority.bonded(bonded);
        assert!((0..100).all(|_| priority.admit(stranger, false)));
        assert!((0..100).all(|_| priority.admit(bonded, true)));
        assert_eq!(
            (0..100).filter(|_| priority.admit(stranger, true)).count(),
            3
        );
        // Another port of a bonded IP is not bonded.
        assert!(!priority.admit("10.0.0.1:30304".parse().unwrap(), true));
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        assert_eq!(
            (0..100).filter(|_| priority.admit(stranger, true)).count(),
            3
        );
        assert!((0..100).all(|_| Priority::new(0).admit(stranger, true)));
    }
}
