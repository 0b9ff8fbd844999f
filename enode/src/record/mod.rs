//! Node records: enode URLs ([`EnodeUrl`], [`NodeRecord`]), EIP-778 ENRs ([`Enr`],
//! [`LocalEnr`]), the node key ([`NodeKey`]) and the generic node argument parser
//! ([`parse_node`], [`NodeArg`]) the command-line tools use.

mod enode;
mod enr;
mod error;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing;
mod key;
mod node_arg;

pub use self::enode::{normalize_ip, EnodeUrl, Host, NodeRecord, RESOLVE_TIMEOUT};
pub use self::enr::{
    build_enr, decode_enr, enr_node_id, enr_peer_id, enr_to_node_record, parse_enr,
    unix_time_millis, EndpointConfig, Enr, LocalEnr, ENR_PREFIX, MAX_ENR_SIZE,
};
pub use self::error::{EnodeError, EnrError, NodeKeyError, ParseNodeError};
pub use self::key::NodeKey;
pub use self::node_arg::{parse_node, NodeArg};
