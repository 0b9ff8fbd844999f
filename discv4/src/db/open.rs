//! Opening the database file: what is an error (permissions, I/O, a lock) and what is a
//! damaged or foreign file to move aside, and the moving itself.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use super::{
    sqlite::{Failure, SqliteFile},
    DbError, OpenWarning, SCHEMA_VERSION,
};

/// Companion files SQLite keeps beside the database; they belong to it and move with it
/// (a stale write-ahead log replayed into a fresh database would corrupt it).
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Opens the file, moving it aside and starting fresh when it is damaged or foreign. The
/// returned warning is not logged here: the caller reports it once.
pub(super) fn open_or_recover(path: &Path) -> Result<(SqliteFile, Option<OpenWarning>), DbError> {
    check_access(path)?;
    let warning = match SqliteFile::open(path) {
        Ok(file) => return Ok((file, None)),
        Err(Failure::Corrupt(error)) => {
            let moved_to = move_aside(path, "corrupt")?;
            OpenWarning::Corrupt { moved_to, error }
        }
        Err(Failure::Schema(found)) => {
            let moved_to = move_aside(path, "incompatible")?;
            OpenWarning::SchemaMismatch {
                found,
                expected: SCHEMA_VERSION,
                moved_to,
            }
        }
        Err(failure) => return Err(fatal(path, failure)),
    };
    match SqliteFile::open(path) {
        Ok(file) => Ok((file, Some(warning))),
        Err(failure) => Err(fatal(path, failure)),
    }
}

fn error_of_fresh(path: &Path, error: &str) -> String {
    format!(
        "a freshly created database at {} is unusable: {error}",
        path.display()
    )
}

/// The error for a failure that is not the file's fault.
pub(super) fn fatal(path: &Path, failure: Failure) -> DbError {
    match failure {
        Failure::Locked => DbError::Locked {
            path: path.to_owned(),
        },
        Failure::Other(e) => DbError::Storage(format!("{}: {e}", path.display())),
        Failure::Corrupt(e) => DbError::Storage(error_of_fresh(path, &e)),
        Failure::Schema(_) => DbError::Storage(error_of_fresh(path, "schema mismatch")),
    }
}

/// An existing file we may not read and write (permissions, a directory in its place) is an
/// error for the operator to fix, never a reason to move a healthy database aside.
fn check_access(path: &Path) -> Result<(), DbError> {
    let file_error = |source: io::Error| DbError::File {
        path: path.to_owned(),
        source,
    };
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(drop)
            .map_err(file_error),
        Ok(_) => Err(file_error(io::Error::other("not a regular file"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(file_error(e)),
    }
}

/// Renames `path` (and its companion files) to `<name>.<reason>-<unix seconds>[.<n>]` and
/// returns the new path.
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
    let moved_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fs::rename(path, &target).map_err(|source| DbError::MoveAside {
        path: path.to_owned(),
        source,
    })?;
    for suffix in COMPANIONS {
        let companion = path.with_file_name(format!("{name}{suffix}"));
        if companion.exists() {
            let moved = path.with_file_name(format!("{moved_name}{suffix}"));
            fs::rename(&companion, moved).map_err(|source| DbError::MoveAside {
                path: companion.clone(),
                source,
            })?;
        }
    }
    Ok(target)
}
