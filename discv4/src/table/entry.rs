//! What the table stores per node, and what callers hand it.

use secp256k1::SecretKey;
use tokio::time::Instant;

use enode::{NodeId, NodeRecord};

type Enr = enr::Enr<SecretKey>;

/// A node offered to the table: its endpoint, its signed record when known, and the record's
/// sequence number (0 for plain discv4 nodes learnt from NEIGHBORS or enode URLs).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Identity and endpoint used to talk to the node.
    pub record: NodeRecord,
    /// The node's ENR, when one was fetched.
    pub enr: Option<Enr>,
    /// Sequence number of `enr` (0 without one). Decides whether a "found" record may
    /// replace the stored one.
    pub seq: u64,
}

impl NodeInfo {
    /// A node known only by its endpoint (seq 0).
    pub fn new(record: NodeRecord) -> Self {
        Self {
            record,
            enr: None,
            seq: 0,
        }
    }

    /// A node with its ENR; the seq is taken from the ENR. The table refuses the node when
    /// the ENR belongs to a different key than `record.id`.
    pub fn with_enr(record: NodeRecord, enr: Enr) -> Self {
        Self {
            seq: enr.seq(),
            record,
            enr: Some(enr),
        }
    }
}

impl From<NodeRecord> for NodeInfo {
    fn from(record: NodeRecord) -> Self {
        Self::new(record)
    }
}

/// Which revalidation list a bucket entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevalidationList {
    /// New, re-addressed or recently failed nodes (one check per ~1.5 s on average).
    Fast,
    /// Nodes that answered their last check.
    Slow,
}

/// A node held by the table, either as a bucket entry or on a replacement list.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Identity and endpoint (IPv4-mapped addresses already normalised).
    pub record: NodeRecord,
    /// The node's ENR, when known. Boxed: a decoded record is 88 bytes inline, and most of
    /// a table's slots (replacement lists, spare capacity) would carry them empty.
    pub enr: Option<Box<Enr>>,
    /// Sequence number of the stored record.
    pub seq: u64,
    /// When the table first learnt of the node (bucket or replacement list).
    pub added_at: Instant,
    /// When the node became a bucket entry (equal to `added_at` for replacements).
    pub in_bucket_since: Instant,
    /// Successful liveness checks, divided by three on each failure.
    pub liveness_checks: u32,
    /// True once the node answered a liveness check (cleared when its endpoint changes).
    pub is_live: bool,
    pub(crate) id: NodeId,
    pub(crate) list: Option<RevalidationList>,
    pub(crate) check_in_flight: bool,
}

impl Entry {
    pub(crate) fn new(id: NodeId, node: NodeInfo, now: Instant) -> Self {
        Self {
            record: node.record,
            enr: node.enr.map(Box::new),
            seq: node.seq,
            added_at: now,
            in_bucket_since: now,
            liveness_checks: 0,
            is_live: false,
            id,
            list: None,
            check_in_flight: false,
        }
    }

    /// The node's Kademlia key (keccak-256 of `record.id`).
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    /// The revalidation list the node is on (`None` for replacement-list nodes).
    pub fn revalidation_list(&self) -> Option<RevalidationList> {
        self.list
    }

    /// True while a liveness check handed out by `poll_revalidation` awaits its result.
    pub fn check_in_flight(&self) -> bool {
        self.check_in_flight
    }

    /// The stored node as a [`NodeInfo`] (e.g. to persist it).
    pub fn node_info(&self) -> NodeInfo {
        NodeInfo {
            record: self.record,
            enr: self.enr.as_deref().cloned(),
            seq: self.seq,
        }
    }
}
