//! Capabilities: what a Hello advertises ([`Capability`]), what we run ([`Protocol`]), and what
//! both sides speak with its message-id range ([`SharedCapabilities`]).

use alloy_rlp::{Encodable, Header};
use bytes::BufMut;

/// Message ids `0x00..=0x0f` belong to the base protocol; capabilities start at this offset.
pub const BASE_PROTOCOL_LENGTH: u64 = 0x10;

/// A capability advertised in a Hello: a sub-protocol name and version, e.g. `eth/68`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability {
    /// Protocol name, e.g. `"eth"`.
    pub name: String,
    /// Protocol version.
    pub version: u32,
}

impl Capability {
    /// A capability from a name and version.
    pub fn new(name: impl Into<String>, version: u32) -> Self {
        Self {
            name: name.into(),
            version,
        }
    }

    /// Appends the RLP `[name, version]` list, as a Hello carries it.
    pub fn encode_rlp(&self, out: &mut dyn BufMut) {
        Header {
            list: true,
            payload_length: self.rlp_payload_length(),
        }
        .encode(out);
        self.name.as_str().encode(out);
        self.version.encode(out);
    }

    /// Length of the encoded `[name, version]` list.
    pub(super) fn rlp_length(&self) -> usize {
        let payload_length = self.rlp_payload_length();
        Header {
            list: true,
            payload_length,
        }
        .length()
            + payload_length
    }

    fn rlp_payload_length(&self) -> usize {
        self.name.as_str().length() + self.version.length()
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

/// A sub-protocol we run locally.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Protocol {
    /// Protocol name, e.g. `"eth"`.
    pub name: String,
    /// Protocol version.
    pub version: u32,
    /// Number of message ids the protocol uses (e.g. 18 for eth/69, 8 for snap/1).
    pub length: u64,
}

impl Protocol {
    /// A protocol from its name, version and number of message ids.
    pub fn new(name: impl Into<String>, version: u32, length: u64) -> Self {
        Self {
            name: name.into(),
            version,
            length,
        }
    }

    /// The capability to advertise in our Hello.
    pub fn capability(&self) -> Capability {
        Capability::new(self.name.clone(), self.version)
    }
}

/// A capability both sides speak, with its absolute message-id range `offset..offset+length`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SharedCapability {
    /// Protocol name.
    pub name: String,
    /// Negotiated version (the highest both sides speak).
    pub version: u32,
    /// First absolute message id of this capability.
    pub offset: u64,
    /// Number of message ids.
    pub length: u64,
}

impl SharedCapability {
    /// The negotiated capability as name/version.
    pub fn capability(&self) -> Capability {
        Capability::new(self.name.clone(), self.version)
    }

    /// Whether the absolute message id belongs to this capability.
    pub fn contains(&self, code: u64) -> bool {
        code >= self.offset && code - self.offset < self.length
    }
}

/// The result of negotiation, ordered by message-id offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedCapabilities(Vec<SharedCapability>);

impl SharedCapabilities {
    /// Matches the remote's capabilities against our protocols, as geth does.
    ///
    /// The remote list is sorted by (name, version); each entry equal in name *and* version to
    /// a local protocol gets the next `length` ids from 0x10 on. A later (higher) version of a
    /// name already matched replaces it and reuses its id range, so the highest common
    /// version of each name wins.
    pub fn negotiate(local: &[Protocol], remote: &[Capability]) -> Self {
        let mut sorted: Vec<&Capability> = remote.iter().collect();
        sorted.sort();
        let mut shared: Vec<SharedCapability> = Vec::new();
        let mut offset = BASE_PROTOCOL_LENGTH;
        for cap in sorted {
            let Some(proto) = local
                .iter()
                .find(|p| p.name == cap.name && p.version == cap.version)
            else {
                continue;
            };
            // Sorting groups names, so a replaced entry is always the last one pushed.
            if shared.last().is_some_and(|last| last.name == cap.name) {
                if let Some(old) = shared.pop() {
                    offset = old.offset;
                }
            }
            shared.push(SharedCapability {
                name: proto.name.clone(),
                version: proto.version,
                offset,
                length: proto.length,
            });
            offset = offset.saturating_add(proto.length);
        }
        Self(shared)
    }

    /// The shared capabilities in offset order.
    pub fn iter(&self) -> std::slice::Iter<'_, SharedCapability> {
        self.0.iter()
    }

    /// Number of shared capabilities.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing is shared.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The shared capability with this name, if any.
    pub fn find(&self, name: &str) -> Option<&SharedCapability> {
        self.0.iter().find(|c| c.name == name)
    }

    /// Index and capability owning the absolute message id.
    pub fn find_by_code(&self, code: u64) -> Option<(usize, &SharedCapability)> {
        self.0.iter().enumerate().find(|(_, c)| c.contains(code))
    }
}

impl<'a> IntoIterator for &'a SharedCapabilities {
    type Item = &'a SharedCapability;
    type IntoIter = std::slice::Iter<'a, SharedCapability>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &[(&str, u32)]) -> Vec<Capability> {
        list.iter().map(|(n, v)| Capability::new(*n, *v)).collect()
    }

    fn summary(s: &SharedCapabilities) -> Vec<(String, u32, u64, u64)> {
        s.iter()
            .map(|c| (c.name.clone(), c.version, c.offset, c.length))
            .collect()
    }

    #[test]
    fn geth_offsets_example() {
        let local = [Protocol::new("snap", 1, 8), Protocol::new("eth", 69, 18)];
        let shared = SharedCapabilities::negotiate(&local, &caps(&[("snap", 1), ("eth", 69)]));
        assert_eq!(
            summary(&shared),
            vec![("eth".into(), 69, 0x10, 18), ("snap".into(), 1, 0x22, 8)]
        );
        assert!(shared.find("snap").unwrap().contains(0x29));
        assert!(!shared.find("snap").unwrap().contains(0x2a));
        assert_eq!(shared.find_by_code(0x21).unwrap().1.name, "eth");
        assert_eq!(shared.find_by_code(0x22).unwrap().1.name, "snap");
        assert!(shared.find_by_code(0x0f).is_none());
        assert!(shared.find_by_code(0x2a).is_none());
    }

    #[test]
    fn highest_common_version_replaces_and_reuses_range() {
        let local = [
            Protocol::new("eth", 67, 17),
            Protocol::new("eth", 68, 17),
            Protocol::new("eth", 69, 18),
            Protocol::new("snap", 1, 8),
        ];
        // remote lacks eth/69; order scrambled on purpose
        let remote = caps(&[("snap", 1), ("eth", 68), ("les", 4), ("eth", 67)]);
        let shared = SharedCapabilities::negotiate(&local, &remote);
        assert_eq!(
            summary(&shared),
            vec![("eth".into(), 68, 0x10, 17), ("snap".into(), 1, 0x21, 8)]
        );
    }

    #[test]
    fn version_must_match_exactly() {
        let local = [Protocol::new("eth", 68, 17)];
        assert!(
            SharedCapabilities::negotiate(&local, &caps(&[("eth", 67), ("eth", 69)])).is_empty()
        );
        assert!(SharedCapabilities::negotiate(&local, &caps(&[("ETH", 68)])).is_empty());
        assert!(SharedCapabilities::negotiate(&[], &caps(&[("eth", 68)])).is_empty());
    }

    #[test]
    fn duplicate_remote_entries_do_not_leak_ids() {
        let local = [Protocol::new("a", 1, 3), Protocol::new("b", 1, 2)];
        let shared = SharedCapabilities::negotiate(&local, &caps(&[("a", 1), ("a", 1), ("b", 1)]));
        assert_eq!(
            summary(&shared),
            vec![("a".into(), 1, 0x10, 3), ("b".into(), 1, 0x13, 2)]
        );
    }
}
