//! Predicts our external UDP endpoint from what other nodes tell us in PONG `to` fields.
//!
//! geth's rule: at least [`MIN_STATEMENTS`] agreeing statements from distinct nodes within a
//! [`STATEMENT_WINDOW`]. Each reporting node counts once (its latest statement), so one node
//! cannot outvote the rest by answering often.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    time::Duration,
};

use tokio::time::Instant;

use enode::NodeId;

/// Agreeing statements needed before a prediction is made.
pub const MIN_STATEMENTS: usize = 10;
/// How long a statement counts.
pub const STATEMENT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Bound on remembered statements (one per reporter), so a flood of fake reporters cannot
/// grow memory.
const MAX_REPORTERS: usize = 1024;

/// Majority vote over the endpoints other nodes observed for us.
#[derive(Debug)]
pub struct EndpointPredictor {
    by_reporter: HashMap<NodeId, (Instant, SocketAddr)>,
    /// Reporters in arrival order of their latest statement, for expiry and eviction.
    order: VecDeque<(Instant, NodeId)>,
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
            order: VecDeque::new(),
            min_statements: min_statements.max(1),
            window,
        }
    }

    /// Records that `reporter` saw us at `observed`.
    pub fn add_statement(&mut self, reporter: NodeId, observed: SocketAddr, now: Instant) {
        self.expire(now);
        self.by_reporter.insert(reporter, (now, observed));
        self.order.push_back((now, reporter));
        while self.by_reporter.len() > MAX_REPORTERS {
            match self.order.pop_front() {
                Some((at, id)) => self.remove_if_current(id, at),
                None => break,
            }
        }
        // A reporter that speaks again leaves its older queue entry behind; without this the
        // queue would hold every statement of the window (one per PONG), not one per reporter.
        if self.order.len() > 2 * self.by_reporter.len().max(MAX_REPORTERS / 16) {
            self.compact();
        }
    }

    /// Rebuilds the queue with one entry per reporter, its latest statement, oldest first.
    fn compact(&mut self) {
        let mut latest: Vec<(Instant, NodeId)> = self
            .by_reporter
            .iter()
            .map(|(id, (at, _))| (*at, *id))
            .collect();
        latest.sort_by_key(|(at, _)| *at);
        self.order = latest.into();
    }

    /// Queue entries held (for tests).
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.order.len()
    }

    /// The endpoint most reporters agree on, when at least `min_statements` of them do.
    pub fn predict(&mut self, now: Instant) -> Option<SocketAddr> {
        self.expire(now);
        let mut votes: HashMap<SocketAddr, usize> = HashMap::new();
        for (_, addr) in self.by_reporter.values() {
            *votes.entry(*addr).or_default() += 1;
        }
        // Ties are broken by address order so the answer does not depend on hash order.
        votes
            .into_iter()
            .filter(|(_, n)| *n >= self.min_statements)
            .max_by(|(a, na), (b, nb)| na.cmp(nb).then_with(|| b.cmp(a)))
            .map(|(addr, _)| addr)
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, id)) = self.order.front().copied() {
            if now.saturating_duration_since(at) < self.window {
                break;
            }
            self.order.pop_front();
            self.remove_if_current(id, at);
        }
    }

    /// Removes a reporter's statement only if `at` is its latest one (older queue entries of a
    /// reporter who spoke again must not delete the newer statement).
    fn remove_if_current(&mut self, id: NodeId, at: Instant) {
        if self.by_reporter.get(&id).is_some_and(|(t, _)| *t == at) {
            self.by_reporter.remove(&id);
        }
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
    async fn a_chatty_reporter_does_not_grow_the_queue() {
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
        assert!(p.queued() <= 2 * MAX_REPORTERS / 16 + 1, "{}", p.queued());
        // Compaction kept every reporter's latest statement: all ten still agree, and the
        // seven quiet ones expire on time while the chatty three stay.
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

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded() {
        let mut p = EndpointPredictor::default();
        let addr: SocketAddr = "1.2.3.4:30303".parse().unwrap();
        let now = Instant::now();
        for i in 0..(MAX_REPORTERS as u32 + 500) {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            p.add_statement(NodeId(id), addr, now);
        }
        assert!(p.by_reporter.len() <= MAX_REPORTERS);
    }
}
