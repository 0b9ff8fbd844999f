//! The six discv4 packet types.

use enr::Enr;
use secp256k1::SecretKey;

use super::{endpoint::Endpoint, expiration::is_expired, MAX_NEIGHBORS_PER_PACKET};
use enode::{NodeRecord, PeerId};

/// PING (0x01): liveness check and endpoint proof request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// Protocol version; we send [`Ping::VERSION`] and accept any value (EIP-8).
    pub version: u64,
    /// The sender's own endpoint, informational only (may be unspecified).
    pub from: Endpoint,
    /// The recipient's endpoint as the sender sees it (TCP port usually 0).
    pub to: Endpoint,
    /// Unix seconds after which the packet is void.
    pub expiration: u64,
    /// The sender's current ENR sequence number (EIP-868), if it sent one.
    pub enr_seq: Option<u64>,
}

impl Ping {
    /// The protocol version this implementation sends.
    pub const VERSION: u64 = 4;
}

/// PONG (0x02): reply to a PING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pong {
    /// The PING's UDP source address as seen by the replier, with the PING's TCP port.
    pub to: Endpoint,
    /// Hash of the PING packet being answered (the reply token).
    pub ping_hash: [u8; 32],
    /// Unix seconds after which the packet is void.
    pub expiration: u64,
    /// The replier's current ENR sequence number (EIP-868), if it sent one.
    pub enr_seq: Option<u64>,
}

/// FINDNODE (0x03): asks for the nodes closest to `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindNode {
    /// The public key whose neighbourhood is requested (need not be a valid curve point).
    pub target: PeerId,
    /// Unix seconds after which the packet is void.
    pub expiration: u64,
}

/// NEIGHBORS (0x04): answer to FINDNODE, at most [`MAX_NEIGHBORS_PER_PACKET`] nodes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbors {
    /// The nodes, IPs normalised (IPv4-mapped IPv6 becomes IPv4). Not yet relay-checked.
    pub nodes: Vec<NodeRecord>,
    /// Unix seconds after which the packet is void.
    pub expiration: u64,
}

impl Neighbors {
    /// Splits a FINDNODE answer into packets of at most [`MAX_NEIGHBORS_PER_PACKET`]
    /// nodes. Always returns at least one packet, empty when `nodes` is empty, since geth
    /// answers with an empty NEIGHBORS when nothing qualifies.
    pub fn split(nodes: &[NodeRecord], expiration: u64) -> Vec<Neighbors> {
        if nodes.is_empty() {
            return vec![Neighbors {
                nodes: Vec::new(),
                expiration,
            }];
        }
        nodes
            .chunks(MAX_NEIGHBORS_PER_PACKET)
            .map(|chunk| Neighbors {
                nodes: chunk.to_vec(),
                expiration,
            })
            .collect()
    }
}

/// ENRRequest (0x05, EIP-868): asks for the recipient's node record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrRequest {
    /// Unix seconds after which the packet is void.
    pub expiration: u64,
}

/// ENRResponse (0x06, EIP-868): the node record. Has no expiration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrResponse {
    /// Hash of the ENRRequest packet being answered.
    pub request_hash: [u8; 32],
    /// The record; its "v4" signature has been verified by decoding. Callers must still
    /// check that it belongs to the sender.
    pub enr: Enr<SecretKey>,
}

/// The type byte of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketKind {
    /// 0x01
    Ping = 1,
    /// 0x02
    Pong = 2,
    /// 0x03
    FindNode = 3,
    /// 0x04
    Neighbors = 4,
    /// 0x05
    EnrRequest = 5,
    /// 0x06
    EnrResponse = 6,
}

impl PacketKind {
    /// The kind of a type byte, `None` for types this implementation does not know.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Ping,
            2 => Self::Pong,
            3 => Self::FindNode,
            4 => Self::Neighbors,
            5 => Self::EnrRequest,
            6 => Self::EnrResponse,
            _ => return None,
        })
    }

    /// The type byte.
    pub const fn byte(self) -> u8 {
        self as u8
    }

    /// Upper-case name as used in specs and logs (e.g. `FINDNODE`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ping => "PING",
            Self::Pong => "PONG",
            Self::FindNode => "FINDNODE",
            Self::Neighbors => "NEIGHBORS",
            Self::EnrRequest => "ENRREQUEST",
            Self::EnrResponse => "ENRRESPONSE",
        }
    }
}

/// Any discv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// PING
    Ping(Ping),
    /// PONG
    Pong(Pong),
    /// FINDNODE
    FindNode(FindNode),
    /// NEIGHBORS
    Neighbors(Neighbors),
    /// ENRRequest
    EnrRequest(EnrRequest),
    /// ENRResponse
    EnrResponse(EnrResponse),
}

impl Packet {
    /// The packet's type.
    pub const fn kind(&self) -> PacketKind {
        match self {
            Self::Ping(_) => PacketKind::Ping,
            Self::Pong(_) => PacketKind::Pong,
            Self::FindNode(_) => PacketKind::FindNode,
            Self::Neighbors(_) => PacketKind::Neighbors,
            Self::EnrRequest(_) => PacketKind::EnrRequest,
            Self::EnrResponse(_) => PacketKind::EnrResponse,
        }
    }

    /// The expiration timestamp; `None` for ENRResponse, which has none.
    pub const fn expiration(&self) -> Option<u64> {
        match self {
            Self::Ping(p) => Some(p.expiration),
            Self::Pong(p) => Some(p.expiration),
            Self::FindNode(p) => Some(p.expiration),
            Self::Neighbors(p) => Some(p.expiration),
            Self::EnrRequest(p) => Some(p.expiration),
            Self::EnrResponse(_) => None,
        }
    }

    /// True when the packet carries an expiration that has passed at `now_unix_secs`
    /// (signed comparison, see [`is_expired`]). ENRResponse never expires.
    pub fn is_expired(&self, now_unix_secs: u64) -> bool {
        self.expiration()
            .is_some_and(|exp| is_expired(exp, now_unix_secs))
    }
}

macro_rules! impl_from {
    ($($variant:ident),*) => {$(
        impl From<$variant> for Packet {
            fn from(packet: $variant) -> Self {
                Self::$variant(packet)
            }
        }
    )*};
}
impl_from!(Ping, Pong, FindNode, Neighbors, EnrRequest, EnrResponse);

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u8) -> NodeRecord {
        NodeRecord {
            address: [10, 0, 0, i].into(),
            udp_port: 30303,
            tcp_port: 30303,
            id: PeerId([i; 64]),
        }
    }

    #[test]
    fn split_always_yields_a_packet_and_respects_the_limit() {
        assert_eq!(
            Neighbors::split(&[], 7),
            vec![Neighbors {
                nodes: vec![],
                expiration: 7
            }]
        );
        let nodes: Vec<_> = (0..16).map(node).collect();
        let packets = Neighbors::split(&nodes, 7);
        assert_eq!(
            packets.iter().map(|p| p.nodes.len()).collect::<Vec<_>>(),
            [12, 4]
        );
        let rejoined: Vec<_> = packets.into_iter().flat_map(|p| p.nodes).collect();
        assert_eq!(rejoined, nodes);
        assert_eq!(Neighbors::split(&nodes[..12], 7).len(), 1);
        assert_eq!(
            Neighbors::split(&(0..25).map(node).collect::<Vec<_>>(), 7).len(),
            3
        );
    }

    #[test]
    fn kinds_roundtrip_through_bytes() {
        for byte in 0..=255u8 {
            match PacketKind::from_byte(byte) {
                Some(kind) => assert_eq!(kind.byte(), byte),
                None => assert!(byte == 0 || byte > 6),
            }
        }
    }

    #[test]
    fn enr_response_never_expires() {
        let key = SecretKey::from_byte_array(&[7; 32]).unwrap();
        let enr = Enr::builder().build(&key).unwrap();
        let packet = Packet::EnrResponse(EnrResponse {
            request_hash: [0; 32],
            enr,
        });
        assert!(!packet.is_expired(u64::MAX));
        assert!(Packet::EnrRequest(EnrRequest { expiration: 5 }).is_expired(10));
    }
}
