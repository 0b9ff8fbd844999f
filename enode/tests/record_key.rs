//! Node key files: geth's `nodekey` format, atomic private saves, clear load errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use enode::{NodeKey, NodeKeyError};
use proptest::prelude::*;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("kadnode-record-key-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const HEX: &str = "45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8";

fn only_file(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn save_writes_geth_format_privately_and_atomically() {
    let dir = TempDir::new();
    let path = dir.join("nodekey");
    let key = NodeKey::from_hex(HEX).unwrap();
    key.save(&path).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), HEX);
    assert_eq!(
        only_file(&dir.0),
        vec!["nodekey".to_owned()],
        "no temporary file left"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Overwriting replaces the content and keeps the permissions private.
    let other = NodeKey::generate();
    other.save(&path).unwrap();
    assert_eq!(NodeKey::load(&path).unwrap(), other);
}

#[test]
fn load_tolerates_trailing_whitespace_only() {
    let dir = TempDir::new();
    let path = dir.join("nodekey");
    for content in [
        format!("{HEX}\n"),
        format!("{HEX}\r\n"),
        format!("{HEX}  \n\n"),
    ] {
        fs::write(&path, content).unwrap();
        assert_eq!(NodeKey::load(&path).unwrap().to_hex(), HEX);
    }
    type Check = fn(&NodeKeyError) -> bool;
    let cases: [(String, Check); 5] = [
        (format!(" {HEX}"), |e| {
            matches!(e, NodeKeyError::BadHex { index: 0, .. })
        }),
        (format!("0x{HEX}"), |e| {
            matches!(e, NodeKeyError::BadHex { ch: 'x', .. })
        }),
        (format!("{HEX}\nextra"), |e| {
            matches!(e, NodeKeyError::BadLength { len: 70, .. })
        }),
        (HEX[..62].to_owned(), |e| {
            matches!(e, NodeKeyError::BadLength { len: 62, .. })
        }),
        ("0".repeat(64), |e| {
            matches!(e, NodeKeyError::InvalidKey { .. })
        }),
    ];
    for (content, is_expected) in cases {
        fs::write(&path, &content).unwrap();
        let err = NodeKey::load(&path).unwrap_err();
        assert!(is_expected(&err), "{content:?}: {err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
    fs::write(&path, vec![b'a'; 5000]).unwrap();
    assert!(matches!(
        NodeKey::load(&path),
        Err(NodeKeyError::BadLength { len: 1025, .. })
    ));
}

#[test]
fn missing_files_and_directories_are_io_errors_naming_the_path() {
    let dir = TempDir::new();
    let missing = dir.join("nope");
    let err = NodeKey::load(&missing).unwrap_err();
    assert!(matches!(&err, NodeKeyError::Io { path, .. } if *path == missing));
    assert!(err.to_string().contains("nope"));
    let in_missing_dir = dir.join("no/such/dir/nodekey");
    assert!(matches!(
        NodeKey::generate().save(&in_missing_dir),
        Err(NodeKeyError::Io { .. })
    ));
}

#[test]
fn load_or_generate_creates_once_then_reuses() {
    let dir = TempDir::new();
    let path = dir.join("nodekey");
    let first = NodeKey::load_or_generate(&path).unwrap();
    let second = NodeKey::load_or_generate(&path).unwrap();
    assert_eq!(first, second);
    fs::write(&path, "garbage").unwrap();
    assert!(
        NodeKey::load_or_generate(&path).is_err(),
        "a bad key file is never silently replaced"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn save_then_load_round_trips(bytes in any::<[u8; 32]>()) {
        let Ok(secret) = enode::SecretKey::from_slice(&bytes) else { return Ok(()) };
        let key = NodeKey::from(secret);
        let dir = TempDir::new();
        let path = dir.join("nodekey");
        key.save(&path).unwrap();
        let loaded = NodeKey::load(&path).unwrap();
        prop_assert_eq!(loaded.peer_id(), key.peer_id());
        prop_assert_eq!(loaded, key);
    }
}
