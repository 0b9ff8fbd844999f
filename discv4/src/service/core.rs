//! The service task: what it owns — the table, the node database, our record, the outstanding
//! requests, the bonds and lookups in progress — and its loop over commands, verified packets
//! and timers.
//!
//! Every step (a command, a packet, a timer) changes the state and sends what it must; work
//! that follows from it — a request a bond was holding back, the next FINDNODEs of a lookup
//! that got an answer, an ENR fetch after a liveness check — is queued and done right after
//! the step, before the loop waits again ([`Service::settle`]). So no handler calls back into
//! another, and nothing waits on a timer it does not need.
//!
//! The task's methods are split over this file and two children that add to it: `inbound.rs`
//! (packets and the outcomes of requests) and `drive.rs` (lookups and the refresh). The state
//! they work on that is not the task's own — bonds, lookups, outstanding requests — is plain
//! data in sibling modules (`bonding`, `lookups`, `pending`); this file imports nothing from
//! its children.

mod drive;
mod inbound;

use std::{
    collections::VecDeque,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use rand::{rngs::StdRng, SeedableRng};
use secp256k1::SecretKey;
use tokio::{
    sync::{broadcast, mpsc, Mutex as AsyncMutex},
    task::JoinHandle,
    time::{sleep_until, Instant},
};
use tracing::{debug, warn};

use crate::{
    db::NodeDb,
    proto::{expiration_after, Endpoint, EnrRequest, FindNode, Packet, PacketKind, Ping},
    table::{RevalidationResult, Table, TableEvent},
    transport::DatagramTransport,
};

use enode::{NodeRecord, PeerId};

use super::{
    bonding::{AfterBond, Bonds},
    clock::UnixClock,
    command::{BucketDump, Command, EntryDump, RequestError},
    config::Discv4Config,
    handover::Handover,
    ingress::{self, send_packet, Ingress, IngressContext},
    local::LocalNode,
    lookups::{FoundSink, Lookups, Owner},
    metrics::Metrics,
    pending::{
        EnrWaiter, Expect, NeighborsWaiter, Pending, PendingRequests, PongWaiter, Resend, Sent,
    },
    ping_back::PingBacks,
    predictor::EndpointPredictor,
    priority::Priority,
    ratelimit::IpRateLimiter,
    skew::SkewDetector,
    store::Store,
};

/// Batches each ingress worker may park ahead of a slower one before it waits (see
/// [`Handover`]): room for the others to keep receiving while one signs a full batch.
const PARKED_BATCHES_PER_WORKER: usize = 4;
/// How often the clock-skew counters are evaluated.
const SKEW_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// At most one clock-skew warning per this interval.
const SKEW_WARNING_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum Discv4Error {
    /// The transport has no local address.
    #[error("cannot read the socket's local address: {0}")]
    LocalAddr(#[source] std::io::Error),
    /// Our record could not be built.
    #[error("cannot build the local node record: {0}")]
    LocalRecord(#[from] enode::EnrError),
}

/// What handles to a started service are built from.
#[derive(Debug)]
pub(crate) struct Started {
    /// Our identity.
    pub(crate) local_id: PeerId,
    /// The table-event channel (handles subscribe to it).
    pub(crate) events: broadcast::Sender<TableEvent>,
    /// The counters shared with the ingress workers.
    pub(crate) metrics: Arc<Metrics>,
}

/// A refresh in progress.
#[derive(Debug)]
struct Refresh {
    /// Random lookups still to run after the current one.
    random_lookups_left: usize,
}

/// Work that follows from a step, done before the loop waits again.
#[derive(Debug)]
enum Followup {
    /// A request a finished bond was holding back.
    AfterBond(AfterBond),
    /// The second attempt of a liveness or bond PING whose first went unanswered.
    ResendPing(NodeRecord, PongWaiter),
    /// The second attempt of a lookup's FINDNODE (behind a new bond when the node needs
    /// one: an unanswered FINDNODE often means the node lost our endpoint proof).
    ResendFindNode(NodeRecord, PeerId, NeighborsWaiter),
    /// Fetch the record of a node whose liveness check announced a newer ENR seq.
    FetchEnr(NodeRecord),
}

/// The service task's state. Built and spawned by [`start`]; nothing outside this module
/// touches its fields.
pub(crate) struct Service {
    config: Discv4Config,
    transport: Arc<dyn DatagramTransport>,
    local: LocalNode,
    table: Table,
    db: Store,
    /// Set on the first valid PONG: database expiry waits for it, so a node that cannot reach
    /// the network does not delete its own seeds (geth does the same).
    seen_pong: bool,
    /// The ping-back budget, shared with the workers that sign most ping-backs.
    ping_backs: Arc<PingBacks>,
    /// Endpoints with a proof, verified first under a flood (shared with the workers).
    priority: Arc<Priority>,
    clock: UnixClock,
    pending: PendingRequests,
    bonds: Bonds,
    lookups: Lookups,
    /// The refresh in progress, if any.
    refresh: Option<Refresh>,
    followups: VecDeque<Followup>,
    predictor: EndpointPredictor,
    metrics: Arc<Metrics>,
    skew: Arc<SkewDetector>,
    events: broadcast::Sender<TableEvent>,
    commands: mpsc::Receiver<Command>,
    ingress: mpsc::Receiver<Ingress>,
    workers: Vec<JoinHandle<()>>,
    last_refresh_start: Option<Instant>,
    next_refresh: Instant,
    last_skew_warning: Option<Instant>,
}

/// Builds the service on `transport` — our record, the node database view, the table, the
/// ingress workers — and spawns its task, which serves `commands` until every sender is
/// dropped or a shutdown command arrives. It begins with a refresh.
pub(crate) fn start(
    config: Discv4Config,
    key: SecretKey,
    transport: Arc<dyn DatagramTransport>,
    db: NodeDb,
    commands: mpsc::Receiver<Command>,
) -> Result<Started, Discv4Error> {
    let listen = transport.local_addr().map_err(Discv4Error::LocalAddr)?;
    let local_id = PeerId::from_secret_key(&key);
    let mut db = Store::new(db, local_id.node_id());
    let local = LocalNode::new(
        key,
        listen,
        config.external_ip,
        config.tcp_port,
        db.local_seq(),
        config.enr_entries.clone(),
    )?;
    db.set_local_seq(local.seq());

    let (ingress_tx, ingress_rx) = mpsc::channel(config.ingress_queue.max(1));
    let (events, _) = broadcast::channel(config.event_capacity.max(1));
    let metrics = Arc::new(Metrics::default());
    let skew = Arc::new(SkewDetector::default());

    let priority = Arc::new(Priority::new(config.overload_unknown_per_second));
    let ping_backs = Arc::new(PingBacks::new(
        config.max_ping_backs_per_second,
        config.request_timeout,
    ));
    let context = Arc::new(IngressContext {
        priority: Arc::clone(&priority),
        ping_backs: Arc::clone(&ping_backs),
        transport: Arc::clone(&transport),
        local: local.shared(),
        rate_limit: config.rate_limit,
        limiter: Mutex::new(IpRateLimiter::new(config.rate_limit)),
        metrics: Arc::clone(&metrics),
        skew: Arc::clone(&skew),
        packet_expiration: config.packet_expiration,
        to_service: ingress_tx,
        next_ticket: AsyncMutex::new(0),
        handover: Handover::new(PARKED_BATCHES_PER_WORKER * config.ingress_workers.max(1)),
    });
    let workers = (0..config.ingress_workers.max(1))
        .map(|_| tokio::spawn(ingress::run_worker(Arc::clone(&context))))
        .collect();
    drop(context);

    let table = Table::new(
        local_id.node_id(),
        config.table.clone(),
        StdRng::from_entropy(),
    );
    let started = Started {
        local_id,
        events: events.clone(),
        metrics: Arc::clone(&metrics),
    };
    let service = Service {
        predictor: EndpointPredictor::default(),
        pending: PendingRequests::new(config.max_pending_requests),
        bonds: Bonds::default(),
        lookups: Lookups::default(),
        refresh: None,
        followups: VecDeque::new(),
        config,
        transport,
        local,
        table,
        db,
        seen_pong: false,
        ping_backs,
        priority,
        clock: UnixClock::start(),
        metrics,
        skew,
        events,
        commands,
        ingress: ingress_rx,
        workers,
        last_refresh_start: None,
        next_refresh: Instant::now(),
        last_skew_warning: None,
    };
    tokio::spawn(service.run());
    Ok(started)
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => futures::future::pending().await,
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl Service {
    async fn run(mut self) {
        let mut db_expiry = tokio::time::interval(self.config.db_expiry_interval);
        db_expiry.tick().await;
        let mut skew_check = tokio::time::interval(SKEW_CHECK_INTERVAL);
        skew_check.tick().await;
        self.start_refresh();
        self.after_step().await;
        loop {
            let request_deadline = self.pending.next_deadline();
            let revalidation_at = self.table.next_revalidation_at();
            let waits_end = earliest(self.bonds.next_deadline(), self.lookups.next_unpark());
            tokio::select! {
                command = self.commands.recv() => match command {
                    None => break,
                    Some(Command::Shutdown { reply }) => {
                        self.stop();
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.on_command(command).await,
                },
                Some(ingress) = self.ingress.recv() => self.on_packet(ingress).await,
                () = sleep_until_opt(request_deadline) => self.expire_requests(),
                () = sleep_until_opt(revalidation_at) => self.revalidate().await,
                () = sleep_until_opt(waits_end) => self.end_waits(),
                () = sleep_until(self.next_refresh) => self.start_refresh(),
                _ = db_expiry.tick() => self.expire_db(),
                _ = skew_check.tick() => self.check_skew(),
            }
            self.after_step().await;
        }
        self.stop();
    }

    fn stop(&mut self) {
        for worker in &self.workers {
            worker.abort();
        }
        // Dropping the waiters (and the lookups) tells every caller the service stopped.
        drop(self.pending.drain());
        self.lookups = Lookups::default();
        self.bonds = Bonds::default();
        self.db.flush();
        debug!(target: "discv4", "discovery service stopped");
    }

    /// Finishes a step: does the queued follow-up work, then broadcasts table events.
    async fn after_step(&mut self) {
        self.settle().await;
        for event in self.table.take_events() {
            // No subscribers is fine; lagging subscribers see `Lagged`.
            let _ = self.events.send(event);
        }
        self.db.flush_if_due();
    }

    /// Does the work that follows from a step until none is left: requests released by bonds,
    /// ENR fetches, lookups with answers to act on, parked lookups that may start, and a
    /// re-bootstrap of an empty table. Each item may queue more; every one of them either
    /// sends a packet or ends something, so this ends.
    async fn settle(&mut self) {
        loop {
            if let Some(followup) = self.followups.pop_front() {
                match followup {
                    Followup::AfterBond(AfterBond::FindNode {
                        node,
                        target,
                        waiter,
                        first_attempt,
                    }) => {
                        self.send_findnode_attempt(node, target, waiter, first_attempt)
                            .await;
                    }
                    Followup::ResendPing(node, waiter) => {
                        self.send_ping_attempt(node, waiter, false).await;
                    }
                    Followup::ResendFindNode(node, target, waiter) => {
                        self.findnode_attempt(node, target, waiter, true, false)
                            .await;
                    }
                    Followup::AfterBond(AfterBond::EnrRequest { node, waiter }) => {
                        self.send_enr_request(node, waiter).await;
                    }
                    Followup::FetchEnr(record) => {
                        if !self
                            .pending
                            .has(&record.id, record.address, PacketKind::EnrResponse)
                        {
                            self.send_enr_request(record, EnrWaiter::Refresh { record })
                                .await;
                        }
                    }
                }
                continue;
            }
            if let Some(id) = self.lookups.pop_dirty() {
                self.drive_lookup(id).await;
                continue;
            }
            if self.unpark_lookups() {
                continue;
            }
            if self.table.is_empty() && !self.is_refreshing() {
                let spacing_ok = self
                    .last_refresh_start
                    .is_none_or(|at| at.elapsed() >= self.config.empty_table_refresh_spacing);
                if spacing_ok {
                    debug!(target: "discv4", "table is empty, refreshing");
                    self.start_refresh();
                    continue;
                }
            }
            break;
        }
    }

    /// Bonds whose settle wait ended, and parked lookups whose wait for a node ended.
    fn end_waits(&mut self) {
        let due = self.bonds.take_due(Instant::now());
        self.followups
            .extend(due.into_iter().map(Followup::AfterBond));
        // Parked lookups are started by `settle`.
    }

    // ---------------------------------------------------------------- commands

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Ping { node, reply } => self.send_ping(node, PongWaiter::Client(reply)).await,
            Command::FindNode {
                node,
                target,
                bond,
                reply,
            } => {
                self.findnode(node, target, NeighborsWaiter::Client(reply), bond)
                    .await;
            }
            Command::EnrRequest { node, reply } => {
                let waiter = EnrWaiter::Client(reply);
                if self.needs_bond(&node) {
                    self.bond_then(node, AfterBond::EnrRequest { node, waiter })
                        .await;
                } else {
                    self.send_enr_request(node, waiter).await;
                }
            }
            Command::Lookup {
                target,
                found,
                reply,
            } => {
                let found = found.map(FoundSink::new);
                self.submit_lookup(target, Owner::Client { reply, found });
            }
            Command::Closest {
                target,
                count,
                reply,
            } => {
                let nodes = self
                    .table
                    .closest(&target, count, false)
                    .into_iter()
                    .map(|e| e.record)
                    .collect();
                let _ = reply.send(nodes);
            }
            Command::GetNode { id, reply } => {
                let _ = reply.send(self.table.get(&id).map(|e| (e.record, e.enr.clone())));
            }
            Command::LocalEnr { reply } => {
                let _ = reply.send(self.local.enr().clone());
            }
            Command::Buckets { reply } => {
                let _ = reply.send(self.bucket_dump());
            }
            Command::TableState { reply } => {
                let _ = reply.send((self.table.len(), self.table.is_init_done()));
            }
            Command::AddNodes { nodes } => {
                let now = Instant::now();
                for node in nodes {
                    if self.allowed_by_netrestrict(node.record.address) {
                        let _ = self.table.add_found(node, now);
                    }
                }
            }
            Command::Refresh => self.start_refresh(),
            // `run` handles Shutdown before dispatching.
            Command::Shutdown { .. } => {}
        }
    }

    fn bucket_dump(&self) -> Vec<BucketDump> {
        let now = Instant::now();
        self.table
            .buckets()
            .map(|bucket| BucketDump {
                index: bucket.index,
                entries: bucket
                    .entries
                    .iter()
                    .map(|e| EntryDump {
                        record: e.record,
                        seq: e.seq,
                        in_bucket_for: now.saturating_duration_since(e.in_bucket_since),
                        liveness_checks: e.liveness_checks,
                        is_live: e.is_live,
                    })
                    .collect(),
                replacements: bucket.replacements.len(),
            })
            .collect()
    }

    // ---------------------------------------------------------------- bonding

    /// An endpoint proof from `peer` at `ip`: a PONG matching our PING within the bond
    /// expiration. FINDNODE and ENRRequest are answered only then.
    fn is_bonded(&mut self, peer: &PeerId, ip: IpAddr) -> bool {
        let max_age = self.config.bond_expiration.as_secs();
        let now = self.clock.now_secs();
        self.db
            .last_pong(&peer.node_id(), ip)
            .is_some_and(|t| now.saturating_sub(t) < max_age)
    }

    /// Whether we must PING before asking the node something: it has not PINGed us (and so
    /// has not proven our endpoint) within the bond expiration, or its last FINDNODE went
    /// unanswered. geth re-bonds only after more than 5 failures; but an unanswered FINDNODE
    /// often means the remote never got our PONG (a lost datagram) and drops our requests as
    /// unproven, so waiting for 5 failures strands a node for a whole refresh. One PING is
    /// cheap insurance.
    fn needs_bond(&mut self, node: &NodeRecord) -> bool {
        let id = node.id.node_id();
        let max_age = self.config.bond_expiration.as_secs();
        let now = self.clock.now_secs();
        let recent_ping = self
            .db
            .last_ping(&id, node.address)
            .is_some_and(|t| now.saturating_sub(t) < max_age);
        let failures = self.db.findnode_failures(&id, node.address);
        !recent_ping || failures > 0
    }

    /// Holds `after` until a bond with `node` is done, PINGing the node when no bond with it
    /// is in progress yet. New bonds are bounded like outstanding requests.
    async fn bond_then(&mut self, node: NodeRecord, after: AfterBond) {
        if !self.bonds.contains(&node.id, node.address)
            && self.bonds.len() >= self.config.max_pending_requests
        {
            self.fail_held(after, RequestError::TooManyRequests);
            return;
        }
        if self.bonds.queue(&node, after) {
            self.send_ping(node, PongWaiter::Bond).await;
        }
    }

    /// Our bonding PING to `peer` ended, answered or not.
    fn bond_ping_ended(&mut self, peer: &PeerId, ip: IpAddr) {
        let settle_until = Instant::now() + self.config.bond_settle_delay;
        let released = self.bonds.ping_ended(peer, ip, settle_until);
        self.followups
            .extend(released.into_iter().map(Followup::AfterBond));
    }

    fn allowed_by_netrestrict(&self, ip: IpAddr) -> bool {
        self.config
            .netrestrict
            .as_ref()
            .is_none_or(|n| n.contains(ip))
    }

    // ---------------------------------------------------------------- sending

    fn expiration(&self) -> u64 {
        expiration_after(self.config.packet_expiration)
    }

    /// A FINDNODE to `node`: behind a bond when `bond` is set and the node needs one, else
    /// right away.
    async fn findnode(
        &mut self,
        node: NodeRecord,
        target: PeerId,
        waiter: NeighborsWaiter,
        bond: bool,
    ) {
        self.findnode_attempt(node, target, waiter, bond, true)
            .await;
    }

    /// [`Self::findnode`], or its retransmission when `first_attempt` is false.
    async fn findnode_attempt(
        &mut self,
        node: NodeRecord,
        target: PeerId,
        waiter: NeighborsWaiter,
        bond: bool,
        first_attempt: bool,
    ) {
        if bond && self.needs_bond(&node) {
            self.bond_then(
                node,
                AfterBond::FindNode {
                    node,
                    target,
                    waiter,
                    first_attempt,
                },
            )
            .await;
        } else {
            self.send_findnode_attempt(node, target, waiter, first_attempt)
                .await;
        }
    }

    /// Registers the request, then sends the packet; on failure the waiter is told. The
    /// expectation's reply token is filled in with the sent packet's hash.
    async fn send_request(
        &mut self,
        node: NodeRecord,
        packet: Packet,
        mut expect: Expect,
        first_attempt: bool,
    ) {
        let now = Instant::now();
        let resend = match (&expect, &packet) {
            _ if !first_attempt => None,
            (
                Expect::Pong {
                    waiter: PongWaiter::Bond | PongWaiter::Revalidation,
                    ..
                },
                _,
            ) => Some(Resend::Ping(node)),
            (
                Expect::Neighbors {
                    waiter: NeighborsWaiter::Lookup(_),
                    ..
                },
                Packet::FindNode(find),
            ) => Some(Resend::FindNode(node, find.target)),
            _ => None,
        };
        let sent = Sent {
            peer: node.id,
            ip: node.address,
            at: now,
            resend,
        };
        // Check the bound before signing: under a flood of unknown pingers the signature
        // is the expensive part, and a request we cannot track is not worth sending.
        if self.pending.is_full() {
            self.fail(Pending { sent, expect }, RequestError::TooManyRequests);
            return;
        }
        let to = SocketAddr::new(node.address, node.udp_port);
        let Some(hash) = send_packet(
            self.transport.as_ref(),
            &self.metrics,
            &packet,
            self.local.key(),
            to,
        )
        .await
        else {
            let error =
                RequestError::Send(format!("could not send {} to {to}", packet.kind().name()));
            self.fail(Pending { sent, expect }, error);
            return;
        };
        match &mut expect {
            Expect::Pong { ping_hash, .. } => *ping_hash = hash,
            Expect::Enr { request_hash, .. } => *request_hash = hash,
            Expect::Neighbors { .. } => {}
        }
        if let Err(pending) = self
            .pending
            .insert(Pending { sent, expect }, now + self.config.request_timeout)
        {
            self.fail(*pending, RequestError::TooManyRequests);
        }
    }

    /// Expects the PONG to the ping-back an ingress worker signed and sent to `node`.
    fn track_ping_back(&mut self, node: NodeRecord, ping_hash: [u8; 32]) {
        let now = Instant::now();
        let sent = Sent {
            peer: node.id,
            ip: node.address,
            at: now,
            resend: None,
        };
        let expect = Expect::Pong {
            ping_hash,
            waiter: PongWaiter::PingBack { record: node },
        };
        if let Err(pending) = self
            .pending
            .insert(Pending { sent, expect }, now + self.config.request_timeout)
        {
            self.fail(*pending, RequestError::TooManyRequests);
        }
    }

    async fn send_ping(&mut self, node: NodeRecord, waiter: PongWaiter) {
        self.send_ping_attempt(node, waiter, true).await;
    }

    async fn send_ping_attempt(&mut self, node: NodeRecord, waiter: PongWaiter, first: bool) {
        self.ping_backs.pinged(
            node.id,
            SocketAddr::new(node.address, node.udp_port),
            Instant::now(),
        );
        let ping = Packet::Ping(Ping {
            version: Ping::VERSION,
            from: self.local.ping_endpoint(),
            to: Endpoint::new(node.address, node.udp_port, 0),
            expiration: self.expiration(),
            enr_seq: Some(self.local.seq()),
        });
        let expect = Expect::Pong {
            ping_hash: [0; 32],
            waiter,
        };
        self.send_request(node, ping, expect, first).await;
    }

    async fn send_findnode_attempt(
        &mut self,
        node: NodeRecord,
        target: PeerId,
        waiter: NeighborsWaiter,
        first: bool,
    ) {
        let packet = Packet::FindNode(FindNode {
            target,
            expiration: self.expiration(),
        });
        let expect = Expect::Neighbors {
            nodes: Vec::new(),
            received: 0,
            replied: false,
            waiter,
        };
        self.send_request(node, packet, expect, first).await;
    }

    async fn send_enr_request(&mut self, node: NodeRecord, waiter: EnrWaiter) {
        let packet = Packet::EnrRequest(EnrRequest {
            expiration: self.expiration(),
        });
        let expect = Expect::Enr {
            request_hash: [0; 32],
            waiter,
        };
        self.send_request(node, packet, expect, true).await;
    }

    async fn reply(&self, packet: &Packet, to: SocketAddr) {
        send_packet(
            self.transport.as_ref(),
            &self.metrics,
            packet,
            self.local.key(),
            to,
        )
        .await;
    }

    // ---------------------------------------------------------------- timers

    async fn revalidate(&mut self) {
        while let Some(request) = self.table.poll_revalidation(Instant::now()) {
            self.send_ping(request.record, PongWaiter::Revalidation)
                .await;
        }
    }

    fn after_revalidation(&mut self, result: RevalidationResult) {
        match result {
            RevalidationResult::Alive {
                record,
                fetch_enr,
                persist,
                ..
            } => {
                if persist {
                    let enr = self
                        .table
                        .get(&record.id.node_id())
                        .and_then(|e| e.enr.clone());
                    self.db.update_node(&record, enr.as_deref());
                }
                if fetch_enr {
                    self.followups.push_back(Followup::FetchEnr(record));
                }
            }
            RevalidationResult::Removed {
                removed,
                replacement,
            } => {
                debug!(target: "discv4", node = %removed.id, ?replacement, "node failed revalidation");
            }
            RevalidationResult::Demoted { .. }
            | RevalidationResult::KeptLastNode { .. }
            | RevalidationResult::NotInFlight => {}
        }
    }

    fn expire_db(&mut self) {
        if !self.seen_pong {
            return;
        }
        let removed = self.db.expire(self.clock.now_secs());
        if removed > 0 {
            debug!(target: "discv4", removed, "expired node database entries");
        }
    }

    fn check_skew(&mut self) {
        let Some(report) = self.skew.take_report(self.config.skew_warning_ratio) else {
            return;
        };
        let due = self
            .last_skew_warning
            .is_none_or(|at| at.elapsed() >= SKEW_WARNING_INTERVAL);
        if due {
            self.last_skew_warning = Some(Instant::now());
            warn!(
                target: "discv4",
                expired = report.expired,
                total = report.total,
                estimated_drift_secs = report.estimated_drift_secs,
                "most discovery packets arrive expired: the system clock is probably off; discovery needs it within ~20 s (check NTP)"
            );
        }
    }
}
