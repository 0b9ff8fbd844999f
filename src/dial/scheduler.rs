//! [`DialScheduler`]: the state machine that decides whom to dial. See the module
//! documentation of [`crate::dial`] for what goes in and what comes out.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use enode::{netutil::normalize_ip, NodeRecord, PeerId};
use rand::Rng;
use rlpx::verdict::{Backoff, Verdict};
use tokio::time::Instant;
use tracing::{debug, trace};

use super::{
    action::{
        DialAction, DialKind, DialOutcome, DialTask, PeerClass, PeerConnection, SourceReport,
    },
    config::{DialConfig, DialPolicy},
    history::DialHistory,
    memory::DialMemory,
    ranking::{CandidateQueue, CandidateTier, RankContext},
    refusal::{DialRefusal, RefusalCounts},
    snapshot::DialMemorySnapshot,
    statics::{StaticEntry, StaticNode, StaticNodes, StaticStep},
};
use crate::{
    discovery::{Candidate, Outcome, SourceId},
    peers::{
        expiry::{deadline, ExpiryMap},
        Backoffs, BanList,
    },
    Direction,
};

/// Why a static or trusted node was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// The static set is full.
    #[error("too many static nodes (limit {limit})")]
    TooManyStaticNodes {
        /// The cap.
        limit: usize,
    },
    /// The trusted set is full.
    #[error("too many trusted nodes (limit {limit})")]
    TooManyTrustedNodes {
        /// The cap.
        limit: usize,
    },
    /// The node is this node.
    #[error("the node is this node")]
    SelfNode,
}

/// Counters for metrics; they only grow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialStats {
    /// Dials handed out ([`DialAction::Dial`]).
    pub dials_started: u64,
    /// Of which to static nodes.
    pub static_dials_started: u64,
    /// Discovery lookups of static nodes handed out.
    pub lookups_started: u64,
    /// DNS resolutions of static nodes handed out.
    pub dns_resolutions_started: u64,
    /// Dials that produced a session.
    pub dials_connected: u64,
    /// Dials that failed (expired ones included).
    pub dials_failed: u64,
    /// Dials the node let go because its dialed slots filled while they ran.
    pub dials_abandoned: u64,
    /// Dials or resolutions never reported within the dial deadline.
    pub dials_expired: u64,
    /// Reports dropped because the caller did not take them in time.
    pub reports_dropped: u64,
    /// Refusals by reason.
    pub refusals: RefusalCounts,
}

/// Where a running attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    LookingUp,
    ResolvingDns,
    Connecting,
}

/// A running attempt.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    kind: DialKind,
    /// The endpoint dialed (or, while resolving, the last known one).
    record: Option<NodeRecord>,
    stage: Stage,
    deadline: Instant,
}

/// A connected peer.
#[derive(Debug, Clone, Copy)]
struct Peer {
    /// The slot it holds (see [`PeerConnection::slot`]).
    slot: Direction,
    ip: IpAddr,
    source: Option<SourceId>,
}

/// Which checks apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Before an attempt starts: every rule.
    Start,
    /// After a static node's address was resolved, within its own attempt: not the rules
    /// the attempt itself trips (already dialing, recently dialed).
    Resolved,
}

/// The dial scheduler: a pure state machine (no I/O, no tasks; time and randomness come in
/// as arguments). See [`crate::dial`].
#[derive(Debug)]
pub struct DialScheduler {
    local: PeerId,
    config: DialConfig,
    max_dialed: usize,
    attempts: HashMap<PeerId, Attempt>,
    /// Dials reported connected whose `peer_added` has not come yet (keeps their source
    /// and their slot).
    linking: ExpiryMap<PeerId, DialKind>,
    peers: HashMap<PeerId, Peer>,
    peer_capacity: usize,
    dialed_peers: usize,
    pending_inbound: ExpiryMap<PeerId, ()>,
    statics: StaticNodes,
    trusted: HashSet<PeerId>,
    history: DialHistory,
    backoffs: Backoffs,
    bans: BanList,
    queue: CandidateQueue,
    memory: DialMemory,
    /// Dials decided outside `poll` (after a resolution), handed out first.
    ready: VecDeque<DialTask>,
    reports: VecDeque<SourceReport>,
    stats: DialStats,
}

impl DialScheduler {
    /// A scheduler for the node `local` with these settings.
    pub fn new(local: PeerId, config: DialConfig) -> Self {
        let max_dialed = config.max_dialed();
        let peer_capacity = config
            .max_peers
            .saturating_add(config.max_trusted_nodes)
            .saturating_add(config.max_static_nodes)
            .max(1);
        Self {
            local,
            max_dialed,
            attempts: HashMap::new(),
            linking: ExpiryMap::new(config.max_active_dials.max(1)),
            peers: HashMap::new(),
            peer_capacity,
            dialed_peers: 0,
            pending_inbound: ExpiryMap::new(config.pending_inbound_capacity),
            statics: StaticNodes::new(
                config.max_static_nodes,
                config.resolve_delay,
                config.resolve_delay_max,
            ),
            trusted: HashSet::new(),
            history: DialHistory::new(config.history, config.history_capacity),
            backoffs: Backoffs::new(config.backoff.clone()),
            bans: BanList::new(config.bans.clone()),
            queue: CandidateQueue::new(config.queue_capacity, config.policy),
            memory: DialMemory::new(config.memory_capacity, config.memory_retention),
            ready: VecDeque::new(),
            reports: VecDeque::new(),
            stats: DialStats::default(),
            config,
        }
    }

    // ---- inputs: candidates -------------------------------------------------------------

    /// True while the scheduler takes candidates: poll the discovery mix only then. A
    /// ranked scheduler fills its queue (to choose among many) while a dialed slot is free;
    /// a geth-like one takes only as many as it can dial now. A node whose dialed slots are
    /// all taken takes nothing: pulling a discovery walk then only costs lookups, and
    /// candidates queued meanwhile would be stale when a slot frees.
    pub fn wants_candidates(&self) -> bool {
        if self.max_dialed == 0 {
            return false;
        }
        match self.config.policy {
            DialPolicy::Ranked => {
                self.dialed_peers < self.max_dialed
                    && !self.peers_full()
                    && self.queue.len() < self.queue.capacity()
            }
            DialPolicy::GethLike => self.queue.len() < self.budget().min(self.queue.capacity()),
        }
    }

    /// A discovery source offers `candidate`. It is queued, or refused at once for a reason
    /// that is also counted in [`DialStats::refusals`]. Every rule is checked again when its
    /// dial is due.
    pub fn offer(
        &mut self,
        now: Instant,
        source: SourceId,
        candidate: Candidate,
    ) -> Result<(), DialRefusal> {
        let result = self.try_offer(now, source, candidate);
        if let Err(refusal) = result {
            trace!(target: "kadnode::dial", id = ?candidate.record.id, refusal = refusal.label(), "candidate refused");
            self.stats.refusals.count(refusal);
        }
        result
    }

    fn try_offer(
        &mut self,
        now: Instant,
        source: SourceId,
        candidate: Candidate,
    ) -> Result<(), DialRefusal> {
        let record = candidate.record;
        if self.max_dialed == 0 {
            return Err(DialRefusal::DialingDisabled);
        }
        if self.statics.contains(&record.id) {
            self.statics.learn(record);
            return Err(DialRefusal::StaticNode);
        }
        let privileged = self.trusted.contains(&record.id);
        if let Some(refusal) = self.refusal(
            now,
            &record.id,
            Some(record.tcp_addr()),
            Check::Start,
            privileged,
        ) {
            return Err(refusal);
        }
        let ctx = RankContext {
            memory: &self.memory,
            now,
            fresh_answer: self.config.fresh_answer,
        };
        self.queue.push(&ctx, source, candidate).map(|evicted| {
            if evicted.is_some() {
                self.stats.refusals.count(DialRefusal::QueueFull);
            }
        })
    }

    /// The tier ranking would give `candidate` now (for logs and tests).
    pub fn tier_of(&self, now: Instant, candidate: &Candidate) -> CandidateTier {
        RankContext {
            memory: &self.memory,
            now,
            fresh_answer: self.config.fresh_answer,
        }
        .tier(candidate)
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next thing to do, or `None` when there is nothing to do until the next input or
    /// [`DialScheduler::next_wakeup`]. Call it in a loop until `None` after every input.
    /// Order: dials whose resolution just finished, reports, static nodes (a random one
    /// among those due, as geth), then the best queued candidate; dials only while
    /// [`DialConfig::dial_budget`] allows.
    pub fn poll<R: Rng + ?Sized>(&mut self, now: Instant, rng: &mut R) -> Option<DialAction> {
        self.expire_attempts(now);
        self.linking.purge_expired(now);
        while let Some(task) = self.ready.pop_front() {
            // The dial starts now: the bans are checked once more.
            let ip = Some(normalize_ip(task.record.address));
            if self.bans.is_banned(now, &task.record.id, ip) {
                self.attempts.remove(&task.record.id);
                self.stats.refusals.count(DialRefusal::Banned);
                continue;
            }
            return Some(DialAction::Dial(task));
        }
        if let Some(report) = self.reports.pop_front() {
            return Some(DialAction::Report(report));
        }
        let stale = self.queue.purge_stale(now, self.config.candidate_ttl);
        for _ in 0..stale {
            self.stats.refusals.count(DialRefusal::Stale);
        }
        if self.budget() == 0 {
            return None;
        }
        if let Some(action) = self.start_static(now, rng) {
            return Some(action);
        }
        if self.peers_full() {
            return None;
        }
        self.start_candidate(now)
    }

    /// Every peer slot is taken (inbound peers can hold more than their share for a while:
    /// the simultaneous-dial tie break): the server refuses any other dialed peer that is not
    /// static or trusted, so a dynamic dial would only cost both sides a handshake. Measured
    /// in the 1,000-node PEX simulation: nodes in this state dialed 2,000–4,100 times each in
    /// 15 minutes, every dial answered `Busy` by a full remote or refused at home.
    fn peers_full(&self) -> bool {
        self.peers.len() >= self.config.max_peers
    }

    /// When the scheduler wants [`DialScheduler::poll`] called even without any input: a
    /// static node's history, backoff, ban or lookup delay ends, a dial's deadline passes,
    /// the queue's oldest candidate goes stale. Never earlier than `now`; `Some(now)` when
    /// actions are waiting or work is overdue.
    pub fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        if !self.ready.is_empty() || !self.reports.is_empty() {
            return Some(now);
        }
        let mut wake = self.attempts.values().map(|a| a.deadline).min();
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        };
        consider(self.linking.next_expiry());
        if self.queue.len() >= self.queue.capacity() {
            consider(
                self.queue
                    .oldest_arrival()
                    .map(|at| deadline(at, self.config.candidate_ttl)),
            );
        }
        if self.budget() > 0 {
            for (id, entry) in self.statics.iter() {
                consider(self.static_ready_at(now, id, entry));
            }
        }
        // Overdue work (a deadline passed while nobody polled) is due now.
        wake.map(|at| at.max(now))
    }

    // ---- inputs: dials and peers --------------------------------------------------------

    /// A dial handed out by [`DialScheduler::poll`] ended. Reports to its source follow;
    /// a failure backs the node off (and its IP, for network failures) by the verdict's
    /// class, and bans it (id and IP) when the verdict says so. Unknown or late reports
    /// are ignored.
    pub fn dial_finished(&mut self, now: Instant, id: &PeerId, outcome: DialOutcome) {
        let Some(attempt) = self.attempts.remove(id) else {
            return;
        };
        match outcome {
            DialOutcome::Connected => {
                let addr = attempt.record.map(|r| r.tcp_addr());
                self.dial_succeeded(now, *id, addr, attempt.kind);
                let until = deadline(now, self.config.dial_deadline);
                self.linking.insert(*id, attempt.kind, until, now);
            }
            DialOutcome::Failed(verdict) => self.dial_failed(now, *id, attempt, verdict),
            DialOutcome::Abandoned => {
                self.stats.dials_abandoned += 1;
                match attempt.kind {
                    DialKind::Static => {}
                    DialKind::Discovered(source) => {
                        self.report(source, *id, Outcome::Abandoned);
                    }
                }
            }
        }
    }

    /// A peer joined the node's peer set (after the node's admission). An outbound peer
    /// completes its dial (whether or not [`DialScheduler::dial_finished`] came first) and
    /// takes a dialed slot. Returns the peer's static and trusted flags.
    pub fn peer_added(&mut self, now: Instant, connection: PeerConnection) -> PeerClass {
        let id = connection.id;
        self.pending_inbound.remove(&id);
        self.queue.remove(&id);
        let mut source = None;
        if connection.slot == Direction::Outbound {
            if let Some(attempt) = self.attempts.remove(&id) {
                self.dial_succeeded(now, id, Some(connection.remote), attempt.kind);
                source = source_of(attempt.kind);
            } else if let Some(kind) = self.linking.remove(&id) {
                source = source_of(kind);
            }
        } else if let Some(kind) = self.linking.remove(&id) {
            // A dial of ours that completed but whose connection lost to (or replaced, keeping
            // its inbound slot) the peer's own: the dial is over, its slot is not held. Its
            // source heard "connected" and must hear how the session ends.
            source = source_of(kind);
        }
        // A connection swapped by a simultaneous dial (see `PeerConnection::slot`) keeps
        // the source of the one it replaced.
        let source = source.or_else(|| self.peers.get(&id).and_then(|p| p.source));
        let peer = Peer {
            slot: connection.slot,
            ip: normalize_ip(connection.remote.ip()),
            source,
        };
        if !self.peers.contains_key(&id) && self.peers.len() >= self.peer_capacity {
            debug!(target: "kadnode::dial", ?id, "peer set larger than any admission allows; not tracked");
        } else {
            if let Some(old) = self.peers.insert(id, peer) {
                if old.slot == Direction::Outbound {
                    self.dialed_peers = self.dialed_peers.saturating_sub(1);
                }
            }
            if peer.slot == Direction::Outbound {
                self.dialed_peers += 1;
            }
        }
        self.peer_class(&id)
    }

    /// A peer left, with the verdict of its end. Its node is not dialed again within the
    /// dial history; the verdict backs it off (and bans it when it says so); its source
    /// hears how it ended.
    pub fn peer_removed(&mut self, now: Instant, id: &PeerId, verdict: Verdict) {
        let Some(peer) = self.peers.remove(id) else {
            return;
        };
        if peer.slot == Direction::Outbound {
            self.dialed_peers = self.dialed_peers.saturating_sub(1);
        }
        self.history.add(now, *id);
        self.memory.record_session_end(now, *id, verdict);
        let privileged = self.is_privileged(id);
        self.penalize(now, *id, Some(peer.ip), verdict, false, privileged);
        if let Some(source) = peer.source {
            self.report(source, *id, Outcome::from_session_end(verdict));
        }
    }

    /// The application found peer `id` useful: its source hears it.
    pub fn peer_useful(&mut self, id: &PeerId) {
        if let Some(source) = self.peers.get(id).and_then(|p| p.source) {
            self.report(source, *id, Outcome::Useful);
        }
    }

    /// Node `id` is connecting to us (handshake running): it is not dialed meanwhile. The
    /// mark lasts until [`DialScheduler::inbound_done`] or
    /// [`DialConfig::pending_inbound_timeout`].
    pub fn inbound_pending(&mut self, now: Instant, id: PeerId) {
        let until = deadline(now, self.config.pending_inbound_timeout);
        self.pending_inbound.insert(id, (), until, now);
    }

    /// The inbound connection of node `id` ended its handshake (either way).
    pub fn inbound_done(&mut self, id: &PeerId) {
        self.pending_inbound.remove(id);
    }

    // ---- inputs: static and trusted nodes -----------------------------------------------

    /// Adds a static node (or updates its address); true if it is new. Static nodes are
    /// dialed before any candidate, within the dialed slots, and again after every
    /// disconnect once the history and their (capped) backoff allow.
    pub fn add_static(&mut self, node: StaticNode) -> Result<bool, DialError> {
        if node.id == self.local {
            return Err(DialError::SelfNode);
        }
        let id = node.id;
        let added = self
            .statics
            .add(node)
            .map_err(|_| DialError::TooManyStaticNodes {
                limit: self.config.max_static_nodes,
            })?;
        self.queue.remove(&id);
        Ok(added)
    }

    /// Removes a static node; true if it was one. A dial already running continues; the
    /// caller disconnects the peer if it wants to (geth's `RemovePeer` does).
    pub fn remove_static(&mut self, id: &PeerId) -> bool {
        self.statics.remove(id)
    }

    /// Marks node `id` trusted (admitted above the limits, never banned by a verdict,
    /// short backoffs); true if it is new.
    pub fn add_trusted(&mut self, id: PeerId) -> Result<bool, DialError> {
        if self.trusted.contains(&id) {
            return Ok(false);
        }
        if self.trusted.len() >= self.config.max_trusted_nodes {
            return Err(DialError::TooManyTrustedNodes {
                limit: self.config.max_trusted_nodes,
            });
        }
        Ok(self.trusted.insert(id))
    }

    /// Unmarks node `id` as trusted; true if it was.
    pub fn remove_trusted(&mut self, id: &PeerId) -> bool {
        self.trusted.remove(id)
    }

    /// The result of a [`DialAction::LookUp`]: the node's record, or `None` when discovery
    /// did not find it. A found record resets the lookup backoff to
    /// [`DialConfig::resolve_delay`]; a failure doubles it up to
    /// [`DialConfig::resolve_delay_max`]. The dial follows (to the last known address if
    /// the lookup failed), if every rule still allows it.
    pub fn node_looked_up(&mut self, now: Instant, id: &PeerId, found: Option<NodeRecord>) {
        let record = self.statics.lookup_finished(now, id, found);
        self.resolved(now, id, Stage::LookingUp, record);
    }

    /// The result of a [`DialAction::ResolveDns`]: the addresses found (empty on failure or
    /// timeout). The dial follows, to the previous address if none was found.
    pub fn dns_resolved(&mut self, now: Instant, id: &PeerId, addresses: &[IpAddr]) {
        let record = self.statics.dns_finished(id, addresses);
        self.resolved(now, id, Stage::ResolvingDns, record);
    }

    // ---- bans ---------------------------------------------------------------------------

    /// Bans node `id` and its address (an operator's or the application's decision; the
    /// LAN exemption of [`crate::peers::BanConfig::exempt_lan`] applies); returns the ban
    /// length. A queued candidate of that node is dropped; a dial already running is not
    /// stopped (the node's admission checks [`DialScheduler::is_banned`]).
    pub fn ban(&mut self, now: Instant, id: PeerId, ip: Option<IpAddr>) -> Duration {
        self.queue.remove(&id);
        self.bans.ban(now, id, ip)
    }

    /// Lifts the bans of node `id` and of `ip`.
    pub fn unban(&mut self, now: Instant, id: &PeerId, ip: Option<IpAddr>) {
        self.bans.unban_id(now, id);
        if let Some(ip) = ip {
            self.bans.unban_ip(now, ip);
        }
    }

    /// True while node `id`, or its address `ip`, is banned (for inbound admission too).
    pub fn is_banned(&self, now: Instant, id: &PeerId, ip: Option<IpAddr>) -> bool {
        self.bans.is_banned(now, id, ip)
    }

    // ---- persistence ------------------------------------------------------------------

    /// The dial memory (who worked, who failed where) as a compact snapshot to persist;
    /// `wall_clock_secs` is the current Unix time.
    pub fn memory_snapshot(&self, now: Instant, wall_clock_secs: u64) -> DialMemorySnapshot {
        self.memory.snapshot(now, wall_clock_secs)
    }

    /// Loads a persisted snapshot (see [`DialMemory::restore`]); returns how many records
    /// were loaded.
    pub fn restore_memory(
        &mut self,
        now: Instant,
        wall_clock_secs: u64,
        snapshot: &DialMemorySnapshot,
    ) -> usize {
        self.memory.restore(now, wall_clock_secs, snapshot)
    }

    // ---- introspection ----------------------------------------------------------------

    /// The settings.
    pub fn config(&self) -> &DialConfig {
        &self.config
    }

    /// Slots for dialed peers.
    pub fn max_dialed(&self) -> usize {
        self.max_dialed
    }

    /// Dialed peers connected now.
    pub fn dialed_peers(&self) -> usize {
        self.dialed_peers
    }

    /// Attempts running (dials and static-node resolutions).
    pub fn active_dials(&self) -> usize {
        self.attempts.len() + self.linking.len()
    }

    /// How many attempts may start now.
    pub fn budget(&self) -> usize {
        self.config
            .dial_budget(self.dialed_peers, self.active_dials())
    }

    /// Candidates waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// True while an attempt to node `id` runs.
    pub fn is_dialing(&self, id: &PeerId) -> bool {
        self.attempts.contains_key(id)
    }

    /// True while node `id` is a connected peer.
    pub fn is_connected(&self, id: &PeerId) -> bool {
        self.peers.contains_key(id)
    }

    /// True for a static node.
    pub fn is_static(&self, id: &PeerId) -> bool {
        self.statics.contains(id)
    }

    /// True for a trusted node.
    pub fn is_trusted(&self, id: &PeerId) -> bool {
        self.trusted.contains(id)
    }

    /// Static and trusted flags of node `id`.
    pub fn peer_class(&self, id: &PeerId) -> PeerClass {
        PeerClass {
            is_static: self.is_static(id),
            is_trusted: self.is_trusted(id),
        }
    }

    /// Number of static nodes.
    pub fn static_count(&self) -> usize {
        self.statics.len()
    }

    /// Counters for metrics.
    pub fn stats(&self) -> &DialStats {
        &self.stats
    }

    /// The dial history.
    pub fn history(&self) -> &DialHistory {
        &self.history
    }

    /// The backoffs.
    pub fn backoffs(&self) -> &Backoffs {
        &self.backoffs
    }

    /// The bans.
    pub fn bans(&self) -> &BanList {
        &self.bans
    }

    /// The dial memory.
    pub fn memory(&self) -> &DialMemory {
        &self.memory
    }

    /// The wait before the next lookup of static node `id` after a failed one.
    pub fn lookup_delay(&self, id: &PeerId) -> Option<Duration> {
        self.statics.lookup_delay(id)
    }

    // ---- internals ----------------------------------------------------------------------

    fn is_privileged(&self, id: &PeerId) -> bool {
        self.statics.contains(id) || self.trusted.contains(id)
    }

    /// The first rule that keeps node `id` at `addr` from being dialed now.
    fn refusal(
        &self,
        now: Instant,
        id: &PeerId,
        addr: Option<SocketAddr>,
        check: Check,
        privileged: bool,
    ) -> Option<DialRefusal> {
        if self.max_dialed == 0 {
            return Some(DialRefusal::DialingDisabled);
        }
        if *id == self.local {
            return Some(DialRefusal::IsSelf);
        }
        let ip = addr.map(|a| normalize_ip(a.ip()));
        if let (Some(addr), Some(ip)) = (addr, ip) {
            if addr.port() == 0 {
                return Some(DialRefusal::NoTcpPort);
            }
            if ip.is_unspecified() || ip.is_multicast() {
                return Some(DialRefusal::UnusableAddress);
            }
        }
        if self.bans.is_banned(now, id, ip) {
            return Some(DialRefusal::Banned);
        }
        if check == Check::Start
            && (self.attempts.contains_key(id) || self.linking.contains(id, now))
        {
            return Some(DialRefusal::AlreadyDialing);
        }
        if self.peers.contains_key(id) {
            return Some(DialRefusal::AlreadyConnected);
        }
        if self.pending_inbound.contains(id, now) {
            return Some(DialRefusal::PendingInbound);
        }
        if let (Some(ip), Some(netrestrict)) = (ip, &self.config.netrestrict) {
            if !netrestrict.contains(ip) {
                return Some(DialRefusal::NetRestrict);
            }
        }
        if check == Check::Start && self.history.contains(now, id) {
            return Some(DialRefusal::RecentlyDialed);
        }
        if self.backoff_until(now, id, ip, privileged).is_some() {
            return Some(DialRefusal::BackedOff);
        }
        if let (Some(addr), false) = (addr, privileged) {
            if self.unreachable_until(now, id, addr).is_some() {
                return Some(DialRefusal::Unreachable);
            }
        }
        None
    }

    /// Until when node `id` at `addr` is set aside because no dial there ever reached it
    /// (ranked policy; geth has no such rule).
    fn unreachable_until(&self, now: Instant, id: &PeerId, addr: SocketAddr) -> Option<Instant> {
        if self.config.policy == DialPolicy::GethLike {
            return None;
        }
        let standing = self.memory.standing(now, id, addr.ip(), addr.port());
        self.config.unreachable.refused_until(now, &standing)
    }

    /// Until when node `id` at `ip` is backed off. The geth-like policy has no backoffs; a
    /// privileged node ignores the IP's backoff (its own is capped when recorded).
    fn backoff_until(
        &self,
        now: Instant,
        id: &PeerId,
        ip: Option<IpAddr>,
        privileged: bool,
    ) -> Option<Instant> {
        if self.config.policy == DialPolicy::GethLike {
            return None;
        }
        let by_ip = if privileged {
            None
        } else {
            ip.and_then(|ip| self.backoffs.ip_until(now, ip))
        };
        self.backoffs.id_until(now, id).max(by_ip)
    }

    /// When static node `id` may next start an attempt, if anything is waiting on time.
    fn static_ready_at(&self, now: Instant, id: &PeerId, entry: &StaticEntry) -> Option<Instant> {
        let step = entry.step(now, self.config.resolve_static);
        let step_at = match step {
            StaticStep::Wait(None) => return None,
            StaticStep::Wait(Some(at)) => at,
            StaticStep::Dial(_) | StaticStep::LookUp | StaticStep::ResolveDns(_) => now,
        };
        let addr = match step {
            StaticStep::Dial(record) => Some(record.tcp_addr()),
            _ => None,
        };
        let ip = addr.map(|a| normalize_ip(a.ip()));
        let Some(refusal) = self.refusal(now, id, addr, Check::Start, true) else {
            return Some(step_at);
        };
        let time_based = matches!(
            refusal,
            DialRefusal::Banned
                | DialRefusal::AlreadyDialing
                | DialRefusal::PendingInbound
                | DialRefusal::RecentlyDialed
                | DialRefusal::BackedOff
        );
        if !time_based {
            // Connected (an event will follow), or refused for good.
            return None;
        }
        let blocked_until = [
            self.bans.id_until(now, id),
            ip.and_then(|ip| self.bans.ip_until(now, ip)),
            self.linking.expiry_of(id, now),
            self.pending_inbound.expiry_of(id, now),
            self.history.until(now, id),
            self.backoff_until(now, id, ip, true),
        ]
        .into_iter()
        .flatten()
        .max()?;
        // A rule that is not about time may still refuse at that instant; poll re-checks.
        (blocked_until > now).then_some(blocked_until.max(step_at))
    }

    fn start_static<R: Rng + ?Sized>(&mut self, now: Instant, rng: &mut R) -> Option<DialAction> {
        let can_look_up = self.config.resolve_static;
        let due: Vec<PeerId> = self
            .statics
            .iter()
            .filter(|(id, entry)| {
                let addr = match entry.step(now, can_look_up) {
                    StaticStep::Wait(_) => return false,
                    StaticStep::Dial(record) => Some(record.tcp_addr()),
                    StaticStep::LookUp | StaticStep::ResolveDns(_) => None,
                };
                self.refusal(now, id, addr, Check::Start, true).is_none()
            })
            .map(|(id, _)| *id)
            .collect();
        if due.is_empty() {
            return None;
        }
        let id = due[rng.gen_range(0..due.len())];
        let entry = self.statics.get(&id)?;
        let step = entry.step(now, can_look_up);
        let known = entry.record;
        let until = deadline(now, self.config.dial_deadline);
        let mut attempt = Attempt {
            kind: DialKind::Static,
            record: known,
            stage: Stage::Connecting,
            deadline: until,
        };
        let action = match step {
            StaticStep::Dial(record) => {
                attempt.record = Some(record);
                self.stats.dials_started += 1;
                self.stats.static_dials_started += 1;
                debug!(target: "kadnode::dial", ?id, addr = %record.tcp_addr(), "dialing static node");
                DialAction::Dial(DialTask {
                    record,
                    kind: DialKind::Static,
                })
            }
            StaticStep::LookUp => {
                attempt.stage = Stage::LookingUp;
                self.statics.lookup_started(now, &id);
                self.stats.lookups_started += 1;
                DialAction::LookUp { id }
            }
            StaticStep::ResolveDns(host) => {
                attempt.stage = Stage::ResolvingDns;
                self.stats.dns_resolutions_started += 1;
                DialAction::ResolveDns { id, host }
            }
            StaticStep::Wait(_) => return None,
        };
        self.history.add(now, id);
        self.attempts.insert(id, attempt);
        Some(action)
    }

    fn start_candidate(&mut self, now: Instant) -> Option<DialAction> {
        loop {
            let ctx = RankContext {
                memory: &self.memory,
                now,
                fresh_answer: self.config.fresh_answer,
            };
            let queued = self.queue.pop(&ctx)?;
            let tier = ctx.tier(&queued.candidate);
            let record = queued.candidate.record;
            let id = record.id;
            let refusal = if self.statics.contains(&id) {
                Some(DialRefusal::StaticNode)
            } else {
                let privileged = self.trusted.contains(&id);
                self.refusal(now, &id, Some(record.tcp_addr()), Check::Start, privileged)
            };
            if let Some(refusal) = refusal {
                trace!(target: "kadnode::dial", ?id, refusal = refusal.label(), "queued candidate dropped");
                self.stats.refusals.count(refusal);
                continue;
            }
            let kind = DialKind::Discovered(queued.source);
            self.history.add(now, id);
            self.attempts.insert(
                id,
                Attempt {
                    kind,
                    record: Some(record),
                    stage: Stage::Connecting,
                    deadline: deadline(now, self.config.dial_deadline),
                },
            );
            self.stats.dials_started += 1;
            trace!(target: "kadnode::dial", ?id, addr = %record.tcp_addr(), queued = self.queue.len() as u64, ?tier, "dialing candidate");
            return Some(DialAction::Dial(DialTask { record, kind }));
        }
    }

    /// A static node's resolution ended with `record` to dial (or none).
    fn resolved(&mut self, now: Instant, id: &PeerId, stage: Stage, record: Option<NodeRecord>) {
        let Some(attempt) = self.attempts.get(id).copied() else {
            return;
        };
        if attempt.stage != stage {
            return;
        }
        let Some(record) = record else {
            // Nothing to dial: the attempt ends; the history paces the next one.
            self.attempts.remove(id);
            return;
        };
        if let Some(refusal) = self.refusal(now, id, Some(record.tcp_addr()), Check::Resolved, true)
        {
            self.stats.refusals.count(refusal);
            self.attempts.remove(id);
            return;
        }
        self.attempts.insert(
            *id,
            Attempt {
                record: Some(record),
                stage: Stage::Connecting,
                ..attempt
            },
        );
        self.stats.dials_started += 1;
        self.stats.static_dials_started += 1;
        self.ready.push_back(DialTask {
            record,
            kind: attempt.kind,
        });
    }

    /// Attempts past their deadline count as timed out.
    fn expire_attempts(&mut self, now: Instant) {
        let expired: Vec<PeerId> = self
            .attempts
            .iter()
            .filter(|(_, a)| a.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let Some(attempt) = self.attempts.remove(&id) else {
                continue;
            };
            self.stats.dials_expired += 1;
            debug!(target: "kadnode::dial", ?id, stage = ?attempt.stage, "attempt never reported; counted as timed out");
            match attempt.stage {
                Stage::Connecting => self.dial_failed(now, id, attempt, Verdict::Timeout),
                Stage::LookingUp => {
                    self.statics.lookup_finished(now, &id, None);
                }
                Stage::ResolvingDns => {}
            }
            self.ready.retain(|task| task.record.id != id);
        }
    }

    fn dial_succeeded(
        &mut self,
        now: Instant,
        id: PeerId,
        addr: Option<SocketAddr>,
        kind: DialKind,
    ) {
        self.stats.dials_connected += 1;
        if let Some(addr) = addr {
            self.memory.record_success(now, id, addr);
        }
        self.backoffs.forgive(&id, addr.map(|a| a.ip()));
        if let DialKind::Discovered(source) = kind {
            self.report(source, id, Outcome::Connected);
        }
    }

    fn dial_failed(&mut self, now: Instant, id: PeerId, attempt: Attempt, verdict: Verdict) {
        self.stats.dials_failed += 1;
        let addr = attempt.record.map(|r| r.tcp_addr());
        if let Some(addr) = addr {
            self.memory.record_failure(now, id, addr, verdict);
        }
        let privileged = self.is_privileged(&id);
        self.penalize(now, id, addr.map(|a| a.ip()), verdict, true, privileged);
        match attempt.kind {
            DialKind::Static => self.statics.dial_failed(&id, verdict),
            DialKind::Discovered(source) => {
                self.report(source, id, Outcome::DialFailed(verdict));
            }
        }
    }

    /// Applies a failure's verdict: a ban when it says so (never for static or trusted
    /// nodes), and (ranked policy) a backoff of the node by the verdict's class, plus one of
    /// its IP when a dial failed for a network reason.
    fn penalize(
        &mut self,
        now: Instant,
        id: PeerId,
        ip: Option<IpAddr>,
        verdict: Verdict,
        dialed: bool,
        privileged: bool,
    ) {
        if verdict.should_ban() && !privileged {
            let length = self.bans.ban(now, id, ip);
            self.queue.remove(&id);
            debug!(target: "kadnode::dial", ?id, ?ip, ?verdict, ?length, "banned");
        }
        if self.config.policy == DialPolicy::GethLike {
            return;
        }
        let class = verdict.backoff();
        let wait = self.backoffs.back_off_id(now, id, class, privileged);
        trace!(target: "kadnode::dial", ?id, ?verdict, ?wait, dialed, "backed off");
        if let (true, Backoff::Medium, Some(ip)) = (dialed, class, ip) {
            self.backoffs.back_off_ip(now, ip, class);
        }
    }

    fn report(&mut self, source: SourceId, id: PeerId, outcome: Outcome) {
        if self.reports.len() >= self.config.report_capacity.max(1) {
            self.reports.pop_front();
            self.stats.reports_dropped += 1;
        }
        self.reports.push_back(SourceReport {
            source,
            id,
            outcome,
        });
    }
}

fn source_of(kind: DialKind) -> Option<SourceId> {
    match kind {
        DialKind::Static => None,
        DialKind::Discovered(source) => Some(source),
    }
}
