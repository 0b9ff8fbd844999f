//! Errors of the ECIES handshake.

use std::{io, time::Duration};

/// Why an RLPx handshake (auth/ack exchange) failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The underlying connection failed or was closed mid-handshake.
    #[error("i/o error during the RLPx handshake: {0}")]
    Io(#[from] io::Error),
    /// The remote did not complete the handshake in time.
    #[error("RLPx handshake timed out after {0:?}")]
    Timeout(Duration),
    /// The EIP-8 size prefix announces more than the allowed handshake message size.
    #[error("handshake message of {size} bytes exceeds the {max}-byte limit")]
    MessageTooLarge {
        /// Announced size (size prefix plus two).
        size: usize,
        /// Largest accepted message.
        max: usize,
    },
    /// The message is shorter than the fixed ECIES overhead (or its size prefix lies).
    #[error("handshake message of {0} bytes is too short or truncated")]
    Truncated(usize),
    /// The ECIES ephemeral key `R` is not a valid point on secp256k1.
    #[error("ECIES ephemeral public key is not a valid secp256k1 point")]
    InvalidEphemeralPoint,
    /// The ECIES HMAC tag does not match: wrong recipient key or corrupted message.
    #[error("ECIES message authentication tag mismatch (wrong key or corrupted data)")]
    TagMismatch,
    /// The decrypted body is not a valid auth/ack body.
    #[error("malformed handshake body: {0}")]
    MalformedBody(&'static str),
    /// RLP decoding of the body failed.
    #[error("handshake body RLP: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    /// A public key in the body is not a valid secp256k1 point.
    #[error("handshake body carries an invalid public key")]
    InvalidPublicKey,
    /// The auth signature cannot be recovered to an ephemeral public key.
    #[error("auth signature is invalid or does not recover to a public key")]
    InvalidSignature,
}

impl HandshakeError {
    /// True when the peer sent bytes that violate the protocol (as opposed to a network
    /// failure or a timeout): policy code may penalise such peers.
    pub fn is_protocol_violation(&self) -> bool {
        !matches!(self, Self::Io(_) | Self::Timeout(_))
    }
}
