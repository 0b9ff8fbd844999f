//! The data directory: where the node key and the node database live.
//!
//! Default: `$XDG_DATA_HOME/kadnode` when `XDG_DATA_HOME` is set to an absolute path, else
//! `$HOME/.local/share/kadnode`. Inside it: `nodekey` (64 hex characters, mode 0600) and
//! `nodes.sqlite` (the discovery node database).

use std::path::{Path, PathBuf};

/// File name of the node key inside the data directory.
pub const NODEKEY_FILE: &str = "nodekey";

/// The default data directory, or `None` when neither `XDG_DATA_HOME` nor `HOME` is usable.
pub fn default_datadir() -> Option<PathBuf> {
    datadir_from(
        std::env::var_os("XDG_DATA_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn datadir_from(xdg: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(xdg) = xdg.filter(|p| p.is_absolute()) {
        return Some(xdg.join("kadnode"));
    }
    home.filter(|p| p.is_absolute())
        .map(|home| home.join(".local").join("share").join("kadnode"))
}

/// The node key path inside `datadir`.
pub fn nodekey_path(datadir: &Path) -> PathBuf {
    datadir.join(NODEKEY_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_wins_when_absolute() {
        assert_eq!(
            datadir_from(Some("/x".into()), Some("/home/u".into())),
            Some(PathBuf::from("/x/kadnode"))
        );
        assert_eq!(
            datadir_from(Some("rel".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.local/share/kadnode"))
        );
        assert_eq!(datadir_from(None, None), None);
        assert_eq!(datadir_from(None, Some("rel".into())), None);
    }
}
