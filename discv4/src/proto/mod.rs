//! discv4 wire format: the six packet types, signing, decoding, size and expiration rules.
//!
//! A packet on the wire is `hash(32) || signature(65) || type(1) || RLP(list)`, optionally
//! followed by bytes that are ignored (EIP-8). The hash is keccak-256 of everything after
//! it; the recoverable signature covers keccak-256 of everything after the signature, and
//! the key it recovers to is the sender's identity.
//!
//! [`encode`] signs a [`Packet`]; [`decode`] checks a datagram and returns the packet, the
//! sender and the packet hash (the reply token for PING and ENRRequest).

mod decode;
mod encode;
mod endpoint;
mod error;
mod expiration;
mod messages;
mod rlp_util;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use decode::{decode, decode_unverified, Decoded, Unverified};
pub use encode::{encode, encode_body, sign_packet};
pub use endpoint::{normalize_ip, Endpoint};
pub use error::{DecodeError, EncodeError};
pub use expiration::{expiration_after, is_expired, now_unix_secs, DEFAULT_EXPIRATION};
pub use messages::{EnrRequest, EnrResponse, FindNode, Neighbors, Packet, PacketKind, Ping, Pong};

/// Largest packet we send (geth's read buffer; IPv6 minimum MTU).
pub const MAX_PACKET_SIZE: usize = 1280;
/// Largest datagram we accept: ethereumjs sends NEIGHBORS of up to 1373 bytes.
pub const MAX_DATAGRAM_SIZE: usize = 1500;
/// Bytes before the RLP body: hash (32) + signature (65).
pub const HEAD_SIZE: usize = 32 + enode::crypto::SIGNATURE_LEN;
/// Smallest possible packet: the head plus the type byte.
pub const MIN_PACKET_SIZE: usize = HEAD_SIZE + 1;
/// Most nodes in one NEIGHBORS packet; 12 IPv6 entries with maximal ports still fit into
/// [`MAX_PACKET_SIZE`].
pub const MAX_NEIGHBORS_PER_PACKET: usize = 12;
/// Largest encoded ENR (EIP-778).
pub const MAX_ENR_SIZE: usize = 300;
