//! Ethereum discovery v4 (devp2p): wire format, node identities and records, the
//! 17-bucket Kademlia table, lookups, endpoint proofs and the node database.
//!
//! The crate knows nothing about TCP sessions; the `kadnode` crate glues it to RLPx.

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod db;
pub mod lookup;
pub mod proto;
pub mod service;
pub mod table;
pub mod transport;
