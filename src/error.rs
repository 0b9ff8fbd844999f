//! Why a node could not start.

use std::{io, net::SocketAddr, path::PathBuf};

use discv4::{db::DbError, service::Discv4Error};
use enode::NodeKeyError;

/// Why [`crate::Node::start`] failed. Every variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory cannot be created.
    #[error("cannot create data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The node key cannot be read, parsed or created.
    #[error(transparent)]
    Key(#[from] NodeKeyError),
    /// The node database cannot be opened.
    #[error("cannot open the node database in {}: {source}", path.display())]
    Database {
        /// The data directory.
        path: PathBuf,
        /// What went wrong.
        source: DbError,
    },
    /// The in-memory node database cannot be created.
    #[error("cannot create the in-memory node database: {0}")]
    MemoryDatabase(DbError),
    /// A socket cannot be bound.
    #[error("cannot listen on {protocol} {addr}: {}", bind_reason(source))]
    Bind {
        /// `"UDP"` or `"TCP"`.
        protocol: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// The discovery service could not start.
    #[error("cannot start discovery: {0}")]
    Discovery(#[from] Discv4Error),
    /// Our own record for PEX could not be built (an unusable listen address).
    #[error("cannot build the node record PEX announces: {0}")]
    PexRecord(enode::EnrError),
}

fn bind_reason(error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::AddrInUse {
        "address already in use".to_owned()
    } else {
        error.to_string()
    }
}

impl NodeError {
    /// True when the configuration or the environment is at fault (a bad key file, a taken
    /// port, an unusable directory) rather than the node itself: the operator must change
    /// something before retrying.
    pub fn is_configuration(&self) -> bool {
        !matches!(self, Self::Discovery(_) | Self::MemoryDatabase(_))
    }
}
