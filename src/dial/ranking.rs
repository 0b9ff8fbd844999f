//! The candidate queue: discovered nodes waiting for a dial slot, bounded, and either ranked
//! (the best candidate is dialed first) or in arrival order (geth-like).
//!
//! A candidate's rank, best first:
//!
//! 1. its tier: a node with a past session (remembered, or hinted by the source) that also
//!    answered discovery recently; one with a past session; one that answered recently; a
//!    stranger; one whose dials at this address failed (unless it answered discovery after
//!    the failure and the failure is older than the fresh-answer window); one whose address
//!    no dial ever reached, tried [`UNREACHABLE_TIER_AFTER`] times (discovery answers do
//!    not lift it: UDP answers say nothing of a black-holed TCP port); one that proved
//!    incompatible;
//! 2. within a tier, the most recent discovery answer;
//! 3. then fewer failures;
//! 4. then the latest arrival first. The first nodes a discovery walk finds are the ones
//!    every node near them finds first (the bootnodes' neighbourhood), so they are the first
//!    to be full; the freshest find is more likely to have a free slot, and it was in some
//!    table a moment ago. A full queue therefore sheds its oldest stranger for a new one.
//!
//! Ranks depend on time (answers age), so they are computed when a candidate is picked: a
//! linear scan over a queue of a few hundred entries, cheap next to a dial.

use std::{cmp::Reverse, collections::VecDeque, time::Duration};

use enode::PeerId;
use tokio::time::Instant;

use super::{
    config::DialPolicy, memory::DialMemory, refusal::DialRefusal,
    unreachable::UNREACHABLE_TIER_AFTER,
};
use crate::discovery::{Candidate, SourceId};

/// Coarse class of a candidate, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CandidateTier {
    /// Proved incompatible before.
    Incompatible,
    /// No dial at this address ever reached the node, in [`UNREACHABLE_TIER_AFTER`] tries
    /// or more, and it never had a session.
    Unreachable,
    /// Dials at this address failed, and no discovery answer since.
    Failed,
    /// Nothing known.
    Stranger,
    /// Answered discovery recently.
    Answered,
    /// Had a session before.
    Proven,
    /// Had a session before and answered discovery recently.
    ProvenAndAnswered,
}

/// Sort key of a candidate: greater is dialed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rank {
    tier: CandidateTier,
    answered_at: Option<Instant>,
    fewer_failures: Reverse<u32>,
    later: u64,
}

/// What ranking needs besides the candidate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RankContext<'a> {
    pub(crate) memory: &'a DialMemory,
    pub(crate) now: Instant,
    pub(crate) fresh_answer: Duration,
}

impl RankContext<'_> {
    /// The tier of `candidate` now.
    pub(crate) fn tier(&self, candidate: &Candidate) -> CandidateTier {
        self.rank(candidate, 0).tier
    }

    fn rank(&self, candidate: &Candidate, seq: u64) -> Rank {
        let record = &candidate.record;
        let hints = &candidate.hints;
        let standing = self
            .memory
            .standing(self.now, &record.id, record.address, record.tcp_port);
        // A failure weighs for `fresh_answer`; after that, an answer since lifts it. Not at
        // once: the discv4 source hints at nearly every node it offers (its table sees
        // them answer all the time), so an answer right after a failure is no news; a
        // node that failed long ago and answers now deserves a stranger's chance again.
        let answered_since_failure = match (hints.answered_at, standing.last_failure) {
            (Some(answer), Some(failure)) => {
                answer > failure && self.now.saturating_duration_since(failure) >= self.fresh_answer
            }
            _ => false,
        };
        let unreachable = standing.unreached_failures >= UNREACHABLE_TIER_AFTER;
        let failing = standing.failures_here > 0 && (unreachable || !answered_since_failure);
        let fresh = hints
            .answered_at
            .is_some_and(|at| self.now.saturating_duration_since(at) < self.fresh_answer);
        let proven = standing.successes > 0 || hints.past_sessions > 0;
        let tier = if standing.incompatible {
            CandidateTier::Incompatible
        } else if unreachable {
            CandidateTier::Unreachable
        } else if failing {
            CandidateTier::Failed
        } else {
            match (proven, fresh) {
                (true, true) => CandidateTier::ProvenAndAnswered,
                (true, false) => CandidateTier::Proven,
                (false, true) => CandidateTier::Answered,
                (false, false) => CandidateTier::Stranger,
            }
        };
        Rank {
            tier,
            answered_at: hints.answered_at,
            fewer_failures: Reverse(if failing { standing.failures_here } else { 0 }),
            later: seq,
        }
    }
}

/// A candidate waiting for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Queued {
    pub(crate) candidate: Candidate,
    pub(crate) source: SourceId,
    pub(crate) arrived: Instant,
    seq: u64,
}

/// Candidates waiting for a slot, bounded.
#[derive(Debug, Clone)]
pub(crate) struct CandidateQueue {
    entries: VecDeque<Queued>,
    capacity: usize,
    policy: DialPolicy,
    next_seq: u64,
}

impl CandidateQueue {
    pub(crate) fn new(capacity: usize, policy: DialPolicy) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            policy,
            next_seq: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues a candidate. A node already queued keeps its place and takes the newer
    /// record, the newer answer and the larger session count. When the queue is full, a
    /// ranked queue drops its worst entry if the newcomer ranks above it (returning the
    /// dropped id); otherwise the newcomer is refused.
    pub(crate) fn push(
        &mut self,
        ctx: &RankContext<'_>,
        source: SourceId,
        candidate: Candidate,
    ) -> Result<Option<PeerId>, DialRefusal> {
        let id = candidate.record.id;
        if let Some(queued) = self
            .entries
            .iter_mut()
            .find(|q| q.candidate.record.id == id)
        {
            let old = queued.candidate.hints;
            let mut merged = candidate;
            merged.hints.answered_at = old.answered_at.max(candidate.hints.answered_at);
            merged.hints.past_sessions = old.past_sessions.max(candidate.hints.past_sessions);
            queued.candidate = merged;
            queued.source = source;
            return Ok(None);
        }
        let seq = self.next_seq;
        let mut evicted = None;
        if self.entries.len() >= self.capacity {
            let worst = match self.policy {
                DialPolicy::GethLike => None,
                DialPolicy::Ranked => self.worst(ctx),
            };
            match worst {
                Some((index, rank)) if ctx.rank(&candidate, seq) > rank => {
                    evicted = self.entries.remove(index).map(|q| q.candidate.record.id);
                }
                _ => return Err(DialRefusal::QueueFull),
            }
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        self.entries.push_back(Queued {
            candidate,
            source,
            arrived: ctx.now,
            seq,
        });
        Ok(evicted)
    }

    fn worst(&self, ctx: &RankContext<'_>) -> Option<(usize, Rank)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, q)| (i, ctx.rank(&q.candidate, q.seq)))
            .min_by_key(|(_, rank)| *rank)
    }

    /// Takes the next candidate to dial: the best-ranked one, or the oldest (geth-like).
    pub(crate) fn pop(&mut self, ctx: &RankContext<'_>) -> Option<Queued> {
        match self.policy {
            DialPolicy::GethLike => self.entries.pop_front(),
            DialPolicy::Ranked => {
                let (best, _) = self
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(i, q)| (i, ctx.rank(&q.candidate, q.seq)))
                    .max_by_key(|(_, rank)| *rank)?;
                self.entries.remove(best)
            }
        }
    }

    /// Drops the candidates that waited `ttl` or longer; returns how many.
    pub(crate) fn purge_stale(&mut self, now: Instant, ttl: Duration) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|q| now.saturating_duration_since(q.arrived) < ttl);
        before - self.entries.len()
    }

    /// Removes node `id` if queued.
    pub(crate) fn remove(&mut self, id: &PeerId) -> bool {
        let before = self.entries.len();
        self.entries.retain(|q| q.candidate.record.id != *id);
        before != self.entries.len()
    }

    /// When the oldest candidate goes stale.
    pub(crate) fn oldest_arrival(&self) -> Option<Instant> {
        self.entries.iter().map(|q| q.arrived).min()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};

    use enode::NodeRecord;
    use rlpx::verdict::Verdict;

    use super::*;
    use crate::discovery::CandidateHints;

    const SEC: Duration = Duration::from_secs(1);
    const SOURCE: SourceId = SourceId::from_raw(0);

    fn candidate(n: u8) -> Candidate {
        Candidate::new(NodeRecord {
            address: IpAddr::from([8, 8, 8, n]),
            udp_port: 30303,
            tcp_port: 30303,
            id: PeerId([n; 64]),
        })
    }

    fn answered(n: u8, at: Instant) -> Candidate {
        candidate(n).with_hints(CandidateHints {
            answered_at: Some(at),
            past_sessions: 0,
        })
    }

    fn ctx(memory: &DialMemory, now: Instant) -> RankContext<'_> {
        RankContext {
            memory,
            now,
            fresh_answer: 600 * SEC,
        }
    }

    fn drain(queue: &mut CandidateQueue, ctx: &RankContext<'_>) -> Vec<u8> {
        std::iter::from_fn(|| queue.pop(ctx))
            .map(|q| q.candidate.record.id.0[0])
            .collect()
    }

    #[test]
    fn ranked_order_proven_then_answered_then_strangers_then_failed() {
        let t0 = Instant::now();
        let now = t0 + 3600 * SEC;
        let mut memory = DialMemory::new(64, 7 * 24 * 3600 * SEC);
        let addr = |n: u8| SocketAddr::new(IpAddr::from([8, 8, 8, n]), 30303);
        memory.record_failure(t0, PeerId([1; 64]), addr(1), Verdict::Timeout);
        memory.record_failure(t0, PeerId([2; 64]), addr(2), Verdict::Timeout);
        memory.record_failure(t0, PeerId([2; 64]), addr(2), Verdict::Timeout);
        memory.record_success(t0, PeerId([5; 64]), addr(5));
        memory.record_failure(t0, PeerId([9; 64]), addr(9), Verdict::Incompatible);
        let ctx = ctx(&memory, now);

        let mut queue = CandidateQueue::new(16, DialPolicy::Ranked);
        let offers = [
            candidate(9),                // incompatible
            candidate(2),                // failed twice
            candidate(1),                // failed once
            candidate(3),                // stranger
            answered(4, now - 10 * SEC), // answered recently
            answered(6, now - 5 * SEC),  // answered more recently
            candidate(5),                // proven (memory)
            candidate(7).with_hints(CandidateHints {
                answered_at: Some(now - SEC),
                past_sessions: 2,
            }), // proven (hint) + answered
            answered(8, now - 3000 * SEC), // answer too old: stranger
            candidate(10),               // stranger, later arrival: before 3
        ];
        for c in offers {
            queue.push(&ctx, SOURCE, c).unwrap();
        }
        assert_eq!(drain(&mut queue, &ctx), [7, 5, 6, 4, 8, 10, 3, 1, 2, 9]);
    }

    #[test]
    fn an_answer_after_the_failure_lifts_the_penalty() {
        let t0 = Instant::now();
        let mut memory = DialMemory::new(64, 7 * 24 * 3600 * SEC);
        let addr = SocketAddr::new(IpAddr::from([8, 8, 8, 1]), 30303);
        memory.record_failure(t0, PeerId([1; 64]), addr, Verdict::Timeout);
        // Within the fresh-answer window (600 s here) an answer is no news: the table
        // sees a NATed or full node answer all the time.
        let soon = ctx(&memory, t0 + 599 * SEC);
        assert_eq!(
            soon.tier(&answered(1, t0 + 598 * SEC)),
            CandidateTier::Failed
        );
        let ctx = ctx(&memory, t0 + 600 * SEC);
        assert_eq!(ctx.tier(&candidate(1)), CandidateTier::Failed);
        assert_eq!(
            ctx.tier(&answered(1, t0 + 30 * SEC)),
            CandidateTier::Answered
        );
        // A failure at another address does not count against the new one.
        let moved = Candidate::new(NodeRecord {
            tcp_port: 40404,
            ..candidate(1).record
        });
        assert_eq!(ctx.tier(&moved), CandidateTier::Stranger);
    }

    #[test]
    fn geth_like_is_arrival_order_and_refuses_when_full() {
        let now = Instant::now();
        let memory = DialMemory::new(1, SEC);
        let ctx = ctx(&memory, now);
        let mut queue = CandidateQueue::new(3, DialPolicy::GethLike);
        for n in [3, 1, 2] {
            queue.push(&ctx, SOURCE, candidate(n)).unwrap();
        }
        assert_eq!(
            queue.push(&ctx, SOURCE, answered(4, now)),
            Err(DialRefusal::QueueFull)
        );
        assert_eq!(drain(&mut queue, &ctx), [3, 1, 2]);
    }

    #[test]
    fn a_full_ranked_queue_drops_its_worst_for_a_better_newcomer() {
        let t0 = Instant::now();
        let mut memory = DialMemory::new(8, 3600 * SEC);
        let addr = SocketAddr::new(IpAddr::from([8, 8, 8, 5]), 30303);
        memory.record_failure(t0, PeerId([5; 64]), addr, Verdict::Timeout);
        let now = t0 + SEC;
        let ctx = ctx(&memory, now);
        let mut queue = CandidateQueue::new(2, DialPolicy::Ranked);
        queue.push(&ctx, SOURCE, candidate(1)).unwrap();
        queue.push(&ctx, SOURCE, answered(2, now)).unwrap();
        // A node whose dial failed ranks below the queued stranger: refused.
        assert_eq!(
            queue.push(&ctx, SOURCE, candidate(5)),
            Err(DialRefusal::QueueFull)
        );
        // A fresher stranger replaces the older one.
        assert_eq!(
            queue.push(&ctx, SOURCE, candidate(3)),
            Ok(Some(PeerId([1; 64])))
        );
        // A node that answered discovery replaces the stranger.
        assert_eq!(
            queue.push(&ctx, SOURCE, answered(4, now)),
            Ok(Some(PeerId([3; 64])))
        );
        assert_eq!(queue.len(), 2);
        assert_eq!(drain(&mut queue, &ctx), [4, 2]);
    }

    #[test]
    fn duplicates_merge_in_place_and_stale_entries_go() {
        let t0 = Instant::now();
        let memory = DialMemory::new(1, SEC);
        let mut queue = CandidateQueue::new(8, DialPolicy::Ranked);
        queue.push(&ctx(&memory, t0), SOURCE, candidate(1)).unwrap();
        queue
            .push(&ctx(&memory, t0 + SEC), SOURCE, answered(1, t0 + SEC))
            .unwrap();
        queue
            .push(&ctx(&memory, t0 + 2 * SEC), SOURCE, candidate(1))
            .unwrap();
        assert_eq!(queue.len(), 1);
        let c = ctx(&memory, t0 + 3 * SEC);
        assert_eq!(c.tier(&queue.entries[0].candidate), CandidateTier::Answered);
        assert_eq!(queue.purge_stale(t0 + 299 * SEC, 300 * SEC), 0);
        assert_eq!(queue.purge_stale(t0 + 300 * SEC, 300 * SEC), 1);
        assert!(!queue.remove(&PeerId([1; 64])), "already purged");
    }
}
