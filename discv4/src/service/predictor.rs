//! Predicts our external UDP endpoint from what other nodes tell us in PONG `to` fields.
//!
//! geth's rule: at least [`MIN_STATEMENTS`] agreeing statements from distinct nodes within a
//! [`STATEMENT_WINDOW`]. Each reporting node counts once (its latest statement), so one node
//! cannot outvote the rest by answering often.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use tokio::time::Instant;

use enode::NodeId;

/// Agreeing statements needed before a prediction is made.
pub const MIN_STATEMENTS: usize = 10;
/// How long a statement counts.
pub const STATEMENT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Bound on remembered statements (one per reporter), so a flood of fake reporters cannot
/// grow memory. A majority of ten needs far fewer. At most 112 entries keep the map at 256
/// slots (~20 KiB) for good: evictions leave tombstones, and the hash map cleans them up in
/// place instead of doubling only while it is at most half full. A 10,000-node simulation
/// holds 10,000 of these maps.
const MAX_REPORTERS: usize = 112;
/// When the bound is reached and every statement is still fresh, this share of the oldest
/// ones is dropped at once, so the sort it takes is paid once per several statements.
const EVICT_DIVISOR: usize = 8;

/// What one reporter last said.
#[derive(Debug, Clone, Copy)]
struct Statement {
    at: Instant,
    observed: SocketAddr,
}

/// Majority vote over the endpoints other nodes observed for us.
#[derive(Debug)]
pub struct EndpointPredictor {
    /// Each reporter's latest statement; at most [`MAX_REPORTERS`].
    by_reporter: HashMap<NodeId, Statement>,
    min_statements: usize,
    window: Duration,
}

impl Default for EndpointPredictor {
    fn default() -> Self {
        Self::new(MIN_STATEMENTS, STATEMENT_WINDOW)
    }
}

impl EndpointPredictor {
    /// A predictor with custom thresholds.
    pub fn new(min_statements: usize, window: Duration) -> Self {
        Self {
            by_reporter: HashMap::new(),
            min_statements: min_statements.max(1),
            window,
        }
    }

    /// Records that `reporter` saw us at `observed`.
    pub fn add_statement(&mut self, reporter: NodeId, observed: SocketAddr, now: Instant) {
        if self.by_reporter.len() >= MAX_REPORTERS && !self.by_reporter.contains_key(&reporter) {
            self.make_room(now);
        }
        self.by_reporter
            .insert(reporter, Statement { at: now, observed });
    }

    /// Frees at least one place: expired statements first, then, when all are fresh, the
    /// oldest eighth (older statements say less about where we are now).
    fn make_room(&mut self, now: Instant) {
        self.expire(now);
        if self.by_reporter.len() < MAX_REPORTERS {
            return;
        }
        let mut ages: Vec<Instant> = self.by_reporter.values().map(|s| s.at).collect();
        let cut = (MAX_REPORTERS / EVICT_DIVISOR).max(1);
        let (_, threshold, _) = ages.select_nth_unstable(cut - 1);
        let threshold = *threshold;
        let mut left = cut;
        self.by_reporter.retain(|_, statement| {
            let evict = left > 0 && statement.at <= threshold;
            left -= usize::from(evict);
            !evict
        });
    }

    /// The endpoint most reporters agree on, when at least `min_statements` of them do.
    pub fn predict(&mut self, now: Instant) -> Option<SocketAddr> {
        self.expire(now);
        let mut votes: HashMap<SocketAddr, usize> = HashMap::new();
        for statement in self.by_reporter.values() {
            *votes.entry(statement.observed).or_default() += 1;
        }
        // Ties are broken by address order so the answer does not depend on hash order.
        votes
            .into_iter()
            .filter(|(_, n)| *n >= self.min_statements)
            .max_by(|(a, na), (b, nb)| na.cmp(nb).then_with(|| b.cmp(a)))
            .map(|(addr, _)| addr)
    }

    fn expire(&mut self, now: Instant) {
        let window = self.window;
        self.by_reporter
            .retain(|_, statement| now.saturating_duration_since(statement.at) < window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reporter(i: u8) -> NodeId {
        NodeId([i; 32])
    }

    #[tokio::test(start_paused = true)]
    async fn needs_ten_distinct_agreeing_reporters() {
        let mut p = EndpointPredictor::default();
        let addr: SocketAddr = "1.2.3.4:30303".parse().unwrap();
        let now = Instant::now();
        for i in 0..9 {
            p.add_statement(reporter(i), addr, now);
        }
        // The same reporter repeating itself does not count twice.
        p.add_statement(reporter(0), addr, now);
        assert_eq!(p.predict(now), None);
        p.add_statement(reporter(9), addr, now);
        assert_eq!(p.predict(now), Some(addr));
    }

    #[tokio::test(start_paused = true)]
    async fn a_chatty_reporter_keeps_one_statement() {
        let mut p = EndpointPredictor::default();
        let addr: SocketAddr = "1.2.3.4:30303".parse().unwrap();
        let start = Instant::now();
        for i in 0..10u8 {
            p.add_statement(reporter(i), addr, start);
        }
        for step in 1..100_000u64 {
            let now = start + Duration::from_millis(step);
            p.add_statement(reporter((step % 3) as u8), addr, now);
        }
        assert_eq!(p.by_reporter.len(), 10);
        // All ten still agree; the seven quiet ones expire on time while the chatty three stay.
        let late = start + Duration::from_millis(99_999);
        assert_eq!(p.predict(late), Some(addr));
        let after_quiet_expire = start + STATEMENT_WINDOW + Duration::from_millis(1);
        assert_eq!(p.predict(after_quiet_expire), None);
        assert_eq!(p.by_reporter.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn statements_expire_after_the_window() {
        let mut p = EndpointPredictor::default();
        let addr: SocketAddr = "1.2.3.4:30303".parse().unwrap();
        let start = Instant::now();
        for i in 0..10 {
            p.add_statement(reporter(i), addr, start);
        }
        assert_eq!(p.predict(start + Duration::from_secs(299)), Some(addr));
        assert_eq!(p.predict(start + STATEMENT_WINDOW), None);
    }

    #[tokio::test(start_paused = true)]
    async fn majority_wins_and_a_reporter_can_change_its_mind() {
        let mut p = EndpointPredictor::new(3, STATEMENT_WINDOW);
        let a: SocketAddr = "1.2.3.4:1".parse().unwrap();
        let b: SocketAddr = "1.2.3.4:2".parse().unwrap();
        let now = Instant::now();
        for i in 0..3 {
            p.add_statement(reporter(i), a, now);
        }
        for i in 3..7 {
            p.add_statement(reporter(i), b, now);
        }
        assert_eq!(p.predict(now), Some(b));
        // Two b reporters switch to a: a now has 5, b has 2.
        p.add_statement(reporter(3), a, now + Duration::from_secs(1));
        p.add_statement(reporter(4), a, now + Duration::from_secs(1));
        assert_eq!(p.predict(now + Duration::from_secs(1)), Some(a));
        // The stale queue entries of reporters 3 and 4 must not delete their new statements.
        assert_eq!(p.predict(now + Duration::from_secs(300)), None);
        assert_eq!(p.by_reporter.len(), 2);
    }

    fn numbered(i: u32) -> NodeId {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&i.to_be_bytes());
        NodeId(id)
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded_and_the_newest_statements_stay() {
        let mut p = EndpointPredictor::default();
        let old: SocketAddr = "1.2.3.4:30303".parse().unwrap();
        let new: SocketAddr = "5.6.7.8:30303".parse().unwrap();
        let start = Instant::now();
        let total = MAX_REPORTERS as u32 + 500;
        for i in 0..total {
            let observed = if i < total - 20 { old } else { new };
            p.add_statement(
                numbered(i),
                observed,
                start + Duration::from_millis(u64::from(i)),
            );
            assert!(p.by_reporter.len() <= MAX_REPORTERS);
        }
        // Eviction's tombstones never made the map double past 256 slots (224 entries).
        assert!(
            p.by_reporter.capacity() <= 224,
            "{}",
            p.by_reporter.capacity()
        );
        // Eviction took the oldest: the 20 newest reporters are all there.
        for i in total - 20..total {
            assert!(
                p.by_reporter.contains_key(&numbered(i)),
                "reporter {i} evicted"
            );
        }
        assert!(!p.by_reporter.contains_key(&numbered(0)));
        assert_eq!(p.predict(start + Duration::from_secs(1)), Some(old));
    }

    #[tokio::test(start_paused = true)]
    async fn expired_statements_make_room_before_fresh_ones_are_evicted() {
        let mut p = EndpointPredictor::default();
        let addr: SocketAddr = "1.2.3.4:30303".parse().unwrap();
        let start = Instant::now();
        for i in 0..MAX_REPORTERS as u32 - 1 {
            p.add_statement(numbered(i), addr, start);
        }
        let fresh = start + STATEMENT_WINDOW - Duration::from_secs(1);
        p.add_statement(numbered(1_000_000), addr, fresh);
        // Full now; the next newcomer arrives after the first batch expired.
        let later = start + STATEMENT_WINDOW + Duration::from_secs(1);
        p.add_statement(numbered(1_000_001), addr, later);
        assert_eq!(p.by_reporter.len(), 2);
        assert!(p.by_reporter.contains_key(&numbered(1_000_000)));
    }
}
