//! What a node is: where it listens, where it keeps its state, which key it has, and how it
//! discovers others. Every field has a documented default ([`NodeConfig::default`]).

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
};

use discv4::service::Discv4Config;
use enode::NodeKey;

use crate::{datadir, error::NodeError};

/// The listen address without configuration: every interface, port 30303 (geth's).
pub const DEFAULT_LISTEN_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 30303);

/// Where the node keeps its key and its node database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A data directory holding `nodekey` and `nodes.redb` (created if missing). A damaged
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
#[derive(Debug, Clone)]
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
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            listen_addr: DEFAULT_LISTEN_ADDR,
            storage: Storage::InMemory,
            key: KeySource::FromStorage,
            discovery: Some(Discv4Config::default()),
        }
    }
}
