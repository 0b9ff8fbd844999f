//! Which nodes to dial next: static nodes first, then discovered candidates, within the
//! dialed slots and the cap on concurrent dials, never a node dialed within the dial history.
//!
//! The node service owns one [`Dialing`] and asks it for work after every event.

use std::collections::{HashMap, VecDeque};

use enode::{NodeRecord, PeerId};
use tokio::time::{Duration, Instant};

/// Geth's cap on concurrent dials.
const MAX_ACTIVE_DIALS: usize = 50;
/// Candidates kept waiting for a slot; the source is not polled while this many wait.
const CANDIDATE_QUEUE: usize = 64;

/// A dial to start.
#[derive(Debug, Clone)]
pub(crate) struct DialPlan {
    pub(crate) node: NodeRecord,
    pub(crate) is_static: bool,
}

/// The dial planner's state.
#[derive(Debug)]
pub(crate) struct Dialing {
    local: PeerId,
    max_dialed: usize,
    history: Duration,
    statics: HashMap<PeerId, NodeRecord>,
    candidates: VecDeque<NodeRecord>,
    not_before: HashMap<PeerId, Instant>,
}

impl Dialing {
    pub(crate) fn new(local: PeerId, max_dialed: usize, history: Duration) -> Self {
        Self {
            local,
            max_dialed,
            history,
            statics: HashMap::new(),
            candidates: VecDeque::new(),
            not_before: HashMap::new(),
        }
    }

    pub(crate) fn add_static(&mut self, node: NodeRecord) {
        self.statics.insert(node.id, node);
    }

    pub(crate) fn remove_static(&mut self, id: &PeerId) -> bool {
        self.statics.remove(id).is_some()
    }

    pub(crate) fn is_static(&self, id: &PeerId) -> bool {
        self.statics.contains_key(id)
    }

    /// True while the candidate queue has room: the discovery source is polled only then.
    pub(crate) fn wants_candidates(&self) -> bool {
        self.candidates.len() < CANDIDATE_QUEUE
    }

    /// A discovered node; refused at once when it can never be dialed.
    pub(crate) fn offer(&mut self, node: NodeRecord) {
        if node.id == self.local || node.tcp_port == 0 || !self.wants_candidates() {
            return;
        }
        self.candidates.push_back(node);
    }

    /// A dial or a session with `id` ended: not again before the dial history passes.
    pub(crate) fn ended(&mut self, id: PeerId, now: Instant) {
        self.not_before.insert(id, now + self.history);
    }

    /// The dials to start now. `busy` says whether a node is connected, being dialed or
    /// connecting inbound.
    pub(crate) fn plan(
        &mut self,
        now: Instant,
        dialed_peers: usize,
        active_dials: usize,
        busy: impl Fn(&PeerId) -> bool,
    ) -> Vec<DialPlan> {
        self.not_before.retain(|_, until| *until > now);
        let free_slots = self.max_dialed.saturating_sub(dialed_peers + active_dials);
        let mut budget = free_slots.min(MAX_ACTIVE_DIALS.saturating_sub(active_dials));
        let mut plans = Vec::new();
        let mut statics: Vec<&NodeRecord> = self.statics.values().collect();
        statics.sort_by_key(|n| n.id);
        for node in statics {
            if budget == 0 {
                break;
            }
            if busy(&node.id) || self.not_before.contains_key(&node.id) {
                continue;
            }
            plans.push(DialPlan {
                node: *node,
                is_static: true,
            });
            budget -= 1;
        }
        while budget > 0 {
            let Some(node) = self.candidates.pop_front() else {
                break;
            };
            let planned = plans.iter().any(|p| p.node.id == node.id);
            if planned || busy(&node.id) || self.not_before.contains_key(&node.id) {
                continue;
            }
            plans.push(DialPlan {
                node,
                is_static: false,
            });
            budget -= 1;
        }
        for plan in &plans {
            self.not_before.insert(plan.node.id, now + self.history);
        }
        plans
    }

    /// When the history of a static node expires, it may be dialed again.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        self.statics
            .keys()
            .filter_map(|id| self.not_before.get(id))
            .min()
            .copied()
    }
}
