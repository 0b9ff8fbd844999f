//! Liveness checks: the fast and slow revalidation lists (geth PR #29572).

use std::time::Duration;

use rand::{rngs::StdRng, Rng};
use tokio::time::Instant;

use super::{
    bucket_index, CheckOutcome, RevalidationList, RevalidationRequest, RevalidationResult, Table,
};
use enode::NodeId;

/// One revalidation list: its members and when it next runs.
#[derive(Debug, Clone)]
pub(crate) struct RevalList {
    pub(crate) nodes: Vec<NodeId>,
    pub(crate) next: Option<Instant>,
    interval: Duration,
}

impl RevalList {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            nodes: Vec::new(),
            next: None,
            interval,
        }
    }

    /// Next run uniformly in `[now, now + interval)`.
    fn schedule(&mut self, now: Instant, rng: &mut StdRng) {
        let nanos = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX);
        let delay = if nanos == 0 {
            0
        } else {
            rng.gen_range(0..nanos)
        };
        self.next = Some(now + Duration::from_nanos(delay));
    }

    pub(crate) fn push(&mut self, id: NodeId, now: Instant, rng: &mut StdRng) {
        self.nodes.push(id);
        if self.next.is_none() {
            self.schedule(now, rng);
        }
    }

    pub(crate) fn remove(&mut self, id: &NodeId) {
        if let Some(i) = self.nodes.iter().position(|n| n == id) {
            self.nodes.swap_remove(i);
        }
        if self.nodes.is_empty() {
            self.next = None;
        }
    }
}

impl Table {
    /// When [`Table::poll_revalidation`] next has something to do; `None` while the table is
    /// empty. The service sleeps until then (or until the table changes).
    pub fn next_revalidation_at(&self) -> Option<Instant> {
        match (self.fast.next, self.slow.next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Hands out the next due liveness check, if any: one random node of a due list that has
    /// no check in flight and has been in its bucket for at least `revalidation_grace`. The node is marked in flight and that list is rescheduled (also when
    /// every member was already in flight). Call repeatedly until it returns `None`; each
    /// returned check must be answered with [`Table::on_revalidation_result`], otherwise the
    /// node is never checked again.
    pub fn poll_revalidation(&mut self, now: Instant) -> Option<RevalidationRequest> {
        // A node that just entered a bucket was just heard from (or just learnt of); checking
        // it at once gains nothing and would interleave a PING with the exchange that added it
        // (the conformance suite expects NEIGHBORS, not a PING, right after bonding).
        let grace = self.config.revalidation_grace;
        for which in [RevalidationList::Fast, RevalidationList::Slow] {
            let due = self.list(which).next.is_some_and(|t| t <= now);
            if !due {
                continue;
            }
            let candidates: Vec<NodeId> = self
                .list(which)
                .nodes
                .iter()
                .filter(|id| {
                    self.get(id).is_some_and(|e| {
                        !e.check_in_flight
                            && now.saturating_duration_since(e.in_bucket_since) >= grace
                    })
                })
                .copied()
                .collect();
            let picked = if candidates.is_empty() {
                None
            } else {
                candidates
                    .get(self.rng.gen_range(0..candidates.len()))
                    .copied()
            };
            let (fast, slow, rng) = (&mut self.fast, &mut self.slow, &mut self.rng);
            match which {
                RevalidationList::Fast => fast.schedule(now, rng),
                RevalidationList::Slow => slow.schedule(now, rng),
            }
            if let Some(entry) = picked.and_then(|id| self.entry_mut(&id)) {
                entry.check_in_flight = true;
                return Some(RevalidationRequest {
                    id: entry.id,
                    record: entry.record,
                    seq: entry.seq,
                });
            }
        }
        None
    }

    /// Applies the answer to a check handed out by [`Table::poll_revalidation`].
    ///
    /// A response counts one more check, marks the node live and moves it to the slow list.
    /// A timeout divides the count by three; at zero the node is removed and a random
    /// replacement promoted, unless it is the last node of the table with nothing to take
    /// its place. Otherwise it goes back to the fast list.
    pub fn on_revalidation_result(
        &mut self,
        id: &NodeId,
        outcome: CheckOutcome,
        now: Instant,
    ) -> RevalidationResult {
        let b = bucket_index(&self.local, id);
        let Some(index) = self.buckets[b].entries.iter().position(|e| e.id == *id) else {
            return RevalidationResult::NotInFlight;
        };
        let persist_min = self.config.persist_min_liveness_checks;
        let table_len = self.len;
        let no_replacements = self.buckets[b].replacements.is_empty();
        let entry = &mut self.buckets[b].entries[index];
        if !entry.check_in_flight {
            return RevalidationResult::NotInFlight;
        }
        entry.check_in_flight = false;
        let record = entry.record;
        match outcome {
            CheckOutcome::Responded { enr_seq } => {
                entry.liveness_checks = entry.liveness_checks.saturating_add(1);
                entry.is_live = true;
                let liveness_checks = entry.liveness_checks;
                let fetch_enr = enr_seq.is_some_and(|seq| seq > entry.seq);
                self.move_to_list(b, index, *id, RevalidationList::Slow, now);
                RevalidationResult::Alive {
                    record,
                    liveness_checks,
                    fetch_enr,
                    persist: liveness_checks > persist_min,
                }
            }
            CheckOutcome::Timeout => {
                entry.liveness_checks /= 3;
                let liveness_checks = entry.liveness_checks;
                if liveness_checks > 0 {
                    self.move_to_list(b, index, *id, RevalidationList::Fast, now);
                    return RevalidationResult::Demoted {
                        record,
                        liveness_checks,
                    };
                }
                if table_len == 1 && no_replacements {
                    self.move_to_list(b, index, *id, RevalidationList::Fast, now);
                    return RevalidationResult::KeptLastNode { record };
                }
                let removal = self.delete_in_bucket(b, index, now);
                RevalidationResult::Removed {
                    removed: record,
                    replacement: removal.replacement,
                }
            }
        }
    }

    /// Moves `buckets[b].entries[index]` (whose id is `id`) to the given list.
    pub(super) fn move_to_list(
        &mut self,
        b: usize,
        index: usize,
        id: NodeId,
        to: RevalidationList,
        now: Instant,
    ) {
        let Some(entry) = self
            .buckets
            .get_mut(b)
            .and_then(|bucket| bucket.entries.get_mut(index))
        else {
            return;
        };
        let from = entry.list.replace(to);
        match from {
            Some(RevalidationList::Fast) => self.fast.remove(&id),
            Some(RevalidationList::Slow) => self.slow.remove(&id),
            None => {}
        }
        match to {
            RevalidationList::Fast => self.fast.push(id, now, &mut self.rng),
            RevalidationList::Slow => self.slow.push(id, now, &mut self.rng),
        }
    }

    fn list(&self, which: RevalidationList) -> &RevalList {
        match which {
            RevalidationList::Fast => &self.fast,
            RevalidationList::Slow => &self.slow,
        }
    }

    fn entry_mut(&mut self, id: &NodeId) -> Option<&mut super::Entry> {
        let b = bucket_index(&self.local, id);
        self.buckets
            .get_mut(b)?
            .entries
            .iter_mut()
            .find(|e| e.id == *id)
    }
}
