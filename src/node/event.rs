//! What the node tells its subscribers about peers.

use enode::PeerId;
use rlpx::verdict::Verdict;

use crate::{
    peer::PeerEnd,
    protocol::{Direction, PeerInfo},
};

/// A change in the peer set, on [`crate::NodeHandle::subscribe`]'s broadcast channel. A
/// subscriber that falls behind gets `RecvError::Lagged(n)` with the number it missed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PeerEvent {
    /// A session was established and the protocols started.
    Added(PeerInfo),
    /// A peer left.
    Dropped {
        /// Who.
        id: PeerId,
        /// How its session ended (reason, side, verdict).
        end: PeerEnd,
    },
    /// A connection ended before it became a peer: the dial or the handshake failed, or our
    /// own checks refused it (too many peers, already connected, no shared capability).
    ConnectionFailed {
        /// The remote, once known (always for dials; for inbound connections only after the
        /// encryption handshake proved it).
        id: Option<PeerId>,
        /// Who dialed whom.
        direction: Direction,
        /// How bad it was, and what follows (backoff, ban).
        verdict: Verdict,
        /// What happened, for logs.
        detail: String,
    },
}
