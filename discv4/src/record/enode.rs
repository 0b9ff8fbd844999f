//! `enode://` URLs.

use std::net::IpAddr;

use crate::id::PeerId;

/// A node's identity and endpoint, as written in an enode URL:
/// `enode://<128 hex>@<ip>:<tcp>[?discport=<udp>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeRecord {
    /// IP address (IPv4-mapped IPv6 is always normalised to IPv4).
    pub address: IpAddr,
    /// UDP (discovery) port.
    pub udp_port: u16,
    /// TCP (RLPx) port; 0 when the node does not accept TCP.
    pub tcp_port: u16,
    /// The node's public key.
    pub id: PeerId,
}
