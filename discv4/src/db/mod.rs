//! The persistent node database (SQLite): restart seeds, endpoint-proof times, FINDNODE
//! failure counts and the local record's seq.
//!
//! Layout (one file, `nodes.sqlite`, in the data directory; see geth's `nodedb.go`), tables
//! without rowid, marked with `PRAGMA application_id` and `PRAGMA user_version`
//! ([`SCHEMA_VERSION`]); a file with another version, or of some other program, is moved
//! aside and a fresh database is created:
//!
//! - `nodes`: node id (32 bytes) → latest record: endpoint, seq, and the ENR (RLP) when
//!   known. A record with a lower seq than the stored one is ignored.
//! - `endpoints`: node id ‖ IP (16 bytes, IPv4-mapped) → (last PING received, last PONG
//!   received, consecutive FINDNODE failures). Times are Unix seconds; keyed per (id, IP)
//!   because an endpoint proof from one IP does not cover another.
//! - `local_seq`: local node id → seq of our own record.
//!
//! # Damage
//!
//! A damaged file (a failing disk, a torn copy) must never stop the node. SQLite reports
//! damage as an error; at open (after an integrity check) and at run time such a file is
//! moved aside as `nodes.sqlite.corrupt-<unix time>`, with its write-ahead log, and the node
//! goes on with an empty database (at run time with one warning logged). Errors that are not
//! the file's fault — permissions, a lock held by another process, I/O — are errors and the
//! file is left alone.
//!
//! # Consistency
//!
//! A commit is a write to disk, far too slow for one per packet. So updates of node
//! records and endpoint rows go to an in-memory write-behind buffer, and every read consults
//! that buffer first: a reader always sees its own writes. The buffer is committed in **one**
//! transaction when a write finds the last commit more than [`FLUSH_INTERVAL`] ago, when it
//! holds [`MAX_PENDING_WRITES`] rows, on [`NodeDb::flush`], before [`NodeDb::seeds`],
//! [`NodeDb::expire`] and [`NodeDb::remove_node`], and when the `NodeDb` is dropped. A
//! crash therefore loses at most about one second of timestamps and counters, which only
//! costs a few extra PINGs after restart. The local seq is written through immediately,
//! because reusing a seq for a different record would break ENR update rules.
//!
//! Expiry is the caller's job: call [`NodeDb::expire`] hourly ([`CLEANUP_INTERVAL`]), and
//! (like geth) only once the node has received its first PONG, so a node that cannot reach
//! the network does not wipe its seeds.
//!
//! [`NodeDb::in_memory`] keeps the same tables in plain bounded maps (no file, no engine): a
//! few hundred bytes per row, which lets simulations run 10,000 nodes.

mod codec;
mod memory;
mod open;
mod sqlite;
#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    fmt,
    net::IpAddr,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rand::{seq::SliceRandom, Rng};
use secp256k1::SecretKey;

use crate::table::NodeInfo;

use codec::{decode_node, encode_node, endpoint_key, endpoint_key_id, node_seq, EndpointKey};
use enode::{NodeId, NodeRecord};
use memory::{MemoryTables, MEMORY_ROW_LIMIT};
use sqlite::SqliteFile;

type Enr = enr::Enr<SecretKey>;

/// Version of the table layout; a database with another version is moved aside.
pub const SCHEMA_VERSION: u64 = 1;
/// File name of the database inside the data directory.
pub const DB_FILE_NAME: &str = "nodes.sqlite";
/// Endpoint rows and nodes without a PONG for this long are deleted by [`NodeDb::expire`].
pub const NODE_EXPIRATION: Duration = Duration::from_secs(24 * 60 * 60);
/// How often the service should call [`NodeDb::expire`].
pub const CLEANUP_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// Number of seeds loaded at start-up and on each refresh.
pub const SEED_COUNT: usize = 30;
/// Seeds must have answered a PING within this age.
pub const SEED_MAX_AGE: Duration = Duration::from_secs(5 * 24 * 60 * 60);
/// Longest time buffered writes wait before a write commits them.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Buffered rows that force a commit regardless of time.
pub const MAX_PENDING_WRITES: usize = 4096;

/// Errors of the node database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The data directory cannot be created or read.
    #[error("node database directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database file exists but cannot be read and written (permissions, a directory
    /// in its place). Nothing was moved: fix the file or its permissions.
    #[error("node database {path}: {source}; fix its permissions or remove it")]
    File {
        /// The database file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another process (or another `NodeDb` in this one) has the file open.
    #[error(
        "node database {path} is in use by another process; stop it or use another data directory"
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// An unusable file could not be renamed out of the way.
    #[error("cannot move the unusable node database {path} aside: {source}")]
    MoveAside {
        /// The database file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The ENR given to [`NodeDb::update_node`] belongs to another node than the record.
    #[error("ENR does not belong to node {0}")]
    EnrMismatch(NodeId),
    /// A read or write failed in the storage engine.
    #[error("node database storage error: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

/// Something [`NodeDb::open`] repaired by starting with an empty database. The old file is
/// kept under `moved_to` for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenWarning {
    /// The file is damaged (failed the integrity check, truncated, not a database).
    Corrupt {
        /// Where the old file now is.
        moved_to: PathBuf,
        /// What the storage engine said.
        error: String,
    },
    /// The file holds another schema version (or no kadnode schema at all).
    SchemaMismatch {
        /// Version found (`None`: no version marker).
        found: Option<u64>,
        /// Version this build uses.
        expected: u64,
        /// Where the old file now is.
        moved_to: PathBuf,
    },
}

impl fmt::Display for OpenWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Corrupt { moved_to, error } => write!(
                f,
                "node database was unreadable ({error}); moved it to {} and started with an empty one",
                moved_to.display()
            ),
            Self::SchemaMismatch { found, expected, moved_to } => write!(
                f,
                "node database has schema version {} but this build uses {expected}; moved it to {} and started with an empty one",
                found.map_or_else(|| "none".to_owned(), |v| v.to_string()),
                moved_to.display()
            ),
        }
    }
}

/// What [`NodeDb::expire`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpireStats {
    /// Node records deleted (no PONG within [`NODE_EXPIRATION`] from any IP).
    pub nodes: usize,
    /// Endpoint rows deleted (neither PING nor PONG within [`NODE_EXPIRATION`]).
    pub endpoints: usize,
}

impl ExpireStats {
    /// Rows and records deleted in total.
    pub fn total(&self) -> usize {
        self.nodes + self.endpoints
    }
}

/// The current time as Unix seconds (the unit of every timestamp in the database).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EndpointRow {
    last_ping: u64,
    last_pong: u64,
    findnode_failures: u32,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PendingEndpoint {
    last_ping: Option<u64>,
    last_pong: Option<u64>,
    findnode_failures: Option<u32>,
}

impl PendingEndpoint {
    pub(crate) fn apply(&self, row: &mut EndpointRow) {
        if let Some(t) = self.last_ping {
            row.last_ping = t;
        }
        if let Some(t) = self.last_pong {
            row.last_pong = t;
        }
        if let Some(n) = self.findnode_failures {
            row.findnode_failures = n;
        }
    }
}

/// Buffered writes handed to a backend's commit.
#[derive(Clone, Copy)]
pub(crate) struct Batch<'a> {
    nodes: &'a HashMap<[u8; 32], Vec<u8>>,
    endpoints: &'a HashMap<EndpointKey, PendingEndpoint>,
}

/// What a commit does besides writing the buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Extra {
    None,
    LocalSeq([u8; 32], u64),
    Remove([u8; 32]),
    /// Expire everything older than this Unix time.
    Expire(u64),
}

/// Where the rows live.
#[derive(Debug)]
enum Backend {
    File(SqliteFile),
    Memory(MemoryTables),
}

/// The node database. Single owner (the discovery service); all methods are synchronous and
/// cheap except the commits described in the [module documentation](self).
pub struct NodeDb {
    backend: Backend,
    path: Option<PathBuf>,
    /// A read found the file damaged: the next write moves it aside (reads take `&self`).
    damaged: AtomicBool,
    pending_nodes: HashMap<[u8; 32], Vec<u8>>,
    pending_endpoints: HashMap<EndpointKey, PendingEndpoint>,
    last_flush: std::time::Instant,
    flush_interval: Duration,
}

impl fmt::Debug for NodeDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeDb")
            .field("path", &self.path)
            .field("pending_nodes", &self.pending_nodes.len())
            .field("pending_endpoints", &self.pending_endpoints.len())
            .finish()
    }
}

impl NodeDb {
    /// Opens `dir/nodes.sqlite`, creating the directory and the file as needed. A damaged
    /// or incompatible file is renamed (`nodes.sqlite.corrupt-<unix time>` or
    /// `nodes.sqlite.incompatible-<unix time>`) and an empty database is created; the
    /// returned warning says so and should be logged (it is not logged here). Fails —
    /// moving nothing — when the directory is unusable, the file cannot be read and written
    /// (permissions), is locked by another process, or cannot be moved.
    pub fn open(dir: impl AsRef<Path>) -> Result<(Self, Option<OpenWarning>), DbError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| DbError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(DB_FILE_NAME);
        let (file, warning) = open::open_or_recover(&path)?;
        Ok((Self::with_backend(Backend::File(file), Some(path)), warning))
    }

    /// A database that lives in memory only (simulations, tests, nodes without a data
    /// directory): plain maps bounded to 100,000 rows, the least recently seen evicted.
    /// Writes apply at once (there is nothing to batch). Never fails; the `Result` keeps the
    /// signature of [`NodeDb::open`].
    pub fn in_memory() -> Result<Self, DbError> {
        let mut db = Self::with_backend(Backend::Memory(MemoryTables::new(MEMORY_ROW_LIMIT)), None);
        db.flush_interval = Duration::ZERO;
        Ok(db)
    }

    fn with_backend(backend: Backend, path: Option<PathBuf>) -> Self {
        Self {
            backend,
            path,
            damaged: AtomicBool::new(false),
            pending_nodes: HashMap::new(),
            pending_endpoints: HashMap::new(),
            last_flush: std::time::Instant::now(),
            flush_interval: FLUSH_INTERVAL,
        }
    }

    /// The database file, `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Changes how long buffered writes may wait (default [`FLUSH_INTERVAL`]); zero commits
    /// on every write.
    pub fn set_flush_interval(&mut self, interval: Duration) {
        self.flush_interval = interval;
    }

    /// True when buffered writes have waited at least the flush interval. Writes commit such
    /// a buffer by themselves; a service that wants bounded staleness while idle calls
    /// [`NodeDb::flush`] on a timer when this is true.
    pub fn needs_flush(&self) -> bool {
        self.pending_writes() > 0 && self.last_flush.elapsed() >= self.flush_interval
    }

    /// Number of buffered, not yet committed rows.
    pub fn pending_writes(&self) -> usize {
        self.pending_nodes.len() + self.pending_endpoints.len()
    }

    /// Stores the node's latest record (and ENR, whose seq becomes the record's seq; 0
    /// without one). Ignored, returning `false`, when the stored record has a higher seq.
    pub fn update_node(&mut self, record: &NodeRecord, enr: Option<&Enr>) -> Result<bool, DbError> {
        let id = record.id.node_id();
        if let Some(enr) = enr {
            if enr.node_id().raw() != id.0 {
                return Err(DbError::EnrMismatch(id));
            }
        }
        let seq = enr.map_or(0, |e| e.seq());
        let current = match self.pending_nodes.get(&id.0) {
            Some(value) => node_seq(value),
            // An unreadable stored row must not block the update that replaces it.
            None => self
                .stored_node(&id)
                .ok()
                .flatten()
                .as_deref()
                .and_then(node_seq),
        };
        if current.is_some_and(|stored| stored > seq) {
            return Ok(false);
        }
        self.pending_nodes
            .insert(id.0, encode_node(record, enr, seq));
        self.maybe_flush()?;
        Ok(true)
    }

    /// The stored record of `id`. A row that cannot be decoded is reported as absent (and
    /// logged); it is replaced by the next [`NodeDb::update_node`].
    pub fn node(&self, id: &NodeId) -> Result<Option<NodeInfo>, DbError> {
        let value = match self.pending_nodes.get(&id.0) {
            Some(value) => Some(value.clone()),
            None => self.stored_node(id)?,
        };
        Ok(value.and_then(|v| decode_logged(id, &v)))
    }

    /// When we last received a PING from `id` at `ip` (Unix seconds).
    pub fn last_ping(&self, id: &NodeId, ip: IpAddr) -> Result<Option<u64>, DbError> {
        Ok(Some(self.endpoint(id, ip)?.last_ping).filter(|t| *t != 0))
    }

    /// Records a PING received from `id` at `ip` at Unix time `t`.
    pub fn set_last_ping(&mut self, id: &NodeId, ip: IpAddr, t: u64) -> Result<(), DbError> {
        self.pending_endpoint(id, ip).last_ping = Some(t);
        self.maybe_flush()
    }

    /// When we last received a valid PONG from `id` at `ip` (Unix seconds): the endpoint
    /// proof is valid for 24 h after it.
    pub fn last_pong(&self, id: &NodeId, ip: IpAddr) -> Result<Option<u64>, DbError> {
        Ok(Some(self.endpoint(id, ip)?.last_pong).filter(|t| *t != 0))
    }

    /// Records a valid PONG from `id` at `ip` at Unix time `t`.
    pub fn set_last_pong(&mut self, id: &NodeId, ip: IpAddr, t: u64) -> Result<(), DbError> {
        self.pending_endpoint(id, ip).last_pong = Some(t);
        self.maybe_flush()
    }

    /// Consecutive FINDNODE failures of `id` at `ip`.
    pub fn findnode_failures(&self, id: &NodeId, ip: IpAddr) -> Result<u32, DbError> {
        Ok(self.endpoint(id, ip)?.findnode_failures)
    }

    /// Sets the consecutive FINDNODE failures of `id` at `ip`.
    pub fn set_findnode_failures(
        &mut self,
        id: &NodeId,
        ip: IpAddr,
        failures: u32,
    ) -> Result<(), DbError> {
        self.pending_endpoint(id, ip).findnode_failures = Some(failures);
        self.maybe_flush()
    }

    /// The stored seq of the local node's record.
    pub fn local_seq(&self, local: &NodeId) -> Result<Option<u64>, DbError> {
        match &self.backend {
            Backend::File(file) => self.read(file.local_seq(&local.0)),
            Backend::Memory(tables) => Ok(tables.local_seq(&local.0)),
        }
    }

    /// Stores the seq of the local node's record. Committed immediately (with the buffered
    /// writes) so a restart never reuses a seq.
    pub fn set_local_seq(&mut self, local: &NodeId, seq: u64) -> Result<(), DbError> {
        self.commit(Extra::LocalSeq(local.0, seq)).map(drop)
    }

    /// Up to `n` distinct random nodes whose newest PONG (from any IP) is at most `max_age`
    /// before `now` (Unix seconds): the restart seeds ([`SEED_COUNT`], [`SEED_MAX_AGE`]).
    pub fn seeds(
        &mut self,
        n: usize,
        max_age: Duration,
        now: u64,
        rng: &mut impl Rng,
    ) -> Result<Vec<NodeInfo>, DbError> {
        self.flush()?;
        let cutoff = now.saturating_sub(max_age.as_secs());
        let youngest = match &self.backend {
            Backend::File(file) => self.read(file.youngest_pongs())?,
            Backend::Memory(tables) => tables.youngest_pongs(),
        };
        let mut candidates: Vec<[u8; 32]> = youngest
            .into_iter()
            .filter(|(_, pong)| *pong != 0 && *pong >= cutoff)
            .map(|(id, _)| id)
            .collect();
        // Sort first so the shuffle depends on the rng only, not on hash-map order.
        candidates.sort_unstable();
        candidates.shuffle(rng);
        let mut seeds = Vec::with_capacity(n.min(candidates.len()));
        for id in candidates {
            if seeds.len() >= n {
                break;
            }
            let id = NodeId(id);
            if let Some(value) = self.stored_node(&id)? {
                if let Some(node) = decode_logged(&id, &value) {
                    seeds.push(node);
                }
            }
        }
        Ok(seeds)
    }

    /// Deletes endpoint rows with neither a PING nor a PONG within [`NODE_EXPIRATION`] before
    /// `now` (Unix seconds), and node records without a PONG in that window from any IP.
    pub fn expire(&mut self, now: u64) -> Result<ExpireStats, DbError> {
        self.flush()?;
        self.commit(Extra::Expire(now.saturating_sub(NODE_EXPIRATION.as_secs())))
    }

    /// Deletes the node's record and all its endpoint rows.
    pub fn remove_node(&mut self, id: &NodeId) -> Result<(), DbError> {
        self.pending_nodes.remove(&id.0);
        self.pending_endpoints
            .retain(|key, _| endpoint_key_id(key) != id.0);
        self.commit(Extra::Remove(id.0)).map(drop)
    }

    /// Commits all buffered writes in one transaction.
    pub fn flush(&mut self) -> Result<(), DbError> {
        if self.pending_writes() == 0 && !self.damaged.load(Ordering::Relaxed) {
            self.last_flush = std::time::Instant::now();
            return Ok(());
        }
        self.commit(Extra::None).map(drop)
    }

    /// Writes the buffered rows and `extra` in one transaction. The buffer is only cleared
    /// when the commit succeeded. A damaged file is moved aside and the commit retried once
    /// on the fresh database, so the buffered writes survive the damage.
    fn commit(&mut self, extra: Extra) -> Result<ExpireStats, DbError> {
        if self.damaged.swap(false, Ordering::Relaxed) {
            self.quarantine("a read failed")?;
        }
        let batch = Batch {
            nodes: &self.pending_nodes,
            endpoints: &self.pending_endpoints,
        };
        let stats = match &mut self.backend {
            Backend::Memory(tables) => tables.commit(batch, extra),
            Backend::File(file) => match file.commit(batch, &extra) {
                Ok(stats) => stats,
                Err(e) if sqlite::is_corruption(&e) => {
                    self.quarantine(&e.to_string())?;
                    let batch = Batch {
                        nodes: &self.pending_nodes,
                        endpoints: &self.pending_endpoints,
                    };
                    match &mut self.backend {
                        Backend::File(file) => file.commit(batch, &extra)?,
                        Backend::Memory(tables) => tables.commit(batch, extra),
                    }
                }
                Err(e) => return Err(e.into()),
            },
        };
        self.pending_nodes.clear();
        self.pending_endpoints.clear();
        self.last_flush = std::time::Instant::now();
        Ok(stats)
    }

    /// Moves a file found damaged at run time aside and continues on a fresh one; the
    /// node keeps running, having lost only its seeds and proof times.
    fn quarantine(&mut self, error: &str) -> Result<(), DbError> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        // Close the damaged file before moving it (the lock and its log go with it).
        self.backend = Backend::Memory(MemoryTables::new(MEMORY_ROW_LIMIT));
        let moved_to = open::move_aside(&path, "corrupt")?;
        let warning = OpenWarning::Corrupt {
            moved_to,
            error: error.to_owned(),
        };
        tracing::warn!(target: "discv4::db", "{warning}");
        let file = sqlite::SqliteFile::open(&path).map_err(|f| open::fatal(&path, f))?;
        self.backend = Backend::File(file);
        Ok(())
    }

    fn maybe_flush(&mut self) -> Result<(), DbError> {
        let pending = self.pending_writes();
        if pending >= MAX_PENDING_WRITES || self.last_flush.elapsed() >= self.flush_interval {
            let result = self.flush();
            if result.is_err() && pending >= 4 * MAX_PENDING_WRITES {
                // The store keeps failing: do not grow without bound.
                tracing::error!(target: "discv4::db", pending, "dropping buffered node database writes");
                self.pending_nodes.clear();
                self.pending_endpoints.clear();
            }
            return result;
        }
        Ok(())
    }

    /// A read's result; a damaged file is remembered for the next write to move aside.
    fn read<T>(&self, result: rusqlite::Result<T>) -> Result<T, DbError> {
        result.map_err(|e| {
            if sqlite::is_corruption(&e) {
                self.damaged.store(true, Ordering::Relaxed);
            }
            e.into()
        })
    }

    fn pending_endpoint(&mut self, id: &NodeId, ip: IpAddr) -> &mut PendingEndpoint {
        self.pending_endpoints
            .entry(endpoint_key(&id.0, ip))
            .or_default()
    }

    fn endpoint(&self, id: &NodeId, ip: IpAddr) -> Result<EndpointRow, DbError> {
        let key = endpoint_key(&id.0, ip);
        let stored = match &self.backend {
            Backend::File(file) => self.read(file.endpoint(&key))?,
            Backend::Memory(tables) => tables.endpoint(&key),
        };
        let mut row = stored.unwrap_or_default();
        if let Some(update) = self.pending_endpoints.get(&key) {
            update.apply(&mut row);
        }
        Ok(row)
    }

    fn stored_node(&self, id: &NodeId) -> Result<Option<Vec<u8>>, DbError> {
        match &self.backend {
            Backend::File(file) => self.read(file.node(&id.0)),
            Backend::Memory(tables) => Ok(tables.node(&id.0)),
        }
    }
}

impl Drop for NodeDb {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(target: "discv4::db", "could not save buffered node database writes: {e}");
        }
    }
}

fn decode_logged(id: &NodeId, value: &[u8]) -> Option<NodeInfo> {
    match decode_node(value) {
        Ok(node) => Some(node),
        Err(e) => {
            tracing::warn!(target: "discv4::db", node = %id, "ignoring unreadable node record: {e}");
            None
        }
    }
}
