//! What a [`crate::NodeHandle`] asks of the node service, each command with its own typed
//! reply.

use enode::PeerId;
use rlpx::p2p::DisconnectReason;
use tokio::sync::oneshot;

use crate::{
    dial::StaticNode,
    discovery::{CandidateSource, MixError, SourceId},
    protocol::PeerInfo,
};

/// One request to the node service.
#[derive(Debug)]
pub(crate) enum Command {
    AddSource(
        Box<dyn CandidateSource + Send>,
        oneshot::Sender<Result<SourceId, MixError>>,
    ),
    RemoveSource(SourceId, oneshot::Sender<bool>),
    MarkUseful(PeerId),
    AddStatic(StaticNode),
    RemoveStatic(PeerId, oneshot::Sender<bool>),
    AddTrusted(PeerId),
    RemoveTrusted(PeerId, oneshot::Sender<bool>),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Disconnect(PeerId, DisconnectReason, oneshot::Sender<bool>),
    Shutdown(oneshot::Sender<()>),
}
