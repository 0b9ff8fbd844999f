//! The service task: the loop over commands, verified packets and timers, and what it owns:
//! the table, the node database, our record and the outstanding requests. Packet handling is
//! in `inbound.rs`.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use rand::Rng;
use tokio::{
    sync::{broadcast, mpsc},
    task::JoinHandle,
    time::{sleep_until, Instant},
};
use tracing::{debug, info, warn};

use crate::{
    proto::{expiration_after, Endpoint, EnrRequest, FindNode, Packet, PacketKind, Ping},
    table::{NodeInfo, RevalidationResult, Table, TableEvent},
    transport::DatagramTransport,
};

use enode::{NodeRecord, PeerId};

use super::{
    clock::UnixClock,
    command::Command,
    config::Discv4Config,
    handle::{BucketDump, Discv4Handle, EntryDump, RequestError},
    ingress::{send_packet, Ingress},
    local::LocalNode,
    metrics::Metrics,
    pending::{Expect, Pending, PendingRequests, Waiter},
    predictor::EndpointPredictor,
    ratelimit::TokenBucket,
    skew::SkewDetector,
    store::Store,
};

/// How often the clock-skew counters are evaluated.
const SKEW_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// At most one clock-skew warning per this interval.
const SKEW_WARNING_INTERVAL: Duration = Duration::from_secs(10 * 60);

pub(crate) struct Service {
    pub(crate) config: Discv4Config,
    pub(crate) transport: Arc<dyn DatagramTransport>,
    pub(crate) local: LocalNode,
    pub(crate) table: Table,
    pub(crate) db: Store,
    /// Set on the first valid PONG: database expiry waits for it, so a node that cannot reach
    /// the network does not delete its own seeds (geth does the same).
    pub(crate) seen_pong: bool,
    /// Caps the ping-backs to unknown pingers (`None`: no cap).
    pub(crate) ping_backs: Option<TokenBucket>,
    pub(crate) clock: UnixClock,
    pub(crate) pending: PendingRequests,
    pub(crate) predictor: EndpointPredictor,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) skew: Arc<SkewDetector>,
    pub(crate) events: broadcast::Sender<TableEvent>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) self_commands: mpsc::WeakSender<Command>,
    pub(crate) ingress: mpsc::Receiver<Ingress>,
    pub(crate) workers: Vec<JoinHandle<()>>,
    pub(crate) handle_template: HandleTemplate,
    pub(crate) refreshing: bool,
    pub(crate) last_refresh_start: Option<Instant>,
    pub(crate) next_refresh: Instant,
    pub(crate) last_skew_warning: Option<Instant>,
}

/// What a handle needs besides the command sender (to build handles for internal tasks).
#[derive(Debug, Clone)]
pub(crate) struct HandleTemplate {
    pub(crate) local_id: PeerId,
    pub(crate) bond_settle_delay: Duration,
    pub(crate) walk_lookup_spacing: Duration,
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => futures::future::pending().await,
    }
}

impl Service {
    pub(crate) async fn run(mut self) {
        let mut db_expiry = tokio::time::interval(self.config.db_expiry_interval);
        db_expiry.tick().await;
        let mut skew_check = tokio::time::interval(SKEW_CHECK_INTERVAL);
        skew_check.tick().await;
        self.start_refresh();
        loop {
            let request_deadline = self.pending.next_deadline();
            let revalidation_at = self.table.next_revalidation_at();
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
                () = sleep_until_opt(request_deadline) => self.expire_requests().await,
                () = sleep_until_opt(revalidation_at) => self.revalidate().await,
                () = sleep_until(self.next_refresh) => self.start_refresh(),
                _ = db_expiry.tick() => self.expire_db(),
                _ = skew_check.tick() => self.check_skew(),
            }
            self.after_step();
        }
        self.stop();
    }

    pub(super) fn stop(&mut self) {
        for worker in &self.workers {
            worker.abort();
        }
        // Dropping the waiters tells every caller the service stopped.
        drop(self.pending.drain());
        self.db.flush();
        debug!(target: "discv4", "discovery service stopped");
    }

    /// Broadcasts table events and re-bootstraps an empty table.
    pub(super) fn after_step(&mut self) {
        for event in self.table.take_events() {
            // No subscribers is fine; lagging subscribers see `Lagged`.
            let _ = self.events.send(event);
        }
        self.db.flush_if_due();
        if self.table.is_empty() && !self.refreshing {
            let spacing_ok = self
                .last_refresh_start
                .is_none_or(|at| at.elapsed() >= self.config.empty_table_refresh_spacing);
            if spacing_ok {
                debug!(target: "discv4", "table is empty, refreshing");
                self.start_refresh();
            }
        }
    }

    // ---------------------------------------------------------------- commands

    pub(super) async fn on_command(&mut self, command: Command) {
        match command {
            Command::Ping { node, reply } => self.send_ping(node, Waiter::Client(reply)).await,
            Command::FindNode {
                node,
                target,
                reply,
            } => {
                self.send_findnode(node, target, Waiter::Client(reply))
                    .await
            }
            Command::EnrRequest { node, reply } => {
                self.send_enr_request(node, Waiter::Client(reply)).await
            }
            Command::NeedsBond { node, reply } => {
                let _ = reply.send(self.needs_bond(&node));
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
                let _ = reply.send(
                    self.table
                        .get(&id)
                        .map(|e| (e.record, e.enr.clone().map(Box::new))),
                );
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
            Command::Refreshing { reply } => {
                let _ = reply.send(self.refreshing);
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
            Command::RefreshDone => {
                self.refreshing = false;
                if !self.table.is_init_done() {
                    info!(target: "discv4", nodes = self.table.len(), "initial table refresh done");
                }
                self.table.set_init_done();
                self.schedule_refresh();
            }
            // `run` handles Shutdown before dispatching.
            Command::Shutdown { .. } => {}
        }
    }

    pub(super) fn bucket_dump(&self) -> Vec<BucketDump> {
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
    pub(super) fn is_bonded(&self, peer: &PeerId, ip: IpAddr) -> bool {
        let max_age = self.config.bond_expiration.as_secs();
        self.db
            .last_pong(&peer.node_id(), ip)
            .is_some_and(|t| self.clock.now_secs().saturating_sub(t) < max_age)
    }

    /// Whether we must PING before asking the node something: it has not PINGed us (and so
    /// has not proven our endpoint) within the bond expiration, or its last FINDNODE went
    /// unanswered. geth re-bonds only after more than 5 failures; but an unanswered FINDNODE
    /// often means the remote never got our PONG (a lost datagram) and drops our requests as
    /// unproven, so waiting for 5 failures strands a node for a whole refresh. One PING is
    /// cheap insurance.
    pub(super) fn needs_bond(&self, node: &NodeRecord) -> bool {
        let id = node.id.node_id();
        let max_age = self.config.bond_expiration.as_secs();
        let recent_ping = self
            .db
            .last_ping(&id, node.address)
            .is_some_and(|t| self.clock.now_secs().saturating_sub(t) < max_age);
        let failures = self.db.findnode_failures(&id, node.address);
        !recent_ping || failures > 0
    }

    pub(super) fn allowed_by_netrestrict(&self, ip: IpAddr) -> bool {
        self.config
            .netrestrict
            .as_ref()
            .is_none_or(|n| n.contains(ip))
    }

    // ---------------------------------------------------------------- sending

    pub(super) fn expiration(&self) -> u64 {
        expiration_after(self.config.packet_expiration)
    }

    /// Registers the request, then sends the packet; on failure the waiter is told.
    pub(super) async fn send_request(
        &mut self,
        node: NodeRecord,
        packet: Packet,
        expect: impl FnOnce([u8; 32]) -> Expect,
        waiter: Waiter,
    ) {
        // Check the bound before signing: under a flood of unknown pingers the signature
        // is the expensive part, and a request we cannot track is not worth sending.
        if self.pending.is_full() {
            self.fail(node, waiter, RequestError::TooManyRequests).await;
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
            self.fail(
                node,
                waiter,
                RequestError::Send(format!("could not send {} to {to}", packet.kind().name())),
            )
            .await;
            return;
        };
        let now = Instant::now();
        let pending = Pending {
            peer: node.id,
            ip: node.address,
            expect: expect(hash),
            sent_at: now,
            waiter,
        };
        if let Err(pending) = self
            .pending
            .insert(pending, now + self.config.request_timeout)
        {
            self.fail(node, pending.waiter, RequestError::TooManyRequests)
                .await;
        }
    }

    pub(super) async fn send_ping(&mut self, node: NodeRecord, waiter: Waiter) {
        let ping = Packet::Ping(Ping {
            version: Ping::VERSION,
            from: self.local.ping_endpoint(),
            to: Endpoint::new(node.address, node.udp_port, 0),
            expiration: self.expiration(),
            enr_seq: Some(self.local.seq()),
        });
        self.send_request(node, ping, |ping_hash| Expect::Pong { ping_hash }, waiter)
            .await;
    }

    pub(super) async fn send_findnode(&mut self, node: NodeRecord, target: PeerId, waiter: Waiter) {
        let packet = Packet::FindNode(FindNode {
            target,
            expiration: self.expiration(),
        });
        self.send_request(
            node,
            packet,
            |_| Expect::Neighbors {
                nodes: Vec::new(),
                received: 0,
            },
            waiter,
        )
        .await;
    }

    pub(super) async fn send_enr_request(&mut self, node: NodeRecord, waiter: Waiter) {
        let packet = Packet::EnrRequest(EnrRequest {
            expiration: self.expiration(),
        });
        self.send_request(
            node,
            packet,
            |request_hash| Expect::Enr { request_hash },
            waiter,
        )
        .await;
    }

    pub(super) async fn reply(&self, packet: &Packet, to: SocketAddr) {
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

    pub(super) async fn revalidate(&mut self) {
        while let Some(request) = self.table.poll_revalidation(Instant::now()) {
            self.send_ping(request.record, Waiter::Revalidation).await;
        }
    }

    pub(super) async fn after_revalidation(&mut self, result: RevalidationResult) {
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
                    self.db.update_node(&record, enr.as_ref());
                }
                if fetch_enr
                    && !self
                        .pending
                        .has(&record.id, record.address, PacketKind::EnrResponse)
                {
                    // Boxed: this path recurses through `fail` → `after_revalidation`.
                    Box::pin(self.send_enr_request(record, Waiter::EnrRefresh { record })).await;
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

    pub(super) fn schedule_refresh(&mut self) {
        let (min, max) = self.config.refresh_interval;
        let wait = if max > min {
            rand::thread_rng().gen_range(min..max)
        } else {
            min
        };
        self.next_refresh = Instant::now() + wait;
    }

    /// Seeds the table from the database and the bootnodes, then runs a self-lookup and a few
    /// random lookups in a task; `RefreshDone` marks the table initialised.
    pub(super) fn start_refresh(&mut self) {
        if self.refreshing {
            return;
        }
        let Some(commands) = self.self_commands.upgrade() else {
            return;
        };
        self.refreshing = true;
        self.last_refresh_start = Some(Instant::now());
        // Far in the future until RefreshDone schedules the next one.
        self.next_refresh = Instant::now() + self.config.refresh_interval.1;
        let now = Instant::now();
        let seeds = self.db.seeds(
            self.config.seed_count,
            self.config.seed_max_age,
            self.clock.now_secs(),
        );
        let seed_count = seeds.len();
        for seed in seeds {
            let _ = self.table.add_found(seed, now);
        }
        for bootnode in self.config.bootnodes.clone() {
            if self.allowed_by_netrestrict(bootnode.address) {
                let _ = self.table.add_found(NodeInfo::new(bootnode), now);
            } else {
                warn!(target: "discv4", node = %bootnode.enode_url(), "bootnode outside --netrestrict ignored");
            }
        }
        debug!(target: "discv4", seeds = seed_count, bootnodes = self.config.bootnodes.len(), "refreshing table");
        let handle = self.handle_template.handle(
            commands.clone(),
            self.events.clone(),
            Arc::clone(&self.metrics),
        );
        let random_lookups = self.config.refresh_random_lookups;
        tokio::spawn(async move {
            let _ = handle.run_lookup(handle.local_id(), |_| {}).await;
            for _ in 0..random_lookups {
                let _ = handle.run_lookup(PeerId::random(), |_| {}).await;
            }
            let _ = commands.send(Command::RefreshDone).await;
        });
    }

    pub(super) fn expire_db(&mut self) {
        if !self.seen_pong {
            return;
        }
        let removed = self.db.expire(self.clock.now_secs());
        if removed > 0 {
            debug!(target: "discv4", removed, "expired node database entries");
        }
    }

    pub(super) fn check_skew(&mut self) {
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

impl HandleTemplate {
    pub(crate) fn handle(
        &self,
        commands: mpsc::Sender<Command>,
        events: broadcast::Sender<TableEvent>,
        metrics: Arc<Metrics>,
    ) -> Discv4Handle {
        Discv4Handle {
            commands,
            events,
            metrics,
            local_id: self.local_id,
            bond_settle_delay: self.bond_settle_delay,
            walk_lookup_spacing: self.walk_lookup_spacing,
        }
    }
}
