//! kadnode: an Ethereum devp2p node. It glues discovery (`discv4`) to the encrypted
//! transport (`rlpx`) and owns the policy between them: whom to dial, whom to accept, whom to
//! ban.
//!
//! A chain client (or the `bootnode` binary, the library's first user) describes the node in
//! a [`NodeConfig`] and starts it with [`Node::start`]:
//!
//! ```no_run
//! # async fn example() -> Result<(), kadnode::NodeError> {
//! use kadnode::{Node, NodeConfig, Storage};
//!
//! let config = NodeConfig {
//!     listen_addr: "0.0.0.0:30303".parse().unwrap(),
//!     storage: Storage::Dir("/var/lib/mynode".into()),
//!     ..NodeConfig::default()
//! };
//! let node = Node::start(config).await?;
//! println!("{}", node.enode_url());
//! node.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Identities and records come from the `enode` crate, the discovery service from `discv4`,
//! sessions from `rlpx`.

mod config;
pub mod datadir;
pub mod dial;
pub mod discovery;
mod error;
pub mod net;
mod node;
mod peer;
pub mod peers;
pub mod pex;
mod protocol;
mod sealed_file;

pub use config::{
    KeySource, NodeConfig, P2pConfig, Storage, DEFAULT_DIAL_RATIO, DEFAULT_LISTEN_ADDR,
    DEFAULT_MAX_PEERS, DEFAULT_MAX_PENDING,
};
pub use error::NodeError;
pub use node::{verdict_label, Node, NodeHandle, NodeMetrics, NodeStopped, PeerEvent, VERDICTS};
pub use peer::PeerEnd;
pub use protocol::{
    Direction, PeerInfo, Protocol, ProtocolConn, ProtocolError, ProtocolFuture, ProtocolSpec,
    Traffic,
};
