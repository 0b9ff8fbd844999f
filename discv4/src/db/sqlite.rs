//! The file backend: SQLite (bundled), one file in WAL mode, held with an exclusive lock.
//!
//! SQLite reports a damaged file as an error (`SQLITE_CORRUPT`, `SQLITE_NOTADB`) instead of
//! crashing, which is why it holds the node database: see the damage campaign in
//! `discv4/tests/db_damage.rs` and the README's reliability section.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Mutex, MutexGuard, PoisonError},
};

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::{
    codec::{endpoint_key_id, EndpointKey},
    Batch, EndpointRow, ExpireStats, Extra, SCHEMA_VERSION,
};

/// `PRAGMA application_id` of our files ("kadn"), so a SQLite file of another program is
/// recognised and set aside rather than modified.
const APPLICATION_ID: i64 = 0x6b61_646e;

/// Why a file could not be used.
#[derive(Debug)]
pub(super) enum Failure {
    /// The file is damaged or not a database: move it aside.
    Corrupt(String),
    /// The file holds another schema (`None`: not ours at all): move it aside.
    Schema(Option<u64>),
    /// Another connection holds the file.
    Locked,
    /// Anything else (permissions, I/O, a full disk): an error, the file stays.
    Other(rusqlite::Error),
}

/// True for the errors that mean the file itself is damaged: SQLite's own verdict, or a
/// stored value of a type we never write (a flipped bit in a record's type byte).
pub(super) fn is_corruption(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
    ) || matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

fn classify(error: rusqlite::Error) -> Failure {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            Failure::Corrupt(error.to_string())
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Failure::Locked,
        _ => Failure::Other(error),
    }
}

// Timestamps, seqs and counters are u64 in the API and INTEGER (i64) in SQLite: stored bit
// for bit, so every u64 round-trips.
fn to_sql(v: u64) -> i64 {
    i64::from_ne_bytes(v.to_ne_bytes())
}

fn from_sql(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}

/// The connection sits in a mutex only because the service's future must be `Send` while
/// holding `&NodeDb` (a SQLite connection is not `Sync`); it has a single owner, so the lock
/// is never contended.
#[derive(Debug)]
pub(super) struct SqliteFile {
    conn: Mutex<Connection>,
}

impl SqliteFile {
    /// Opens or creates the database at `path`, checks its integrity and schema.
    pub(super) fn open(path: &Path) -> Result<Self, Failure> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(classify)?;
        // Exclusive locking: a second node on the same data directory is refused, and WAL
        // needs no shared-memory file. NORMAL sync in WAL mode: a commit survives a crash of
        // the process; a power loss may lose the last commits but never corrupts the file.
        conn.execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;",
        )
        .map_err(classify)?;
        let file = Self {
            conn: Mutex::new(conn),
        };
        file.check().map_err(|failure| match failure {
            Failure::Other(e) => Failure::Corrupt(e.to_string()),
            other => other,
        })?;
        file.prepare()?;
        Ok(file)
    }

    /// Integrity and schema of an existing file. Any SQL error here (a malformed schema, a
    /// missing column) means the file is not what we wrote.
    fn check(&self) -> Result<(), Failure> {
        let conn = self.conn();
        let integrity: String = conn
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
            .map_err(classify)?;
        if integrity != "ok" {
            return Err(Failure::Corrupt(format!("integrity check: {integrity}")));
        }
        // quick_check does not look at the types inside records; a flipped type byte would
        // otherwise surface on some later read.
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('nodes', 'endpoints', 'local_seq')",
                [],
                |row| row.get(0),
            )
            .map_err(classify)?;
        if tables == 3 {
            let wrong: i64 = conn
                .query_row(
                    "SELECT (SELECT count(*) FROM nodes
                             WHERE typeof(id) != 'blob' OR typeof(value) != 'blob')
                          + (SELECT count(*) FROM endpoints
                             WHERE typeof(key) != 'blob' OR typeof(last_ping) != 'integer'
                                OR typeof(last_pong) != 'integer'
                                OR typeof(findnode_failures) != 'integer'
                                OR findnode_failures < 0 OR findnode_failures > 4294967295)
                          + (SELECT count(*) FROM local_seq
                             WHERE typeof(id) != 'blob' OR typeof(seq) != 'integer')",
                    [],
                    |row| row.get(0),
                )
                .map_err(classify)?;
            if wrong != 0 {
                return Err(Failure::Corrupt(format!(
                    "{wrong} rows hold values of the wrong type"
                )));
            }
        }
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |row| row.get(0))
            .map_err(classify)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(classify)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .map_err(classify)?;
        match (app, tables) {
            (APPLICATION_ID, _) if from_sql(version) == SCHEMA_VERSION => Ok(()),
            (APPLICATION_ID, _) => Err(Failure::Schema(Some(from_sql(version)))),
            (0, 0) => Ok(()),
            _ => Err(Failure::Schema(None)),
        }
    }

    fn prepare(&self) -> Result<(), Failure> {
        self.conn()
            .execute_batch(&format!(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS nodes (id BLOB PRIMARY KEY, value BLOB NOT NULL)
                     WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS endpoints (key BLOB PRIMARY KEY,
                     last_ping INTEGER NOT NULL, last_pong INTEGER NOT NULL,
                     findnode_failures INTEGER NOT NULL) WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS local_seq (id BLOB PRIMARY KEY,
                     seq INTEGER NOT NULL) WITHOUT ROWID;
                 PRAGMA application_id = {APPLICATION_ID};
                 PRAGMA user_version = {SCHEMA_VERSION};
                 COMMIT;"
            ))
            .map_err(|e| match classify(e) {
                Failure::Other(e) => Failure::Corrupt(e.to_string()),
                other => other,
            })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn node(&self, id: &[u8; 32]) -> rusqlite::Result<Option<Vec<u8>>> {
        self.conn()
            .prepare_cached("SELECT value FROM nodes WHERE id = ?1")?
            .query_row([&id[..]], |row| row.get(0))
            .optional()
    }

    pub(super) fn endpoint(&self, key: &EndpointKey) -> rusqlite::Result<Option<EndpointRow>> {
        self.conn()
            .prepare_cached(
                "SELECT last_ping, last_pong, findnode_failures FROM endpoints WHERE key = ?1",
            )?
            .query_row([&key[..]], row_of)
            .optional()
    }

    pub(super) fn local_seq(&self, id: &[u8; 32]) -> rusqlite::Result<Option<u64>> {
        self.conn()
            .prepare_cached("SELECT seq FROM local_seq WHERE id = ?1")?
            .query_row([&id[..]], |row| row.get::<_, i64>(0).map(from_sql))
            .optional()
    }

    pub(super) fn youngest_pongs(&self) -> rusqlite::Result<HashMap<[u8; 32], u64>> {
        let mut youngest: HashMap<[u8; 32], u64> = HashMap::new();
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT key, last_pong FROM endpoints")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let key: Vec<u8> = row.get(0)?;
            let Ok(key) = EndpointKey::try_from(key.as_slice()) else {
                continue; // not a key we wrote; expiry removes it
            };
            let pong = from_sql(row.get(1)?);
            let slot = youngest.entry(endpoint_key_id(&key)).or_insert(0);
            *slot = (*slot).max(pong);
        }
        Ok(youngest)
    }

    /// Writes the batch and `extra` in one transaction.
    pub(super) fn commit(
        &mut self,
        batch: Batch<'_>,
        extra: &Extra,
    ) -> rusqlite::Result<ExpireStats> {
        let conn = self.conn.get_mut().unwrap_or_else(PoisonError::into_inner);
        let txn = conn.transaction()?;
        {
            let mut put_node =
                txn.prepare_cached("INSERT OR REPLACE INTO nodes (id, value) VALUES (?1, ?2)")?;
            for (id, value) in batch.nodes {
                put_node.execute(params![&id[..], value])?;
            }
            let mut get = txn.prepare_cached(
                "SELECT last_ping, last_pong, findnode_failures FROM endpoints WHERE key = ?1",
            )?;
            let mut put = txn.prepare_cached(
                "INSERT OR REPLACE INTO endpoints (key, last_ping, last_pong, findnode_failures)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (key, update) in batch.endpoints {
                let mut row = get
                    .query_row([&key[..]], row_of)
                    .optional()?
                    .unwrap_or_default();
                update.apply(&mut row);
                put.execute(params![
                    &key[..],
                    to_sql(row.last_ping),
                    to_sql(row.last_pong),
                    row.findnode_failures
                ])?;
            }
        }
        let stats = match extra {
            Extra::None => ExpireStats::default(),
            Extra::LocalSeq(id, seq) => {
                txn.prepare_cached("INSERT OR REPLACE INTO local_seq (id, seq) VALUES (?1, ?2)")?
                    .execute(params![&id[..], to_sql(*seq)])?;
                ExpireStats::default()
            }
            Extra::Remove(id) => {
                txn.prepare_cached("DELETE FROM nodes WHERE id = ?1")?
                    .execute([&id[..]])?;
                let mut high = [0xffu8; 48];
                high[..32].copy_from_slice(id);
                txn.prepare_cached("DELETE FROM endpoints WHERE key >= ?1 AND key <= ?2")?
                    .execute(params![&id[..], &high[..]])?;
                ExpireStats::default()
            }
            Extra::Expire(cutoff) => {
                let cutoff = to_sql(*cutoff);
                // Unsigned comparison of the stored bits: timestamps are far below 2^63, so
                // the signed comparison is the same.
                let endpoints = txn
                    .prepare_cached("DELETE FROM endpoints WHERE max(last_ping, last_pong) < ?1")?
                    .execute([cutoff])?;
                let nodes = txn
                    .prepare_cached(
                        "DELETE FROM nodes WHERE id NOT IN (
                             SELECT substr(key, 1, 32) FROM endpoints
                             WHERE last_pong != 0 AND last_pong >= ?1)",
                    )?
                    .execute([cutoff])?;
                ExpireStats { nodes, endpoints }
            }
        };
        txn.commit()?;
        Ok(stats)
    }
}

fn row_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<EndpointRow> {
    Ok(EndpointRow {
        last_ping: from_sql(row.get(0)?),
        last_pong: from_sql(row.get(1)?),
        findnode_failures: row.get(2)?,
    })
}
