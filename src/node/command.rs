//! What a [`crate::NodeHandle`] asks of the node service, each command with its own typed
//! reply.

use enode::{NodeRecord, PeerId};
use rlpx::p2p::DisconnectReason;
use tokio::sync::oneshot;

use crate::protocol::PeerInfo;

/// One request to the node service.
#[derive(Debug)]
pub(crate) enum Command {
    AddStatic(NodeRecord),
    RemoveStatic(PeerId, oneshot::Sender<bool>),
    AddTrusted(PeerId),
    RemoveTrusted(PeerId, oneshot::Sender<bool>),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Disconnect(PeerId, DisconnectReason, oneshot::Sender<bool>),
    Shutdown(oneshot::Sender<()>),
}
