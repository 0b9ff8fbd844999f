//! Errors of the ECIES handshake.

use std::{io, time::Duration};

use crate::verdict::{HasVerdict, Verdict};

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

impl HasVerdict for HandshakeError {
    /// Network failures and timeouts say nothing about the peer; a tag mismatch means the
    /// message was sealed to another key (a stale record on the initiator's side) or
    /// corrupted; anything else is a malformed handshake the peer sent.
    fn verdict(&self) -> Verdict {
        match self {
            Self::Io(_) => Verdict::Transient,
            Self::Timeout(_) => Verdict::Timeout,
            Self::TagMismatch => Verdict::Corrupt,
            Self::MessageTooLarge { .. }
            | Self::Truncated(_)
            | Self::InvalidEphemeralPoint
            | Self::MalformedBody(_)
            | Self::Rlp(_)
            | Self::InvalidPublicKey
            | Self::InvalidSignature => Verdict::Misbehaved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_verdict() {
        let cases = [
            (
                HandshakeError::Io(io::ErrorKind::UnexpectedEof.into()),
                Verdict::Transient,
            ),
            (
                HandshakeError::Timeout(Duration::from_secs(5)),
                Verdict::Timeout,
            ),
            (HandshakeError::TagMismatch, Verdict::Corrupt),
            (
                HandshakeError::MessageTooLarge {
                    size: 4000,
                    max: 2050,
                },
                Verdict::Misbehaved,
            ),
            (HandshakeError::Truncated(12), Verdict::Misbehaved),
            (HandshakeError::InvalidEphemeralPoint, Verdict::Misbehaved),
            (
                HandshakeError::MalformedBody("auth body is not a list"),
                Verdict::Misbehaved,
            ),
            (
                HandshakeError::Rlp(alloy_rlp::Error::InputTooShort),
                Verdict::Misbehaved,
            ),
            (HandshakeError::InvalidPublicKey, Verdict::Misbehaved),
            (HandshakeError::InvalidSignature, Verdict::Misbehaved),
        ];
        for (err, verdict) in cases {
            assert_eq!(err.verdict(), verdict, "{err}");
            assert_eq!(
                err.is_protocol_violation(),
                verdict != Verdict::Transient && verdict != Verdict::Timeout,
                "{err}"
            );
        }
    }
}
