//! The node service's side of the [`DialScheduler`]: it turns the service's events into the
//! scheduler's inputs and its actions into dials. Static nodes come with their records, so
//! the resolution actions never arise from this API; discovered candidates come from one
//! source, the discv4 random walk.

use std::net::SocketAddr;

use enode::{NodeRecord, PeerId};
use rlpx::verdict::Verdict;
use tokio::time::Instant;
use tracing::debug;

use crate::{
    dial::{DialAction, DialConfig, DialOutcome, DialScheduler, PeerConnection, StaticNode},
    discovery::{Candidate, SourceId},
    protocol::Direction,
};

/// The only discovery source today: discv4's random walk.
const DISCV4: SourceId = SourceId::from_raw(0);

/// A dial to start.
#[derive(Debug, Clone)]
pub(crate) struct DialPlan {
    pub(crate) node: NodeRecord,
    pub(crate) is_static: bool,
}

/// The dial planner's state.
#[derive(Debug)]
pub(crate) struct Dialing {
    scheduler: DialScheduler,
}

impl Dialing {
    pub(crate) fn new(local: PeerId, config: DialConfig) -> Self {
        Self {
            scheduler: DialScheduler::new(local, config),
        }
    }

    pub(crate) fn add_static(&mut self, node: NodeRecord) {
        if let Err(error) = self.scheduler.add_static(StaticNode::from(node)) {
            debug!(target: "kadnode::node", %error, "static node not added");
        }
    }

    pub(crate) fn remove_static(&mut self, id: &PeerId) -> bool {
        self.scheduler.remove_static(id)
    }

    pub(crate) fn is_static(&self, id: &PeerId) -> bool {
        self.scheduler.is_static(id)
    }

    /// True while the candidate queue has room: the discovery source is polled only then.
    pub(crate) fn wants_candidates(&self) -> bool {
        self.scheduler.wants_candidates()
    }

    /// A discovered node; refused at once when it can never be dialed.
    pub(crate) fn offer(&mut self, node: NodeRecord, now: Instant) {
        if let Err(refusal) = self.scheduler.offer(now, DISCV4, Candidate::new(node)) {
            debug!(target: "kadnode::node", id = ?node.id, refusal = refusal.label(), "candidate refused");
        }
    }

    pub(crate) fn dial_failed(&mut self, id: PeerId, verdict: Verdict, now: Instant) {
        self.scheduler
            .dial_finished(now, &id, DialOutcome::Failed(verdict));
    }

    pub(crate) fn inbound_pending(&mut self, id: PeerId, now: Instant) {
        self.scheduler.inbound_pending(now, id);
    }

    pub(crate) fn inbound_done(&mut self, id: &PeerId) {
        self.scheduler.inbound_done(id);
    }

    pub(crate) fn peer_added(
        &mut self,
        id: PeerId,
        remote: SocketAddr,
        direction: Direction,
        now: Instant,
    ) {
        if direction == Direction::Outbound {
            self.scheduler
                .dial_finished(now, &id, DialOutcome::Connected);
        }
        self.scheduler.peer_added(
            now,
            PeerConnection {
                id,
                remote,
                direction,
            },
        );
    }

    pub(crate) fn peer_removed(&mut self, id: &PeerId, verdict: Verdict, now: Instant) {
        self.scheduler.peer_removed(now, id, verdict);
    }

    /// The dials to start now.
    pub(crate) fn plan(&mut self, now: Instant) -> Vec<DialPlan> {
        let mut rng = rand::thread_rng();
        let mut plans = Vec::new();
        while let Some(action) = self.scheduler.poll(now, &mut rng) {
            match action {
                DialAction::Dial(task) => plans.push(DialPlan {
                    is_static: matches!(task.kind, crate::dial::DialKind::Static),
                    node: task.record,
                }),
                DialAction::LookUp { id } => {
                    // Only static nodes without an address ask for this; the node's API takes
                    // records, so none exists. Answer "not found" so the scheduler backs off.
                    self.scheduler.node_looked_up(now, &id, None);
                }
                DialAction::ResolveDns { id, .. } => {
                    self.scheduler.dns_resolved(now, &id, &[]);
                }
                DialAction::Report(_) => {}
            }
        }
        plans
    }

    /// Dialed slots in use (dialed peers plus dials in flight) and their number.
    pub(crate) fn slots(&self) -> (usize, usize) {
        (
            self.scheduler.dialed_peers() + self.scheduler.active_dials(),
            self.scheduler.max_dialed(),
        )
    }

    /// When time alone will change what to dial.
    pub(crate) fn next_wake(&self, now: Instant) -> Option<Instant> {
        self.scheduler.next_wakeup(now)
    }
}
