//! Assembling and running a node: key, storage, sockets, services.

mod admission;
mod command;
mod connection;
mod dialing;
mod event;
mod handle;
mod listener;
mod memory_file;
mod metrics;
mod pex;
mod service;

pub use event::PeerEvent;
pub use handle::{NodeHandle, NodeStopped};
pub use metrics::{verdict_label, NodeMetrics, VERDICTS};

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::{atomic::AtomicU64, Arc},
};

use rlpx::session::SessionConfig;
use tokio::sync::{broadcast, mpsc};

use crate::net::{BoxedListener, StreamTransport};

use discv4::{
    db::NodeDb,
    service::{self as discv4_service, Discv4Handle},
};
use enode::{enr_to_node_record, Enr, NodeKey, NodeRecord, PeerId};

use crate::{
    config::{NodeConfig, Storage},
    discovery::{Discv4Source, FairMix, DEFAULT_MIX_TIMEOUT},
    error::NodeError,
};

/// A running node. Dropping it without [`Node::shutdown`] stops the services without
/// flushing the database.
#[derive(Debug)]
pub struct Node {
    key: NodeKey,
    discv4: Option<Discv4Handle>,
    p2p: Option<NodeHandle>,
    pex: Option<crate::pex::PexHandle>,
    tcp_addr: Option<SocketAddr>,
    udp_addr: Option<SocketAddr>,
    announced_tcp_port: u16,
    datadir: Option<PathBuf>,
    storage_warning: Option<String>,
}

impl Node {
    /// Loads or creates the key, opens the database, binds the sockets and starts the
    /// services described by `config`.
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        let datadir = match &config.storage {
            Storage::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| NodeError::DataDir {
                    path: dir.clone(),
                    source,
                })?;
                Some(dir.clone())
            }
            Storage::InMemory => None,
        };
        let key = config.key.load(datadir.as_deref())?;
        // TCP first, so that with port 0 discovery can take the same port number (as geth).
        let tcp_listener = match &config.p2p {
            Some(p2p) if p2p.listen => {
                Some(bind_tcp(p2p.transport.as_ref(), config.listen_addr).await?)
            }
            _ => None,
        };
        let tcp_addr = match &tcp_listener {
            Some(listener) => Some(listener.local_addr().map_err(|source| NodeError::Bind {
                protocol: "TCP",
                addr: config.listen_addr,
                source,
            })?),
            None => None,
        };
        let udp_listen = match tcp_addr {
            Some(tcp) if config.listen_addr.port() == 0 => {
                SocketAddr::new(config.listen_addr.ip(), tcp.port())
            }
            _ => config.listen_addr,
        };
        let mut storage_warning = None;
        let mut udp_addr = None;
        let mut discv4 = None;
        let mut announced_tcp_port = 0;
        if let Some(mut discovery) = config.discovery {
            if let Some(tcp) = tcp_addr {
                discovery.tcp_port = tcp.port();
            }
            announced_tcp_port = discovery.tcp_port;
            let db = match &datadir {
                Some(dir) => {
                    let (db, warning) =
                        NodeDb::open(dir).map_err(|source| NodeError::Database {
                            path: dir.clone(),
                            source,
                        })?;
                    storage_warning = warning.map(|w| w.to_string());
                    db
                }
                None => NodeDb::in_memory().map_err(NodeError::MemoryDatabase)?,
            };
            let bind_error = |source| NodeError::Bind {
                protocol: "UDP",
                addr: udp_listen,
                source,
            };
            // A simulation injects its own datagram socket; otherwise bind UDP.
            let transport = match config.discovery_transport {
                Some(transport) => transport,
                None => discv4_service::bind_udp(udp_listen)
                    .await
                    .map_err(bind_error)?,
            };
            udp_addr = Some(transport.local_addr().map_err(bind_error)?);
            discv4 = Some(discv4_service::spawn(
                discovery,
                *key.secret_key(),
                transport,
                db,
            )?);
        }
        let mut pex = None;
        let p2p = match config.p2p {
            Some(mut p2p) => {
                let started = pex::start(
                    &key,
                    &mut p2p,
                    discv4.as_ref(),
                    tcp_addr,
                    datadir.as_deref(),
                )
                .await?;
                let source = started.map(|started| {
                    pex = Some(started.handle);
                    started.source
                });
                Some(start_p2p(
                    &key,
                    p2p,
                    tcp_listener,
                    discv4.as_ref(),
                    datadir.as_deref(),
                    source,
                ))
            }
            None => None,
        };
        Ok(Self {
            key,
            discv4,
            p2p,
            pex,
            tcp_addr,
            udp_addr,
            announced_tcp_port,
            datadir,
            storage_warning,
        })
    }

    /// The node key.
    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// Our public identity.
    pub fn peer_id(&self) -> PeerId {
        self.key.peer_id()
    }

    /// The discovery service, when discovery runs.
    pub fn discv4(&self) -> Option<&Discv4Handle> {
        self.discv4.as_ref()
    }

    /// The peer set: static and trusted peers, peer list and events, disconnects. `None`
    /// when the node runs discovery only.
    pub fn p2p(&self) -> Option<&NodeHandle> {
        self.p2p.as_ref()
    }

    /// The PEX service, when `P2pConfig::pex` was set.
    pub fn pex(&self) -> Option<&crate::pex::PexHandle> {
        self.pex.as_ref()
    }

    /// The bound TCP address of the server.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The bound UDP address of discovery.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    /// The data directory in use; `None` with [`Storage::InMemory`].
    pub fn datadir(&self) -> Option<&Path> {
        self.datadir.as_deref()
    }

    /// The warning of a damaged database that was set aside at start, if any: operators
    /// should see it once.
    pub fn storage_warning(&self) -> Option<&str> {
        self.storage_warning.as_deref()
    }

    /// Our signed record and the contact record derived from it. Until a routable IP is
    /// known (listening on an unspecified address without an external IP), the contact
    /// record carries the listen address, loopback for an unspecified one.
    pub async fn local_record(&self) -> Option<(NodeRecord, Enr)> {
        let handle = self.discv4.as_ref()?;
        let enr = handle.local_enr().await.ok()?;
        let udp = self.udp_addr?;
        let record = enr_to_node_record(&enr).unwrap_or_else(|_| NodeRecord {
            address: printable_ip(udp.ip()),
            udp_port: udp.port(),
            tcp_port: self.announced_tcp_port,
            id: self.peer_id(),
        });
        Some((record, enr))
    }

    /// Our `enode://` URL at the listen address (loopback when listening on every
    /// interface), for logs and for other nodes on this machine.
    pub fn enode_url(&self) -> String {
        let ip = self
            .udp_addr
            .or(self.tcp_addr)
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| printable_ip(a.ip()));
        let tcp = self.tcp_addr.map_or(self.announced_tcp_port, |a| a.port());
        let udp = self.udp_addr.map_or(0, |a| a.port());
        self.key.enode_url(ip, tcp, udp)
    }

    /// Disconnects every peer (0x08), stops the services and flushes the database.
    pub async fn shutdown(self) {
        if let Some(p2p) = self.p2p {
            p2p.shutdown().await;
        }
        if let Some(pex) = self.pex {
            // After the sessions: the book's last save includes their outcomes.
            pex.shutdown().await;
        }
        if let Some(handle) = self.discv4 {
            handle.shutdown().await;
        }
    }
}

fn printable_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(v6) if v6.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        other => other,
    }
}

async fn bind_tcp(
    transport: &dyn StreamTransport,
    addr: SocketAddr,
) -> Result<BoxedListener, NodeError> {
    transport
        .bind(addr)
        .await
        .map_err(|source| NodeError::Bind {
            protocol: "TCP",
            addr,
            source,
        })
}

/// Command and event queue sizes of the node service.
const COMMAND_QUEUE: usize = 64;
const EVENT_CAPACITY: usize = 1024;
const CONN_EVENT_QUEUE: usize = 256;

fn start_p2p(
    key: &NodeKey,
    config: crate::config::P2pConfig,
    listener: Option<BoxedListener>,
    discv4: Option<&Discv4Handle>,
    datadir: Option<&Path>,
    pex_source: Option<Box<dyn crate::discovery::CandidateSource + Send>>,
) -> NodeHandle {
    let mut session = SessionConfig::new(
        config.client_id.clone(),
        config.protocols.iter().map(|p| p.spec()).collect(),
    );
    session.handshake_timeout = config.handshake_timeout;
    session.dial_timeout = config.dial_timeout;
    if let Some(addr) = listener.as_ref().and_then(|l| l.local_addr().ok()) {
        session.listen_port = addr.port();
    }
    let (conn_tx, conn_events) = mpsc::channel(CONN_EVENT_QUEUE);
    let ctx = connection::ConnContext {
        key: Arc::new(key.clone()),
        session: Arc::new(session),
        events: conn_tx,
        transport: Arc::clone(&config.transport),
    };
    let next_conn = Arc::new(AtomicU64::new(1));
    let metrics = Arc::new(metrics::NodeMetrics::default());
    let listener = listener.map(|listener| {
        let mut inbound = config.inbound.clone();
        inbound.max_pending = config.max_pending;
        tokio::spawn(listener::accept_loop(
            listener,
            ctx.clone(),
            Arc::clone(&next_conn),
            inbound,
            Arc::clone(&metrics),
        ))
    });
    let mut mix = FairMix::new(DEFAULT_MIX_TIMEOUT);
    if let Some(handle) = discv4.filter(|_| !config.no_dial && config.dial_discovered) {
        let source = Discv4Source::new(handle, config.enr_filter.clone());
        // The first source of an empty mix always fits.
        let _ = mix.add_source(Box::new(source));
    }
    if let Some(source) = pex_source.filter(|_| !config.no_dial) {
        // Two sources never exceed the mix's limit.
        let _ = mix.add_source(source);
    }
    let (command_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let (events, _) = broadcast::channel(EVENT_CAPACITY);
    let handle = NodeHandle::new(
        key.peer_id(),
        command_tx,
        events.clone(),
        Arc::clone(&metrics),
    );
    let service = service::NodeService::new(
        &config,
        service::ServiceParts {
            ctx,
            next_conn,
            conn_events,
            commands,
            events,
            mix,
            discv4: discv4.cloned(),
            memory_file: datadir.map(memory_file::MemoryFile::in_dir),
            listener,
            metrics,
        },
    );
    tokio::spawn(service.run());
    handle
}
