//! [`FixedList`]: a fixed list of nodes (bootstrap nodes, a static list, a test network) as
//! a [`CandidateSource`]. It offers its entries in order, round after round, and retires an
//! entry for good once a report says offering it again is pointless
//! ([`Outcome::is_fatal`]). Rounds are paced: the next round starts
//! [`DEFAULT_ROUND_INTERVAL`] after the previous one ended, the dial history of geth, so a
//! round never offers a node the scheduler would refuse as recently dialed and the list
//! never spins.

use std::{
    collections::HashSet,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use enode::{NodeRecord, PeerId};
use tokio::time::{Instant, Sleep};

use super::clock::deadline_after;
use super::source::{Candidate, CandidateSource, Outcome};

/// Pause between two rounds over the list: 35 s, geth's dial history.
pub const DEFAULT_ROUND_INTERVAL: Duration = Duration::from_secs(35);
/// The most entries a list holds; further ones are ignored.
pub const MAX_FIXED_ENTRIES: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Entry {
    candidate: Candidate,
    retired: bool,
}

/// A looping source over a fixed list of nodes.
#[derive(Debug)]
pub struct FixedList {
    name: String,
    entries: Vec<Entry>,
    /// Index of the next entry of the current round.
    next: usize,
    round_interval: Duration,
    /// When the next round may start, after a round ended.
    next_round_at: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl FixedList {
    /// A list named `name` over `records` (the first record of each id is kept, at most
    /// [`MAX_FIXED_ENTRIES`]), pausing [`DEFAULT_ROUND_INTERVAL`] between rounds.
    pub fn new(name: impl Into<String>, records: impl IntoIterator<Item = NodeRecord>) -> Self {
        Self::with_candidates(name, records.into_iter().map(Candidate::new))
    }

    /// A list of candidates that carry hints.
    pub fn with_candidates(
        name: impl Into<String>,
        candidates: impl IntoIterator<Item = Candidate>,
    ) -> Self {
        let mut seen = HashSet::new();
        let entries = candidates
            .into_iter()
            .filter(|c| seen.insert(c.record.id))
            .take(MAX_FIXED_ENTRIES)
            .map(|candidate| Entry {
                candidate,
                retired: false,
            })
            .collect();
        Self {
            name: name.into(),
            entries,
            next: 0,
            round_interval: DEFAULT_ROUND_INTERVAL,
            next_round_at: None,
            timer: None,
        }
    }

    /// The same list pausing `interval` between rounds.
    pub fn with_round_interval(mut self, interval: Duration) -> Self {
        self.round_interval = interval;
        self
    }

    /// Entries not retired.
    pub fn active(&self) -> usize {
        self.entries.iter().filter(|e| !e.retired).count()
    }

    /// Entries, retired ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the list has no entry at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True once the pause before the next round is over; otherwise arms the timer.
    fn pause_over(&mut self, cx: &mut Context<'_>, until: Instant) -> bool {
        if Instant::now() >= until {
            return true;
        }
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        if timer.deadline() != until {
            timer.as_mut().reset(until);
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

impl CandidateSource for FixedList {
    fn name(&self) -> &str {
        &self.name
    }

    fn poll_next_candidate(&mut self, cx: &mut Context<'_>) -> Poll<Option<Candidate>> {
        if self.active() == 0 {
            return Poll::Ready(None);
        }
        loop {
            if let Some(until) = self.next_round_at {
                if !self.pause_over(cx, until) {
                    return Poll::Pending;
                }
                self.next_round_at = None;
            }
            while let Some(entry) = self.entries.get(self.next) {
                self.next += 1;
                if !entry.retired {
                    return Poll::Ready(Some(entry.candidate));
                }
            }
            self.next = 0;
            self.next_round_at = Some(deadline_after(Instant::now(), self.round_interval));
        }
    }

    fn report(&mut self, id: &PeerId, outcome: Outcome) {
        if outcome.is_fatal() {
            for entry in self
                .entries
                .iter_mut()
                .filter(|e| e.candidate.record.id == *id)
            {
                entry.retired = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rlpx::verdict::Verdict;

    use super::*;
    use crate::discovery::next_candidate;

    fn record(n: u8) -> NodeRecord {
        NodeRecord {
            address: std::net::IpAddr::from([10, 0, 0, n]),
            udp_port: 30303,
            tcp_port: 30303,
            id: PeerId([n; 64]),
        }
    }

    async fn next_id(list: &mut FixedList) -> Option<u8> {
        next_candidate(list).await.map(|c| c.record.id.0[0])
    }

    #[tokio::test(start_paused = true)]
    async fn yields_in_order_round_after_round_with_a_pause() {
        let mut list = FixedList::new("boot", [record(1), record(2), record(1), record(3)]);
        assert_eq!(list.len(), 3, "duplicate ids dropped");
        let start = Instant::now();
        for expected in [1, 2, 3] {
            assert_eq!(next_id(&mut list).await, Some(expected));
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(next_id(&mut list).await, Some(1));
        assert_eq!(start.elapsed(), DEFAULT_ROUND_INTERVAL);
        assert_eq!(next_id(&mut list).await, Some(2));
        assert_eq!(start.elapsed(), DEFAULT_ROUND_INTERVAL);
    }

    #[tokio::test(start_paused = true)]
    async fn skips_entries_reported_fatal_and_ends_when_none_is_left() {
        let mut list =
            FixedList::new("boot", [record(1), record(2)]).with_round_interval(Duration::ZERO);
        list.report(&PeerId([1; 64]), Outcome::DialFailed(Verdict::Timeout));
        list.report(&PeerId([1; 64]), Outcome::Connected);
        assert_eq!(list.active(), 2, "non-fatal outcomes retire nothing");
        list.report(&PeerId([1; 64]), Outcome::Incompatible);
        assert_eq!(list.active(), 1);
        for _ in 0..3 {
            assert_eq!(next_id(&mut list).await, Some(2));
        }
        list.report(&PeerId([2; 64]), Outcome::DialFailed(Verdict::Impostor));
        assert_eq!(next_id(&mut list).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_list_ends_at_once() {
        let mut list = FixedList::new("none", []);
        assert!(list.is_empty());
        assert_eq!(next_id(&mut list).await, None);
    }

    #[test]
    fn the_list_is_bounded() {
        let records = (0..MAX_FIXED_ENTRIES as u32 + 10).map(|n| {
            let mut id = [0u8; 64];
            id[..4].copy_from_slice(&n.to_be_bytes());
            NodeRecord {
                id: PeerId(id),
                ..record(1)
            }
        });
        assert_eq!(FixedList::new("big", records).len(), MAX_FIXED_ENTRIES);
    }
}
