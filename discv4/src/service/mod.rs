//! The discv4 service: a task that owns the socket, the table, the node database and our
//! record, with ingress workers verifying packets in parallel and a cloneable
//! [`Discv4Handle`] to talk to it.
//!
//! ```text
//!  socket ──► ingress workers (rate limit, verify, answer PING) ──► service task ◄── handles
//!                                                                   (table, db, requests, timers)
//! ```

mod clock;
mod command;
pub mod config;
mod core;
pub mod handle;
mod inbound;
mod ingress;
pub mod local;
pub mod metrics;
mod pending;
pub mod predictor;
pub mod ratelimit;
pub mod skew;
mod store;
mod walk;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use rand::{rngs::StdRng, SeedableRng};
use secp256k1::SecretKey;
use tokio::{
    sync::{broadcast, mpsc},
    time::Instant,
};

pub use self::{
    config::Discv4Config,
    handle::{BucketDump, Discv4Handle, EntryDump, PongInfo, RequestError},
    local::Enr,
    metrics::{DropReason, Metrics},
    pending::Reply,
    ratelimit::RateLimitConfig,
    walk::RandomWalk,
};
use crate::{db::NodeDb, table::Table, transport::DatagramTransport};
use enode::PeerId;

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

/// Starts the discovery service on `transport` and returns its handle. The service runs until
/// every handle is dropped or [`Discv4Handle::shutdown`] is called; it begins with a refresh
/// (database seeds and bootnodes, then lookups).
pub fn spawn(
    config: Discv4Config,
    key: SecretKey,
    transport: Arc<dyn DatagramTransport>,
    db: NodeDb,
) -> Result<Discv4Handle, Discv4Error> {
    let listen = transport.local_addr().map_err(Discv4Error::LocalAddr)?;
    let local_id = PeerId::from_secret_key(&key);
    let mut db = store::Store::new(db, local_id.node_id());
    let local = LocalNode::new(
        key,
        listen,
        config.external_ip,
        config.tcp_port,
        db.local_seq(),
        config.enr_entries.clone(),
    )?;
    db.set_local_seq(local.seq());

    let (command_tx, command_rx) = mpsc::channel(256);
    let (ingress_tx, ingress_rx) = mpsc::channel(config.ingress_queue.max(1));
    let (events, _) = broadcast::channel(config.event_capacity.max(1));
    let metrics = Arc::new(Metrics::default());
    let skew = Arc::new(skew::SkewDetector::default());

    let context = Arc::new(ingress::IngressContext {
        transport: Arc::clone(&transport),
        local: local.shared(),
        rate_limit: config.rate_limit,
        limiter: Mutex::new(ratelimit::IpRateLimiter::new(config.rate_limit)),
        metrics: Arc::clone(&metrics),
        skew: Arc::clone(&skew),
        packet_expiration: config.packet_expiration,
        to_service: ingress_tx,
        next_ticket: tokio::sync::Mutex::new(0),
        next_handover: tokio::sync::watch::channel(0).0,
    });
    let workers = (0..config.ingress_workers.max(1))
        .map(|_| tokio::spawn(ingress::run_worker(Arc::clone(&context))))
        .collect();
    drop(context);

    let template = core::HandleTemplate {
        local_id,
        bond_settle_delay: config.bond_settle_delay,
        walk_lookup_spacing: config.walk_lookup_spacing,
    };
    let handle = template.handle(command_tx.clone(), events.clone(), Arc::clone(&metrics));
    let table = Table::new(
        local_id.node_id(),
        config.table.clone(),
        StdRng::from_entropy(),
    );
    let ping_back_cap = config.max_ping_backs_per_second;
    let ping_backs = (ping_back_cap > 0)
        .then(|| ratelimit::TokenBucket::new(ping_back_cap, ping_back_cap, Instant::now()));
    let service = core::Service {
        predictor: predictor::EndpointPredictor::default(),
        pending: pending::PendingRequests::new(config.max_pending_requests),
        config,
        transport,
        local,
        table,
        db,
        seen_pong: false,
        ping_backs,
        clock: clock::UnixClock::start(),
        metrics,
        skew,
        events,
        commands: command_rx,
        self_commands: command_tx.downgrade(),
        ingress: ingress_rx,
        workers,
        handle_template: template,
        refreshing: false,
        last_refresh_start: None,
        next_refresh: Instant::now(),
        last_skew_warning: None,
    };
    drop(command_tx);
    tokio::spawn(service.run());
    Ok(handle)
}

use local::LocalNode;

/// Binds a UDP socket for the service.
pub async fn bind_udp(addr: SocketAddr) -> std::io::Result<Arc<dyn DatagramTransport>> {
    let socket = tokio::net::UdpSocket::bind(addr).await?;
    Ok(Arc::new(socket))
}
