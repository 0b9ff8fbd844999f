//! Counters of the PEX service and its sessions, for the CLI's metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

/// PEX counters; all monotonic except [`PexMetrics::book_size`] and
/// [`PexMetrics::sessions`].
#[derive(Debug, Default)]
pub struct PexMetrics {
    pub(crate) book_size: AtomicU64,
    pub(crate) book_new: AtomicU64,
    pub(crate) book_tried: AtomicU64,
    pub(crate) book_banned: AtomicU64,
    pub(crate) sessions: AtomicU64,
    pub(crate) gossip_in: AtomicU64,
    pub(crate) gossip_out: AtomicU64,
    pub(crate) requests_sent: AtomicU64,
    pub(crate) requests_served: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) unsolicited: AtomicU64,
    pub(crate) invalid_records: AtomicU64,
    pub(crate) request_timeouts: AtomicU64,
    pub(crate) bans: AtomicU64,
    pub(crate) crawls: AtomicU64,
    pub(crate) dropped_reports: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64, by: usize) {
    counter.fetch_add(by as u64, Ordering::Relaxed);
}

impl PexMetrics {
    /// Entries in the address book.
    pub fn book_size(&self) -> u64 {
        self.book_size.load(Ordering::Relaxed)
    }
    /// Entries in the book's new table (heard of, not verified by a session of ours).
    pub fn book_new(&self) -> u64 {
        self.book_new.load(Ordering::Relaxed)
    }
    /// Entries in the book's tried table.
    pub fn book_tried(&self) -> u64 {
        self.book_tried.load(Ordering::Relaxed)
    }
    /// Bans in force in the book.
    pub fn book_banned(&self) -> u64 {
        self.book_banned.load(Ordering::Relaxed)
    }
    /// Peers with a running `pex/1` session.
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Relaxed)
    }
    /// Records received in Peers messages (valid ones).
    pub fn gossip_in(&self) -> u64 {
        self.gossip_in.load(Ordering::Relaxed)
    }
    /// Records sent in Peers messages.
    pub fn gossip_out(&self) -> u64 {
        self.gossip_out.load(Ordering::Relaxed)
    }
    /// GetPeers we sent.
    pub fn requests_sent(&self) -> u64 {
        self.requests_sent.load(Ordering::Relaxed)
    }
    /// GetPeers we answered with records (within the rate limit).
    pub fn requests_served(&self) -> u64 {
        self.requests_served.load(Ordering::Relaxed)
    }
    /// GetPeers over a peer's rate limit (answered empty).
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
    /// Peers messages answering no request of ours.
    pub fn unsolicited(&self) -> u64 {
        self.unsolicited.load(Ordering::Relaxed)
    }
    /// Records that did not decode or verify.
    pub fn invalid_records(&self) -> u64 {
        self.invalid_records.load(Ordering::Relaxed)
    }
    /// Our GetPeers that got no answer in time.
    pub fn request_timeouts(&self) -> u64 {
        self.request_timeouts.load(Ordering::Relaxed)
    }
    /// Peers the book banned for misbehaviour.
    pub fn bans(&self) -> u64 {
        self.bans.load(Ordering::Relaxed)
    }
    /// Seed mode: book entries handed out to be crawled.
    pub fn crawls(&self) -> u64 {
        self.crawls.load(Ordering::Relaxed)
    }
    /// Dial outcomes dropped because the service was behind (the book then learns less).
    pub fn dropped_reports(&self) -> u64 {
        self.dropped_reports.load(Ordering::Relaxed)
    }
}
