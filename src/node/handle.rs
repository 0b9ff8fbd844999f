//! The cloneable handle a chain client (and the CLI) uses to talk to the node service.

use enode::PeerId;
use rlpx::p2p::DisconnectReason;
use tokio::sync::{broadcast, mpsc, oneshot};

use std::sync::Arc;

use super::{command::Command, event::PeerEvent, metrics::NodeMetrics};
use crate::{
    dial::StaticNode,
    discovery::{CandidateSource, MixError, SourceId},
    protocol::PeerInfo,
};

/// Why a request to the node could not be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NodeStopped {
    /// The node service has shut down.
    #[error("the node has shut down")]
    Stopped,
}

/// A cloneable handle to the running node's peer set. Every method is answered by the node
/// service; none blocks the service.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    local_id: PeerId,
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<PeerEvent>,
    metrics: Arc<NodeMetrics>,
}

impl NodeHandle {
    pub(crate) fn new(
        local_id: PeerId,
        commands: mpsc::Sender<Command>,
        events: broadcast::Sender<PeerEvent>,
        metrics: Arc<NodeMetrics>,
    ) -> Self {
        Self {
            local_id,
            commands,
            events,
            metrics,
        }
    }

    /// The node's counters (peers by direction, dial outcomes, disconnects, traffic).
    pub fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    /// Our identity.
    pub fn local_id(&self) -> PeerId {
        self.local_id
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeStopped> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| NodeStopped::Stopped)?;
        answer.await.map_err(|_| NodeStopped::Stopped)
    }

    async fn tell(&self, command: Command) -> Result<(), NodeStopped> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NodeStopped::Stopped)
    }

    /// Keeps `node` connected: dialed as soon as a dialed slot is free, and again after every
    /// disconnect (geth's `admin_addPeer`). A [`enode::NodeRecord`] converts; a
    /// [`StaticNode`] may also name its host by DNS or leave the address to discovery.
    pub async fn add_static(&self, node: impl Into<StaticNode>) -> Result<(), NodeStopped> {
        self.tell(Command::AddStatic(node.into())).await
    }

    /// Adds a source of dial candidates (a DNS list, PEX, an application's own list) to the
    /// node's fair mix, beside discv4's random walk; its candidates are ranked and dialed
    /// like any other, and it hears what became of each through
    /// [`CandidateSource::report`].
    pub async fn add_source(
        &self,
        source: Box<dyn CandidateSource + Send>,
    ) -> Result<Result<SourceId, MixError>, NodeStopped> {
        self.ask(|reply| Command::AddSource(source, reply)).await
    }

    /// Removes a source added with [`NodeHandle::add_source`]; `false` if it is not there.
    pub async fn remove_source(&self, source: SourceId) -> Result<bool, NodeStopped> {
        self.ask(|reply| Command::RemoveSource(source, reply)).await
    }

    /// Tells the node that peer `id` served the application well (on our chain, answered
    /// requests): its source learns it, and the dial memory ranks it first next time.
    pub async fn mark_useful(&self, id: PeerId) -> Result<(), NodeStopped> {
        self.tell(Command::MarkUseful(id)).await
    }

    /// Stops keeping `id` connected and disconnects it (0x00, requested); `false` if it was
    /// not a static node (geth's `admin_removePeer`).
    pub async fn remove_static(&self, id: PeerId) -> Result<bool, NodeStopped> {
        self.ask(|reply| Command::RemoveStatic(id, reply)).await
    }

    /// Admits `id` even when the node is full (geth's `admin_addTrustedPeer`).
    pub async fn add_trusted(&self, id: PeerId) -> Result<(), NodeStopped> {
        self.tell(Command::AddTrusted(id)).await
    }

    /// Stops trusting `id`; `false` if it was not trusted.
    pub async fn remove_trusted(&self, id: PeerId) -> Result<bool, NodeStopped> {
        self.ask(|reply| Command::RemoveTrusted(id, reply)).await
    }

    /// The connected peers (geth's `admin_peers`).
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NodeStopped> {
        self.ask(Command::Peers).await
    }

    /// Disconnects `id` with `reason`; `false` if it is not connected.
    pub async fn disconnect(
        &self,
        id: PeerId,
        reason: DisconnectReason,
    ) -> Result<bool, NodeStopped> {
        self.ask(|reply| Command::Disconnect(id, reason, reply))
            .await
    }

    /// Peers added and dropped, from now on. A subscriber that falls behind gets
    /// `RecvError::Lagged(n)`; nothing is dropped silently.
    pub fn subscribe(&self) -> broadcast::Receiver<PeerEvent> {
        self.events.subscribe()
    }

    /// Sends every peer Disconnect 0x08, waits (bounded) for them to go, and stops the
    /// service. Returns at once if it already stopped.
    pub async fn shutdown(&self) {
        let _ = self.ask(Command::Shutdown).await;
    }
}
