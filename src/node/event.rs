//! What the node tells its subscribers about peers.

use enode::PeerId;

use crate::{peer::PeerEnd, protocol::PeerInfo};

/// A change in the peer set, on [`crate::NodeHandle::subscribe`]'s broadcast channel. A
/// subscriber that falls behind gets `RecvError::Lagged(n)` with the number it missed.
#[derive(Debug, Clone)]
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
}
