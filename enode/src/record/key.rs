//! The node key: one secp256k1 secret key that is the node's identity everywhere, stored
//! in go-ethereum's `nodekey` format (64 hex characters, no `0x`, no newline).

use std::{
    fmt,
    fs::{self, File, OpenOptions},
    io::{Read, Write},
    net::IpAddr,
    path::{Path, PathBuf},
};

use secp256k1::{PublicKey, SecretKey};

use super::{enode::NodeRecord, error::NodeKeyError};
use crate::{
    crypto::public_key,
    id::{NodeId, PeerId},
};

/// Length of the hex text of a key.
const HEX_LEN: usize = 64;
/// Key files larger than this are rejected without reading further.
const MAX_FILE_LEN: u64 = 1024;

/// The node's secret key, with its public key and [`PeerId`] computed once (every RLPx
/// handshake and ENR signature needs them). `Debug` shows only the public identity.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeKey {
    secret: SecretKey,
    public: PublicKey,
    id: PeerId,
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey({:?})", self.peer_id())
    }
}

impl From<SecretKey> for NodeKey {
    fn from(secret: SecretKey) -> Self {
        let public = public_key(&secret);
        Self {
            secret,
            public,
            id: PeerId::from_public_key(&public),
        }
    }
}

impl NodeKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        Self::from(SecretKey::new(&mut rand::rngs::OsRng))
    }

    /// Parses exactly 64 hex characters (either case, no `0x`, no whitespace).
    pub fn from_hex(text: &str) -> Result<Self, NodeKeyError> {
        parse_hex(text.as_bytes(), None)
    }

    /// The key as 64 lowercase hex characters, the `nodekey` file content.
    pub fn to_hex(&self) -> String {
        hex::encode(self.secret.secret_bytes())
    }

    /// Reads a `nodekey` file. Trailing whitespace (a newline an editor added) is allowed;
    /// anything else is an error naming the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, NodeKeyError> {
        let path = path.as_ref();
        let io_error = |source| NodeKeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut content = Vec::new();
        File::open(path)
            .and_then(|file| file.take(MAX_FILE_LEN + 1).read_to_end(&mut content))
            .map_err(io_error)?;
        let end = content
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        parse_hex(&content[..end], Some(path))
    }

    /// Loads the key at `path`, or generates and saves one if the file does not exist
    /// (what geth does with `<datadir>/geth/nodekey`).
    pub fn load_or_generate(path: impl AsRef<Path>) -> Result<Self, NodeKeyError> {
        let path = path.as_ref();
        match fs::metadata(path) {
            Ok(_) => Self::load(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                key.save(path)?;
                Ok(key)
            }
            Err(source) => Err(NodeKeyError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes the key in `nodekey` format, atomically (temporary file in the same
    /// directory, then rename) and, on unix, readable by the owner only (0600).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), NodeKeyError> {
        let path = path.as_ref();
        let temp = temp_path(path);
        let result =
            write_private(&temp, self.to_hex().as_bytes()).and_then(|()| fs::rename(&temp, path));
        if let Err(source) = result {
            // Best effort: do not leave a copy of the secret behind.
            let _ = fs::remove_file(&temp);
            return Err(NodeKeyError::Io {
                path: path.to_owned(),
                source,
            });
        }
        sync_parent(path);
        Ok(())
    }

    /// The secret key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The 64-byte public identity used on the wire.
    pub fn peer_id(&self) -> PeerId {
        self.id
    }

    /// The Kademlia id.
    pub fn node_id(&self) -> NodeId {
        self.peer_id().node_id()
    }

    /// Our contact record at the given address.
    pub fn node_record(&self, ip: IpAddr, tcp_port: u16, udp_port: u16) -> NodeRecord {
        NodeRecord {
            address: ip,
            udp_port,
            tcp_port,
            id: self.peer_id(),
        }
    }

    /// Our `enode://` URL at the given address (IPv4-mapped IPv6 is written as IPv4).
    pub fn enode_url(&self, ip: IpAddr, tcp_port: u16, udp_port: u16) -> String {
        self.node_record(ip, tcp_port, udp_port).enode_url()
    }
}

fn parse_hex(text: &[u8], path: Option<&Path>) -> Result<NodeKey, NodeKeyError> {
    let path = || path.map(Path::to_path_buf);
    // A bad character inside the 64 is reported as such; beyond them it is a length error.
    if let Some(index) = text
        .iter()
        .take(HEX_LEN)
        .position(|b| !b.is_ascii_hexdigit())
    {
        // Report the whole character even when the byte starts a multi-byte sequence.
        let ch = String::from_utf8_lossy(&text[index..])
            .chars()
            .next()
            .unwrap_or('\u{fffd}');
        return Err(NodeKeyError::BadHex {
            path: path(),
            ch,
            index,
        });
    }
    if text.len() != HEX_LEN {
        return Err(NodeKeyError::BadLength {
            path: path(),
            len: text.len(),
        });
    }
    let mut bytes = [0u8; HEX_LEN / 2];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| NodeKeyError::BadHex {
        path: path(),
        ch: '\u{fffd}',
        index: 0,
    })?;
    SecretKey::from_slice(&bytes)
        .map(NodeKey::from)
        .map_err(|_| NodeKeyError::InvalidKey { path: path() })
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "nodekey".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    // A stale temporary file from a crash would make `create_new` fail.
    let _ = fs::remove_file(path);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

/// Makes the rename durable; failure only weakens crash safety, so it is ignored.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let dir = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";

    #[test]
    fn from_hex_gives_the_eip778_identity() {
        let key = NodeKey::from_hex(HEX).unwrap();
        assert_eq!(
            key.node_id().to_string(),
            "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7"
        );
        assert_eq!(key.to_hex(), HEX);
        assert_eq!(NodeKey::from_hex(&HEX.to_uppercase()).unwrap(), key);
        let url = key.enode_url("::ffff:127.0.0.1".parse().unwrap(), 30303, 30301);
        assert_eq!(
            url,
            format!("enode://{}@127.0.0.1:30303?discport=30301", key.peer_id())
        );
    }

    #[test]
    fn bad_text_is_rejected_with_the_right_kind() {
        let err = NodeKey::from_hex(&format!("0x{HEX}")).unwrap_err();
        assert!(
            matches!(
                err,
                NodeKeyError::BadHex {
                    ch: 'x',
                    index: 1,
                    path: None
                }
            ),
            "{err}"
        );
        assert!(matches!(
            NodeKey::from_hex("abc"),
            Err(NodeKeyError::BadLength { len: 3, .. })
        ));
        let bad = format!("{}g", &HEX[..63]);
        assert!(matches!(
            NodeKey::from_hex(&bad),
            Err(NodeKeyError::BadHex {
                ch: 'g',
                index: 63,
                ..
            })
        ));
        let with_newline = format!("{HEX}\n");
        assert!(matches!(
            NodeKey::from_hex(&with_newline),
            Err(NodeKeyError::BadLength { len: 65, .. })
        ));
        let zero = "0".repeat(64);
        assert!(matches!(
            NodeKey::from_hex(&zero),
            Err(NodeKeyError::InvalidKey { .. })
        ));
        let order = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
        assert!(matches!(
            NodeKey::from_hex(order),
            Err(NodeKeyError::InvalidKey { .. })
        ));
    }

    #[test]
    fn debug_does_not_leak_the_secret() {
        let key = NodeKey::from_hex(HEX).unwrap();
        assert!(!format!("{key:?}").contains(&HEX[..16]));
    }
}
