//! Results of table operations and the events the service broadcasts.

use enode::{NodeId, NodeRecord};

use super::entry::Entry;

/// Why a node was not added to (or updated in) the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefuseReason {
    /// The node is the local node.
    #[error("node is ourselves")]
    IsSelf,
    /// Unspecified, multicast or broadcast IP, or UDP port 0.
    #[error("node has no usable endpoint")]
    InvalidEndpoint,
    /// The ENR is signed by a different key than the record's id.
    #[error("ENR does not belong to the node id")]
    EnrMismatch,
    /// Inbound nodes are not accepted before the initial refresh finished.
    #[error("table initialisation not finished")]
    InitNotDone,
    /// Too many nodes of the same subnet in the node's bucket.
    #[error("too many nodes from the same subnet in the bucket")]
    BucketIpLimit,
    /// Too many nodes of the same subnet in the table.
    #[error("too many nodes from the same subnet in the table")]
    TableIpLimit,
}

/// Result of [`Table::add_found`](super::Table::add_found) and
/// [`Table::add_inbound`](super::Table::add_inbound).
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// New bucket entry, on the fast revalidation list. A `NodeAdded` event was queued.
    Added,
    /// An existing entry took the new record. With `endpoint_changed` (IP or UDP port) the
    /// node lost its live flag and is back on the fast list.
    Updated {
        /// IP or UDP port differ from the previous record.
        endpoint_changed: bool,
    },
    /// The node is already known and the offered record does not replace the stored one
    /// (a found record needs a strictly higher seq; replacement-list nodes are not updated).
    Unchanged,
    /// The bucket is full; the node went to the front of its replacement list.
    AddedReplacement,
    /// Nothing changed.
    Refused(RefuseReason),
}

/// What the service learnt from a liveness check (PING).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The node answered with a PONG, carrying its ENR seq when it sent one (EIP-868).
    Responded {
        /// `enr-seq` of the PONG.
        enr_seq: Option<u64>,
    },
    /// No valid answer in time.
    Timeout,
}

/// What [`Table::on_revalidation_result`](super::Table::on_revalidation_result) did.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevalidationResult {
    /// No check was in flight for this node (unknown, removed meanwhile, or a duplicate
    /// report); nothing changed.
    NotInFlight,
    /// The node answered: live, one more check, moved to the slow list.
    Alive {
        /// The node's current record.
        record: NodeRecord,
        /// Liveness checks after the increment.
        liveness_checks: u32,
        /// The PONG advertised a higher seq than stored: fetch the ENR (ENRRequest) and
        /// offer it with `add_found`.
        fetch_enr: bool,
        /// The node is live with more than `persist_min_liveness_checks` checks: write it
        /// to the node database (this is how nodes become restart seeds).
        persist: bool,
    },
    /// The node failed but still has checks left; back on the fast list.
    Demoted {
        /// The node's record.
        record: NodeRecord,
        /// Liveness checks after the division by three.
        liveness_checks: u32,
    },
    /// The node failed with no checks left and was removed; a random replacement of its
    /// bucket (if any) took its place on the fast list.
    Removed {
        /// The removed node.
        removed: NodeRecord,
        /// The promoted replacement.
        replacement: Option<NodeRecord>,
    },
    /// The node would have been removed but is the table's last node and has no
    /// replacement: it stays (on the fast list) so the table never empties by itself.
    KeptLastNode {
        /// The kept node.
        record: NodeRecord,
    },
}

/// A bucket entry taken out by [`Table::remove`](super::Table::remove).
#[derive(Debug, Clone)]
pub struct Removal {
    /// The removed entry.
    pub removed: Entry,
    /// The replacement promoted into the freed slot.
    pub replacement: Option<NodeRecord>,
}

/// A liveness check to run: PING `record`, then report with `on_revalidation_result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevalidationRequest {
    /// The node's id (the key for `on_revalidation_result`).
    pub id: NodeId,
    /// Whom to ping.
    pub record: NodeRecord,
    /// The seq of the stored record; a PONG with a higher `enr-seq` means the node has a
    /// newer ENR.
    pub seq: u64,
}

/// Changes of the table's membership, for the service to broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableEvent {
    /// A node became a bucket entry (new, or promoted from a replacement list).
    NodeAdded(NodeRecord),
    /// A bucket entry was removed.
    NodeRemoved(NodeRecord),
}
