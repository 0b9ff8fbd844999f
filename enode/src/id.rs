//! Node identities: the 64-byte public key seen on the wire ([`PeerId`]) and its
//! keccak-256 hash, the Kademlia key ([`NodeId`]).

use std::{cmp::Ordering, fmt, str::FromStr};

use secp256k1::{PublicKey, SecretKey};

use crate::crypto::{keccak256, public_key, recover, SignatureError, SIGNATURE_LEN};

/// A node's public key as it appears in discv4 packets, RLPx and enode URLs:
/// the 64-byte uncompressed secp256k1 point without the `0x04` prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 64]);

/// The Kademlia key of a node: keccak-256 of its [`PeerId`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 32]);

/// Why a byte string is not a valid [`PeerId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerIdError {
    /// The hex text is not 128 hex characters.
    #[error("node id must be 128 hex characters (64 bytes), got {0} characters")]
    BadLength(usize),
    /// The text is not hexadecimal.
    #[error("node id is not valid hex: {0}")]
    BadHex(String),
    /// The 64 bytes are not a point on the secp256k1 curve.
    #[error("node id is not a valid secp256k1 public key")]
    NotOnCurve,
}

impl PeerId {
    /// The identity of a public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let uncompressed = key.serialize_uncompressed();
        let mut id = [0u8; 64];
        id.copy_from_slice(&uncompressed[1..]);
        Self(id)
    }

    /// The identity of a secret key's public key.
    pub fn from_secret_key(key: &SecretKey) -> Self {
        Self::from_public_key(&public_key(key))
    }

    /// Parses the 64 bytes as a curve point; fails when they are not on the curve.
    pub fn to_public_key(&self) -> Result<PublicKey, PeerIdError> {
        let mut uncompressed = [0u8; 65];
        uncompressed[0] = 0x04;
        uncompressed[1..].copy_from_slice(&self.0);
        PublicKey::from_slice(&uncompressed).map_err(|_| PeerIdError::NotOnCurve)
    }

    /// True when the 64 bytes are a valid secp256k1 point.
    pub fn is_on_curve(&self) -> bool {
        self.to_public_key().is_ok()
    }

    /// The Kademlia key (keccak-256 of the 64 bytes).
    pub fn node_id(&self) -> NodeId {
        NodeId(keccak256(&self.0))
    }

    /// The raw 64 bytes.
    pub const fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// Recovers the signer of a 32-byte digest from `r || s || v`.
    pub fn recover(
        signature: &[u8; SIGNATURE_LEN],
        digest: &[u8; 32],
    ) -> Result<Self, SignatureError> {
        recover(signature, digest).map(|key| Self::from_public_key(&key))
    }

    /// 64 random bytes: a lookup target (not necessarily a curve point; lookups only use its
    /// hash).
    pub fn random() -> Self {
        let mut target = [0u8; 64];
        rand::Rng::fill(&mut rand::thread_rng(), &mut target[..]);
        Self(target)
    }
}

impl AsRef<[u8]> for PeerId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Short form keeps logs readable; Display gives the full key.
        write!(f, "PeerId({}…)", hex::encode(&self.0[..8]))
    }
}

impl FromStr for PeerId {
    type Err = PeerIdError;

    /// Parses 128 hex characters (an optional `0x` prefix is allowed). Does not check the
    /// curve; call [`PeerId::is_on_curve`] where that matters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        if s.len() != 128 {
            return Err(PeerIdError::BadLength(s.len()));
        }
        let mut id = [0u8; 64];
        hex::decode_to_slice(s, &mut id).map_err(|e| PeerIdError::BadHex(e.to_string()))?;
        Ok(Self(id))
    }
}

impl NodeId {
    /// Log-distance: 256 minus the number of leading zero bits of `self XOR other`;
    /// 0 when the ids are equal.
    pub fn log_distance(&self, other: &Self) -> u32 {
        for (i, (a, b)) in self.0.iter().zip(other.0.iter()).enumerate() {
            let x = a ^ b;
            if x != 0 {
                return 256 - (i as u32 * 8 + x.leading_zeros());
            }
        }
        0
    }

    /// XOR distance between two ids, as big-endian bytes (comparable with `Ord`).
    pub fn distance(&self, other: &Self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = a ^ b;
        }
        out
    }

    /// Compares which of `a` and `b` is closer to `self` (Less means `a` is closer).
    pub fn cmp_distance(&self, a: &Self, b: &Self) -> Ordering {
        for ((t, x), y) in self.0.iter().zip(a.0.iter()).zip(b.0.iter()) {
            let (da, db) = (t ^ x, t ^ y);
            if da != db {
                return da.cmp(&db);
            }
        }
        Ordering::Equal
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({}…)", hex::encode(&self.0[..8]))
    }
}

impl From<PeerId> for NodeId {
    fn from(id: PeerId) -> Self {
        id.node_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn node_id_of_the_eip8_signer_matches_the_vector() {
        let id: PeerId = "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f".parse().unwrap();
        assert!(id.is_on_curve());
        assert_eq!(
            id.node_id().to_string(),
            "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7"
        );
    }

    #[test]
    fn log_distance_edges() {
        let zero = NodeId([0; 32]);
        assert_eq!(zero.log_distance(&zero), 0);
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(zero.log_distance(&NodeId(one)), 1);
        let mut top = [0u8; 32];
        top[0] = 0x80;
        assert_eq!(zero.log_distance(&NodeId(top)), 256);
        top[0] = 0x01;
        assert_eq!(zero.log_distance(&NodeId(top)), 249);
    }

    #[test]
    fn bad_peer_id_text_is_rejected() {
        assert_eq!("abc".parse::<PeerId>(), Err(PeerIdError::BadLength(3)));
        assert!(matches!(
            "zz".repeat(64).parse::<PeerId>(),
            Err(PeerIdError::BadHex(_))
        ));
        assert!(!PeerId([0; 64]).is_on_curve());
    }

    proptest! {
        #[test]
        fn log_distance_agrees_with_xor_distance(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            let (a, b) = (NodeId(a), NodeId(b));
            let d = a.distance(&b);
            let expected = d.iter().position(|x| *x != 0)
                .map(|i| 256 - (i as u32 * 8 + d[i].leading_zeros()))
                .unwrap_or(0);
            prop_assert_eq!(a.log_distance(&b), expected);
            prop_assert_eq!(a.log_distance(&b), b.log_distance(&a));
        }

        #[test]
        fn cmp_distance_agrees_with_xor(t in any::<[u8; 32]>(), a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            let (t, a, b) = (NodeId(t), NodeId(a), NodeId(b));
            prop_assert_eq!(t.cmp_distance(&a, &b), t.distance(&a).cmp(&t.distance(&b)));
        }
    }
}
