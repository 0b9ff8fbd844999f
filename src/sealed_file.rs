//! A file in the data directory that holds one snapshot followed by its keccak-256, written
//! atomically (temporary file, fsync, rename, fsync of the directory), so that a torn write
//! or a flipped byte is detected, not believed.
//!
//! What such a file holds is a cache the node can rebuild (its dial memory, its PEX address
//! book): a damaged file is set aside as `<name>.corrupt` and the node starts without it; a
//! file that cannot be read (permissions, I/O) is reported and left alone, because only real
//! damage may be set aside.

use std::{
    fs,
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

const CHECKSUM_LEN: usize = 32;

/// Why a sealed file could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SealedFileError {
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
    #[error("{path} is damaged ({why}); left as it is")]
    Invalid { path: PathBuf, why: String },
}

/// One sealed file, at most `max_body` bytes before its checksum.
#[derive(Debug, Clone)]
pub(crate) struct SealedFile {
    path: PathBuf,
    max_body: u64,
}

impl SealedFile {
    pub(crate) fn new(path: PathBuf, max_body: u64) -> Self {
        Self { path, max_body }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Where a damaged file is set aside.
    pub(crate) fn aside_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".corrupt");
        PathBuf::from(name)
    }

    /// The saved body decoded by `decode`; `None` when there is no file yet. A file whose
    /// checksum or decoding fails is set aside and reported as damaged.
    pub(crate) fn load<T>(
        &self,
        decode: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<Option<T>, SealedFileError> {
        match self.read(decode) {
            Err(SealedFileError::Invalid { path, why }) => {
                let aside = self.aside_path();
                fs::rename(&path, &aside).map_err(|source| SealedFileError::Read {
                    path: path.clone(),
                    source,
                })?;
                Err(SealedFileError::Damaged { path, why, aside })
            }
            other => other,
        }
    }

    /// Like [`SealedFile::load`], but a damaged file is only reported ([`SealedFileError::Invalid`])
    /// and left where it is: for tools that inspect a data directory.
    pub(crate) fn read<T>(
        &self,
        decode: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<Option<T>, SealedFileError> {
        let read_error = |source| SealedFileError::Read {
            path: self.path.clone(),
            source,
        };
        let file = match fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_error(e)),
        };
        let limit = self.max_body + CHECKSUM_LEN as u64;
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        let decoded = if bytes.len() as u64 > limit {
            Err(format!("larger than the {limit} bytes it can be"))
        } else {
            unseal(&bytes).and_then(decode)
        };
        decoded.map(Some).map_err(|why| SealedFileError::Invalid {
            path: self.path.clone(),
            why,
        })
    }

    /// Replaces the saved body with `body`, atomically.
    pub(crate) fn save(&self, mut body: Vec<u8>) -> Result<(), SealedFileError> {
        let write_error = |source| SealedFileError::Write {
            path: self.path.clone(),
            source,
        };
        let checksum = enode::crypto::keccak256(&body);
        body.extend_from_slice(&checksum);
        let mut temp = self.path.as_os_str().to_owned();
        temp.push(".tmp");
        let temp = PathBuf::from(temp);
        let mut file = fs::File::create(&temp).map_err(write_error)?;
        file.write_all(&body).map_err(write_error)?;
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

fn unseal(bytes: &[u8]) -> Result<&[u8], String> {
    let Some(split) = bytes.len().checked_sub(CHECKSUM_LEN) else {
        return Err("too short".into());
    };
    let (body, checksum) = bytes.split_at(split);
    if enode::crypto::keccak256(body) != checksum {
        return Err("checksum mismatch".into());
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "kadnode-sealed-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn as_vec(body: &[u8]) -> Result<Vec<u8>, String> {
        Ok(body.to_vec())
    }

    #[test]
    fn saves_loads_and_sets_damage_aside_once() {
        let dir = TempDir::new("roundtrip");
        let file = SealedFile::new(dir.0.join("thing.bin"), 100);
        assert!(file.load(as_vec).unwrap().is_none());
        file.save(b"hello".to_vec()).unwrap();
        assert_eq!(file.load(as_vec).unwrap(), Some(b"hello".to_vec()));

        let mut bytes = fs::read(file.path()).unwrap();
        bytes[0] ^= 1;
        fs::write(file.path(), &bytes).unwrap();
        let error = file.load(as_vec).unwrap_err();
        assert!(matches!(error, SealedFileError::Damaged { .. }), "{error}");
        assert!(!file.path().exists());
        assert!(dir.0.join("thing.bin.corrupt").exists());
        assert!(file.load(as_vec).unwrap().is_none());
    }

    #[test]
    fn truncated_oversized_and_undecodable_files_are_damaged() {
        let dir = TempDir::new("damaged");
        let file = SealedFile::new(dir.0.join("thing.bin"), 100);
        fs::write(file.path(), [1, 2, 3]).unwrap();
        assert!(matches!(
            file.load(as_vec),
            Err(SealedFileError::Damaged { .. })
        ));
        fs::write(file.path(), vec![0; 200]).unwrap();
        assert!(matches!(
            file.load(as_vec),
            Err(SealedFileError::Damaged { .. })
        ));
        file.save(b"x".to_vec()).unwrap();
        let refuse = |_: &[u8]| -> Result<(), String> { Err("not a thing".into()) };
        assert!(matches!(
            file.load(refuse),
            Err(SealedFileError::Damaged { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn an_unreadable_file_is_an_error_and_stays() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("perm");
        let file = SealedFile::new(dir.0.join("thing.bin"), 100);
        file.save(b"kept".to_vec()).unwrap();
        fs::set_permissions(file.path(), fs::Permissions::from_mode(0o000)).unwrap();
        if fs::File::open(file.path()).is_ok() {
            return; // running as root: permissions do not apply
        }
        assert!(matches!(
            file.load(as_vec),
            Err(SealedFileError::Read { .. })
        ));
        assert!(file.path().exists());
    }
}
