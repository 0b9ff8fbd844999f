//! Counters the service keeps for operators (exported as Prometheus text by the bootnode).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::proto::PacketKind;

/// Why an incoming datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Over the per-IP ingress rate limit.
    RateLimited,
    /// Not a valid discv4 packet (bad hash, signature, RLP, size).
    Malformed,
    /// A packet type we do not know (EIP-8: ignored).
    UnknownType,
    /// The packet's expiration is in the past.
    Expired,
    /// Signed by our own key.
    FromSelf,
    /// A PONG, NEIGHBORS or ENRResponse nobody asked for.
    Unsolicited,
    /// FINDNODE or ENRRequest from a sender without an endpoint proof.
    NotBonded,
    /// The queue between the ingress workers and the service was full.
    QueueFull,
    /// Not a dropped datagram: an unknown pinger got its PONG but no ping-back, because the
    /// ping-back cap was reached.
    PingBackLimited,
    /// Dropped unverified while the socket had a backlog: the sender's endpoint has no proof
    /// with us and the budget for verifying unknown senders under overload was spent.
    Overloaded,
}

impl DropReason {
    /// Every reason, for exporting.
    pub const ALL: [Self; 10] = [
        Self::RateLimited,
        Self::Malformed,
        Self::UnknownType,
        Self::Expired,
        Self::FromSelf,
        Self::Unsolicited,
        Self::NotBonded,
        Self::QueueFull,
        Self::PingBackLimited,
        Self::Overloaded,
    ];

    /// A short snake_case label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::Malformed => "malformed",
            Self::UnknownType => "unknown_type",
            Self::Expired => "expired",
            Self::FromSelf => "from_self",
            Self::Unsolicited => "unsolicited",
            Self::NotBonded => "not_bonded",
            Self::QueueFull => "queue_full",
            Self::PingBackLimited => "ping_back_limited",
            Self::Overloaded => "overloaded",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// The packet kinds in wire order, for exporting.
pub const PACKET_KINDS: [PacketKind; 6] = [
    PacketKind::Ping,
    PacketKind::Pong,
    PacketKind::FindNode,
    PacketKind::Neighbors,
    PacketKind::EnrRequest,
    PacketKind::EnrResponse,
];

/// Lock-free counters shared by the service and its ingress workers.
#[derive(Debug, Default)]
pub struct Metrics {
    packets_in: [AtomicU64; 6],
    packets_out: [AtomicU64; 6],
    dropped: [AtomicU64; DropReason::ALL.len()],
    lookups: AtomicU64,
    send_errors: AtomicU64,
}

fn kind_index(kind: PacketKind) -> usize {
    usize::from(kind.byte()).saturating_sub(1).min(5)
}

impl Metrics {
    /// Counts a verified incoming packet.
    pub fn packet_in(&self, kind: PacketKind) {
        self.packets_in[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a sent packet.
    pub fn packet_out(&self, kind: PacketKind) {
        self.packets_out[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a dropped datagram.
    pub fn dropped(&self, reason: DropReason) {
        self.dropped[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a started lookup.
    pub fn lookup_started(&self) {
        self.lookups.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed `send_to`.
    pub fn send_error(&self) {
        self.send_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Incoming packets of a kind so far.
    pub fn packets_in_total(&self, kind: PacketKind) -> u64 {
        self.packets_in[kind_index(kind)].load(Ordering::Relaxed)
    }

    /// Outgoing packets of a kind so far.
    pub fn packets_out_total(&self, kind: PacketKind) -> u64 {
        self.packets_out[kind_index(kind)].load(Ordering::Relaxed)
    }

    /// Dropped datagrams for a reason so far.
    pub fn dropped_total(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()].load(Ordering::Relaxed)
    }

    /// Lookups started so far.
    pub fn lookups_total(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// Failed sends so far.
    pub fn send_errors_total(&self) -> u64 {
        self.send_errors.load(Ordering::Relaxed)
    }
}
