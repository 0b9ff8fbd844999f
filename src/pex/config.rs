//! What a node running `pex/1` is told: its seeds, whether it is a seed itself, which peers
//! stay private, the cadence of asking, saving and crawling, and where its book comes from.

use std::{fmt, path::Path, sync::Arc, time::Duration};

use enode::{NodeRecord, PeerId};

use super::PexBook;

/// What a book is opened with: where the node keeps its files and who must never be
/// gossiped.
#[derive(Debug, Clone, Copy)]
pub struct BookContext<'a> {
    /// The node's data directory (`None` for an in-memory node).
    pub datadir: Option<&'a Path>,
    /// Our own id: never stored, never gossiped.
    pub local_id: Option<PeerId>,
    /// Peers whose ids, and everything learned from them, are never gossiped.
    pub private_ids: &'a [PeerId],
    /// The node runs as a seed.
    pub seed_mode: bool,
}

/// Opens the address book at start.
pub type BookFactory = Arc<dyn Fn(&BookContext<'_>) -> Box<dyn PexBook> + Send + Sync>;

/// Default interval between asks while the book needs addresses (CometBFT's ensure-peers
/// period).
pub const DEFAULT_ENSURE_PERIOD: Duration = Duration::from_secs(30);
/// Longest interval between asks when answers keep bringing nothing new.
pub const MAX_ENSURE_PERIOD: Duration = Duration::from_secs(600);
/// How long an answer to our GetPeers may take.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Interval between saves of the book (and one more at shutdown).
pub const DEFAULT_SAVE_INTERVAL: Duration = Duration::from_secs(120);
/// Seed mode: interval between crawl rounds.
pub const DEFAULT_CRAWL_PERIOD: Duration = Duration::from_secs(30);
/// Seed mode: entries crawled per round.
pub const DEFAULT_CRAWL_BATCH: usize = 32;
/// Seed mode: crawl sessions at once.
pub const DEFAULT_CRAWL_CONCURRENCY: usize = 8;

/// PEX settings of a node (`P2pConfig::pex`); PEX is off unless this is set.
#[derive(Clone)]
pub struct PexConfig {
    /// Seeds dialed while the book has nothing to offer (PEX-only bootstrap).
    pub seeds: Vec<NodeRecord>,
    /// Run as a seed: answer one GetPeers per inbound session and hang up; crawl the book
    /// instead of asking peers. Default false.
    pub seed_mode: bool,
    /// Peers whose ids, and everything learned from them, are never gossiped.
    pub private_ids: Vec<PeerId>,
    /// Interval between asks while the book needs more (jittered, stretched up to
    /// [`MAX_ENSURE_PERIOD`] while answers bring nothing new). Default 30 s.
    pub ensure_period: Duration,
    /// Longest interval between asks while answers bring nothing new. Default
    /// [`MAX_ENSURE_PERIOD`] (10 min).
    pub max_ensure_period: Duration,
    /// How long an answer may take. Default 10 s.
    pub response_timeout: Duration,
    /// Interval between saves of the book. Default 2 min.
    pub save_interval: Duration,
    /// Seed mode: interval between crawl rounds. Default 30 s.
    pub crawl_period: Duration,
    /// Seed mode: entries crawled per round. Default 32.
    pub crawl_batch: usize,
    /// Seed mode: crawl sessions at once. Default 8.
    pub crawl_concurrency: usize,
    /// Opens the book at start.
    pub book: BookFactory,
}

impl PexConfig {
    /// Defaults with the book `book` opens.
    pub fn new(book: BookFactory) -> Self {
        Self {
            seeds: Vec::new(),
            seed_mode: false,
            private_ids: Vec::new(),
            ensure_period: DEFAULT_ENSURE_PERIOD,
            max_ensure_period: MAX_ENSURE_PERIOD,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            save_interval: DEFAULT_SAVE_INTERVAL,
            crawl_period: DEFAULT_CRAWL_PERIOD,
            crawl_batch: DEFAULT_CRAWL_BATCH,
            crawl_concurrency: DEFAULT_CRAWL_CONCURRENCY,
            book,
        }
    }
}

impl Default for PexConfig {
    /// PEX with the real [`super::AddressBook`] (default [`super::BookConfig`]), kept in the
    /// node's data directory.
    fn default() -> Self {
        Self::new(super::AddressBook::factory(super::BookConfig::default()))
    }
}

impl fmt::Debug for PexConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PexConfig")
            .field("seeds", &self.seeds.len())
            .field("seed_mode", &self.seed_mode)
            .field("private_ids", &self.private_ids.len())
            .field("ensure_period", &self.ensure_period)
            .finish_non_exhaustive()
    }
}
