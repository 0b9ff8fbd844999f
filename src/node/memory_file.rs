//! The dial memory's file in the data directory (`dial-memory.bin`): the scheduler's
//! [`DialMemorySnapshot`] followed by its keccak-256, written atomically (temporary file,
//! fsync, rename), so that a torn write or a flipped byte is detected, not believed.
//!
//! The memory is a cache of dial results: a damaged file is set aside as
//! `dial-memory.bin.corrupt` and the node starts without it; a file that cannot be read
//! (permissions, I/O) is reported and left alone.

use std::{
    fs,
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

use crate::dial::{DialMemorySnapshot, SnapshotError, MAX_SNAPSHOT_ENTRIES};

/// The file's name inside the data directory.
pub(crate) const MEMORY_FILE: &str = "dial-memory.bin";
const CHECKSUM_LEN: usize = 32;
/// The largest file a full snapshot makes (an IPv6 entry is 104 bytes), with room to spare;
/// anything bigger is refused before it is read.
const MAX_FILE_LEN: u64 = 16 + (MAX_SNAPSHOT_ENTRIES as u64) * 128 + CHECKSUM_LEN as u64;

/// Why the dial memory could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MemoryFileError {
    #[error("could not read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("could not write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} is damaged ({why}); set aside as {aside}")]
    Damaged {
        path: PathBuf,
        why: String,
        aside: PathBuf,
    },
}

/// Where the dial memory is kept.
#[derive(Debug, Clone)]
pub(crate) struct MemoryFile {
    path: PathBuf,
}

impl MemoryFile {
    pub(crate) fn in_dir(datadir: &Path) -> Self {
        Self {
            path: datadir.join(MEMORY_FILE),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The saved memory; `None` when there is none yet.
    pub(crate) fn load(&self) -> Result<Option<DialMemorySnapshot>, MemoryFileError> {
        let read_error = |source| MemoryFileError::Read {
            path: self.path.clone(),
            source,
        };
        let file = match fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_error(e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        match decode(&bytes) {
            Ok(snapshot) => Ok(Some(snapshot)),
            Err(why) => {
                let aside = self.path.with_extension("bin.corrupt");
                fs::rename(&self.path, &aside).map_err(read_error)?;
                Err(MemoryFileError::Damaged {
                    path: self.path.clone(),
                    why,
                    aside,
                })
            }
        }
    }

    /// Replaces the saved memory with `snapshot`, atomically.
    pub(crate) fn save(&self, snapshot: &DialMemorySnapshot) -> Result<(), MemoryFileError> {
        let write_error = |source| MemoryFileError::Write {
            path: self.path.clone(),
            source,
        };
        let mut bytes = snapshot.encode();
        let checksum = enode::crypto::keccak256(&bytes);
        bytes.extend_from_slice(&checksum);
        let temp = self.path.with_extension("bin.tmp");
        let mut file = fs::File::create(&temp).map_err(write_error)?;
        file.write_all(&bytes).map_err(write_error)?;
        file.sync_data().map_err(write_error)?;
        drop(file);
        fs::rename(&temp, &self.path).map_err(write_error)?;
        if let Some(dir) = self.path.parent() {
            // Makes the rename durable; not every platform can open a directory.
            if let Ok(dir) = fs::File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

fn decode(bytes: &[u8]) -> Result<DialMemorySnapshot, String> {
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err("larger than any dial memory".into());
    }
    let Some(split) = bytes.len().checked_sub(CHECKSUM_LEN) else {
        return Err("too short".into());
    };
    let (body, checksum) = bytes.split_at(split);
    if enode::crypto::keccak256(body) != checksum {
        return Err("checksum mismatch".into());
    }
    DialMemorySnapshot::decode(body).map_err(|e: SnapshotError| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "kadnode-memory-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn snapshot() -> DialMemorySnapshot {
        DialMemorySnapshot::decode(&DialMemorySnapshot::default().encode()).unwrap()
    }

    #[test]
    fn saves_and_loads_and_sets_damage_aside() {
        let dir = TempDir::new("roundtrip");
        let file = MemoryFile::in_dir(dir.path());
        assert!(file.load().unwrap().is_none());
        file.save(&snapshot()).unwrap();
        assert_eq!(file.load().unwrap(), Some(snapshot()));

        let mut bytes = fs::read(file.path()).unwrap();
        bytes[0] ^= 1;
        fs::write(file.path(), &bytes).unwrap();
        let error = file.load().unwrap_err();
        assert!(matches!(error, MemoryFileError::Damaged { .. }), "{error}");
        assert!(!file.path().exists());
        assert!(dir.path().join("dial-memory.bin.corrupt").exists());
        // Next start: nothing to load, no error.
        assert!(file.load().unwrap().is_none());
    }

    #[test]
    fn truncated_and_oversized_files_are_damaged() {
        let dir = TempDir::new("damaged");
        let file = MemoryFile::in_dir(dir.path());
        fs::write(file.path(), [1, 2, 3]).unwrap();
        assert!(matches!(file.load(), Err(MemoryFileError::Damaged { .. })));
        fs::write(file.path(), vec![0; MAX_FILE_LEN as usize + 10]).unwrap();
        assert!(matches!(file.load(), Err(MemoryFileError::Damaged { .. })));
    }
}
