//! IP address classification: LAN, special-purpose networks, relay checks, netrestrict.
//!
//! The lists follow go-ethereum's `p2p/netutil` (RFC 5735 / RFC 6890 registries). One
//! deliberate addition: IPv4 link-local `169.254.0.0/16` counts as LAN (geth only lists the
//! IPv6 link-local range). Such addresses are never reachable across the internet, so treating
//! them as LAN only makes the relay check stricter and exempts them from IP limits, as for the
//! other non-routable ranges. The special-purpose list also adds "this network" `0.0.0.0/8`
//! and the reserved `240.0.0.0/4`, which no public node can have. Carrier-grade NAT space (`100.64.0.0/10`) is *not* LAN: many
//! unrelated subscribers share it, so it must stay subject to the IP-diversity limits.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Converts an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) to plain IPv4; other addresses
/// are returned unchanged. Every address entering the table, the database or a relay check
/// goes through this so one host never appears under two spellings.
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

const fn v4net(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> (Ipv4Addr, u8) {
    (Ipv4Addr::new(a, b, c, d), prefix)
}

/// IPv4 LAN ranges (besides loopback): "this network", private use, link-local.
const LAN4: [(Ipv4Addr, u8); 5] = [
    v4net(0, 0, 0, 0, 8),
    v4net(10, 0, 0, 0, 8),
    v4net(172, 16, 0, 0, 12),
    v4net(192, 168, 0, 0, 16),
    v4net(169, 254, 0, 0, 16),
];

/// IPv4 special-purpose ranges that must never be relayed (IANA special registry).
const SPECIAL4: [(Ipv4Addr, u8); 15] = [
    v4net(192, 0, 0, 0, 29),       // IPv4 service continuity
    v4net(192, 0, 0, 9, 32),       // PCP anycast
    v4net(192, 0, 0, 170, 32),     // NAT64/DNS64 discovery
    v4net(192, 0, 0, 171, 32),     // NAT64/DNS64 discovery
    v4net(192, 0, 2, 0, 24),       // TEST-NET-1
    v4net(192, 31, 196, 0, 24),    // AS112
    v4net(192, 52, 193, 0, 24),    // AMT
    v4net(192, 88, 99, 0, 24),     // 6to4 relay anycast
    v4net(192, 175, 48, 0, 24),    // AS112
    v4net(198, 18, 0, 0, 15),      // benchmarking
    v4net(198, 51, 100, 0, 24),    // TEST-NET-2
    v4net(203, 0, 113, 0, 24),     // TEST-NET-3
    v4net(255, 255, 255, 255, 32), // limited broadcast
    v4net(240, 0, 0, 0, 4),        // reserved (class E); not routable on the internet
    v4net(0, 0, 0, 0, 8),          // "this network" is never a valid destination
];

const fn v6net(segments: [u16; 8], prefix: u8) -> ([u16; 8], u8) {
    (segments, prefix)
}

/// IPv6 LAN ranges (besides loopback): link-local and unique-local.
const LAN6: [([u16; 8], u8); 2] = [
    v6net([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
    v6net([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
];

/// IPv6 special-purpose ranges (IANA IPv6 special registry).
const SPECIAL6: [([u16; 8], u8); 11] = [
    v6net([0x0100, 0, 0, 0, 0, 0, 0, 0], 64),     // discard-only
    v6net([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),     // TEREDO
    v6net([0x2001, 1, 0, 0, 0, 0, 0, 1], 128),    // port control protocol anycast
    v6net([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),     // benchmarking
    v6net([0x2001, 3, 0, 0, 0, 0, 0, 0], 32),     // AMT
    v6net([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48), // AS112-v6
    v6net([0x2001, 5, 0, 0, 0, 0, 0, 0], 32),     // EID space for LISP
    v6net([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28),  // ORCHID
    v6net([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28),  // ORCHIDv2
    v6net([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32), // documentation
    v6net([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),     // 6to4
];

fn in_v4(ip: Ipv4Addr, nets: &[(Ipv4Addr, u8)]) -> bool {
    let bits = u32::from(ip);
    nets.iter().any(|(net, prefix)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
        bits & mask == u32::from(*net) & mask
    })
}

fn in_v6(ip: Ipv6Addr, nets: &[([u16; 8], u8)]) -> bool {
    let bits = u128::from(ip);
    nets.iter().any(|(segments, prefix)| {
        let net = u128::from(Ipv6Addr::from(*segments));
        let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
        bits & mask == net & mask
    })
}

/// True for loopback and local-network addresses: 127/8, ::1, 0/8, 10/8, 172.16/12,
/// 192.168/16, 169.254/16, fe80::/10 and fc00::/7. Such nodes are exempt from the table's
/// IP-diversity limits and may only be relayed to LAN peers.
pub fn is_lan(ip: IpAddr) -> bool {
    match normalize_ip(ip) {
        IpAddr::V4(v4) => v4.is_loopback() || in_v4(v4, &LAN4),
        IpAddr::V6(v6) => v6.is_loopback() || in_v6(v6, &LAN6),
    }
}

/// True for multicast and special-purpose networks (RFC 6890 registries: 192.0.0/29, the
/// TEST-NETs, 198.18/15, 255.255.255.255, 240/4, 2001:db8::/32, 2002::/16, …). Addresses in
/// these ranges are never valid endpoints of a public node.
pub fn is_special_network(ip: IpAddr) -> bool {
    match normalize_ip(ip) {
        IpAddr::V4(v4) => v4.is_multicast() || in_v4(v4, &SPECIAL4),
        IpAddr::V6(v6) => v6.is_multicast() || in_v6(v6, &SPECIAL6),
    }
}

/// Why an address must not be passed on to (or accepted from) a given sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// `0.0.0.0` or `::`.
    #[error("unspecified address")]
    Unspecified,
    /// Multicast or a special-purpose network (documentation, benchmarking, broadcast, …).
    #[error("special-purpose network address")]
    SpecialNetwork,
    /// A loopback address offered to or by a sender that is not itself on loopback.
    #[error("loopback address from a non-loopback sender")]
    LoopbackFromRemote,
    /// A LAN address offered to or by a sender that is not itself on a LAN.
    #[error("LAN address from a non-LAN sender")]
    LanFromInternet,
}

/// geth's `CheckRelayIP`: may `addr` be relayed to/from a peer at `sender`? Used for the
/// entries of NEIGHBORS packets (both directions) and for the IP inside an ENR response.
pub fn check_relay(sender: IpAddr, addr: IpAddr) -> Result<(), RelayError> {
    let (sender, addr) = (normalize_ip(sender), normalize_ip(addr));
    if addr.is_unspecified() {
        return Err(RelayError::Unspecified);
    }
    if is_special_network(addr) {
        return Err(RelayError::SpecialNetwork);
    }
    if addr.is_loopback() && !sender.is_loopback() {
        return Err(RelayError::LoopbackFromRemote);
    }
    if is_lan(addr) && !is_lan(sender) {
        return Err(RelayError::LanFromInternet);
    }
    Ok(())
}

/// The subnet `ip` belongs to, truncated to `prefix` bits (clamped to the address length):
/// the key the table's IP-diversity limits count by. geth applies the same prefix length to
/// both families, so an IPv6 address with prefix 24 is keyed by its first 24 bits.
pub fn subnet_key(ip: IpAddr, prefix: u8) -> IpNet {
    match normalize_ip(ip) {
        IpAddr::V4(v4) => {
            let prefix = prefix.min(32);
            Ipv4Net::new(v4, prefix)
                .map(|n| IpNet::V4(n.trunc()))
                .unwrap_or(IpNet::V4(Ipv4Net::default()))
        }
        IpAddr::V6(v6) => {
            let prefix = prefix.min(128);
            Ipv6Net::new(v6, prefix)
                .map(|n| IpNet::V6(n.trunc()))
                .unwrap_or(IpNet::V6(Ipv6Net::default()))
        }
    }
}

/// An allow-list of networks (geth's `--netrestrict`). Parsed from comma- or
/// whitespace-separated CIDRs, e.g. `"10.0.0.0/8, 192.168.0.0/16"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetRestrict {
    nets: Vec<IpNet>,
}

/// A netrestrict list entry that is not a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid netrestrict entry {entry:?}: expected a CIDR such as 10.0.0.0/8 or fd00::/8 ({reason})")]
pub struct NetRestrictError {
    /// The offending entry, as written.
    pub entry: String,
    /// What the CIDR parser said.
    pub reason: String,
}

impl NetRestrict {
    /// An allow-list of the given networks (host bits are cleared).
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            nets: nets.into_iter().map(|n| n.trunc()).collect(),
        }
    }

    /// True when `ip` (IPv4-mapped addresses normalised) is inside one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = normalize_ip(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The networks of the list.
    pub fn networks(&self) -> &[IpNet] {
        &self.nets
    }

    /// True when the list has no network (and so allows nothing).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

impl FromStr for NetRestrict {
    type Err = NetRestrictError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut nets = Vec::new();
        for entry in s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            let net: IpNet =
                entry
                    .parse()
                    .map_err(|e: ipnet::AddrParseError| NetRestrictError {
                        entry: entry.to_owned(),
                        reason: e.to_string(),
                    })?;
            nets.push(net.trunc());
        }
        Ok(Self { nets })
    }
}

impl fmt::Display for NetRestrict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.nets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn mapped_addresses_are_normalised() {
        assert_eq!(normalize_ip(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(normalize_ip(ip("::1")), ip("::1"));
        assert_eq!(normalize_ip(ip("2001:4860::1")), ip("2001:4860::1"));
        assert!(is_lan(ip("::ffff:10.1.2.3")));
    }

    #[test]
    fn lan_classification() {
        for lan in [
            "127.0.0.1",
            "127.9.9.9",
            "10.0.0.1",
            "172.16.5.5",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.3.3",
            "0.1.2.3",
            "::1",
            "fe80::1",
            "fd00::5",
            "fc00::1",
        ] {
            assert!(is_lan(ip(lan)), "{lan} should be LAN");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "100.64.0.1",
            "192.169.0.1",
            "2001:4860:4860::8888",
            "fec0::1",
        ] {
            assert!(!is_lan(ip(public)), "{public} should not be LAN");
        }
    }

    #[test]
    fn special_networks() {
        for special in [
            "192.0.0.1",
            "192.0.0.9",
            "192.0.2.55",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.9",
            "255.255.255.255",
            "224.0.0.1",
            "239.1.1.1",
            "240.0.0.1",
            "2001:db8::1",
            "2002::1",
            "ff02::1",
            "100::1",
        ] {
            assert!(
                is_special_network(ip(special)),
                "{special} should be special"
            );
        }
        for normal in [
            "8.8.8.8",
            "192.0.0.8",
            "198.20.0.1",
            "10.0.0.1",
            "2001:4860::1",
            "::1",
        ] {
            assert!(
                !is_special_network(ip(normal)),
                "{normal} should not be special"
            );
        }
    }

    #[test]
    fn relay_rules() {
        let public = ip("8.8.8.8");
        let lan = ip("192.168.0.2");
        let lo = ip("127.0.0.1");
        assert_eq!(
            check_relay(public, ip("0.0.0.0")),
            Err(RelayError::Unspecified)
        );
        assert_eq!(check_relay(public, ip("::")), Err(RelayError::Unspecified));
        assert_eq!(
            check_relay(public, ip("192.0.2.1")),
            Err(RelayError::SpecialNetwork)
        );
        assert_eq!(
            check_relay(lo, ip("224.0.0.1")),
            Err(RelayError::SpecialNetwork)
        );
        assert_eq!(check_relay(public, lo), Err(RelayError::LoopbackFromRemote));
        assert_eq!(check_relay(lan, lo), Err(RelayError::LoopbackFromRemote));
        assert_eq!(check_relay(lo, lo), Ok(()));
        assert_eq!(check_relay(public, lan), Err(RelayError::LanFromInternet));
        assert_eq!(check_relay(lan, ip("10.0.0.7")), Ok(()));
        assert_eq!(check_relay(lo, lan), Ok(()), "loopback counts as LAN");
        assert_eq!(check_relay(public, ip("1.1.1.1")), Ok(()));
        assert_eq!(check_relay(lan, public), Ok(()));
        assert_eq!(
            check_relay(ip("::ffff:127.0.0.1"), ip("::ffff:127.0.0.2")),
            Ok(())
        );
    }

    #[test]
    fn subnet_keys() {
        assert_eq!(
            subnet_key(ip("8.8.4.4"), 24),
            subnet_key(ip("8.8.4.200"), 24)
        );
        assert_ne!(subnet_key(ip("8.8.4.4"), 24), subnet_key(ip("8.8.5.4"), 24));
        assert_eq!(subnet_key(ip("8.8.4.4"), 24).to_string(), "8.8.4.0/24");
        assert_eq!(
            subnet_key(ip("::ffff:8.8.4.4"), 24),
            subnet_key(ip("8.8.4.9"), 24)
        );
        // IPv6 uses the same prefix length (a /24), as geth does.
        assert_eq!(
            subnet_key(ip("2001:4860::1"), 24),
            subnet_key(ip("2001:48ff:1::1"), 24)
        );
        assert_ne!(
            subnet_key(ip("2001:4860::1"), 24),
            subnet_key(ip("2001:4960::1"), 24)
        );
        // Oversized prefixes are clamped rather than panicking.
        assert_eq!(subnet_key(ip("8.8.4.4"), 200).to_string(), "8.8.4.4/32");
        assert_eq!(subnet_key(ip("::1"), 200).to_string(), "::1/128");
    }

    #[test]
    fn netrestrict_parses_and_matches() {
        let list: NetRestrict = "10.0.0.0/8, 192.168.1.7/24  fd00::/8,".parse().unwrap();
        assert_eq!(list.networks().len(), 3);
        assert_eq!(list.to_string(), "10.0.0.0/8,192.168.1.0/24,fd00::/8");
        assert!(list.contains(ip("10.200.3.4")));
        assert!(list.contains(ip("::ffff:10.0.0.1")));
        assert!(list.contains(ip("192.168.1.200")));
        assert!(!list.contains(ip("192.168.2.1")));
        assert!(list.contains(ip("fd12::1")));
        assert!(!list.contains(ip("8.8.8.8")));
        let empty: NetRestrict = "".parse().unwrap();
        assert!(empty.is_empty());
        assert!(!empty.contains(ip("10.0.0.1")));
    }

    #[test]
    fn netrestrict_error_names_the_bad_entry() {
        let err = "10.0.0.0/8,10.0.0.300/8"
            .parse::<NetRestrict>()
            .unwrap_err();
        assert_eq!(err.entry, "10.0.0.300/8");
        assert!(err.to_string().contains("10.0.0.300/8"), "{err}");
        let err = "1.2.3.4".parse::<NetRestrict>().unwrap_err();
        assert_eq!(err.entry, "1.2.3.4");
        assert!("10.0.0.0/33".parse::<NetRestrict>().is_err());
    }
}
