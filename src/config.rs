//! What a node is: where it listens, where it keeps its state, which key it has, and how it
//! discovers others. Every field has a documented default ([`NodeConfig::default`]).

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use discv4::service::Discv4Config;
use enode::{NodeKey, PeerId};

use crate::{
    datadir,
    error::NodeError,
    net::{InboundConfig, StreamTransport, TcpTransport},
    protocol::Protocol,
};

/// The listen address without configuration: every interface, port 30303 (geth's).
pub const DEFAULT_LISTEN_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 30303);

/// Where the node keeps its key and its node database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A data directory holding `nodekey` and `nodes.sqlite` (created if missing). A damaged
    /// database is set aside and replaced by an empty one, with a warning
    /// ([`crate::Node::storage_warning`]).
    Dir(PathBuf),
    /// Nothing on disk: the node forgets everything when it stops (tests, probes).
    InMemory,
}

/// Which key is the node's identity.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `<datadir>/nodekey`, created on first start; a fresh random key with
    /// [`Storage::InMemory`].
    FromStorage,
    /// This key.
    Key(NodeKey),
    /// The key in this `nodekey` file (64 hex characters), which must exist.
    File(PathBuf),
}

impl KeySource {
    /// The key this source names; with [`KeySource::FromStorage`] and a data directory,
    /// `<datadir>/nodekey` is created on first use.
    pub fn load(&self, datadir: Option<&Path>) -> Result<NodeKey, NodeError> {
        Ok(match (self, datadir) {
            (Self::Key(key), _) => key.clone(),
            (Self::File(path), _) => NodeKey::load(path)?,
            (Self::FromStorage, Some(dir)) => {
                std::fs::create_dir_all(dir).map_err(|source| NodeError::DataDir {
                    path: dir.to_owned(),
                    source,
                })?;
                NodeKey::load_or_generate(datadir::nodekey_path(dir))?
            }
            (Self::FromStorage, None) => NodeKey::generate(),
        })
    }
}

/// A node's configuration.
#[derive(Clone)]
pub struct NodeConfig {
    /// UDP address of discovery. Default [`DEFAULT_LISTEN_ADDR`].
    pub listen_addr: SocketAddr,
    /// Key and database location. Default [`Storage::InMemory`].
    pub storage: Storage,
    /// The node key. Default [`KeySource::FromStorage`].
    pub key: KeySource,
    /// Discovery v4 settings (bootnodes, netrestrict, external IP, announced TCP port, table
    /// and timer tuning); `None` runs no discovery. Default: discv4 with no bootnodes.
    pub discovery: Option<Discv4Config>,
    /// The devp2p server and dialer (TCP on the same port number as discovery); `None` runs
    /// discovery only, as a bootnode does. Default `None`.
    pub p2p: Option<P2pConfig>,
    /// Discovery's datagram socket; `None` binds UDP on `listen_addr`. Simulations pass a
    /// socket of discv4's simulated network.
    pub discovery_transport: Option<Arc<dyn discv4::transport::DatagramTransport>>,
}

/// The default number of peers (geth's `--maxpeers`).
pub const DEFAULT_MAX_PEERS: usize = 50;
/// The default share of dialed peers: one in three (geth's `DialRatio`).
pub const DEFAULT_DIAL_RATIO: usize = 3;
/// The default number of concurrent inbound handshakes (geth's `--maxpendpeers`).
pub const DEFAULT_MAX_PENDING: usize = 50;

/// The server and dialer: who to accept, who to dial, and which protocols to run.
#[derive(Clone)]
pub struct P2pConfig {
    /// Client name sent in our Hello. Default `kadnode/v<version>`.
    pub client_id: String,
    /// The protocols run on every peer that shares them; a peer sharing none is refused as
    /// useless (Disconnect 0x03).
    pub protocols: Vec<Arc<dyn Protocol>>,
    /// All peers, inbound and dialed; trusted peers and static peers we dial come on top.
    /// Default [`DEFAULT_MAX_PEERS`].
    pub max_peers: usize,
    /// `max_peers / dial_ratio` slots are for peers we dial, the rest for inbound ones.
    /// Default [`DEFAULT_DIAL_RATIO`].
    pub dial_ratio: usize,
    /// Concurrent inbound handshakes. Default [`DEFAULT_MAX_PENDING`].
    pub max_pending: usize,
    /// Nodes we keep connected: dialed first and again after every disconnect. A static
    /// node may be given by DNS name (resolved before every dial, 5 s bound) or by id alone
    /// (found through discovery, retried 60 s doubling to 1 h); an [`enode::NodeRecord`] converts
    /// with `.into()`.
    pub static_nodes: Vec<crate::dial::StaticNode>,
    /// Nodes admitted even when the node is full.
    pub trusted_nodes: Vec<PeerId>,
    /// Accept inbound peers only; never dial (geth's `--nodial`). Default false.
    pub no_dial: bool,
    /// Dial nodes found by discovery (besides static nodes). Default true; false is geth's
    /// `--nodiscover` for the dialer (discovery itself may still answer others).
    pub dial_discovered: bool,
    /// Asks every node discovery finds for its ENR (16 at once) and dials only those whose
    /// record this filter accepts — e.g. an `eth` entry with our fork id, as geth's eth
    /// backend does. Default none: every discovered node is a candidate.
    pub enr_filter: Option<crate::discovery::EnrFilter>,
    /// Listen for inbound TCP connections. Default true.
    pub listen: bool,
    /// Deadline of each handshake phase (encryption, then Hello). Default 5 s.
    pub handshake_timeout: Duration,
    /// Deadline of a TCP connect. Default 15 s.
    pub dial_timeout: Duration,
    /// How long a failed or ended peer is not redialed (geth's dial history). Default 35 s.
    pub dial_history: Duration,
    /// Admission of inbound connections before any handshake: netrestrict, the per-IP
    /// throttle (30 s, LAN exempt), pending caps per IP and per /24. Its `max_pending` is
    /// replaced by [`Self::max_pending`].
    pub inbound: InboundConfig,
    /// How discovered candidates are chosen: ranked (default) or geth's arrival order.
    pub dial_policy: crate::dial::DialPolicy,
    /// How long failed or ended peers wait before they are dialed again, by verdict class
    /// (documented defaults in [`crate::peers::BackoffConfig`]).
    pub backoff: crate::peers::BackoffConfig,
    /// Peer exchange (`pex/1`): the node runs the capability, and the address book becomes
    /// a source of dial candidates beside discv4 (or alone, with discovery off). Default
    /// `None`: no PEX.
    pub pex: Option<crate::pex::PexConfig>,
    /// How connections are made and accepted. Default TCP; an in-memory network
    /// (`kadnode::net::MemoryNetwork`) runs whole nodes in simulations.
    pub transport: Arc<dyn StreamTransport>,
}

impl std::fmt::Debug for P2pConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let protocols: Vec<String> = self
            .protocols
            .iter()
            .map(|p| p.spec().capability().to_string())
            .collect();
        f.debug_struct("P2pConfig")
            .field("client_id", &self.client_id)
            .field("protocols", &protocols)
            .field("max_peers", &self.max_peers)
            .field("dial_ratio", &self.dial_ratio)
            .field("max_pending", &self.max_pending)
            .field("static_nodes", &self.static_nodes.len())
            .field("trusted_nodes", &self.trusted_nodes.len())
            .field("no_dial", &self.no_dial)
            .field("enr_filter", &self.enr_filter.is_some())
            .field("listen", &self.listen)
            .field("pex", &self.pex)
            .finish_non_exhaustive()
    }
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            client_id: format!("kadnode/v{}", env!("CARGO_PKG_VERSION")),
            protocols: Vec::new(),
            max_peers: DEFAULT_MAX_PEERS,
            dial_ratio: DEFAULT_DIAL_RATIO,
            max_pending: DEFAULT_MAX_PENDING,
            static_nodes: Vec::new(),
            trusted_nodes: Vec::new(),
            no_dial: false,
            dial_discovered: true,
            enr_filter: None,
            listen: true,
            handshake_timeout: Duration::from_secs(5),
            dial_timeout: Duration::from_secs(15),
            dial_history: Duration::from_secs(35),
            inbound: InboundConfig::default(),
            dial_policy: crate::dial::DialPolicy::Ranked,
            backoff: crate::peers::BackoffConfig::default(),
            pex: None,
            transport: Arc::new(TcpTransport::new()),
        }
    }
}

impl P2pConfig {
    /// The dial scheduler's configuration for these settings.
    pub fn dial_config(&self) -> crate::dial::DialConfig {
        crate::dial::DialConfig {
            max_peers: self.max_peers,
            dial_ratio: self.dial_ratio,
            no_dial: self.no_dial,
            netrestrict: self.inbound.netrestrict.clone(),
            history: self.dial_history,
            policy: self.dial_policy,
            backoff: self.backoff.clone(),
            ..crate::dial::DialConfig::default()
        }
    }

    /// Slots for peers we dial: none with `no_dial` (every slot is then for inbound peers),
    /// else at least one when any peer is allowed (geth's `MaxDialedConns`).
    pub fn max_dialed(&self) -> usize {
        if self.max_peers == 0 || self.no_dial {
            return 0;
        }
        (self.max_peers / self.dial_ratio.max(1)).max(1)
    }

    /// Slots for inbound peers.
    pub fn max_inbound(&self) -> usize {
        self.max_peers.saturating_sub(self.max_dialed())
    }
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeConfig")
            .field("listen_addr", &self.listen_addr)
            .field("storage", &self.storage)
            .field("discovery", &self.discovery.is_some())
            .field("p2p", &self.p2p)
            .field("discovery_transport", &self.discovery_transport.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            listen_addr: DEFAULT_LISTEN_ADDR,
            storage: Storage::InMemory,
            key: KeySource::FromStorage,
            discovery: Some(Discv4Config::default()),
            p2p: None,
            discovery_transport: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (dialed, inbound) slots.
    fn split(max_peers: usize, no_dial: bool) -> (usize, usize) {
        let config = P2pConfig {
            max_peers,
            no_dial,
            ..P2pConfig::default()
        };
        (config.max_dialed(), config.max_inbound())
    }

    #[test]
    fn slots_split_as_in_geth() {
        assert_eq!(split(50, false), (16, 34));
        assert_eq!(split(1, false), (1, 0));
        assert_eq!(split(0, false), (0, 0));
        // A node that never dials keeps no dial slots: all are for inbound peers.
        assert_eq!(split(1, true), (0, 1));
        assert_eq!(split(50, true), (0, 50));
    }
}
