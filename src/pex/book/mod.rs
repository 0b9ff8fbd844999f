//! The PEX address book: signed records of nodes, spread over new and tried tables by
//! network group with a keyed hash, with dial eligibility, gossip selection, bans and
//! persistence (design: `../shared/reference/pex-design.md` §8.4, §8.9).
//!
//! A pure data structure: time comes in as arguments, randomness from the caller's rng or
//! the book's own seeded one, and the only I/O is [`PexBook::persist`] and
//! [`AddressBook::open`]. The PEX service owns one book and drives it.
//!
//! ```
//! use kadnode::pex::{AddressBook, BookConfig, PexConfig};
//!
//! // PEX with the real address book, kept in the node's data directory.
//! let pex = PexConfig::new(AddressBook::factory(BookConfig::default()));
//! # let _ = pex;
//! ```

mod bans;
mod entry;
mod group;
#[cfg(test)]
mod hint_tests;
mod ingest;
mod outcome;
mod persist;
mod pick;
mod place;
#[cfg(test)]
mod proptests;
mod tables;
#[cfg(test)]
mod tests;

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    path::Path,
    sync::Arc,
    time::Duration,
};

use enode::{Enr, PeerId};
use rand::{rngs::StdRng, RngCore, SeedableRng};
use tokio::time::Instant;

pub use bans::{Ban, BanReason, BAN_THRESHOLD, FIRST_BAN, MAX_BAN, TRANSIENT_HALF_LIFE};
pub use entry::{Table, BACKOFF_CAP, BUSY_BACKOFF, INCOMPATIBLE_FOR, MAX_FAILURES, STALE_AFTER};
pub use group::Group;
pub use persist::{BookFileError, BOOK_FILE};
pub use tables::{TableSizes, NEW_BUCKETS_PER_SOURCE_GROUP, TRIED_BUCKETS_PER_GROUP};

use self::{bans::Bans, entry::Entry, tables::Tables};
use super::{
    api::{
        BookDump, GossipRecord, GossipSource, IngestReport, Misbehaviour, PersistError, PexBook,
    },
    config::{BookContext, BookFactory},
};
use crate::{
    discovery::{Candidate, Outcome},
    sealed_file::SealedFile,
};

/// Most peers asked at one tick of the PEX service (while the book is small).
pub(crate) const MAX_ASKS_PER_TICK: usize = 3;

/// How the book is sized and how careful it is. Defaults follow the design (§8.4, §8.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookConfig {
    /// Buckets and bucket size: new 256 × 64, tried 64 × 64.
    pub tables: TableSizes,
    /// New buckets one entry may sit in. Default 4.
    pub max_new_refs: u8,
    /// Entries of one IP in the new table. Default 2. LAN and loopback addresses are
    /// exempt from this cap and the next, as in geth's table.
    pub per_ip: usize,
    /// Entries of one /24 (IPv4) or /48 (IPv6) in the new table. Default 8.
    pub per_subnet: usize,
    /// New entries one source may add per hour. Default 256.
    pub per_source_per_hour: usize,
    /// The book asks for more addresses while it holds fewer entries. Default 1000.
    pub wanted: usize,
    /// Interval of the sweep that drops terrible and unreachable entries. Default 10 min.
    pub sweep_interval: Duration,
    /// An entry handed to the dialer without a report is offered again after this long.
    /// Default 60 s.
    pub hand_out_timeout: Duration,
    /// A node found busy (full, already connected) is offered again after this long; it
    /// does not count as a failure. Default [`BUSY_BACKOFF`] (35 s).
    pub busy_backoff: Duration,
}

impl Default for BookConfig {
    fn default() -> Self {
        Self {
            tables: TableSizes::default(),
            max_new_refs: 4,
            per_ip: 2,
            per_subnet: 8,
            per_source_per_hour: 256,
            wanted: 1000,
            sweep_interval: Duration::from_secs(600),
            hand_out_timeout: Duration::from_secs(60),
            busy_backoff: BUSY_BACKOFF,
        }
    }
}

/// One entry as the book's users see it (for dumps and metrics).
#[derive(Debug, Clone)]
pub struct BookEntry {
    /// The node's latest signed record.
    pub record: Enr,
    /// New or tried.
    pub table: Table,
    /// The peer that announced it first.
    pub source: PeerId,
    /// How long ago it was first and last announced.
    pub first_seen_ago: Duration,
    /// How long ago anyone last announced it.
    pub last_seen_ago: Duration,
    /// How long ago our last dial was, if any.
    pub last_attempt_ago: Option<Duration>,
    /// How long ago our last successful dial was, if any.
    pub last_success_ago: Option<Duration>,
    /// How long ago one of our dials last reached it and saw its key (a session, or a
    /// refusal because it was busy), if ever.
    pub verified_ago: Option<Duration>,
    /// How long ago a peer last sent it with the "had a session" hint, if ever (advisory:
    /// it only puts the entry before other never-dialed entries).
    pub vouched_ago: Option<Duration>,
    /// Failed dials since the last success.
    pub failures: u32,
    /// How long until it may be dialed again (zero when it may now).
    pub eligible_in: Duration,
    /// Learned from a private peer (never gossiped).
    pub from_private: bool,
    /// Marked incompatible (another network) for this much longer.
    pub incompatible_for: Option<Duration>,
}

/// Sizes of the book's parts, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookStats {
    /// Entries in the new table.
    pub new: usize,
    /// Entries in the tried table.
    pub tried: usize,
    /// Bans in force.
    pub banned: usize,
    /// Outbound sessions the book's candidates are in now.
    pub connected: usize,
}

/// The address book. See the module documentation.
#[derive(Debug)]
pub struct AddressBook {
    config: BookConfig,
    local: Option<PeerId>,
    private: HashSet<PeerId>,
    entries: HashMap<PeerId, Entry>,
    tables: Tables,
    /// New-table entries per IP and per cap subnet.
    per_ip: HashMap<IpAddr, usize>,
    per_subnet: HashMap<IpAddr, usize>,
    /// New entries per source in the current hour: (hour started, count).
    quotas: HashMap<PeerId, (Instant, usize)>,
    /// Entries we dialed whose session is up.
    connected: HashSet<PeerId>,
    bans: Bans,
    next_sweep: Instant,
    file: Option<SealedFile>,
    rng: StdRng,
}

impl AddressBook {
    /// An empty book that is never saved, with a fresh placement secret.
    pub fn in_memory(config: BookConfig, context: &BookContext<'_>) -> Self {
        let mut rng = StdRng::from_entropy();
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self::with_secret(config, context, secret, rng)
    }

    /// The book kept in `datadir/pex-book.bin`: loaded when the file exists, empty
    /// otherwise. A damaged file is set aside as `pex-book.bin.corrupt` and reported as the
    /// second value (the book starts empty); a file that cannot be read is an error and is
    /// left alone.
    pub fn open(
        config: BookConfig,
        context: &BookContext<'_>,
        datadir: &Path,
    ) -> Result<(Self, Option<BookFileError>), BookFileError> {
        persist::open(config, context, datadir)
    }

    /// The book saved in `datadir` for inspection (`kadnode pex book`): the file is not
    /// changed, not even when damaged (that is an error), and the returned book is never
    /// saved. `None` when the directory holds no book.
    pub fn read(
        config: BookConfig,
        context: &BookContext<'_>,
        datadir: &Path,
    ) -> Result<Option<Self>, BookFileError> {
        persist::read(config, context, datadir)
    }

    /// A [`BookFactory`] for [`super::PexConfig`]: the book in the node's data directory
    /// (damage is set aside with a warning), or in memory for a node without one. A book
    /// that cannot be read at all is logged and replaced by an in-memory one, so the node
    /// still starts; the file is left untouched.
    pub fn factory(config: BookConfig) -> BookFactory {
        Arc::new(move |context: &BookContext<'_>| -> Box<dyn PexBook> {
            let Some(dir) = context.datadir else {
                return Box::new(Self::in_memory(config.clone(), context));
            };
            match Self::open(config.clone(), context, dir) {
                Ok((book, damage)) => {
                    if let Some(damage) = damage {
                        tracing::warn!(target: "kadnode::pex", %damage, "address book set aside; starting empty");
                    }
                    Box::new(book)
                }
                Err(error) => {
                    tracing::warn!(target: "kadnode::pex", %error, "address book not loaded; this run keeps it in memory only");
                    Box::new(Self::in_memory(config.clone(), context))
                }
            }
        })
    }

    fn with_secret(
        config: BookConfig,
        context: &BookContext<'_>,
        secret: [u8; 32],
        rng: StdRng,
    ) -> Self {
        Self {
            tables: Tables::new(secret, config.tables),
            local: context.local_id,
            private: context.private_ids.iter().copied().collect(),
            entries: HashMap::new(),
            per_ip: HashMap::new(),
            per_subnet: HashMap::new(),
            quotas: HashMap::new(),
            connected: HashSet::new(),
            bans: Bans::default(),
            next_sweep: entry::after(Instant::now(), config.sweep_interval),
            file: None,
            rng,
            config,
        }
    }

    /// Entries known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the book knows nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sizes of the tables, bans in force and connected candidates.
    pub fn stats(&self, now: Instant) -> BookStats {
        let tried = self
            .entries
            .values()
            .filter(|e| e.table == Table::Tried)
            .count();
        BookStats {
            new: self.entries.len() - tried,
            tried,
            banned: self.bans.active(now),
            connected: self.connected.len(),
        }
    }

    /// Every entry, in no particular order.
    pub fn entries(&self, now: Instant) -> Vec<BookEntry> {
        let ago = |at: Instant| now.saturating_duration_since(at);
        self.entries
            .values()
            .map(|e| BookEntry {
                record: e.record.clone(),
                table: e.table,
                source: e.source,
                first_seen_ago: ago(e.first_seen),
                last_seen_ago: ago(e.last_seen),
                last_attempt_ago: e.last_attempt.map(ago),
                last_success_ago: e.last_success.map(ago),
                verified_ago: e.verified_at.map(ago),
                vouched_ago: e.vouched_at.map(ago),
                failures: e.failures,
                eligible_in: e.eligible_at.saturating_duration_since(now),
                from_private: e.from_private,
                incompatible_for: e
                    .incompatible_until
                    .filter(|until| *until > now)
                    .map(|until| until.saturating_duration_since(now)),
            })
            .collect()
    }

    /// Bans in force: the peer, its ban, and how long it has left.
    pub fn bans(&self, now: Instant) -> Vec<(PeerId, Ban, Duration)> {
        self.bans
            .iter()
            .filter(|(_, ban)| ban.until > now)
            .map(|(id, ban)| (*id, *ban, ban.until.saturating_duration_since(now)))
            .collect()
    }

    /// True when `id` is banned now.
    pub fn is_banned(&self, id: &PeerId, now: Instant) -> bool {
        self.bans.is_banned(id, now)
    }
}

impl PexBook for AddressBook {
    fn ingest(&mut self, source: GossipSource, records: Vec<Enr>, now: Instant) -> IngestReport {
        let records = records.into_iter().map(GossipRecord::plain).collect();
        self.ingest_records(source, records, now)
    }

    fn ingest_answer(
        &mut self,
        source: GossipSource,
        records: Vec<GossipRecord>,
        now: Instant,
    ) -> IngestReport {
        self.ingest_records(source, records, now)
    }

    fn select_for_gossip(
        &mut self,
        requester: &PeerId,
        limit: usize,
        now: Instant,
        rng: &mut dyn RngCore,
    ) -> Vec<GossipRecord> {
        self.select_gossip(requester, limit, now, rng)
    }

    fn needs_more(&self, _now: Instant) -> bool {
        self.entries.len() < self.config.wanted
    }

    /// Three peers while the book holds under a quarter of what it wants, two under half,
    /// then one: a young book learns from several views at once, a grown one asks slowly.
    fn peers_to_ask(&self, _now: Instant) -> usize {
        let wanted = self.config.wanted;
        match self.entries.len() {
            n if n >= wanted => 0,
            n if n.saturating_mul(2) >= wanted => 1,
            n if n.saturating_mul(4) >= wanted => 2,
            _ => MAX_ASKS_PER_TICK,
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn next_candidate(&mut self, now: Instant, rng: &mut dyn RngCore) -> Option<Candidate> {
        self.sweep_if_due(now);
        self.pick_candidate(now, rng)
    }

    fn next_eligible_at(&self, now: Instant) -> Option<Instant> {
        self.next_dialable_at(now)
    }

    fn report(&mut self, id: &PeerId, outcome: Outcome, now: Instant) {
        self.apply_outcome(id, outcome, now);
    }

    fn penalize(&mut self, id: &PeerId, ip: IpAddr, what: Misbehaviour, now: Instant) -> bool {
        let banned = self.bans.penalize(*id, ip, what, now);
        if banned {
            self.forget_banned(id, now);
        }
        banned
    }

    fn crawl_candidates(&mut self, max: usize, now: Instant) -> Vec<Enr> {
        self.sweep_if_due(now);
        self.crawl(max, now)
    }

    fn persist(&mut self, now: Instant) -> Result<(), PersistError> {
        persist::save(self, now)
    }

    fn stats(&self, now: Instant) -> BookStats {
        AddressBook::stats(self, now)
    }

    fn dump(&self, now: Instant) -> BookDump {
        BookDump {
            stats: AddressBook::stats(self, now),
            entries: self.entries(now),
            bans: self.bans(now),
        }
    }
}
