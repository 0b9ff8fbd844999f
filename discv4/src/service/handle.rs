//! The cloneable front-end of the discv4 service: every method sends one [`Command`] and
//! awaits its typed answer. Requests, lookups and bonding all run in the service task; the
//! handle holds no state of its own besides what it was built with.

use std::{sync::Arc, time::Duration};

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::table::{NodeInfo, TableEvent};

use enode::{Enr, NodeId, NodeRecord, PeerId};

pub use super::command::{BucketDump, EntryDump, PongInfo, RequestError};
use super::{
    command::{Answer, Command},
    metrics::Metrics,
    walk::RandomWalk,
};

/// Cloneable handle to a running discv4 service. Dropping every handle (and every
/// [`RandomWalk`]) stops the service.
#[derive(Debug, Clone)]
pub struct Discv4Handle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<TableEvent>,
    metrics: Arc<Metrics>,
    local_id: PeerId,
    walk_lookup_spacing: Duration,
}

impl Discv4Handle {
    /// A handle talking to the service behind `commands`.
    pub(crate) const fn new(
        commands: mpsc::Sender<Command>,
        events: broadcast::Sender<TableEvent>,
        metrics: Arc<Metrics>,
        local_id: PeerId,
        walk_lookup_spacing: Duration,
    ) -> Self {
        Self {
            commands,
            events,
            metrics,
            local_id,
            walk_lookup_spacing,
        }
    }

    /// Our node's public key.
    pub const fn local_id(&self) -> PeerId {
        self.local_id
    }

    /// The service's counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Table membership changes. A receiver that falls behind gets `RecvError::Lagged(n)`
    /// with the number of missed events; nothing is dropped silently.
    pub fn subscribe(&self) -> broadcast::Receiver<TableEvent> {
        self.events.subscribe()
    }

    /// Our current signed record.
    pub async fn local_enr(&self) -> Result<Enr, RequestError> {
        self.query(|reply| Command::LocalEnr { reply }).await
    }

    /// PINGs a node and waits for its PONG.
    pub async fn ping(&self, node: NodeRecord) -> Result<PongInfo, RequestError> {
        self.request(|reply| Command::Ping { node, reply }).await
    }

    /// Asks a node for its closest nodes to `target`, bonding first when needed: when the node
    /// has not PINGed us within the bond expiration (or left a FINDNODE unanswered), the
    /// service PINGs it and sends the FINDNODE once the node has PINGed back.
    pub async fn findnode(
        &self,
        node: NodeRecord,
        target: PeerId,
    ) -> Result<Vec<NodeRecord>, RequestError> {
        self.request(|reply| Command::FindNode {
            node,
            target,
            bond: true,
            reply,
        })
        .await
    }

    /// Sends FINDNODE without bonding first. Meant for testing how a remote node treats
    /// requests without an endpoint proof (it should drop them silently).
    pub async fn findnode_unbonded(
        &self,
        node: NodeRecord,
        target: PeerId,
    ) -> Result<Vec<NodeRecord>, RequestError> {
        self.request(|reply| Command::FindNode {
            node,
            target,
            bond: false,
            reply,
        })
        .await
    }

    /// Asks a node for its ENR (EIP-868), bonding first when needed.
    pub async fn request_enr(&self, node: NodeRecord) -> Result<Enr, RequestError> {
        self.request(|reply| Command::EnrRequest { node, reply })
            .await
    }

    /// Runs an iterative lookup and returns the (up to 16) closest nodes to `target` found.
    /// With an empty table the lookup first starts a refresh and waits (up to a minute) until
    /// a node arrives or the refresh ends without any.
    pub async fn lookup(&self, target: PeerId) -> Result<Vec<NodeRecord>, RequestError> {
        let outcome = self
            .request(|reply| Command::Lookup {
                target,
                found: None,
                reply,
            })
            .await?;
        Ok(outcome.closest)
    }

    /// Looks up our own id (fills the buckets close to us).
    pub async fn lookup_self(&self) -> Result<Vec<NodeRecord>, RequestError> {
        self.lookup(self.local_id).await
    }

    /// Looks up a random target.
    pub async fn lookup_random(&self) -> Result<Vec<NodeRecord>, RequestError> {
        self.lookup(PeerId::random()).await
    }

    /// Finds the newest record of a node: asks the node itself (ENRRequest), then the endpoint
    /// the table holds for it, then runs a lookup for its id. Returns the input unchanged
    /// (without ENR) when nothing newer is found.
    pub async fn resolve(
        &self,
        node: NodeRecord,
    ) -> Result<(NodeRecord, Option<Enr>), RequestError> {
        if let Ok(enr) = self.request_enr(node).await {
            return Ok((enode::enr_to_node_record(&enr).unwrap_or(node), Some(enr)));
        }
        let known = self
            .query(|reply| Command::GetNode {
                id: node.id.node_id(),
                reply,
            })
            .await?;
        if let Some((record, enr)) = known {
            if record != node {
                if let Ok(enr) = self.request_enr(record).await {
                    return Ok((enode::enr_to_node_record(&enr).unwrap_or(record), Some(enr)));
                }
                return Ok((record, enr.map(|e| *e)));
            }
        }
        let found = self.lookup(node.id).await?;
        if let Some(record) = found.into_iter().find(|r| r.id == node.id) {
            return match self.request_enr(record).await {
                Ok(enr) => Ok((enode::enr_to_node_record(&enr).unwrap_or(record), Some(enr))),
                Err(_) => Ok((record, None)),
            };
        }
        Ok((node, None))
    }

    /// An endless stream of nodes discovered by random-walk lookups (at least
    /// `walk_lookup_spacing` between lookup starts). Dropping it stops the walk.
    pub fn random_walk(&self) -> RandomWalk {
        RandomWalk::start(self.commands.clone(), self.walk_lookup_spacing)
    }

    /// The table, bucket by bucket.
    pub async fn buckets(&self) -> Result<Vec<BucketDump>, RequestError> {
        self.query(|reply| Command::Buckets { reply }).await
    }

    /// Number of nodes in the table, and whether the first refresh has finished.
    pub async fn table_state(&self) -> Result<(usize, bool), RequestError> {
        self.query(|reply| Command::TableState { reply }).await
    }

    /// The table's closest nodes to `target`.
    pub async fn closest(
        &self,
        target: NodeId,
        count: usize,
    ) -> Result<Vec<NodeRecord>, RequestError> {
        self.query(|reply| Command::Closest {
            target,
            count,
            reply,
        })
        .await
    }

    /// Offers nodes to the table (as if found by a lookup).
    pub async fn add_nodes(&self, nodes: Vec<NodeInfo>) -> Result<(), RequestError> {
        self.send(Command::AddNodes { nodes }).await
    }

    /// Starts a table refresh (seeds, bootnodes, self-lookup, random lookups).
    pub async fn refresh(&self) -> Result<(), RequestError> {
        self.send(Command::Refresh).await
    }

    /// Stops the service and flushes the node database.
    pub async fn shutdown(&self) {
        let _ = self.query(|reply| Command::Shutdown { reply }).await;
    }

    /// Sends a command that has a fallible answer and waits for it.
    async fn request<T>(&self, make: impl FnOnce(Answer<T>) -> Command) -> Result<T, RequestError> {
        self.query(make).await?
    }

    /// Sends a command and waits for its answer.
    async fn query<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, RequestError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| RequestError::ServiceStopped)
    }

    async fn send(&self, command: Command) -> Result<(), RequestError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| RequestError::ServiceStopped)
    }
}
