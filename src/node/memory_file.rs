//! The dial memory's file in the data directory (`dial-memory.bin`): the scheduler's
//! [`DialMemorySnapshot`] in a [`SealedFile`] (checksummed, written atomically). The memory
//! is a cache of dial results: a damaged file is set aside as `dial-memory.bin.corrupt` and
//! the node starts without it; a file that cannot be read is reported and left alone.

use std::path::Path;

use crate::{
    dial::{DialMemorySnapshot, SnapshotError, MAX_SNAPSHOT_ENTRIES},
    sealed_file::{SealedFile, SealedFileError},
};

/// The file's name inside the data directory.
pub(crate) const MEMORY_FILE: &str = "dial-memory.bin";
/// The largest snapshot (an IPv6 entry is 104 bytes), with room to spare; anything bigger is
/// refused before it is read.
const MAX_BODY_LEN: u64 = 16 + (MAX_SNAPSHOT_ENTRIES as u64) * 128;

/// Why the dial memory could not be loaded or saved.
pub(crate) type MemoryFileError = SealedFileError;

/// Where the dial memory is kept.
#[derive(Debug, Clone)]
pub(crate) struct MemoryFile {
    file: SealedFile,
}

impl MemoryFile {
    pub(crate) fn in_dir(datadir: &Path) -> Self {
        Self {
            file: SealedFile::new(datadir.join(MEMORY_FILE), MAX_BODY_LEN),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }

    /// The saved memory; `None` when there is none yet.
    pub(crate) fn load(&self) -> Result<Option<DialMemorySnapshot>, MemoryFileError> {
        self.file
            .load(|body| DialMemorySnapshot::decode(body).map_err(|e: SnapshotError| e.to_string()))
    }

    /// Replaces the saved memory with `snapshot`, atomically.
    pub(crate) fn save(&self, snapshot: &DialMemorySnapshot) -> Result<(), MemoryFileError> {
        self.file.save(snapshot.encode())
    }
}

#[cfg(test)]
mod tests {
    use std::{fs, path::PathBuf};

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
        fs::write(file.path(), vec![0; MAX_BODY_LEN as usize + 100]).unwrap();
        assert!(matches!(file.load(), Err(MemoryFileError::Damaged { .. })));
    }
}
