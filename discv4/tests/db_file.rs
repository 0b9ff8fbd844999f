//! The node database on disk: persistence across reopen, recovery from unusable files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::{
    fs,
    net::IpAddr,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use discv4::db::{DbError, NodeDb, OpenWarning, DB_FILE_NAME, SCHEMA_VERSION};

use enode::{NodeRecord, PeerId};

/// A unique directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("kadnode-{name}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Names of the files in the directory, sorted, without SQLite's write-ahead log.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with("-wal"))
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn record() -> NodeRecord {
    NodeRecord {
        address: "8.8.8.8".parse().unwrap(),
        udp_port: 30303,
        tcp_port: 30303,
        id: PeerId([4; 64]),
    }
}

fn ip() -> IpAddr {
    "8.8.8.8".parse().unwrap()
}

#[test]
fn data_survives_reopen_including_buffered_writes() {
    let dir = TempDir::new("db-reopen");
    let id = record().id.node_id();
    {
        let (mut db, warning) = NodeDb::open(dir.path()).unwrap();
        assert_eq!(warning, None);
        assert_eq!(db.path(), Some(dir.path().join(DB_FILE_NAME).as_path()));
        db.set_flush_interval(std::time::Duration::from_secs(3600));
        db.update_node(&record(), None).unwrap();
        db.set_last_pong(&id, ip(), 1234).unwrap();
        db.set_local_seq(&id, 99).unwrap();
        db.set_findnode_failures(&id, ip(), 2).unwrap();
        assert!(db.pending_writes() > 0, "the last write is still buffered");
        // Dropping commits the buffer.
    }
    let (db, warning) = NodeDb::open(dir.path()).unwrap();
    assert_eq!(warning, None);
    assert_eq!(db.node(&id).unwrap().unwrap().record, record());
    assert_eq!(db.last_pong(&id, ip()).unwrap(), Some(1234));
    assert_eq!(db.findnode_failures(&id, ip()).unwrap(), 2);
    assert_eq!(db.local_seq(&id).unwrap(), Some(99));
}

#[test]
fn garbage_file_is_moved_aside_and_a_fresh_db_created() {
    let dir = TempDir::new("db-garbage");
    let garbage: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(dir.path().join(DB_FILE_NAME), &garbage).unwrap();
    let (mut db, warning) = NodeDb::open(dir.path()).unwrap();
    let Some(OpenWarning::Corrupt { moved_to, error }) = warning.clone() else {
        panic!("{warning:?}")
    };
    assert!(!error.is_empty());
    assert_eq!(
        fs::read(&moved_to).unwrap(),
        garbage,
        "the old file is kept intact"
    );
    assert!(moved_to
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("nodes.sqlite.corrupt-"));
    assert!(warning.unwrap().to_string().contains("moved it to"));
    // The new database works.
    db.update_node(&record(), None).unwrap();
    db.flush().unwrap();
    assert!(db.node(&record().id.node_id()).unwrap().is_some());
    assert_eq!(dir.files().len(), 2);
}

#[test]
fn truncated_file_is_recovered() {
    let dir = TempDir::new("db-truncated");
    {
        let (mut db, _) = NodeDb::open(dir.path()).unwrap();
        db.update_node(&record(), None).unwrap();
    }
    let path = dir.path().join(DB_FILE_NAME);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len().min(100)]).unwrap();
    let (db, warning) = NodeDb::open(dir.path()).unwrap();
    assert!(
        matches!(warning, Some(OpenWarning::Corrupt { .. })),
        "{warning:?}"
    );
    assert!(db.node(&record().id.node_id()).unwrap().is_none());
}

#[test]
fn other_schema_versions_and_foreign_files_start_fresh() {
    let dir = TempDir::new("db-schema");
    let path = dir.path().join(DB_FILE_NAME);
    {
        // A kadnode database of a later schema.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE nodes (id BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID;
             PRAGMA application_id = {};
             PRAGMA user_version = {};",
            0x6b61_646e,
            SCHEMA_VERSION + 1
        ))
        .unwrap();
    }
    let (db, warning) = NodeDb::open(dir.path()).unwrap();
    let Some(OpenWarning::SchemaMismatch {
        found,
        expected,
        moved_to,
    }) = warning
    else {
        panic!("{warning:?}")
    };
    assert_eq!(found, Some(SCHEMA_VERSION + 1));
    assert_eq!(expected, SCHEMA_VERSION);
    assert!(moved_to.exists());
    assert!(moved_to
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("nodes.sqlite.incompatible-"));
    drop(db);
    // Reopening the fresh file is clean.
    let (_db, warning) = NodeDb::open(dir.path()).unwrap();
    assert_eq!(warning, None);

    // A SQLite file of some other program (tables, not our application id).
    let dir = TempDir::new("db-foreign");
    let path = dir.path().join(DB_FILE_NAME);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE nodes (x INTEGER); INSERT INTO nodes VALUES (1);")
            .unwrap();
    }
    let (_db, warning) = NodeDb::open(dir.path()).unwrap();
    assert!(
        matches!(
            warning,
            Some(OpenWarning::SchemaMismatch { found: None, .. })
        ),
        "{warning:?}"
    );
}

#[test]
fn a_locked_database_is_an_error_and_is_not_moved() {
    let dir = TempDir::new("db-locked");
    let (_first, _) = NodeDb::open(dir.path()).unwrap();
    let err = NodeDb::open(dir.path()).unwrap_err();
    assert!(matches!(err, DbError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("in use"));
    assert_eq!(dir.files(), vec![DB_FILE_NAME.to_owned()]);
}

#[test]
fn data_dir_is_created() {
    let dir = TempDir::new("db-mkdir");
    let nested = dir.path().join("a").join("b");
    let (_db, warning) = NodeDb::open(&nested).unwrap();
    assert_eq!(warning, None);
    assert!(nested.join(DB_FILE_NAME).exists());
}

/// Issue 12 #6: a file the node may not use (here a directory where the database should
/// be; as a non-root user also a file without permissions) is an error naming the file, and
/// nothing is moved aside.
#[test]
fn an_unusable_file_is_an_error_and_is_not_moved() {
    let dir = TempDir::new("db-notafile");
    fs::create_dir(dir.path().join(DB_FILE_NAME)).unwrap();
    let err = NodeDb::open(dir.path()).unwrap_err();
    assert!(matches!(err, DbError::File { .. }), "{err:?}");
    assert!(err.to_string().contains(DB_FILE_NAME), "{err}");
    assert_eq!(dir.files(), vec![DB_FILE_NAME.to_owned()]);

    let dir = TempDir::new("db-perm");
    {
        let (mut db, _) = NodeDb::open(dir.path()).unwrap();
        db.update_node(&record(), None).unwrap();
    }
    let path = dir.path().join(DB_FILE_NAME);
    let healthy = fs::read(&path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
    let denied = fs::File::open(&path).is_err(); // false as root: root ignores the mode
    let result = NodeDb::open(dir.path());
    if denied {
        let err = result.unwrap_err();
        assert!(matches!(err, DbError::File { .. }), "{err:?}");
        assert!(err.to_string().contains("ermission denied"), "{err}");
        assert_eq!(dir.files(), vec![DB_FILE_NAME.to_owned()]);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), healthy, "the file is untouched");
    } else {
        let (db, warning) = result.unwrap();
        assert_eq!(warning, None);
        assert!(db.node(&record().id.node_id()).unwrap().is_some());
    }
}
