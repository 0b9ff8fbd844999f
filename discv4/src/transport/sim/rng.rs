//! Stateless deterministic randomness for the simulated network.
//!
//! Every decision (is this datagram lost? how long is this link?) is a pure hash of the seed
//! and the packet's identity, so a run does not depend on which task happened to send first.

use std::net::{IpAddr, SocketAddr};

/// Tags that keep the hash streams of different decisions independent.
pub(super) const TAG_LOSS: u64 = 0x6c6f_7373;
pub(super) const TAG_LINK_DELAY: u64 = 0x6c69_6e6b;
pub(super) const TAG_REORDER: u64 = 0x7265_6f72;

/// The splitmix64 finaliser: a fast bijective mixer with good avalanche.
pub(super) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 64-bit digest of a socket address.
pub(super) fn addr_key(addr: &SocketAddr) -> u64 {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            mix(bits as u64) ^ (bits >> 64) as u64
        }
    };
    mix(ip ^ (u64::from(addr.port()) << 48))
}

/// Hashes a sequence of words into one.
pub(super) fn hash(words: &[u64]) -> u64 {
    words.iter().fold(0, |acc, word| mix(acc ^ word))
}

/// Maps a hash to a uniform number in `[0, 1)`.
pub(super) fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_is_in_range_and_spread() {
        let mut below_half = 0;
        for i in 0..10_000u64 {
            let u = unit(hash(&[42, i]));
            assert!((0.0..1.0).contains(&u));
            if u < 0.5 {
                below_half += 1;
            }
        }
        assert!((4_700..5_300).contains(&below_half), "{below_half}");
    }

    #[test]
    fn addresses_hash_apart() {
        let a: SocketAddr = "10.0.0.1:30303".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:30304".parse().unwrap();
        let c: SocketAddr = "10.0.0.2:30303".parse().unwrap();
        assert_ne!(addr_key(&a), addr_key(&b));
        assert_ne!(addr_key(&a), addr_key(&c));
        assert_eq!(addr_key(&a), addr_key(&a));
    }
}
