//! Errors from decoding and encoding discv4 packets.

use enode::crypto::SignatureError;

/// Why a datagram is not an acceptable discv4 packet.
///
/// [`DecodeError::UnknownPacketType`] is the only variant a node should treat as "not for
/// me" (EIP-8: unknown types are ignored silently); every other variant means the datagram
/// is malformed or forged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than hash + signature + type byte.
    #[error("datagram of {len} bytes is shorter than the {min}-byte discv4 minimum (hash, signature, type)")]
    TooShort {
        /// Datagram length.
        len: usize,
        /// Minimum length.
        min: usize,
    },
    /// Longer than any discv4 implementation sends.
    #[error("datagram of {len} bytes exceeds the {max}-byte limit for discv4 packets")]
    TooLarge {
        /// Datagram length.
        len: usize,
        /// Maximum accepted length.
        max: usize,
    },
    /// The leading 32 bytes are not keccak-256 of the rest: corrupted, or not discv4 at all
    /// (e.g. a discv5 packet on a shared port).
    #[error("packet hash does not match its contents (corrupted, or not a discv4 packet)")]
    HashMismatch,
    /// The signature does not recover to a public key.
    #[error("invalid packet signature: {0}")]
    BadSignature(#[from] SignatureError),
    /// A packet type this implementation does not know; EIP-8 says to ignore it.
    #[error("unknown discv4 packet type {0:#04x}; ignore it (EIP-8)")]
    UnknownPacketType(u8),
    /// The item that should be a list (the packet body or a nested list) is not one.
    #[error("malformed {list}: expected an RLP list: {source}")]
    NotAList {
        /// Which list (e.g. `PING`, `PING.from`).
        list: &'static str,
        /// The RLP error.
        source: alloy_rlp::Error,
    },
    /// A required field is absent.
    #[error("malformed {list}: field `{field}` is missing")]
    MissingField {
        /// Which list.
        list: &'static str,
        /// Which field.
        field: &'static str,
    },
    /// A field is present but not valid RLP of the expected shape.
    #[error("malformed {list}: field `{field}` is invalid: {source}")]
    InvalidField {
        /// Which list.
        list: &'static str,
        /// Which field.
        field: &'static str,
        /// The RLP error.
        source: alloy_rlp::Error,
    },
    /// An IP address that is neither empty, 4 nor 16 bytes long.
    #[error("malformed {list}: IP address is {len} bytes; expected 4 (IPv4), 16 (IPv6) or 0")]
    InvalidIpLength {
        /// Which list.
        list: &'static str,
        /// Length found.
        len: usize,
    },
    /// The ENR in an ENRResponse is larger than EIP-778 allows.
    #[error("ENR of {len} bytes exceeds the {max}-byte limit (EIP-778)")]
    EnrTooLarge {
        /// Encoded record length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// The ENR in an ENRResponse does not decode or its "v4" signature is invalid.
    #[error("invalid ENR in ENRResponse: {0}")]
    InvalidEnr(alloy_rlp::Error),
}

impl DecodeError {
    /// True when the datagram is well-formed but of a type we do not handle: the caller
    /// should drop it without counting it as misbehaviour.
    pub fn is_unknown_type(&self) -> bool {
        matches!(self, Self::UnknownPacketType(_))
    }
}

/// Why a packet cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// NEIGHBORS with more nodes than fit a packet; use `Neighbors::split`.
    #[error(
        "NEIGHBORS with {count} nodes exceeds {max} per packet; split it with Neighbors::split"
    )]
    TooManyNeighbors {
        /// Nodes in the packet.
        count: usize,
        /// Maximum per packet.
        max: usize,
    },
    /// The encoded packet would exceed the sending limit.
    #[error("encoded packet of {len} bytes exceeds the {max}-byte sending limit")]
    PacketTooLarge {
        /// Encoded length.
        len: usize,
        /// Maximum.
        max: usize,
    },
}
