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
//! "Behind" is judged per batch and held for [`BEHIND_HOLD`]: a worker that just drained the
//! socket under a flood sees a short batch, and if that alone counted as caught up, it would
//! verify every stranger in it while the flood refilled the socket. With workers that never
//! wait for one another this made a flood's kernel drops rise by half.
//!
//! The set is keyed by UDP endpoint (IP and port) and filled by the service on each valid PONG
//! (a completed endpoint proof). A spoofer can claim a bonded endpoint's address; its packets
//! are then verified (and fail or count against the per-IP limit), as without this filter.

use std::{
    net::SocketAddr,
    num::NonZeroUsize,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use lru::LruCache;
use tokio::time::Instant;

use super::ratelimit::TokenBucket;

/// Bonded endpoints remembered: beyond a full table (16 × 256) plus its replacements.
const PRIORITY_ENDPOINTS: NonZeroUsize = NonZeroUsize::new(8192).unwrap();

/// How long the socket counts as behind after a worker received a full batch.
pub(crate) const BEHIND_HOLD: Duration = Duration::from_millis(250);

/// Endpoints with an endpoint proof, and the budget for everyone else under overload.
#[derive(Debug)]
pub(crate) struct Priority {
    bonded: Mutex<LruCache<SocketAddr, ()>>,
    /// `None`: never shed.
    unknown_budget: Option<Mutex<TokenBucket>>,
    /// Where [`Self::last_full_batch`] counts from.
    epoch: Instant,
    /// Milliseconds after `epoch` of the last full batch, plus one (0: none yet).
    last_full_batch: AtomicU64,
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
            epoch: Instant::now(),
            last_full_batch: AtomicU64::new(0),
        }
    }

    /// Whether the socket is behind, for a batch received `now`: it is when the batch filled
    /// every buffer, and for [`BEHIND_HOLD`] after any batch that did.
    pub(crate) fn behind(&self, full_batch: bool, now: Instant) -> bool {
        let since_epoch = now.saturating_duration_since(self.epoch);
        let now_ms = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX - 1) + 1;
        if full_batch {
            self.last_full_batch.fetch_max(now_ms, Ordering::Relaxed);
            return true;
        }
        let last = self.last_full_batch.load(Ordering::Relaxed);
        last != 0 && now_ms.saturating_sub(last) < BEHIND_HOLD.as_millis() as u64
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

    /// Sorts a datagram from `src` before any work is spent on it; `backlog` is true while
    /// the socket is behind. Called before the datagram is even hashed: under a flood most
    /// datagrams are shed here, at the cost of one map lookup.
    pub(crate) fn triage(&self, src: SocketAddr, backlog: bool) -> Admission {
        let Some(budget) = &self.unknown_budget else {
            return Admission::Verify;
        };
        if !backlog || self.is_bonded(src) {
            return Admission::Verify;
        }
        // Only a peek: a datagram that turns out malformed must not use up the budget.
        let open = budget
            .lock()
            .map(|bucket| bucket.has_token(Instant::now()))
            .unwrap_or(true);
        if open {
            Admission::WithinBudget
        } else {
            Admission::Shed
        }
    }

    /// Takes a recovery from the budget for an [`Admission::WithinBudget`] datagram that
    /// passed the cheap checks; false: shed it after all.
    pub(crate) fn spend(&self) -> bool {
        let Some(budget) = &self.unknown_budget else {
            return true;
        };
        budget
            .lock()
            .map(|mut bucket| bucket.take(Instant::now()))
            .unwrap_or(true)
    }

    /// Whether to verify a well-formed datagram from `src` ([`triage`](Self::triage), then
    /// [`spend`](Self::spend) if it needs the budget).
    #[cfg(test)]
    pub(crate) fn admit(&self, src: SocketAddr, backlog: bool) -> bool {
        match self.triage(src, backlog) {
            Admission::Verify => true,
            Admission::WithinBudget => self.spend(),
            Admission::Shed => false,
        }
    }
}

/// What [`Priority::triage`] decided for a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Verify it: no backlog, or the sender's endpoint is bonded.
    Verify,
    /// A stranger's datagram while behind, with budget left: verify it if it is well formed,
    /// spending from the budget.
    WithinBudget,
    /// A stranger's datagram while behind and the budget is spent: drop it unread.
    Shed,
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

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_keeps_the_socket_behind_for_the_hold_time() {
        let priority = Priority::new(3);
        let now = Instant::now;
        assert!(!priority.behind(false, now()), "nothing full yet");
        assert!(priority.behind(true, now()));
        // The short batch that drained the socket is still behind, and so is the next one.
        assert!(priority.behind(false, now()));
        tokio::time::advance(BEHIND_HOLD - Duration::from_millis(1)).await;
        assert!(priority.behind(false, now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(
            !priority.behind(false, now()),
            "caught up once the hold is over"
        );
        // A later full batch starts a new hold.
        assert!(priority.behind(true, now()));
        tokio::time::advance(BEHIND_HOLD / 2).await;
        assert!(priority.behind(false, now()));
    }

    #[tokio::test(start_paused = true)]
    async fn triage_only_peeks_at_the_budget() {
        let priority = Priority::new(2);
        let stranger: SocketAddr = "10.0.0.2:30303".parse().unwrap();
        // Malformed datagrams are triaged but never spend: the budget stays for good ones.
        for _ in 0..100 {
            assert_eq!(priority.triage(stranger, true), Admission::WithinBudget);
        }
        assert!(priority.spend());
        assert!(priority.spend());
        assert_eq!(priority.triage(stranger, true), Admission::Shed);
        assert!(!priority.spend());
        assert_eq!(priority.triage(stranger, false), Admission::Verify);
        tokio::time::advance(std::time::Duration::from_millis(500)).await;
        assert_eq!(priority.triage(stranger, true), Admission::WithinBudget);
    }
}
