//! Assembling and running a node: key, storage, sockets, services.

mod admission;

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
};

use discv4::{
    db::NodeDb,
    service::{self, Discv4Handle},
};
use enode::{enr_to_node_record, Enr, NodeKey, NodeRecord, PeerId};

use crate::{
    config::{NodeConfig, Storage},
    error::NodeError,
};

/// A running node. Dropping it without [`Node::shutdown`] stops the services without
/// flushing the database.
#[derive(Debug)]
pub struct Node {
    key: NodeKey,
    discv4: Option<Discv4Handle>,
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
        let Some(discovery) = config.discovery else {
            return Ok(Self {
                key,
                discv4: None,
                udp_addr: None,
                announced_tcp_port: 0,
                datadir,
                storage_warning: None,
            });
        };
        let (db, storage_warning) = match &datadir {
            Some(dir) => {
                let (db, warning) = NodeDb::open(dir).map_err(|source| NodeError::Database {
                    path: dir.clone(),
                    source,
                })?;
                (db, warning.map(|w| w.to_string()))
            }
            None => (
                NodeDb::in_memory().map_err(NodeError::MemoryDatabase)?,
                None,
            ),
        };
        let transport = service::bind_udp(config.listen_addr)
            .await
            .map_err(|source| NodeError::Bind {
                protocol: "UDP",
                addr: config.listen_addr,
                source,
            })?;
        let udp_addr = transport.local_addr().map_err(|source| NodeError::Bind {
            protocol: "UDP",
            addr: config.listen_addr,
            source,
        })?;
        let announced_tcp_port = discovery.tcp_port;
        let handle = service::spawn(discovery, *key.secret_key(), transport, db)?;
        Ok(Self {
            key,
            discv4: Some(handle),
            udp_addr: Some(udp_addr),
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
        let (ip, udp) = self
            .udp_addr
            .map_or((IpAddr::V4(Ipv4Addr::LOCALHOST), 0), |a| {
                (printable_ip(a.ip()), a.port())
            });
        self.key.enode_url(ip, self.announced_tcp_port, udp)
    }

    /// Stops the services and flushes the database.
    pub async fn shutdown(self) {
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
