//! The dial history (geth's `history` heap): nodes dialed recently are not dialed again
//! until their entry expires, whatever the outcome of the dial. Bounded: when more nodes
//! were dialed within one history period than it holds, the oldest entries go first.

use std::time::Duration;

use enode::PeerId;
use tokio::time::Instant;

use crate::peers::expiry::{deadline, ExpiryMap};

/// Recently dialed nodes, each until its entry expires.
#[derive(Debug, Clone)]
pub struct DialHistory {
    entries: ExpiryMap<PeerId, ()>,
    period: Duration,
}

impl DialHistory {
    /// An empty history whose entries last `period`, holding at most `capacity` nodes.
    pub fn new(period: Duration, capacity: usize) -> Self {
        Self {
            entries: ExpiryMap::new(capacity),
            period,
        }
    }

    /// Records that node `id` was dialed (or disconnected) at `now`.
    pub fn add(&mut self, now: Instant, id: PeerId) {
        self.entries.insert(id, (), deadline(now, self.period), now);
    }

    /// Until when node `id` is in the history, if it is.
    pub fn until(&self, now: Instant, id: &PeerId) -> Option<Instant> {
        self.entries.expiry_of(id, now)
    }

    /// True while node `id` is in the history.
    pub fn contains(&self, now: Instant, id: &PeerId) -> bool {
        self.entries.contains(id, now)
    }

    /// Entries held (expired ones not yet purged included); at most the capacity.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the history holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// The most entries held.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn entries_expire_after_the_period() {
        let t0 = Instant::now();
        let mut history = DialHistory::new(35 * SEC, 16);
        history.add(t0, PeerId([1; 64]));
        assert!(history.contains(t0 + 34 * SEC, &PeerId([1; 64])));
        assert_eq!(history.until(t0, &PeerId([1; 64])), Some(t0 + 35 * SEC));
        assert!(!history.contains(t0 + 35 * SEC, &PeerId([1; 64])));
    }

    #[test]
    fn bounded() {
        let t0 = Instant::now();
        let mut history = DialHistory::new(35 * SEC, 4);
        for n in 0..100u8 {
            history.add(t0 + u32::from(n) * (SEC / 10), PeerId([n; 64]));
        }
        assert_eq!(history.len(), 4);
        assert!(history.contains(t0 + 10 * SEC, &PeerId([99; 64])));
        assert!(!history.contains(t0 + 10 * SEC, &PeerId([0; 64])));
    }
}
