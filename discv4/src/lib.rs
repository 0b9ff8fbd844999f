//! Ethereum discovery v4 (devp2p): wire format, node identities and records, the
//! 17-bucket Kademlia table, lookups, endpoint proofs and the node database.
//!
//! The crate knows nothing about TCP sessions; the `kadnode` crate glues it to RLPx.

pub mod conformance;
pub mod crypto;
pub mod db;
pub mod id;
pub mod lookup;
pub mod netutil;
pub mod proto;
pub mod record;
pub mod service;
pub mod table;
pub mod transport;

pub use id::{NodeId, PeerId, PeerIdError};
pub use record::NodeRecord;
pub use secp256k1::{PublicKey, SecretKey};
