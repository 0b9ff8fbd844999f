//! PEX: Tendermint-style peer exchange over the RLPx capability `pex/1`, a second discovery
//! backend beside discv4 (design: `../shared/reference/pex-design.md` §8).
//!
//! [`spawn_pex`] starts the service task that owns a book and returns the `pex/1`
//! [`PexProtocol`] for the node's protocols, the [`PexSource`] of dial candidates for its
//! fair mix, and a [`PexHandle`]; a node configured with `P2pConfig::pex` does this itself.
//!
//! [`AddressBook`] is the book a node uses by default ([`PexConfig::default`]).
//! The [`PexBook`] trait is the seam between the address book (a pure data structure that
//! stores signed ENRs, decides eligibility and picks gossip) and the `pex/1` protocol and
//! service that feed it and ask it.

mod api;
mod ask_interval;
mod book;
mod config;
mod metrics;
mod seed_answers;
mod service;
mod session;
mod source;
pub mod wire;

pub use api::{
    BookDump, GossipRecord, GossipSource, IngestReport, Misbehaviour, PersistError, PexBook,
};
pub use book::{
    AddressBook, Ban, BanReason, BookConfig, BookEntry, BookFileError, BookStats, Group, Table,
    TableSizes, BACKOFF_CAP, BAN_THRESHOLD, BOOK_FILE, BUSY_BACKOFF, FIRST_BAN, INCOMPATIBLE_FOR,
    MAX_BAN, MAX_FAILURES, NEW_BUCKETS_PER_SOURCE_GROUP, STALE_AFTER, TRANSIENT_HALF_LIFE,
    TRIED_BUCKETS_PER_GROUP,
};
pub use config::{
    BookContext, BookFactory, PexConfig, DEFAULT_CRAWL_BATCH, DEFAULT_CRAWL_CONCURRENCY,
    DEFAULT_CRAWL_PERIOD, DEFAULT_ENSURE_PERIOD, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_SAVE_INTERVAL,
    MAX_ENSURE_PERIOD,
};
pub use metrics::PexMetrics;
pub use seed_answers::SEED_ANSWER_INTERVAL;
pub use service::{spawn_pex, PexHandle, PexParts};
pub use session::{
    PexProtocol, FLOOD_DISCONNECT, REQUEST_BURST, REQUEST_REFILL, SEED_SESSION_CAP, STATUS_TIMEOUT,
};
pub use source::PexSource;

/// `now + wait`, saturating far in the future: PEX's waits come from configuration, and a
/// huge one must mean "never", not a panic.
pub(crate) fn after(now: tokio::time::Instant, wait: std::time::Duration) -> tokio::time::Instant {
    now.checked_add(wait)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(30 * 365 * 86_400))
}
