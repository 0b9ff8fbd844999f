//! Messages from handles to the service task.

use tokio::sync::oneshot;

use crate::table::NodeInfo;

use enode::{
    NodeRecord, {NodeId, PeerId},
};

use super::{
    handle::{BucketDump, RequestError},
    local::Enr,
    pending::Reply,
};

/// A command for the service task. Queries carry a oneshot for the answer.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send a PING; answer with the PONG.
    Ping {
        node: NodeRecord,
        reply: oneshot::Sender<Result<Reply, RequestError>>,
    },
    /// Send a FINDNODE (no bonding); answer with the collected neighbours.
    FindNode {
        node: NodeRecord,
        target: PeerId,
        reply: oneshot::Sender<Result<Reply, RequestError>>,
    },
    /// Send an ENRRequest (no bonding); answer with the record.
    EnrRequest {
        node: NodeRecord,
        reply: oneshot::Sender<Result<Reply, RequestError>>,
    },
    /// Whether the node must be pinged before it will answer our requests: no PING from that
    /// id and IP within the bond expiration, or too many FINDNODE failures.
    NeedsBond {
        node: NodeRecord,
        reply: oneshot::Sender<bool>,
    },
    /// The table's closest nodes to a target.
    Closest {
        target: NodeId,
        count: usize,
        reply: oneshot::Sender<Vec<NodeRecord>>,
    },
    /// A node from the table, with its ENR if known.
    GetNode {
        id: NodeId,
        reply: oneshot::Sender<Option<(NodeRecord, Option<Box<Enr>>)>>,
    },
    /// Our current signed record.
    LocalEnr { reply: oneshot::Sender<Enr> },
    /// The table, bucket by bucket.
    Buckets {
        reply: oneshot::Sender<Vec<BucketDump>>,
    },
    /// Number of nodes in the table and whether the first refresh has finished.
    TableState {
        reply: oneshot::Sender<(usize, bool)>,
    },
    /// Whether a refresh is running.
    Refreshing { reply: oneshot::Sender<bool> },
    /// Offer nodes to the table as "found" (not inbound).
    AddNodes { nodes: Vec<NodeInfo> },
    /// Start a refresh now (no-op when one is running).
    Refresh,
    /// The refresh task finished its lookups.
    RefreshDone,
    /// Stop the service; answered once the database is flushed.
    Shutdown { reply: oneshot::Sender<()> },
}
