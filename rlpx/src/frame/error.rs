//! Errors of the frame layer.

use std::io;

use crate::verdict::{HasVerdict, Verdict};

/// Why reading or writing an RLPx frame failed: the error type of [`super::FrameCodec`] and
/// [`super::RlpxStream`], and what the p2p layer wraps as `P2pError::Frame`.
///
/// Every variant except [`FrameError::Io`] and [`FrameError::MessageTooLarge`] means the
/// session is broken (MAC and keystream state are lost) and must be closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The transport failed.
    #[error("i/o error on the RLPx stream: {0}")]
    Io(#[from] io::Error),
    /// The header MAC does not match: corrupted or forged data.
    #[error("RLPx frame header MAC mismatch")]
    HeaderMacMismatch,
    /// The frame (body) MAC does not match: corrupted or forged data.
    #[error("RLPx frame body MAC mismatch")]
    FrameMacMismatch,
    /// A received header announces a frame larger than this codec accepts.
    #[error("RLPx frame of {size} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// Announced frame size.
        size: usize,
        /// Configured limit.
        max: usize,
    },
    /// A message to send does not fit in one frame (24-bit size field).
    #[error("message of {size} bytes does not fit in one RLPx frame (max {max})")]
    MessageTooLarge {
        /// Size of the frame content.
        size: usize,
        /// Largest frame content.
        max: usize,
    },
    /// An earlier error broke the stream; no further frames can be read.
    #[error("RLPx stream is unusable after an earlier error")]
    Poisoned,
    /// The frame content does not start with a valid RLP message code.
    #[error("invalid message code in frame: {0}")]
    InvalidMessageCode(alloy_rlp::Error),
}

impl HasVerdict for FrameError {
    /// A broken MAC proves nothing (a third party on the path can cause it): corrupt. An
    /// oversize frame or a frame without a message code is the peer's doing. Transport
    /// failures and our own oversize message say nothing about the peer.
    fn verdict(&self) -> Verdict {
        match self {
            Self::Io(_) | Self::MessageTooLarge { .. } => Verdict::Transient,
            Self::HeaderMacMismatch | Self::FrameMacMismatch | Self::Poisoned => Verdict::Corrupt,
            Self::FrameTooLarge { .. } | Self::InvalidMessageCode(_) => Verdict::Misbehaved,
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
                FrameError::Io(io::ErrorKind::ConnectionReset.into()),
                Verdict::Transient,
            ),
            (FrameError::HeaderMacMismatch, Verdict::Corrupt),
            (FrameError::FrameMacMismatch, Verdict::Corrupt),
            (FrameError::Poisoned, Verdict::Corrupt),
            (
                FrameError::FrameTooLarge {
                    size: 15 << 20,
                    max: 2064,
                },
                Verdict::Misbehaved,
            ),
            (
                FrameError::InvalidMessageCode(alloy_rlp::Error::UnexpectedList),
                Verdict::Misbehaved,
            ),
            (
                FrameError::MessageTooLarge {
                    size: 1 << 24,
                    max: (1 << 24) - 1,
                },
                Verdict::Transient,
            ),
        ];
        for (err, verdict) in cases {
            assert_eq!(err.verdict(), verdict, "{err}");
        }
    }
}
