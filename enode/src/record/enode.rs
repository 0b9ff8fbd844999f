//! `enode://` URLs: the parsed form ([`EnodeUrl`], which may name a DNS host or no host at
//! all) and the complete, contactable form ([`NodeRecord`]).
//!
//! Parsing follows go-ethereum's `enode.ParseV4`, with three deliberate differences that
//! turn silent surprises into errors: IPv6 literals need brackets (geth also splits
//! `::1:30303` at the last colon), a path or fragment after the port is rejected, and a
//! DNS name whose last label is numeric (`1.2.3`, a malformed IPv4) is rejected.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
    time::Duration,
};

use super::error::EnodeError;
use crate::id::{NodeId, PeerId, PeerIdError};

/// How long [`EnodeUrl::resolve`] waits for DNS, as go-ethereum does for bootnodes and
/// static nodes.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEME: &str = "enode://";
/// Longest DNS name (RFC 1035), without a trailing dot.
const MAX_DNS_NAME_LEN: usize = 253;
const MAX_DNS_LABEL_LEN: usize = 63;

/// A node's identity and endpoint, as written in an enode URL:
/// `enode://<128 hex>@<ip>:<tcp>[?discport=<udp>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeRecord {
    /// IP address (IPv4-mapped IPv6 is always normalised to IPv4).
    pub address: IpAddr,
    /// UDP (discovery) port.
    pub udp_port: u16,
    /// TCP (RLPx) port; 0 when the node does not accept TCP.
    pub tcp_port: u16,
    /// The node's public key.
    pub id: PeerId,
}

/// The host part of an enode URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IP literal (IPv4-mapped IPv6 normalised to IPv4).
    Ip(IpAddr),
    /// A DNS name, kept as written; resolve it with [`EnodeUrl::resolve`].
    Dns(String),
}

/// A parsed `enode://` URL, as go-ethereum accepts it.
///
/// `host == None` is an *incomplete* node (`enode://<key>` with no `@host:port`): it names
/// a node without saying where it is; both ports are then 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnodeUrl {
    /// The node's public key (always a valid curve point once parsed).
    pub id: PeerId,
    /// Where the node is, if the URL says.
    pub host: Option<Host>,
    /// TCP (RLPx) port, the port after the host.
    pub tcp_port: u16,
    /// UDP (discovery) port: `?discport=` if given, else the TCP port.
    pub udp_port: u16,
}

pub use crate::netutil::normalize_ip;

/// Checks the parts go-ethereum's `ValidateComplete` checks, in its order.
fn validate(id: &PeerId, ip: IpAddr, udp_port: u16) -> Result<(), EnodeError> {
    if udp_port == 0 {
        return Err(EnodeError::MissingUdpPort);
    }
    if ip.is_multicast() || ip.is_unspecified() {
        return Err(EnodeError::UnusableIp(ip));
    }
    id.to_public_key()
        .map(drop)
        .map_err(EnodeError::InvalidPublicKey)
}

impl NodeRecord {
    /// The canonical `enode://` URL (the same text as `Display`).
    pub fn enode_url(&self) -> String {
        self.to_string()
    }

    /// The Kademlia id: keccak-256 of the public key.
    pub fn node_id(&self) -> NodeId {
        self.id.node_id()
    }

    /// The discovery (UDP) socket address.
    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.udp_port)
    }

    /// The RLPx (TCP) socket address.
    pub fn tcp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.tcp_port)
    }

    /// go-ethereum's `ValidateComplete`: the UDP port is set, the IP is neither multicast
    /// nor unspecified, and the key is a curve point. Bootnodes must pass this.
    pub fn validate_complete(&self) -> Result<(), EnodeError> {
        validate(&self.id, self.address, self.udp_port)
    }
}

impl From<NodeRecord> for EnodeUrl {
    fn from(record: NodeRecord) -> Self {
        Self {
            id: record.id,
            host: Some(Host::Ip(normalize_ip(record.address))),
            tcp_port: record.tcp_port,
            udp_port: record.udp_port,
        }
    }
}

impl TryFrom<EnodeUrl> for NodeRecord {
    type Error = EnodeError;

    /// Succeeds for an IP host; a DNS host gives [`EnodeError::Unresolved`] and no host
    /// gives [`EnodeError::Incomplete`].
    fn try_from(url: EnodeUrl) -> Result<Self, EnodeError> {
        match url.host {
            Some(Host::Ip(address)) => Ok(Self {
                address,
                udp_port: url.udp_port,
                tcp_port: url.tcp_port,
                id: url.id,
            }),
            Some(Host::Dns(name)) => Err(EnodeError::Unresolved(name)),
            None => Err(EnodeError::Incomplete),
        }
    }
}

impl fmt::Display for NodeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_url(
            f,
            &self.id,
            Some(&HostRef::Ip(normalize_ip(self.address))),
            self.tcp_port,
            self.udp_port,
        )
    }
}

impl FromStr for NodeRecord {
    type Err = EnodeError;

    /// Parses a complete enode URL with an IP host. Does not run
    /// [`NodeRecord::validate_complete`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<EnodeUrl>()?.try_into()
    }
}

impl EnodeUrl {
    /// True when the URL has no `@host:port` part.
    pub fn is_incomplete(&self) -> bool {
        self.host.is_none()
    }

    /// The Kademlia id: keccak-256 of the public key.
    pub fn node_id(&self) -> NodeId {
        self.id.node_id()
    }

    /// go-ethereum's `ValidateComplete`: an IP host (a DNS host gives
    /// [`EnodeError::Unresolved`]), a UDP port, an IP that is neither multicast nor
    /// unspecified, and a valid key.
    pub fn validate_complete(&self) -> Result<(), EnodeError> {
        match &self.host {
            None => Err(EnodeError::Incomplete),
            Some(Host::Dns(name)) => Err(EnodeError::Unresolved(name.clone())),
            Some(Host::Ip(ip)) => validate(&self.id, *ip, self.udp_port),
        }
    }

    /// Turns the URL into a [`NodeRecord`], resolving a DNS host (at most
    /// [`RESOLVE_TIMEOUT`]; the first IPv4 answer is preferred, else the first answer).
    pub async fn resolve(self) -> Result<NodeRecord, EnodeError> {
        let name = match &self.host {
            Some(Host::Dns(name)) => name.clone(),
            _ => return self.try_into(),
        };
        let lookup = tokio::net::lookup_host((name.clone(), self.tcp_port));
        let answer = tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await;
        let addrs: Vec<IpAddr> = match answer {
            Err(_) => return Err(EnodeError::ResolveTimeout(name)),
            Ok(Err(source)) => return Err(EnodeError::Resolve { host: name, source }),
            Ok(Ok(addrs)) => addrs.map(|addr| normalize_ip(addr.ip())).collect(),
        };
        let address = addrs
            .iter()
            .find(|ip| ip.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or(EnodeError::NoAddress(name))?;
        Ok(NodeRecord {
            address,
            udp_port: self.udp_port,
            tcp_port: self.tcp_port,
            id: self.id,
        })
    }
}

/// A borrowed host for formatting without cloning DNS names.
enum HostRef<'a> {
    Ip(IpAddr),
    Dns(&'a str),
}

fn write_url(
    f: &mut fmt::Formatter<'_>,
    id: &PeerId,
    host: Option<&HostRef<'_>>,
    tcp_port: u16,
    udp_port: u16,
) -> fmt::Result {
    write!(f, "{SCHEME}{id}")?;
    let Some(host) = host else { return Ok(()) };
    match host {
        HostRef::Ip(IpAddr::V4(ip)) => write!(f, "@{ip}:{tcp_port}")?,
        HostRef::Ip(IpAddr::V6(ip)) => write!(f, "@[{ip}]:{tcp_port}")?,
        HostRef::Dns(name) => write!(f, "@{name}:{tcp_port}")?,
    }
    if udp_port != tcp_port {
        write!(f, "?discport={udp_port}")?;
    }
    Ok(())
}

impl fmt::Display for EnodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.host.as_ref().map(|host| match host {
            Host::Ip(ip) => HostRef::Ip(normalize_ip(*ip)),
            Host::Dns(name) => HostRef::Dns(name),
        });
        write_url(f, &self.id, host.as_ref(), self.tcp_port, self.udp_port)
    }
}

impl FromStr for EnodeUrl {
    type Err = EnodeError;

    /// Parses `enode://<128 hex>[@<host>:<tcp>[?discport=<udp>]]` (scheme and hex are
    /// case-insensitive; a lone trailing `/` is allowed; query keys other than `discport`
    /// are ignored, as geth does).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = match s.get(..SCHEME.len()) {
            Some(scheme) if scheme.eq_ignore_ascii_case(SCHEME) => &s[SCHEME.len()..],
            _ => return Err(EnodeError::InvalidScheme),
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, suffix) = rest.split_at(authority_end);

        let Some((user, host_port)) = authority.rsplit_once('@') else {
            let id = parse_key(authority)?;
            if !suffix.is_empty() {
                return Err(EnodeError::UnexpectedSuffix(suffix.to_owned()));
            }
            return Ok(Self {
                id,
                host: None,
                tcp_port: 0,
                udp_port: 0,
            });
        };
        let id = parse_key(user)?;
        let (host, tcp_port) = parse_host_port(host_port)?;
        let udp_port = parse_suffix(suffix)?.unwrap_or(tcp_port);
        Ok(Self {
            id,
            host: Some(host),
            tcp_port,
            udp_port,
        })
    }
}

/// Exactly 128 hex characters forming a point on the curve (no `0x`).
fn parse_key(text: &str) -> Result<PeerId, EnodeError> {
    if text.len() != 128 {
        return Err(EnodeError::InvalidPublicKey(PeerIdError::BadLength(
            text.len(),
        )));
    }
    let id: PeerId = text.parse().map_err(EnodeError::InvalidPublicKey)?;
    id.to_public_key().map_err(EnodeError::InvalidPublicKey)?;
    Ok(id)
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_host_port(text: &str) -> Result<(Host, u16), EnodeError> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (literal, after) = bracketed
            .split_once(']')
            .ok_or_else(|| EnodeError::InvalidHost(text.to_owned()))?;
        let ip: Ipv6Addr = literal
            .parse()
            .map_err(|_| EnodeError::InvalidHost(literal.to_owned()))?;
        let port = match after.strip_prefix(':') {
            Some(port) => port,
            None if after.is_empty() => return Err(EnodeError::InvalidPort(String::new())),
            None => return Err(EnodeError::InvalidHost(text.to_owned())),
        };
        (Host::Ip(normalize_ip(IpAddr::V6(ip))), port)
    } else {
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(EnodeError::InvalidPort(String::new()));
        };
        (parse_plain_host(host)?, port)
    };
    let port = parse_port(port).ok_or_else(|| EnodeError::InvalidPort(port.to_owned()))?;
    Ok((host, port))
}

/// An IPv4 literal or a DNS name (IPv6 must be bracketed).
fn parse_plain_host(host: &str) -> Result<Host, EnodeError> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    if is_dns_name(host) {
        Ok(Host::Dns(host.to_owned()))
    } else {
        Err(EnodeError::InvalidHost(host.to_owned()))
    }
}

/// Letters, digits, `-` and `_` in dot-separated labels of 1..=63 characters, at most 253
/// characters, an optional trailing dot; the last label must not be all digits (that is a
/// malformed IPv4 address, which a resolver might still "resolve").
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_DNS_NAME_LEN {
        return false;
    }
    let labels_ok = name.split('.').all(|label| {
        (1..=MAX_DNS_LABEL_LEN).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let last_numeric = name
        .rsplit('.')
        .next()
        .is_some_and(|label| label.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && !last_numeric
}

/// The part after `host:port`: nothing, `/`, or `?query`. Returns the discport, if any.
fn parse_suffix(suffix: &str) -> Result<Option<u16>, EnodeError> {
    let query = match suffix.strip_prefix('/').unwrap_or(suffix) {
        "" => return Ok(None),
        rest => match rest.strip_prefix('?') {
            Some(query) if !query.contains('#') => query,
            _ => return Err(EnodeError::UnexpectedSuffix(suffix.to_owned())),
        },
    };
    // geth reads the first `discport` value; an empty value means "not given".
    let discport = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == "discport")
        .map(|(_, value)| value);
    match discport {
        None | Some("") => Ok(None),
        Some(value) => parse_port(value)
            .map(Some)
            .ok_or_else(|| EnodeError::InvalidDiscport(value.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439";

    fn url(rest: &str) -> String {
        format!("enode://{KEY}{rest}")
    }

    #[test]
    fn ipv4_mapped_ipv6_becomes_ipv4() {
        let record: NodeRecord = url("@[::ffff:10.1.2.3]:30303").parse().unwrap();
        assert_eq!(record.address, IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(record.to_string(), url("@10.1.2.3:30303"));
    }

    #[test]
    fn display_normalises_a_mapped_address_set_by_hand() {
        let mut record: NodeRecord = url("@10.1.2.3:30303").parse().unwrap();
        record.address = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(record.enode_url(), url("@10.1.2.3:30303"));
    }

    #[test]
    fn case_insensitive_scheme_and_hex_parse_to_the_canonical_form() {
        let upper = format!("ENODE://{}@1.2.3.4:30303", KEY.to_uppercase());
        let parsed: EnodeUrl = upper.parse().unwrap();
        assert_eq!(parsed.to_string(), url("@1.2.3.4:30303"));
    }

    #[test]
    fn host_and_port_errors_have_distinct_kinds() {
        let kind = |rest: &str| url(rest).parse::<EnodeUrl>().unwrap_err();
        assert!(matches!(kind("@1.2.3.4"), EnodeError::InvalidPort(p) if p.is_empty()));
        assert!(matches!(kind("@1.2.3.4:"), EnodeError::InvalidPort(_)));
        assert!(matches!(kind("@1.2.3.4:65536"), EnodeError::InvalidPort(_)));
        assert!(matches!(kind("@1.2.3.4:+1"), EnodeError::InvalidPort(_)));
        assert!(matches!(kind("@[::1]"), EnodeError::InvalidPort(_)));
        assert!(matches!(kind("@::1:30303"), EnodeError::InvalidHost(_)));
        assert!(matches!(kind("@[::1:30303"), EnodeError::InvalidHost(_)));
        assert!(matches!(
            kind("@[fe80::1%eth0]:1"),
            EnodeError::InvalidHost(_)
        ));
        assert!(matches!(kind("@[::1]x:1"), EnodeError::InvalidHost(_)));
        assert!(matches!(kind("@:30303"), EnodeError::InvalidHost(_)));
        assert!(matches!(kind("@1.2.3:30303"), EnodeError::InvalidHost(_)));
        assert!(matches!(
            kind("@127.000.0.1:30303"),
            EnodeError::InvalidHost(_)
        ));
        assert!(matches!(
            kind("@bad host:30303"),
            EnodeError::InvalidHost(_)
        ));
        assert!(matches!(kind("@a..b:30303"), EnodeError::InvalidHost(_)));
        assert!(matches!(
            kind("@1.2.3.4:1/path"),
            EnodeError::UnexpectedSuffix(_)
        ));
        assert!(matches!(
            kind("@1.2.3.4:1#frag"),
            EnodeError::UnexpectedSuffix(_)
        ));
        assert!(matches!(
            kind("?discport=1"),
            EnodeError::UnexpectedSuffix(_)
        ));
        assert!(matches!(
            kind("@1.2.3.4:1?discport=70000"),
            EnodeError::InvalidDiscport(_)
        ));
        assert!(matches!(
            kind("@1.2.3.4:1?discport=-1"),
            EnodeError::InvalidDiscport(_)
        ));
    }

    #[test]
    fn key_must_be_128_hex_chars_on_the_curve() {
        let zero = "0".repeat(128);
        let err = format!("enode://{zero}@1.2.3.4:1")
            .parse::<EnodeUrl>()
            .unwrap_err();
        assert!(matches!(
            err,
            EnodeError::InvalidPublicKey(PeerIdError::NotOnCurve)
        ));
        let err = format!("enode://0x{KEY}@1.2.3.4:1")
            .parse::<EnodeUrl>()
            .unwrap_err();
        assert!(matches!(
            err,
            EnodeError::InvalidPublicKey(PeerIdError::BadLength(130))
        ));
        let bad_hex = format!("zz{}", &KEY[2..]);
        let err = format!("enode://{bad_hex}")
            .parse::<EnodeUrl>()
            .unwrap_err();
        assert!(matches!(
            err,
            EnodeError::InvalidPublicKey(PeerIdError::BadHex(_))
        ));
    }

    #[test]
    fn query_rules_follow_geth() {
        let parsed: EnodeUrl = url("@1.2.3.4:7?foo=bar&discport=9&discport=10")
            .parse()
            .unwrap();
        assert_eq!((parsed.tcp_port, parsed.udp_port), (7, 9));
        let parsed: EnodeUrl = url("@1.2.3.4:7?discport=").parse().unwrap();
        assert_eq!(parsed.udp_port, 7);
        let parsed: EnodeUrl = url("@1.2.3.4:007/").parse().unwrap();
        assert_eq!(parsed.to_string(), url("@1.2.3.4:7"));
    }

    #[test]
    fn dns_names_need_resolving() {
        let err = url("@boot.example.org:30303")
            .parse::<NodeRecord>()
            .unwrap_err();
        assert!(matches!(err, EnodeError::Unresolved(name) if name == "boot.example.org"));
        let err = format!("enode://{KEY}").parse::<NodeRecord>().unwrap_err();
        assert!(matches!(err, EnodeError::Incomplete));
        let long_label = format!("@{}.org:1", "a".repeat(64));
        assert!(matches!(
            url(&long_label).parse::<EnodeUrl>(),
            Err(EnodeError::InvalidHost(_))
        ));
    }

    #[test]
    fn validate_complete_follows_geth() {
        let ok: NodeRecord = url("@1.2.3.4:1").parse().unwrap();
        ok.validate_complete().unwrap();
        let multicast: NodeRecord = url("@224.0.0.1:1").parse().unwrap();
        assert!(matches!(
            multicast.validate_complete(),
            Err(EnodeError::UnusableIp(_))
        ));
        let no_udp: NodeRecord = url("@1.2.3.4:1?discport=0").parse().unwrap();
        assert!(matches!(
            no_udp.validate_complete(),
            Err(EnodeError::MissingUdpPort)
        ));
        let bad_key = NodeRecord {
            id: PeerId([1; 64]),
            ..ok
        };
        assert!(matches!(
            bad_key.validate_complete(),
            Err(EnodeError::InvalidPublicKey(_))
        ));
    }

    #[tokio::test]
    async fn resolve_prefers_ipv4_and_passes_ips_through() {
        let by_name: EnodeUrl = url("@localhost:30303?discport=30301").parse().unwrap();
        let record = by_name.resolve().await.unwrap();
        assert_eq!(record.address, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!((record.tcp_port, record.udp_port), (30303, 30301));
        let literal: EnodeUrl = url("@[::1]:5").parse().unwrap();
        assert_eq!(
            literal.resolve().await.unwrap().address,
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        let incomplete: EnodeUrl = format!("enode://{KEY}").parse().unwrap();
        assert!(matches!(
            incomplete.resolve().await,
            Err(EnodeError::Incomplete)
        ));
    }
}
