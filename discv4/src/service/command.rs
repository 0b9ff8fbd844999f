//! What handles and the service task say to each other: the commands, each carrying a oneshot
//! of exactly the type it is answered with, and the public types those answers are made of.
//!
//! This module imports no other module of the service, so both sides can use it without
//! importing each other.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::table::NodeInfo;

use enode::{Enr, NodeId, NodeRecord, PeerId};

/// Why a request to a remote node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No valid reply arrived within the request timeout.
    #[error("no reply within the request timeout")]
    Timeout,
    /// The discovery service has stopped.
    #[error("the discovery service has stopped")]
    ServiceStopped,
    /// Too many requests (or lookups) are outstanding; try again later.
    #[error("too many outstanding requests")]
    TooManyRequests,
    /// The packet could not be sent.
    #[error("failed to send the packet: {0}")]
    Send(String),
    /// The reply broke a rule of the protocol (an ENR of another node, or one whose address
    /// the sender may not relay).
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

/// The answer to one command: the result, or why there is none.
pub(crate) type Answer<T> = oneshot::Sender<Result<T, RequestError>>;

/// How a finished lookup is reported to the handle that submitted it.
#[derive(Debug, Default)]
pub(crate) struct LookupOutcome {
    /// The closest nodes found, closest first (at most 16).
    pub(crate) closest: Vec<NodeRecord>,
    /// Newly seen nodes the lookup could not hand to the `found` channel because it was full;
    /// the submitter forwards them (in order, after everything already delivered).
    pub(crate) undelivered: Vec<NodeRecord>,
}

/// A command for the service task. Queries carry a oneshot typed for their answer.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send a PING; answer with what the PONG told.
    Ping {
        node: NodeRecord,
        reply: Answer<PongInfo>,
    },
    /// Send a FINDNODE, after bonding when `bond` is set and the node needs it; answer with
    /// the collected neighbours.
    FindNode {
        node: NodeRecord,
        target: PeerId,
        bond: bool,
        reply: Answer<Vec<NodeRecord>>,
    },
    /// Send an ENRRequest (bonding first when the node needs it); answer with the record.
    EnrRequest {
        node: NodeRecord,
        reply: Answer<Enr>,
    },
    /// Run an iterative lookup for `target` in the service. Newly seen nodes go to `found` as
    /// they arrive (when given), without ever blocking the service.
    Lookup {
        target: PeerId,
        found: Option<mpsc::Sender<NodeRecord>>,
        reply: Answer<LookupOutcome>,
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
    /// Offer nodes to the table as "found" (not inbound).
    AddNodes { nodes: Vec<NodeInfo> },
    /// Start a refresh now (no-op when one is running).
    Refresh,
    /// Stop the service; answered once the database is flushed.
    Shutdown { reply: oneshot::Sender<()> },
}
