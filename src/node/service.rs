//! The node service: one task that owns the peer set, the dial planner and the trusted set,
//! and decides every admission. Connection and peer tasks only do I/O and report here.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use discv4::service::Discv4Handle;
use enode::{NodeRecord, PeerId};
use rlpx::{p2p::DisconnectReason, verdict::Verdict};
use tokio::{
    sync::{broadcast, mpsc},
    task::JoinHandle,
    time::Instant,
};
use tracing::{debug, info, warn};

use super::{
    admission::{self, Candidate, Duplicate, Limits, PeerCounts},
    command::Command,
    connection::{self, ConnContext, ConnEvent, ConnId},
    dialing::{DialWork, Dialing},
    event::PeerEvent,
    memory_file::MemoryFile,
    metrics::NodeMetrics,
};
use crate::{
    config::P2pConfig,
    discovery::FairMix,
    peer::{spawn_peer, PeerControl, PeerEnd, DISCONNECT_GRACE},
    protocol::{Direction, PeerInfo, Protocol, Traffic},
};

/// How often the dial memory is written while the node runs (and once at shutdown).
const MEMORY_SAVE_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Resolutions of static nodes in flight are bounded by the scheduler's dial slots; this
/// is only the queue of their answers.
const RESOLUTION_QUEUE: usize = 64;

/// The answer to a resolution the scheduler asked for.
#[derive(Debug)]
enum Resolution {
    LookedUp(PeerId, Option<NodeRecord>),
    Dns(PeerId, Vec<IpAddr>),
}

struct PeerEntry {
    conn: ConnId,
    info: PeerInfo,
    control: PeerControl,
}

/// Everything the service owns.
pub(crate) struct NodeService {
    local: PeerId,
    limits: Limits,
    protocols: Arc<[Arc<dyn Protocol>]>,
    no_dial: bool,
    ctx: ConnContext,
    next_conn: Arc<std::sync::atomic::AtomicU64>,
    conn_events: mpsc::Receiver<ConnEvent>,
    peer_ends_tx: mpsc::UnboundedSender<(ConnId, PeerId, PeerEnd)>,
    peer_ends: mpsc::UnboundedReceiver<(ConnId, PeerId, PeerEnd)>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<PeerEvent>,
    peers: HashMap<PeerId, PeerEntry>,
    dialing: Dialing,
    trusted: HashSet<PeerId>,
    mix: FairMix,
    discv4: Option<Discv4Handle>,
    resolutions_tx: mpsc::Sender<Resolution>,
    resolutions: mpsc::Receiver<Resolution>,
    memory_file: Option<MemoryFile>,
    next_memory_save: Instant,
    listener: Option<JoinHandle<()>>,
    metrics: Arc<NodeMetrics>,
}

/// What [`NodeService::new`] needs besides the configuration.
pub(crate) struct ServiceParts {
    pub(crate) ctx: ConnContext,
    pub(crate) next_conn: Arc<std::sync::atomic::AtomicU64>,
    pub(crate) conn_events: mpsc::Receiver<ConnEvent>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) events: broadcast::Sender<PeerEvent>,
    /// The candidate sources, already holding discv4's when the node dials discovered nodes.
    pub(crate) mix: FairMix,
    /// Discovery, for looking up static nodes without an address.
    pub(crate) discv4: Option<Discv4Handle>,
    /// Where the dial memory lives, with a data directory.
    pub(crate) memory_file: Option<MemoryFile>,
    pub(crate) listener: Option<JoinHandle<()>>,
    pub(crate) metrics: Arc<NodeMetrics>,
}

impl NodeService {
    pub(crate) fn new(config: &P2pConfig, parts: ServiceParts) -> Self {
        let local = parts.ctx.key.peer_id();
        let mut dialing = Dialing::new(local, config.dial_config());
        for node in &config.static_nodes {
            dialing.add_static(node.clone());
        }
        if let Some(file) = &parts.memory_file {
            match file.load() {
                Ok(Some(snapshot)) => {
                    let restored = dialing.restore_memory(&snapshot, Instant::now(), unix_secs());
                    debug!(target: "kadnode::node", restored, path = %file.path().display(), "dial memory loaded");
                }
                Ok(None) => {}
                Err(error) => {
                    warn!(target: "kadnode::node", %error, "dial memory not loaded; starting without it");
                }
            }
        }
        let (peer_ends_tx, peer_ends) = mpsc::unbounded_channel();
        let (resolutions_tx, resolutions) = mpsc::channel(RESOLUTION_QUEUE);
        Self {
            local,
            limits: Limits {
                max_peers: config.max_peers,
                max_inbound: config.max_inbound(),
                max_dialed: config.max_dialed(),
            },
            protocols: config.protocols.clone().into(),
            no_dial: config.no_dial,
            ctx: parts.ctx,
            next_conn: parts.next_conn,
            conn_events: parts.conn_events,
            peer_ends_tx,
            peer_ends,
            commands: parts.commands,
            events: parts.events,
            peers: HashMap::new(),
            dialing,
            trusted: config.trusted_nodes.iter().copied().collect(),
            mix: parts.mix,
            discv4: parts.discv4,
            resolutions_tx,
            resolutions,
            memory_file: parts.memory_file,
            next_memory_save: Instant::now() + MEMORY_SAVE_INTERVAL,
            listener: parts.listener,
            metrics: parts.metrics,
        }
    }

    /// Runs until a shutdown command or until every handle is dropped.
    pub(crate) async fn run(mut self) {
        let done = loop {
            if !self.no_dial {
                self.do_dial_work();
            }
            self.update_slot_gauge();
            let now = Instant::now();
            if self.memory_file.is_some() && now >= self.next_memory_save {
                self.next_memory_save = now + MEMORY_SAVE_INTERVAL;
                let _ = self.save_memory();
            }
            let memory_save = self.memory_file.as_ref().map(|_| self.next_memory_save);
            let wake = self
                .dialing
                .next_wake(now)
                .into_iter()
                .chain(memory_save)
                .min();
            let want_candidates =
                !self.no_dial && !self.mix.is_empty() && self.dialing.wants_candidates();
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(reply)) => break Some(reply),
                    Some(command) => self.on_command(command),
                    None => break None,
                },
                Some(event) = self.conn_events.recv() => self.on_conn_event(event),
                Some((conn, id, end)) = self.peer_ends.recv() => self.on_peer_end(conn, id, end),
                mixed = self.mix.next_candidate(), if want_candidates => {
                    self.dialing.offer(mixed, Instant::now());
                }
                Some(resolution) = self.resolutions.recv() => self.on_resolution(resolution),
                () = sleep_until(wake), if wake.is_some() => {}
            }
        };
        self.shutdown().await;
        if let Some(reply) = done {
            let _ = reply.send(());
        }
    }

    fn do_dial_work(&mut self) {
        for work in self.dialing.plan(Instant::now()) {
            match work {
                DialWork::Dial { node, is_static } => {
                    let conn = self.next_conn_id();
                    debug!(target: "kadnode::node", id = ?node.id, is_static, "dialing");
                    self.metrics.dial_started();
                    tokio::spawn(connection::dial(self.ctx.clone(), conn, node));
                }
                DialWork::Report {
                    source,
                    id,
                    outcome,
                } => {
                    self.mix.report(source, &id, outcome);
                }
                DialWork::LookUp(id) => self.look_up(id),
                DialWork::ResolveDns { id, host } => self.resolve_dns(id, host),
            }
        }
    }

    /// Finds static node `id` through discovery (without discovery: not found, and the
    /// scheduler backs the lookup off).
    fn look_up(&self, id: PeerId) {
        let answers = self.resolutions_tx.clone();
        let discv4 = self.discv4.clone();
        tokio::spawn(async move {
            let found = match discv4 {
                Some(discv4) => discv4
                    .lookup(id)
                    .await
                    .ok()
                    .and_then(|nodes| nodes.into_iter().find(|n| n.id == id)),
                None => None,
            };
            debug!(target: "kadnode::node", ?id, found = found.is_some(), "static node looked up");
            let _ = answers.send(Resolution::LookedUp(id, found)).await;
        });
    }

    /// Resolves a static node's DNS name, bounded by [`enode::RESOLVE_TIMEOUT`].
    fn resolve_dns(&self, id: PeerId, host: String) {
        let answers = self.resolutions_tx.clone();
        tokio::spawn(async move {
            let lookup = tokio::net::lookup_host((host.as_str(), 0));
            let addresses: Vec<IpAddr> = match tokio::time::timeout(enode::RESOLVE_TIMEOUT, lookup)
                .await
            {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                Ok(Err(error)) => {
                    debug!(target: "kadnode::node", ?id, %host, %error, "static node's name did not resolve");
                    Vec::new()
                }
                Err(_) => {
                    debug!(target: "kadnode::node", ?id, %host, "static node's name timed out");
                    Vec::new()
                }
            };
            let _ = answers.send(Resolution::Dns(id, addresses)).await;
        });
    }

    fn on_resolution(&mut self, resolution: Resolution) {
        let now = Instant::now();
        match resolution {
            Resolution::LookedUp(id, found) => self.dialing.looked_up(&id, found, now),
            Resolution::Dns(id, addresses) => self.dialing.dns_resolved(&id, &addresses, now),
        }
    }

    /// Writes the dial memory off the service task (the file can be megabytes); the
    /// returned task ends when it is written.
    fn save_memory(&self) -> Option<JoinHandle<()>> {
        let file = self.memory_file.clone()?;
        let snapshot = self.dialing.memory_snapshot(Instant::now(), unix_secs());
        Some(tokio::task::spawn_blocking(move || {
            if let Err(error) = file.save(&snapshot) {
                warn!(target: "kadnode::node", %error, "dial memory not saved");
            }
        }))
    }

    fn update_slot_gauge(&self) {
        let (used, total) = self.dialing.slots();
        self.metrics.set_dialed_slots(used, total);
    }

    fn next_conn_id(&self) -> ConnId {
        self.next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn counts(&self) -> PeerCounts {
        let inbound = self
            .peers
            .values()
            .filter(|p| p.info.slot == Direction::Inbound)
            .count();
        PeerCounts {
            total: self.peers.len(),
            inbound,
            outbound: self.peers.len() - inbound,
        }
    }

    fn admission(
        &self,
        id: PeerId,
        direction: Direction,
    ) -> Result<Option<Duplicate>, DisconnectReason> {
        let privileged = self.trusted.contains(&id)
            || (direction == Direction::Outbound && self.dialing.is_static(&id));
        let existing = self.peers.get(&id).map(|p| p.info.direction);
        admission::check(
            self.local,
            self.limits,
            self.counts(),
            Candidate {
                id,
                direction,
                privileged,
            },
            existing,
        )
    }

    fn on_conn_event(&mut self, event: ConnEvent) {
        match event {
            ConnEvent::Authenticated {
                id,
                direction,
                remote_ip,
                reply,
            } => {
                let now = Instant::now();
                let verdict = if direction == Direction::Inbound
                    && !self.trusted.contains(&id)
                    && self.dialing.is_banned(&id, remote_ip, now)
                {
                    // A banned peer is turned away before the Hellos: the ban would be
                    // worthless if it could simply dial us instead.
                    debug!(target: "kadnode::node", ?id, %remote_ip, "banned peer refused");
                    Err(DisconnectReason::DisconnectRequested)
                } else {
                    self.admission(id, direction).map(|_| ())
                };
                match (&verdict, direction) {
                    (Ok(()), Direction::Inbound) => self.dialing.inbound_pending(id, now),
                    (Err(reason), Direction::Outbound) => self.outbound_refused(id, *reason),
                    _ => {}
                }
                let _ = reply.send(verdict);
            }
            ConnEvent::Established {
                conn,
                direction,
                remote_addr,
                session,
            } => {
                let id = session.remote_id;
                if direction == Direction::Inbound {
                    self.dialing.inbound_done(&id);
                }
                match self.admission(id, direction) {
                    Err(reason) => {
                        debug!(target: "kadnode::node", ?id, %reason, "refused after Hello");
                        self.metrics
                            .connection_failed(direction, connection::refusal_verdict(reason));
                        session.connection.disconnect(reason);
                        let verdict = connection::refusal_verdict(reason);
                        if direction == Direction::Outbound {
                            self.outbound_refused(id, reason);
                        }
                        let _ = self.events.send(PeerEvent::ConnectionFailed {
                            id: Some(id),
                            direction,
                            verdict,
                            detail: format!("refused after Hello: {reason}"),
                        });
                    }
                    Ok(duplicate) => {
                        let mut slot = direction;
                        if duplicate == Some(Duplicate::ReplaceExisting) {
                            if let Some(old) = self.peers.remove(&id) {
                                // The peer keeps the slot it first took (see `PeerInfo::slot`).
                                slot = old.info.slot;
                                self.replaced(id, old);
                            }
                        }
                        self.add_peer(conn, direction, slot, remote_addr, *session);
                    }
                }
            }
            ConnEvent::Failed {
                conn,
                id,
                direction,
                remote_ip,
                verdict,
                detail,
            } => {
                self.metrics.connection_failed(direction, verdict);
                debug!(target: "kadnode::node", conn, ?id, %direction, ?verdict, %detail, "connection failed");
                match (id, direction) {
                    (Some(id), Direction::Outbound) => {
                        self.dialing.dial_failed(id, verdict, Instant::now());
                    }
                    (Some(id), Direction::Inbound) if !self.trusted.contains(&id) => {
                        self.dialing
                            .inbound_failed(id, remote_ip, verdict, Instant::now());
                    }
                    (Some(id), Direction::Inbound) => self.dialing.inbound_done(&id),
                    (None, Direction::Inbound) => {}
                    (None, Direction::Outbound) => {}
                }
                let _ = self.events.send(PeerEvent::ConnectionFailed {
                    id,
                    direction,
                    verdict,
                    detail,
                });
            }
        }
    }

    /// Our admission refused a connection we dialed. Full slots are our own doing (they
    /// filled while the dial ran): the dial is abandoned without blame. Anything else
    /// (dialed ourselves, already connected) fails the dial with its verdict.
    fn outbound_refused(&mut self, id: PeerId, reason: DisconnectReason) {
        let now = Instant::now();
        if reason == DisconnectReason::TooManyPeers {
            self.dialing.dial_abandoned(id, now);
        } else {
            self.dialing
                .dial_failed(id, connection::refusal_verdict(reason), now);
        }
    }

    /// A simultaneous dial resolved in favour of the new connection: the old one's session
    /// ends now. Applications see it dropped before the new session is added; the peer stays
    /// in the dial scheduler's set (it never left), so no source hears of a disconnect.
    fn replaced(&mut self, id: PeerId, old: PeerEntry) {
        let reason = DisconnectReason::AlreadyConnected;
        old.control.disconnect(reason);
        self.metrics.peer_removed(&old.info, Some(reason), false);
        debug!(target: "kadnode::node", ?id, old = %old.info.direction, "connection replaced by the simultaneous dial's winner");
        let _ = self.events.send(PeerEvent::Dropped {
            id,
            end: PeerEnd {
                reason: Some(reason),
                by_remote: false,
                verdict: Verdict::Busy,
                detail: "replaced by the other connection of a simultaneous dial".to_owned(),
            },
        });
    }

    fn add_peer(
        &mut self,
        conn: ConnId,
        direction: Direction,
        slot: Direction,
        remote_addr: std::net::SocketAddr,
        session: rlpx::Session,
    ) {
        let id = session.remote_id;
        let shared: Vec<_> = session.shared.iter().map(|c| c.capability()).collect();
        let traffic: Vec<Arc<Traffic>> = shared.iter().map(|_| Arc::default()).collect();
        let info = PeerInfo {
            id,
            client_id: session.remote_hello.client_id.clone(),
            capabilities: session.remote_hello.capabilities.clone(),
            shared,
            remote_addr,
            direction,
            slot,
            is_static: self.dialing.is_static(&id),
            is_trusted: self.trusted.contains(&id),
            connected_since: SystemTime::now(),
            traffic: traffic.into(),
        };
        let ends = self.peer_ends_tx.clone();
        let control = spawn_peer(session, info.clone(), &self.protocols, move |end| {
            let _ = ends.send((conn, id, end));
        });
        info!(target: "kadnode::node", ?id, %direction, client = %info.client_id, "peer added");
        self.metrics.peer_added(direction, slot);
        self.dialing
            .peer_added(id, remote_addr, direction, slot, Instant::now());
        let _ = self.events.send(PeerEvent::Added(info.clone()));
        self.peers.insert(
            id,
            PeerEntry {
                conn,
                info,
                control,
            },
        );
    }

    fn on_peer_end(&mut self, conn: ConnId, id: PeerId, end: PeerEnd) {
        let current = self.peers.get(&id).is_some_and(|p| p.conn == conn);
        if current {
            if let Some(entry) = self.peers.remove(&id) {
                self.metrics
                    .peer_removed(&entry.info, end.reason, end.by_remote);
                self.dialing.peer_removed(&id, end.verdict, Instant::now());
            }
        }
        if !current {
            // A connection replaced by a simultaneous dial's winner: its drop was announced
            // when it was replaced, and the peer is still here.
            debug!(target: "kadnode::node", ?id, conn, "replaced connection closed");
            return;
        }
        info!(target: "kadnode::node", ?id, reason = ?end.reason, by_remote = end.by_remote, verdict = ?end.verdict, "peer dropped");
        let _ = self.events.send(PeerEvent::Dropped { id, end });
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::AddSource(source, reply) => {
                let _ = reply.send(self.mix.add_source(source));
            }
            Command::RemoveSource(id, reply) => {
                let _ = reply.send(self.mix.remove_source(id).is_some());
            }
            Command::MarkUseful(id) => self.dialing.peer_useful(&id),
            Command::AddStatic(node) => {
                if let Some(peer) = self.peers.get_mut(&node.id) {
                    peer.info.is_static = true;
                }
                self.dialing.add_static(node);
            }
            Command::RemoveStatic(id, reply) => {
                let removed = self.dialing.remove_static(&id);
                if removed {
                    if let Some(peer) = self.peers.get(&id) {
                        peer.control
                            .disconnect(DisconnectReason::DisconnectRequested);
                    }
                }
                let _ = reply.send(removed);
            }
            Command::AddTrusted(id) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.info.is_trusted = true;
                }
                self.trusted.insert(id);
            }
            Command::RemoveTrusted(id, reply) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.info.is_trusted = false;
                }
                let _ = reply.send(self.trusted.remove(&id));
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers.values().map(|p| p.info.clone()).collect());
            }
            Command::Disconnect(id, reason, reply) => {
                let found = self.peers.get(&id).map(|p| p.control.disconnect(reason));
                let _ = reply.send(found.is_some());
            }
            Command::Shutdown(_) => {}
        }
    }

    /// Every peer gets Disconnect 0x08 and a bounded time to read it; no new connection is
    /// accepted or dialed meanwhile.
    async fn shutdown(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
        if let Some(saving) = self.save_memory() {
            let _ = saving.await;
        }
        for peer in self.peers.values() {
            peer.control.disconnect(DisconnectReason::ClientQuitting);
        }
        let deadline = Instant::now() + DISCONNECT_GRACE + DISCONNECT_GRACE;
        while !self.peers.is_empty() {
            match tokio::time::timeout_at(deadline, self.peer_ends.recv()).await {
                Ok(Some((conn, id, end))) => self.on_peer_end(conn, id, end),
                _ => break,
            }
        }
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
