//! What goes into the scheduler about dials and peers, and what comes out of it: the
//! actions the caller performs (dial, look up, resolve, report).

use std::net::SocketAddr;

use enode::{NodeRecord, PeerId};
use rlpx::verdict::Verdict;

use crate::{
    discovery::{Outcome, SourceId},
    Direction,
};

/// Why a node is dialed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialKind {
    /// It is a static node: kept connected, redialed after every disconnect.
    Static,
    /// A discovery source offered it.
    Discovered(SourceId),
}

/// A dial to start now: connect to `record.tcp_addr()`, run the RLPx handshake, then report
/// with [`super::DialScheduler::dial_finished`] (and [`super::DialScheduler::peer_added`]
/// once the peer runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialTask {
    /// Whom to dial, and where.
    pub record: NodeRecord,
    /// Why.
    pub kind: DialKind,
}

impl DialTask {
    /// The node dialed.
    pub fn id(&self) -> PeerId {
        self.record.id
    }

    /// True for a static node's dial.
    pub fn is_static(&self) -> bool {
        self.kind == DialKind::Static
    }
}

/// An outcome to hand to the source a candidate came from
/// ([`crate::discovery::FairMix::report`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceReport {
    /// The source that offered the node.
    pub source: SourceId,
    /// The node.
    pub id: PeerId,
    /// What happened.
    pub outcome: Outcome,
}

/// Work for the caller, from [`super::DialScheduler::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialAction {
    /// Start this dial.
    Dial(DialTask),
    /// Find the current endpoint of static node `id` through discovery (discv4's
    /// `resolve`), then call [`super::DialScheduler::node_looked_up`] with the result.
    LookUp {
        /// The static node.
        id: PeerId,
    },
    /// Resolve `host` (the DNS name of static node `id`; at most
    /// [`enode::RESOLVE_TIMEOUT`], 5 s), then call
    /// [`super::DialScheduler::dns_resolved`] with the addresses found (none on failure).
    ResolveDns {
        /// The static node.
        id: PeerId,
        /// Its DNS name.
        host: String,
    },
    /// Hand this report to its source.
    Report(SourceReport),
}

/// How a dial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialOutcome {
    /// A session is up (the peer passed the node's admission).
    Connected,
    /// The dial, the handshake or the admission failed; the verdict says how bad it is.
    Failed(Verdict),
    /// The node let the connection go for its own reasons (its dialed slots filled while
    /// this dial ran): no fault of the remote, which is neither backed off nor remembered
    /// as a failure.
    Abandoned,
}

/// A peer that joined the node's peer set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerConnection {
    /// The peer.
    pub id: PeerId,
    /// Its remote TCP address.
    pub remote: SocketAddr,
    /// The slot the peer holds: [`Direction::Outbound`] for a dialed slot. The node passes
    /// the peer's slot (`PeerInfo::slot`), which differs from the TCP direction when a
    /// simultaneous dial swapped the connection; adding a peer already in the set is such
    /// a swap, and keeps the source of the connection it replaced.
    pub slot: Direction,
}

/// What the scheduler knows about a peer's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerClass {
    /// A static node of ours.
    pub is_static: bool,
    /// A trusted node (admitted above the limits).
    pub is_trusted: bool,
}
