//! Why the scheduler did not dial a node, when it was offered or when its dial was due,
//! with stable labels for metrics and counters per reason.

/// Why a node is not dialed (now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DialRefusal {
    /// Dialing is off (`no_dial`, or no dialed slot at all).
    #[error("dialing is disabled")]
    DialingDisabled,
    /// The node is us.
    #[error("the node is this node")]
    IsSelf,
    /// The node has an address but no TCP port.
    #[error("the node has no TCP port")]
    NoTcpPort,
    /// The address is unspecified or multicast.
    #[error("the node's address is not dialable")]
    UnusableAddress,
    /// The node id or its IP is banned.
    #[error("the node or its IP is banned")]
    Banned,
    /// A dial to the node is running.
    #[error("already dialing the node")]
    AlreadyDialing,
    /// The node is connected.
    #[error("already connected to the node")]
    AlreadyConnected,
    /// The node is connecting to us.
    #[error("the node has a pending inbound connection")]
    PendingInbound,
    /// The address is outside the netrestrict networks.
    #[error("the node's address is not in the netrestrict list")]
    NetRestrict,
    /// The node was dialed within the dial history.
    #[error("the node was dialed recently")]
    RecentlyDialed,
    /// The node or its IP is backed off after a failure.
    #[error("the node or its IP is backed off after a failure")]
    BackedOff,
    /// No dial at the node's address ever reached it, after several tries: it is set
    /// aside for a while (see [`super::UnreachableConfig`]).
    #[error("no dial ever reached the node's address; set aside for a while")]
    Unreachable,
    /// The node is a static node: it is dialed as such (its address was taken if it had
    /// none).
    #[error("the node is a static node")]
    StaticNode,
    /// The candidate queue is full of better candidates.
    #[error("the candidate queue is full of better candidates")]
    QueueFull,
    /// The candidate waited in the queue longer than the candidate TTL.
    #[error("the candidate went stale in the queue")]
    Stale,
}

impl DialRefusal {
    /// Every refusal, in [`DialRefusal::index`] order.
    pub const ALL: [Self; 15] = [
        Self::DialingDisabled,
        Self::IsSelf,
        Self::NoTcpPort,
        Self::UnusableAddress,
        Self::Banned,
        Self::AlreadyDialing,
        Self::AlreadyConnected,
        Self::PendingInbound,
        Self::NetRestrict,
        Self::RecentlyDialed,
        Self::BackedOff,
        Self::Unreachable,
        Self::StaticNode,
        Self::QueueFull,
        Self::Stale,
    ];

    /// A short stable name, for metric labels and structured logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::DialingDisabled => "disabled",
            Self::IsSelf => "self",
            Self::NoTcpPort => "no_tcp_port",
            Self::UnusableAddress => "unusable_address",
            Self::Banned => "banned",
            Self::AlreadyDialing => "dialing",
            Self::AlreadyConnected => "connected",
            Self::PendingInbound => "pending_inbound",
            Self::NetRestrict => "netrestrict",
            Self::RecentlyDialed => "recently_dialed",
            Self::BackedOff => "backed_off",
            Self::Unreachable => "unreachable",
            Self::StaticNode => "static",
            Self::QueueFull => "queue_full",
            Self::Stale => "stale",
        }
    }

    /// Position in [`DialRefusal::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// How many times each refusal happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusalCounts {
    counts: [u64; DialRefusal::ALL.len()],
}

impl RefusalCounts {
    /// Counts one refusal.
    pub(crate) fn count(&mut self, refusal: DialRefusal) {
        let slot = &mut self.counts[refusal.index()];
        *slot = slot.saturating_add(1);
    }

    /// How many times `refusal` happened.
    pub fn get(&self, refusal: DialRefusal) -> u64 {
        self.counts[refusal.index()]
    }

    /// Every refusal with its count, for a metrics exporter.
    pub fn iter(&self) -> impl Iterator<Item = (DialRefusal, u64)> + '_ {
        DialRefusal::ALL.iter().map(|r| (*r, self.get(*r)))
    }

    /// All refusals counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |a, b| a.saturating_add(*b))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn labels_are_unique_and_indices_match() {
        let labels: HashSet<_> = DialRefusal::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), DialRefusal::ALL.len());
        for (i, r) in DialRefusal::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let mut counts = RefusalCounts::default();
        counts.count(DialRefusal::Banned);
        counts.count(DialRefusal::Banned);
        counts.count(DialRefusal::Stale);
        assert_eq!(counts.get(DialRefusal::Banned), 2);
        assert_eq!(counts.total(), 3);
    }
}
