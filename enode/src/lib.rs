//! devp2p node identities, shared by discovery (`discv4`), the encrypted transport (`rlpx`)
//! and the node (`kadnode`), as go-ethereum keeps them in `p2p/enode`:
//!
//! - [`PeerId`] (the 64-byte public key on the wire) and [`NodeId`] (its keccak-256, the
//!   Kademlia key); [`NodeKey`], the node's secret key in geth's `nodekey` file format;
//! - [`crypto`]: keccak-256, recoverable secp256k1 signatures and ECDH, in one place;
//! - [`EnodeUrl`] / [`NodeRecord`] (enode URLs) and EIP-778 records ([`Enr`], [`LocalEnr`]);
//!   [`parse_node`] reads either form;
//! - [`netutil`]: IP classification (LAN, special networks, relay checks) and [`NetRestrict`];
//! - [`bootnodes`]: the public networks' bootstrap nodes.
//!
//! ```
//! use enode::{NodeKey, parse_node};
//!
//! let key = NodeKey::generate();
//! let url = key.enode_url("127.0.0.1".parse().unwrap(), 30303, 30303);
//! let (record, _enr) = parse_node(&url).unwrap();
//! assert_eq!(record.id, key.peer_id());
//! ```

pub mod bootnodes;
pub mod crypto;
mod id;
pub mod netutil;
mod record;

pub use id::{NodeId, PeerId, PeerIdError};
pub use netutil::{NetRestrict, NetRestrictError};
pub use record::{
    build_enr, decode_enr, enr_node_id, enr_peer_id, enr_to_node_record, normalize_ip, parse_enr,
    parse_node, unix_time_millis, EndpointConfig, EnodeError, EnodeUrl, Enr, EnrError, Host,
    LocalEnr, NodeArg, NodeKey, NodeKeyError, NodeRecord, ParseNodeError, ENR_PREFIX, MAX_ENR_SIZE,
    RESOLVE_TIMEOUT,
};
pub use secp256k1::{PublicKey, SecretKey};

/// Fuzz entry points for the cargo-fuzz targets in `fuzz/` (not a public API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::record::fuzzing::*;
}
