//! Node records: enode URLs ([`NodeRecord`]), EIP-778 ENRs and the node key.

mod enode;

pub use enode::NodeRecord;
