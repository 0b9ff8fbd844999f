//! What the `pex/1` protocol and service need from an address book.

use std::{io, net::IpAddr, path::PathBuf};

use enode::{Enr, PeerId};
use rand::RngCore;
use tokio::time::Instant;

use super::book::{Ban, BookEntry, BookStats};
use crate::discovery::{Candidate, Outcome};

/// The peer a batch of gossip (or its own record, from its Status) came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GossipSource {
    /// The session's authenticated identity.
    pub id: PeerId,
    /// The session's remote IP; its network group is the entries' source group.
    pub ip: IpAddr,
    /// A peer configured as private: neither it nor anything learned from it is gossiped.
    pub private: bool,
}

/// One record of a Peers answer with its advisory hint: sent as the bit
/// [`super::wire::HINT_CONNECTED`] of the record's hint byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipRecord {
    /// The node's signed record.
    pub record: Enr,
    /// The sender says it had a session with the node in the last 24 hours. Advisory only:
    /// a receiver may prefer such a stranger over other strangers, never trust it more.
    pub had_session: bool,
}

impl GossipRecord {
    /// `record` with no claim of a session.
    pub fn plain(record: Enr) -> Self {
        Self {
            record,
            had_session: false,
        }
    }
}

/// What ingesting one batch of records did. `invalid` records count against the sender.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestReport {
    /// Records for ids the book did not know.
    pub added: usize,
    /// Known ids whose record was replaced by a verified higher sequence number.
    pub updated: usize,
    /// Records refused without blame: stale or equal seq, caps reached, banned, our own.
    pub ignored: usize,
    /// Records that can never be valid: bad signature, no usable endpoint, not decodable.
    pub invalid: usize,
}

/// Misbehaviour by a peer speaking `pex/1`, scored by the book with a decaying score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Peers that answer no request of ours.
    UnsolicitedPeers,
    /// Invalid or forged records in a Peers message.
    InvalidRecords,
    /// GetPeers over the rate limit (transient: answered empty, scored lightly).
    RequestFlood,
    /// A message that breaks the protocol (bad Status, oversized lists).
    ProtocolViolation,
}

/// Writing the book to its store failed; the in-memory book is unaffected.
#[derive(Debug, thiserror::Error)]
#[error("could not save the PEX address book to {path}: {source}")]
pub struct PersistError {
    /// The store's file.
    pub path: PathBuf,
    /// What the file system said.
    #[source]
    pub source: io::Error,
}

/// The address book as the PEX service drives it. One service task owns the book; every
/// method is synchronous and does no I/O except [`PexBook::persist`].
pub trait PexBook: Send + 'static {
    /// Ingests records gossiped by `source` (a record whose id is `source.id` is the
    /// peer's own, from its Status). A record replaces a known one only when its sequence
    /// number is higher and its signature verifies.
    fn ingest(&mut self, source: GossipSource, records: Vec<Enr>, now: Instant) -> IngestReport;

    /// Ingests the records of a Peers answer from `source` with the sender's hints. The
    /// default ignores the hints; a book that uses them must let a hint only reorder
    /// strangers (never lift a backoff or a ban, never promote or gossip an entry).
    fn ingest_answer(
        &mut self,
        source: GossipSource,
        records: Vec<GossipRecord>,
        now: Instant,
    ) -> IngestReport {
        let records = records.into_iter().map(|r| r.record).collect();
        self.ingest(source, records, now)
    }

    /// Records to answer `requester`'s GetPeers with: at most `limit` (and at most 64),
    /// 23 % of the eligible entries but at least 32 when the book has them; never the
    /// requester, private ids, entries learned from private peers, banned, incompatible or
    /// terrible entries. Each record says whether we had a session with the node in the
    /// last 24 hours (the hint byte of the answer).
    fn select_for_gossip(
        &mut self,
        requester: &PeerId,
        limit: usize,
        now: Instant,
        rng: &mut dyn RngCore,
    ) -> Vec<GossipRecord>;

    /// True while the book wants more addresses (the service asks peers only then).
    fn needs_more(&self, now: Instant) -> bool;

    /// How many peers the service asks at each tick: none once the book has what it
    /// wants, more while it is far from it. The default asks one while it needs more.
    fn peers_to_ask(&self, now: Instant) -> usize {
        usize::from(self.needs_more(now))
    }

    /// Entries known.
    fn len(&self) -> usize;

    /// True when the book knows nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next entry to dial, or `None` when no entry is eligible now; never an entry in
    /// backoff, banned, incompatible or already handed out and not yet reported.
    fn next_candidate(&mut self, now: Instant, rng: &mut dyn RngCore) -> Option<Candidate>;

    /// When [`PexBook::next_candidate`] may return something it cannot return now.
    fn next_eligible_at(&self, now: Instant) -> Option<Instant>;

    /// What became of a candidate or a session (from the dial scheduler's reports).
    fn report(&mut self, id: &PeerId, outcome: Outcome, now: Instant);

    /// Scores misbehaviour by `id`; returns true when the peer is now banned (the service
    /// then disconnects it).
    fn penalize(&mut self, id: &PeerId, ip: IpAddr, what: Misbehaviour, now: Instant) -> bool;

    /// Up to `max` entries a seed should contact to refresh its view (stale, eligible),
    /// marked as attempted.
    fn crawl_candidates(&mut self, max: usize, now: Instant) -> Vec<Enr>;

    /// Writes the book to its store (every 2 min and at shutdown).
    fn persist(&mut self, now: Instant) -> Result<(), PersistError>;

    /// Sizes of the tables and bans in force, for metrics. The default counts every entry
    /// as new.
    fn stats(&self, _now: Instant) -> BookStats {
        BookStats {
            new: self.len(),
            ..BookStats::default()
        }
    }

    /// Every entry and every ban in force, for dumps (`kadnode pex book`, JSON-RPC). The
    /// default dumps nothing.
    fn dump(&self, now: Instant) -> BookDump {
        BookDump {
            stats: self.stats(now),
            ..BookDump::default()
        }
    }
}

/// A book's content at one moment.
#[derive(Debug, Clone, Default)]
pub struct BookDump {
    /// Table sizes and bans.
    pub stats: BookStats,
    /// Every entry, in no particular order.
    pub entries: Vec<BookEntry>,
    /// Bans in force: the peer, its ban, and how long it has left.
    pub bans: Vec<(PeerId, Ban, std::time::Duration)>,
}
