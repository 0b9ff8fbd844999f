//! Opening the database file: schema check, and moving unusable files aside.

use std::{
    fs,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use redb::{Database, DatabaseError, ReadableDatabase, TableError};

use super::{
    storage, DbError, OpenWarning, ENDPOINTS, LOCAL_SEQ, META, NODES, SCHEMA_VERSION, VERSION_KEY,
};

/// Why an existing file cannot be used as is.
pub(super) enum Unusable {
    Corrupt(String),
    Schema(Option<u64>),
}

pub(super) enum OpenFailure {
    /// Give up (e.g. the file is locked by another process).
    Fatal(DbError),
    /// Move the file aside and start fresh.
    Unusable(Unusable),
}

/// Opens (or creates) the database at `path` and makes sure it holds our schema.
pub(super) fn open_file(path: &Path) -> Result<Database, OpenFailure> {
    let db = match Database::create(path) {
        Ok(db) => db,
        Err(DatabaseError::DatabaseAlreadyOpen) => {
            return Err(OpenFailure::Fatal(DbError::Locked {
                path: path.to_owned(),
            }))
        }
        Err(e) => return Err(OpenFailure::Unusable(Unusable::Corrupt(e.to_string()))),
    };
    prepare(&db).map_err(OpenFailure::Unusable)?;
    Ok(db)
}

/// Checks the schema version and creates our tables; a database written by another schema
/// (or by something else entirely) is reported as unusable rather than modified.
pub(super) fn prepare(db: &Database) -> Result<(), Unusable> {
    let corrupt = |e: &dyn std::fmt::Display| Unusable::Corrupt(e.to_string());
    {
        let read = db.begin_read().map_err(|e| corrupt(&e))?;
        match read.open_table(META) {
            Ok(meta) => {
                let version = meta
                    .get(VERSION_KEY)
                    .map_err(|e| corrupt(&e))?
                    .map(|v| v.value());
                if version != Some(SCHEMA_VERSION) {
                    return Err(Unusable::Schema(version));
                }
            }
            Err(TableError::TableDoesNotExist(_)) => {
                let has_tables = read
                    .list_tables()
                    .map_err(|e| corrupt(&e))?
                    .next()
                    .is_some();
                if has_tables {
                    return Err(Unusable::Schema(None));
                }
            }
            Err(TableError::TableTypeMismatch { .. }) => return Err(Unusable::Schema(None)),
            Err(e) => return Err(corrupt(&e)),
        }
    }
    let create = || -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(VERSION_KEY, SCHEMA_VERSION)?;
            txn.open_table(NODES)?;
            txn.open_table(ENDPOINTS)?;
            txn.open_table(LOCAL_SEQ)?;
        }
        txn.commit()?;
        Ok(())
    };
    create().map_err(|e| match e {
        redb::Error::TableTypeMismatch { .. } => Unusable::Schema(None),
        other => corrupt(&other),
    })
}

/// Renames `path` to `<name>.<reason>-<unix seconds>[.<n>]` and returns the new path.
pub(super) fn move_aside(path: &Path, reason: &str) -> Result<PathBuf, DbError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut target = path.with_file_name(format!("{name}.{reason}-{secs}"));
    let mut n = 1;
    while target.exists() {
        target = path.with_file_name(format!("{name}.{reason}-{secs}.{n}"));
        n += 1;
    }
    fs::rename(path, &target).map_err(|source| DbError::MoveAside {
        path: path.to_owned(),
        source,
    })?;
    Ok(target)
}

/// Opens the file, moving it aside and starting fresh when it is corrupt or incompatible.
pub(super) fn open_or_recover(path: &Path) -> Result<(Database, Option<OpenWarning>), DbError> {
    match open_file(path) {
        Ok(db) => Ok((db, None)),
        Err(OpenFailure::Fatal(e)) => Err(e),
        Err(OpenFailure::Unusable(problem)) => {
            let (reason, make_warning): (&str, Box<dyn FnOnce(PathBuf) -> OpenWarning>) =
                match problem {
                    Unusable::Corrupt(error) => (
                        "corrupt",
                        Box::new(move |moved_to| OpenWarning::Corrupt { moved_to, error }),
                    ),
                    Unusable::Schema(found) => (
                        "incompatible",
                        Box::new(move |moved_to| OpenWarning::SchemaMismatch {
                            found,
                            expected: SCHEMA_VERSION,
                            moved_to,
                        }),
                    ),
                };
            let moved_to = move_aside(path, reason)?;
            let warning = make_warning(moved_to);
            tracing::warn!(target: "discv4::db", "{warning}");
            match open_file(path) {
                Ok(db) => Ok((db, Some(warning))),
                Err(OpenFailure::Fatal(e)) => Err(e),
                Err(OpenFailure::Unusable(_)) => Err(storage(redb::Error::Corrupted(format!(
                    "a freshly created database at {} is unusable",
                    path.display()
                )))),
            }
        }
    }
}
