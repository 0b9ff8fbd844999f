//! The node service's side of the [`DialScheduler`]: it turns the service's events into the
//! scheduler's inputs and its actions into work for the service (dials, resolutions of
//! static nodes, reports for the candidate sources).

use std::net::{IpAddr, SocketAddr};

use enode::{NodeRecord, PeerId};
use rlpx::verdict::Verdict;
use tokio::time::Instant;
use tracing::debug;

use crate::{
    dial::{
        DialAction, DialConfig, DialKind, DialMemorySnapshot, DialOutcome, DialScheduler,
        PeerConnection, StaticNode,
    },
    discovery::{MixedCandidate, Outcome, SourceId},
    protocol::Direction,
};

/// Work the scheduler hands the service.
#[derive(Debug, Clone)]
pub(crate) enum DialWork {
    /// Dial `node`.
    Dial { node: NodeRecord, is_static: bool },
    /// Find static node `id` through discovery, then [`Dialing::looked_up`].
    LookUp(PeerId),
    /// Resolve the DNS name of static node `id`, then [`Dialing::dns_resolved`].
    ResolveDns { id: PeerId, host: String },
    /// Tell `source` what became of `id`.
    Report {
        source: SourceId,
        id: PeerId,
        outcome: Outcome,
    },
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

    pub(crate) fn add_static(&mut self, node: StaticNode) {
        if let Err(error) = self.scheduler.add_static(node) {
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

    /// A discovered node; refused at once when it can never be dialed (the refusal goes
    /// back to its source as a report from the next [`Dialing::plan`]).
    pub(crate) fn offer(&mut self, mixed: MixedCandidate, now: Instant) {
        let id = mixed.candidate.record.id;
        if let Err(refusal) = self.scheduler.offer(now, mixed.source, mixed.candidate) {
            debug!(target: "kadnode::node", ?id, source = %mixed.source, refusal = refusal.label(), "candidate refused");
        }
    }

    /// Static node `id` was looked up through discovery.
    pub(crate) fn looked_up(&mut self, id: &PeerId, found: Option<NodeRecord>, now: Instant) {
        self.scheduler.node_looked_up(now, id, found);
    }

    /// The DNS name of static node `id` resolved to `addresses` (none on failure).
    pub(crate) fn dns_resolved(&mut self, id: &PeerId, addresses: &[IpAddr], now: Instant) {
        self.scheduler.dns_resolved(now, id, addresses);
    }

    /// The application found `id` useful: ranked first next time.
    pub(crate) fn peer_useful(&mut self, id: &PeerId) {
        self.scheduler.peer_useful(id);
    }

    /// The dial memory to persist.
    pub(crate) fn memory_snapshot(&self, now: Instant, unix_secs: u64) -> DialMemorySnapshot {
        self.scheduler.memory_snapshot(now, unix_secs)
    }

    /// Loads a persisted dial memory; returns how many nodes it held.
    pub(crate) fn restore_memory(
        &mut self,
        snapshot: &DialMemorySnapshot,
        now: Instant,
        unix_secs: u64,
    ) -> usize {
        self.scheduler.restore_memory(now, unix_secs, snapshot)
    }

    pub(crate) fn dial_failed(&mut self, id: PeerId, verdict: Verdict, now: Instant) {
        self.scheduler
            .dial_finished(now, &id, DialOutcome::Failed(verdict));
    }

    /// The node let the dial to `id` go for its own reasons (full slots).
    pub(crate) fn dial_abandoned(&mut self, id: PeerId, now: Instant) {
        self.scheduler
            .dial_finished(now, &id, DialOutcome::Abandoned);
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
        slot: Direction,
        now: Instant,
    ) {
        if direction == Direction::Outbound {
            self.scheduler
                .dial_finished(now, &id, DialOutcome::Connected);
        }
        // The scheduler counts peers by the slot they hold, which a simultaneous dial's
        // replacement connection inherits from the one it replaced.
        self.scheduler
            .peer_added(now, PeerConnection { id, remote, slot });
    }

    /// True while node `id`, or its address `ip`, is banned.
    pub(crate) fn is_banned(&self, id: &PeerId, ip: IpAddr, now: Instant) -> bool {
        self.scheduler.is_banned(now, id, Some(ip))
    }

    /// An inbound connection failed with `verdict` before it became a peer: a verdict that
    /// calls for a ban (an impostor's Hello) bans the proven id, as a failed dial would.
    pub(crate) fn inbound_failed(
        &mut self,
        id: PeerId,
        ip: IpAddr,
        verdict: Verdict,
        now: Instant,
    ) {
        self.scheduler.inbound_done(&id);
        if verdict.should_ban() {
            let length = self.scheduler.ban(now, id, Some(ip));
            debug!(target: "kadnode::node", ?id, %ip, ?verdict, ?length, "inbound peer banned");
        }
    }

    pub(crate) fn peer_removed(&mut self, id: &PeerId, verdict: Verdict, now: Instant) {
        self.scheduler.peer_removed(now, id, verdict);
    }

    /// The work to do now: dials, resolutions, reports.
    pub(crate) fn plan(&mut self, now: Instant) -> Vec<DialWork> {
        let mut rng = rand::thread_rng();
        let mut work = Vec::new();
        while let Some(action) = self.scheduler.poll(now, &mut rng) {
            work.push(match action {
                DialAction::Dial(task) => DialWork::Dial {
                    is_static: matches!(task.kind, DialKind::Static),
                    node: task.record,
                },
                DialAction::LookUp { id } => DialWork::LookUp(id),
                DialAction::ResolveDns { id, host } => DialWork::ResolveDns { id, host },
                DialAction::Report(report) => DialWork::Report {
                    source: report.source,
                    id: report.id,
                    outcome: report.outcome,
                },
            });
        }
        work
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
