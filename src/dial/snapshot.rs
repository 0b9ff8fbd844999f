//! The persisted form of the dial memory: a compact, versioned binary encoding (about 100
//! bytes per node) that the node writes to its data directory on shutdown and reads back on
//! start, so that addresses that failed (and nodes that worked) are remembered across
//! restarts.
//!
//! Layout (integers big-endian):
//!
//! ```text
//! "KDM" version=1 | taken_at_secs: u64 | count: u32 | count × entry
//! entry = id: 64 bytes | family: u8 (4 or 6) | ip: 4 or 16 bytes | port: u16
//!       | successes: u32 | failures: u32 | flags: u8 (bit 0 incompatible,
//!         bit 1 has last success, bit 2 has last failure, bit 3 never reached)
//!       | updated_secs_ago: u32 | last_success_secs_ago: u32 | last_failure_secs_ago: u32
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use enode::PeerId;

const MAGIC: &[u8; 3] = b"KDM";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 3 + 1 + 8 + 4;
/// The smallest entry (IPv4).
const MIN_ENTRY_LEN: usize = 64 + 1 + 4 + 2 + 4 + 4 + 1 + 4 + 4 + 4;
/// The most entries a snapshot may hold.
pub const MAX_SNAPSHOT_ENTRIES: usize = 65_536;

const FLAG_INCOMPATIBLE: u8 = 1;
const FLAG_SUCCESS: u8 = 2;
const FLAG_FAILURE: u8 = 4;
/// Added without a version bump: an older reader ignores it, and a snapshot from an older
/// writer reads as "reached", so old failures never put a node aside.
const FLAG_NEVER_REACHED: u8 = 8;

/// One node's remembered dial results, with times as ages at the moment of the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// The node.
    pub id: PeerId,
    /// Its TCP address at the last dial or session.
    pub addr: SocketAddr,
    /// Sessions established.
    pub successes: u32,
    /// Dials failed in a row at `addr`.
    pub failures: u32,
    /// No dial at `addr` ever reached the node.
    pub never_reached: bool,
    /// Proved incompatible.
    pub incompatible: bool,
    /// Seconds between the record's last update and the snapshot.
    pub updated_secs_ago: u32,
    /// Seconds between the last success and the snapshot.
    pub last_success_secs_ago: Option<u32>,
    /// Seconds between the last failure and the snapshot.
    pub last_failure_secs_ago: Option<u32>,
}

/// A serialisable copy of the dial memory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DialMemorySnapshot {
    taken_at_secs: u64,
    entries: Vec<SnapshotEntry>,
}

/// Why bytes are not a dial memory snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes do not start with the snapshot's magic.
    #[error("not a dial memory snapshot")]
    BadMagic,
    /// A version this code does not read.
    #[error("unsupported dial memory snapshot version {0}")]
    UnsupportedVersion(u8),
    /// The bytes end in the middle of the snapshot.
    #[error("dial memory snapshot is truncated")]
    Truncated,
    /// More entries than [`MAX_SNAPSHOT_ENTRIES`].
    #[error("dial memory snapshot holds {0} entries, more than allowed")]
    TooManyEntries(u32),
    /// An address family other than 4 or 6.
    #[error("dial memory snapshot has an unknown address family {0}")]
    BadAddressFamily(u8),
    /// Bytes after the last entry.
    #[error("dial memory snapshot has {0} trailing bytes")]
    TrailingBytes(usize),
}

impl DialMemorySnapshot {
    /// A snapshot taken at Unix time `taken_at_secs` holding `entries` (at most
    /// [`MAX_SNAPSHOT_ENTRIES`]; further ones are dropped).
    pub fn new(taken_at_secs: u64, mut entries: Vec<SnapshotEntry>) -> Self {
        entries.truncate(MAX_SNAPSHOT_ENTRIES);
        Self {
            taken_at_secs,
            entries,
        }
    }

    /// The Unix time (seconds) the snapshot was taken at.
    pub fn taken_at_secs(&self) -> u64 {
        self.taken_at_secs
    }

    /// The entries, most recently updated first.
    pub fn entries(&self) -> &[SnapshotEntry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the snapshot holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The binary form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.entries.len() * (MIN_ENTRY_LEN + 12));
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.taken_at_secs.to_be_bytes());
        let count = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for entry in &self.entries {
            out.extend_from_slice(&entry.id.0);
            match entry.addr.ip() {
                IpAddr::V4(ip) => {
                    out.push(4);
                    out.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    out.push(6);
                    out.extend_from_slice(&ip.octets());
                }
            }
            out.extend_from_slice(&entry.addr.port().to_be_bytes());
            out.extend_from_slice(&entry.successes.to_be_bytes());
            out.extend_from_slice(&entry.failures.to_be_bytes());
            let mut flags = 0;
            if entry.incompatible {
                flags |= FLAG_INCOMPATIBLE;
            }
            if entry.last_success_secs_ago.is_some() {
                flags |= FLAG_SUCCESS;
            }
            if entry.last_failure_secs_ago.is_some() {
                flags |= FLAG_FAILURE;
            }
            if entry.never_reached {
                flags |= FLAG_NEVER_REACHED;
            }
            out.push(flags);
            out.extend_from_slice(&entry.updated_secs_ago.to_be_bytes());
            out.extend_from_slice(&entry.last_success_secs_ago.unwrap_or(0).to_be_bytes());
            out.extend_from_slice(&entry.last_failure_secs_ago.unwrap_or(0).to_be_bytes());
        }
        out
    }

    /// Reads the binary form; every malformed input is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, SnapshotError> {
        let mut reader = Reader { bytes };
        if reader.take(3)? != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = reader.u8()?;
        if version != VERSION {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let taken_at_secs = reader.u64()?;
        let count = reader.u32()?;
        let entries_len = usize::try_from(count).unwrap_or(usize::MAX);
        if entries_len > MAX_SNAPSHOT_ENTRIES {
            return Err(SnapshotError::TooManyEntries(count));
        }
        if reader.bytes.len() < entries_len.saturating_mul(MIN_ENTRY_LEN) {
            return Err(SnapshotError::Truncated);
        }
        let mut entries = Vec::with_capacity(entries_len);
        for _ in 0..entries_len {
            entries.push(reader.entry()?);
        }
        if !reader.bytes.is_empty() {
            return Err(SnapshotError::TrailingBytes(reader.bytes.len()));
        }
        Ok(Self {
            taken_at_secs,
            entries,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if self.bytes.len() < n {
            return Err(SnapshotError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn entry(&mut self) -> Result<SnapshotEntry, SnapshotError> {
        let id = PeerId(self.array()?);
        let ip = match self.u8()? {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>()?)),
            other => return Err(SnapshotError::BadAddressFamily(other)),
        };
        let port = self.u16()?;
        let successes = self.u32()?;
        let failures = self.u32()?;
        let flags = self.u8()?;
        let updated_secs_ago = self.u32()?;
        let success_ago = self.u32()?;
        let failure_ago = self.u32()?;
        Ok(SnapshotEntry {
            id,
            addr: SocketAddr::new(ip, port),
            successes,
            failures,
            never_reached: flags & FLAG_NEVER_REACHED != 0,
            incompatible: flags & FLAG_INCOMPATIBLE != 0,
            updated_secs_ago,
            last_success_secs_ago: (flags & FLAG_SUCCESS != 0).then_some(success_ago),
            last_failure_secs_ago: (flags & FLAG_FAILURE != 0).then_some(failure_ago),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn entry(n: u8, v6: bool) -> SnapshotEntry {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
        } else {
            IpAddr::V4(Ipv4Addr::new(8, 8, 8, n))
        };
        SnapshotEntry {
            id: PeerId([n; 64]),
            addr: SocketAddr::new(ip, 30303),
            successes: u32::from(n),
            failures: 3,
            never_reached: !n.is_multiple_of(2),
            incompatible: n.is_multiple_of(2),
            updated_secs_ago: 7,
            last_success_secs_ago: Some(9),
            last_failure_secs_ago: None,
        }
    }

    #[test]
    fn round_trip_and_size() {
        let snapshot =
            DialMemorySnapshot::new(1_700_000_000, vec![entry(1, false), entry(2, true)]);
        let bytes = snapshot.encode();
        assert_eq!(
            bytes.len(),
            HEADER_LEN + MIN_ENTRY_LEN + (MIN_ENTRY_LEN + 12)
        );
        assert_eq!(DialMemorySnapshot::decode(&bytes), Ok(snapshot));
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let bytes = DialMemorySnapshot::new(1, vec![entry(1, false)]).encode();
        assert_eq!(
            DialMemorySnapshot::decode(b"XYZ"),
            Err(SnapshotError::BadMagic)
        );
        let mut v2 = bytes.clone();
        v2[3] = 2;
        assert_eq!(
            DialMemorySnapshot::decode(&v2),
            Err(SnapshotError::UnsupportedVersion(2))
        );
        assert_eq!(
            DialMemorySnapshot::decode(&bytes[..bytes.len() - 1]),
            Err(SnapshotError::Truncated)
        );
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            DialMemorySnapshot::decode(&trailing),
            Err(SnapshotError::TrailingBytes(1))
        );
        let mut family = bytes.clone();
        family[HEADER_LEN + 64] = 5;
        assert_eq!(
            DialMemorySnapshot::decode(&family),
            Err(SnapshotError::BadAddressFamily(5))
        );
        let mut huge = bytes[..HEADER_LEN].to_vec();
        huge[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            DialMemorySnapshot::decode(&huge),
            Err(SnapshotError::TooManyEntries(u32::MAX))
        );
        let mut claims_more = bytes[..HEADER_LEN].to_vec();
        claims_more[12..16].copy_from_slice(&1000u32.to_be_bytes());
        assert_eq!(
            DialMemorySnapshot::decode(&claims_more),
            Err(SnapshotError::Truncated)
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = DialMemorySnapshot::decode(&bytes);
        }

        #[test]
        fn decode_of_a_mutated_snapshot_never_panics(index in 0usize..300, value: u8) {
            let mut bytes = DialMemorySnapshot::new(5, vec![entry(1, false), entry(2, true)]).encode();
            let i = index % bytes.len();
            bytes[i] = value;
            let _ = DialMemorySnapshot::decode(&bytes);
        }
    }
}
