//! Network groups: the unit the book spreads its entries over, so that one operator's
//! addresses (or one attacker's) land in few buckets. IPv4 by /16, IPv6 by /32, with the
//! forms that embed an IPv4 address (mapped, 6to4, Teredo) grouped by that address, and
//! Hurricane Electric's tunnel range by /36, as in btcd and CometBFT. A loopback or LAN
//! address is a group of its own: such records are only believed from peers on that
//! network, where prefixes say nothing about operators, and one group for a whole private
//! network would put all its new entries in one bucket of 64 (CometBFT's "local" group).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use enode::netutil::{is_lan, normalize_ip};

/// A network group, as bytes suitable for hashing: a tag byte and the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group([u8; 6]);

const TAG_V4: u8 = 4;
const TAG_V6: u8 = 6;
/// A loopback or LAN IPv6 address (by its last five bytes).
const TAG_LOCAL: u8 = 1;
/// A loopback or LAN IPv4 address.
const TAG_LOCAL_V4: u8 = 2;
const HE_MARK: u8 = 0x80;

impl Group {
    /// The group of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        let ip = normalize_ip(ip);
        if ip.is_loopback() || ip.is_unspecified() || is_lan(ip) {
            return match ip {
                IpAddr::V4(v4) => {
                    let [a, b, c, d] = v4.octets();
                    Self([TAG_LOCAL_V4, a, b, c, d, 0])
                }
                IpAddr::V6(v6) => {
                    let o = v6.octets();
                    Self([TAG_LOCAL, o[11], o[12], o[13], o[14], o[15]])
                }
            };
        }
        match ip {
            IpAddr::V4(v4) => v4_group(v4),
            IpAddr::V6(v6) => match embedded_v4(v6) {
                Some(v4) => v4_group(v4),
                None => v6_group(v6),
            },
        }
    }

    /// The group's bytes (for keyed hashing and persistence).
    pub fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// A group from its bytes (persisted books).
    pub fn from_bytes(bytes: [u8; 6]) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        match b[0] {
            TAG_V4 => write!(f, "{}.{}.0.0/16", b[1], b[2]),
            TAG_V6 if b[5] & HE_MARK != 0 => write!(
                f,
                "{:02x}{:02x}:{:02x}{:02x}:{:x}000::/36",
                b[1],
                b[2],
                b[3],
                b[4],
                b[5] & 0x0f
            ),
            TAG_V6 => write!(f, "{:02x}{:02x}:{:02x}{:02x}::/32", b[1], b[2], b[3], b[4]),
            TAG_LOCAL_V4 => write!(f, "{}.{}.{}.{} (local)", b[1], b[2], b[3], b[4]),
            _ => write!(
                f,
                "local …{:02x}:{:02x}{:02x}:{:02x}{:02x}",
                b[1], b[2], b[3], b[4], b[5]
            ),
        }
    }
}

fn v4_group(v4: Ipv4Addr) -> Group {
    let o = v4.octets();
    Group([TAG_V4, o[0], o[1], 0, 0, 0])
}

fn v6_group(v6: Ipv6Addr) -> Group {
    let o = v6.octets();
    // Hurricane Electric (2001:470::/32) hands out /48s from one /32: group it by /36,
    // keeping the fifth nibble in the last byte (marked by the high bit).
    if o[..4] == [0x20, 0x01, 0x04, 0x70] {
        Group([TAG_V6, o[0], o[1], o[2], o[3], HE_MARK | (o[4] >> 4)])
    } else {
        Group([TAG_V6, o[0], o[1], o[2], o[3], 0])
    }
}

/// The IPv4 address inside 6to4 (2002::/16) and Teredo (2001:0::/32) addresses.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = v6.octets();
    if o[0] == 0x20 && o[1] == 0x02 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    if o[..4] == [0x20, 0x01, 0x00, 0x00] {
        // Teredo stores the client's address inverted in the last 32 bits.
        return Some(Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]));
    }
    None
}

/// The subnet the ingest caps count by: /24 for IPv4, /48 for IPv6.
pub(crate) fn cap_subnet(ip: IpAddr) -> IpAddr {
    match normalize_ip(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], 0))
        }
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[6..].fill(0);
            IpAddr::V6(Ipv6Addr::from(o))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Group {
        Group::of(s.parse().unwrap())
    }

    #[test]
    fn ipv4_groups_by_16() {
        assert_eq!(g("1.2.3.4"), g("1.2.200.9"));
        assert_ne!(g("1.2.3.4"), g("1.3.3.4"));
        assert_eq!(g("1.2.3.4").to_string(), "1.2.0.0/16");
    }

    #[test]
    fn ipv6_groups_by_32_and_embedded_ipv4_by_its_16() {
        assert_eq!(g("2a01:4f8:1::1"), g("2a01:4f8:ffff::2"));
        assert_ne!(g("2a01:4f8::1"), g("2a01:4f9::1"));
        assert_eq!(g("::ffff:1.2.3.4"), g("1.2.9.9"));
        assert_eq!(g("2002:0102:0304::1"), g("1.2.3.4"));
        // Teredo: 1.2.3.4 inverted is fe.fd.fc.fb.
        assert_eq!(g("2001:0:0:0:0:0:fefd:fcfb"), g("1.2.3.4"));
    }

    #[test]
    fn hurricane_electric_groups_by_36() {
        assert_eq!(g("2001:470:1000::1"), g("2001:470:1fff::1"));
        assert_ne!(g("2001:470:1000::1"), g("2001:470:2000::1"));
    }

    #[test]
    fn each_local_address_is_its_own_group() {
        assert_ne!(g("127.0.0.1"), g("127.0.0.2"));
        assert_ne!(g("10.0.0.1"), g("10.0.0.2"));
        assert_ne!(g("10.0.0.1"), g("::1"));
        assert_ne!(g("fd00::1"), g("fd00::2"));
        assert_eq!(g("192.168.1.1"), g("::ffff:192.168.1.1"));
        assert_eq!(g("127.1.2.3").to_string(), "127.1.2.3 (local)");
        // Public addresses keep their /16 whatever the local ones do.
        assert_ne!(g("127.1.2.3"), g("1.2.3.4"));
    }

    #[test]
    fn cap_subnets() {
        assert_eq!(
            cap_subnet("1.2.3.4".parse().unwrap()),
            "1.2.3.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            cap_subnet("2a01:4f8:1:2:3::1".parse().unwrap()),
            "2a01:4f8:1::".parse::<IpAddr>().unwrap()
        );
    }
}
