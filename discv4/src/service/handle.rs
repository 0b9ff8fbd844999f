//! The cloneable front-end of the discv4 service.

use std::{sync::Arc, time::Duration};

use futures::{stream::FuturesUnordered, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{
    lookup::{Lookup, RESULT_SIZE},
    table::{NodeInfo, TableEvent},
};

use enode::{
    NodeRecord, {NodeId, PeerId},
};

use super::{command::Command, local::Enr, metrics::Metrics, pending::Reply, walk::RandomWalk};

/// Why a request to a remote node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No valid reply arrived within the request timeout.
    #[error("no reply within the request timeout")]
    Timeout,
    /// The discovery service has stopped.
    #[error("the discovery service has stopped")]
    ServiceStopped,
    /// Too many requests are outstanding; try again later.
    #[error("too many outstanding requests")]
    TooManyRequests,
    /// The packet could not be sent.
    #[error("failed to send the packet: {0}")]
    Send(String),
    /// The reply was not what the request expected.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(&'static str),
}

/// What a PONG told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PongInfo {
    /// The node's ENR seq (EIP-868), when it sent one.
    pub enr_seq: Option<u64>,
    /// Round-trip time of the PING.
    pub rtt: Duration,
}

/// One table entry as shown by `discv4_buckets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryDump {
    /// The node.
    pub record: NodeRecord,
    /// Its ENR seq (0 when no ENR is known).
    pub seq: u64,
    /// How long ago it entered the bucket.
    pub in_bucket_for: Duration,
    /// Successful liveness checks.
    pub liveness_checks: u32,
    /// Answered its last liveness check.
    pub is_live: bool,
}

/// One bucket as shown by `discv4_buckets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketDump {
    /// Bucket index (0 = log-distance ≤ 240, 16 = log-distance 256).
    pub index: usize,
    /// Bucket entries.
    pub entries: Vec<EntryDump>,
    /// Nodes waiting on the replacement list.
    pub replacements: usize,
}

/// Cloneable handle to a running discv4 service. Dropping every handle stops the service.
#[derive(Debug, Clone)]
pub struct Discv4Handle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Sender<TableEvent>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) local_id: PeerId,
    pub(crate) bond_settle_delay: Duration,
    pub(crate) walk_lookup_spacing: Duration,
}

impl Discv4Handle {
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
        match self.request(|reply| Command::Ping { node, reply }).await? {
            Reply::Pong { enr_seq, rtt } => Ok(PongInfo { enr_seq, rtt }),
            _ => Err(RequestError::UnexpectedReply("expected PONG")),
        }
    }

    /// Asks a node for its closest nodes to `target`, bonding first when needed.
    pub async fn findnode(
        &self,
        node: NodeRecord,
        target: PeerId,
    ) -> Result<Vec<NodeRecord>, RequestError> {
        self.ensure_bond(node).await?;
        self.findnode_unbonded(node, target).await
    }

    /// Sends FINDNODE without bonding first. Meant for testing how a remote node treats
    /// requests without an endpoint proof (it should drop them silently).
    pub async fn findnode_unbonded(
        &self,
        node: NodeRecord,
        target: PeerId,
    ) -> Result<Vec<NodeRecord>, RequestError> {
        match self
            .request(|reply| Command::FindNode {
                node,
                target,
                reply,
            })
            .await?
        {
            Reply::Neighbors(nodes) => Ok(nodes),
            _ => Err(RequestError::UnexpectedReply("expected NEIGHBORS")),
        }
    }

    /// Asks a node for its ENR (EIP-868), bonding first when needed.
    pub async fn request_enr(&self, node: NodeRecord) -> Result<Enr, RequestError> {
        self.ensure_bond(node).await?;
        match self
            .request(|reply| Command::EnrRequest { node, reply })
            .await?
        {
            Reply::Enr(enr) => Ok(*enr),
            _ => Err(RequestError::UnexpectedReply("expected ENRResponse")),
        }
    }

    /// Runs an iterative lookup and returns the (up to 16) closest nodes to `target` found.
    pub async fn lookup(&self, target: PeerId) -> Result<Vec<NodeRecord>, RequestError> {
        let (count, _) = self.table_state().await?;
        if count == 0 {
            self.wait_for_nodes(Duration::from_secs(60)).await?;
        }
        self.run_lookup(target, |_| {}).await
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
        RandomWalk::start(self.clone())
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
        self.commands
            .send(Command::AddNodes { nodes })
            .await
            .map_err(|_| RequestError::ServiceStopped)
    }

    /// Starts a table refresh (seeds, bootnodes, self-lookup, random lookups).
    pub async fn refresh(&self) -> Result<(), RequestError> {
        self.commands
            .send(Command::Refresh)
            .await
            .map_err(|_| RequestError::ServiceStopped)
    }

    /// Stops the service and flushes the node database.
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Starts a refresh and waits until the table holds at least one node, the refresh ends
    /// without finding any (no bootnodes, no seeds: nothing more will come by waiting), or
    /// `timeout` passes.
    pub(crate) async fn wait_for_nodes(&self, timeout: Duration) -> Result<(), RequestError> {
        let mut events = self.subscribe();
        // Commands are handled in order, so the `Refreshing` query below sees this refresh.
        self.refresh().await?;
        let wait = async {
            loop {
                if self.table_state().await?.0 > 0 {
                    return Ok(());
                }
                if !self.query(|reply| Command::Refreshing { reply }).await? {
                    return Ok(());
                }
                // A node arriving wakes us at once; a refresh ending produces no event, so
                // look again after a short while.
                let woke = tokio::time::timeout(Duration::from_millis(100), events.recv()).await;
                if let Ok(Err(broadcast::error::RecvError::Closed)) = woke {
                    return Err(RequestError::ServiceStopped);
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or(Ok(()))
    }

    /// The lookup itself, reporting every newly seen node to `on_new`.
    pub(crate) async fn run_lookup(
        &self,
        target: PeerId,
        mut on_new: impl FnMut(&[NodeRecord]),
    ) -> Result<Vec<NodeRecord>, RequestError> {
        self.metrics.lookup_started();
        let target_id = target.node_id();
        let seeds = self.closest(target_id, RESULT_SIZE).await?;
        let mut lookup = Lookup::new(target_id, self.local_id.node_id(), seeds);
        let mut queries = FuturesUnordered::new();
        loop {
            while let Some(node) = lookup.next_query() {
                queries.push(async move { (node, self.findnode(node, target).await) });
            }
            match queries.next().await {
                None => break,
                Some((node, Ok(nodes))) => {
                    let fresh = lookup.on_reply(&node.id.node_id(), nodes);
                    on_new(&fresh);
                }
                Some((_, Err(RequestError::ServiceStopped))) => {
                    return Err(RequestError::ServiceStopped)
                }
                Some((node, Err(_))) => lookup.on_failure(&node.id.node_id()),
            }
        }
        Ok(lookup.result())
    }

    async fn ensure_bond(&self, node: NodeRecord) -> Result<(), RequestError> {
        if self
            .query(|reply| Command::NeedsBond { node, reply })
            .await?
        {
            // A failed ping is not fatal: the node may still answer (geth goes on as well).
            let _ = self.ping(node).await;
            tokio::time::sleep(self.bond_settle_delay).await;
        }
        Ok(())
    }

    async fn request(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<Reply, RequestError>>) -> Command,
    ) -> Result<Reply, RequestError> {
        self.query(make).await?
    }

    async fn query<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, RequestError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| RequestError::ServiceStopped)?;
        rx.await.map_err(|_| RequestError::ServiceStopped)
    }
}
