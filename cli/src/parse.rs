//! Value parsers for command-line flags, each with an error a user can act on.

use std::{
    net::{IpAddr, SocketAddr, ToSocketAddrs},
    time::Duration,
};

use enode::{
    netutil::NetRestrict,
    NodeRecord, {parse_node, Enr, NodeArg},
};

/// The `--nat` setting. Only the modes that need no router protocol are implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Nat {
    /// Announce the listen address (or the endpoint predicted from PONGs).
    #[default]
    None,
    /// Announce this external IP.
    ExtIp(IpAddr),
}

/// Parses `none` or `extip:<IP>` (geth's other modes are rejected with the reason).
pub fn nat(text: &str) -> Result<Nat, String> {
    let lower = text.trim().to_ascii_lowercase();
    if lower == "none" || lower.is_empty() {
        return Ok(Nat::None);
    }
    if let Some(ip) = lower.strip_prefix("extip:") {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("invalid IP {ip:?} in extip:<IP>"))?;
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(format!(
                "extip {ip} cannot be announced (unspecified or multicast)"
            ));
        }
        return Ok(Nat::ExtIp(ip));
    }
    if ["any", "upnp", "pmp"]
        .iter()
        .any(|mode| lower == *mode || lower.starts_with(&format!("{mode}:")))
    {
        return Err(format!(
            "NAT mode {text:?} (UPnP/NAT-PMP) is not supported; use none or extip:<IP>"
        ));
    }
    Err(format!(
        "unknown NAT mode {text:?}; want none or extip:<IP>"
    ))
}

/// Parses a listen address: `ip:port`, `[ipv6]:port` or geth's `:port` (all interfaces).
pub fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Some(port) = text.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port {port:?} in listen address {text:?}"))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // A host name such as localhost:30301.
    match text.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("listen address {text:?} resolves to nothing")),
        Err(_) => Err(format!(
            "invalid listen address {text:?}; want ip:port, [ipv6]:port or :port"
        )),
    }
}

/// Parses `--netrestrict` (comma-separated CIDRs).
pub fn netrestrict(text: &str) -> Result<NetRestrict, String> {
    let restrict: NetRestrict = text.parse().map_err(|e| format!("{e}"))?;
    if restrict.is_empty() {
        return Err("empty netrestrict list; give CIDRs such as 10.0.0.0/8".to_owned());
    }
    Ok(restrict)
}

/// Parses one contactable node (`enode://…` with an IP, or `enr:…`).
pub fn node(text: &str) -> Result<(NodeRecord, Option<Enr>), String> {
    parse_node(text.trim()).map_err(|e| format!("invalid node {}: {e}", abbreviate(text)))
}

/// Parses one node, resolving a DNS host in an `enode://` URL.
pub async fn node_resolving(text: &str) -> Result<(NodeRecord, Option<Enr>), String> {
    let arg: NodeArg = text
        .trim()
        .parse()
        .map_err(|e| format!("invalid node {}: {e}", abbreviate(text)))?;
    arg.resolve()
        .await
        .map_err(|e| format!("invalid node {}: {e}", abbreviate(text)))
}

/// Parses a node to dial over TCP (RLPx): like [`node_resolving`] but only the TCP
/// endpoint has to be usable (a UDP port of 0, `?discport=0`, is fine: static peers and
/// `admin_addPeer` take such nodes in go-ethereum too).
pub async fn tcp_node(text: &str) -> Result<NodeRecord, String> {
    let record = match text
        .trim()
        .parse::<NodeArg>()
        .map_err(|e| bad_node(text, &e))?
    {
        NodeArg::Enode(url) => url.resolve().await.map_err(|e| bad_node(text, &e))?,
        NodeArg::Enr(enr) => enode::enr_to_node_record(&enr).map_err(|e| bad_node(text, &e))?,
    };
    dialable(text, record)
}

/// Parses a static node: an `enode://` URL with an IP (dialed as given), with a DNS name
/// (resolved before every dial, so a moved host is followed), or without a host (found
/// through discovery), or an `enr:` record.
pub fn static_node(text: &str) -> Result<kadnode::dial::StaticNode, String> {
    use kadnode::dial::{StaticAddress, StaticNode};
    match text
        .trim()
        .parse::<NodeArg>()
        .map_err(|e| bad_node(text, &e))?
    {
        NodeArg::Enode(url) => match &url.host {
            Some(enode::Host::Dns(host)) if url.tcp_port != 0 => Ok(StaticNode {
                id: url.id,
                address: StaticAddress::Dns {
                    host: host.clone(),
                    tcp_port: url.tcp_port,
                    udp_port: url.udp_port,
                },
            }),
            None => Ok(StaticNode::unresolved(url.id)),
            _ => tcp_node_ip(text).map(StaticNode::at),
        },
        NodeArg::Enr(_) => tcp_node_ip(text).map(StaticNode::at),
    }
}

/// [`tcp_node`] without DNS: the `enode://` URL must name an IP.
pub fn tcp_node_ip(text: &str) -> Result<NodeRecord, String> {
    let record = match text
        .trim()
        .parse::<NodeArg>()
        .map_err(|e| bad_node(text, &e))?
    {
        NodeArg::Enode(url) => NodeRecord::try_from(url).map_err(|e| bad_node(text, &e))?,
        NodeArg::Enr(enr) => enode::enr_to_node_record(&enr).map_err(|e| bad_node(text, &e))?,
    };
    dialable(text, record)
}

/// The public key a node argument names (an `enode://` URL, with any host or none, or a
/// record), for lists where only the identity matters (trusted peers).
pub fn node_id(text: &str) -> Result<enode::PeerId, String> {
    match text
        .trim()
        .parse::<NodeArg>()
        .map_err(|e| bad_node(text, &e))?
    {
        NodeArg::Enode(url) => Ok(url.id),
        NodeArg::Enr(enr) => enode::enr_peer_id(&enr).map_err(|e| bad_node(text, &e)),
    }
}

fn bad_node(text: &str, error: &dyn std::fmt::Display) -> String {
    format!("invalid node {}: {error}", abbreviate(text))
}

fn dialable(text: &str, record: NodeRecord) -> Result<NodeRecord, String> {
    if record.tcp_port == 0 {
        return Err(bad_node(
            text,
            &"no TCP port (a discovery-only node cannot be dialled)",
        ));
    }
    if record.address.is_unspecified() || record.address.is_multicast() {
        return Err(bad_node(
            text,
            &format!("IP {} cannot be dialled", record.address),
        ));
    }
    record.id.to_public_key().map_err(|e| bad_node(text, &e))?;
    Ok(record)
}

/// Parses a comma-separated node list; an empty string is an empty list.
pub fn node_list(text: &str) -> Result<Vec<NodeRecord>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| node(entry).map(|(record, _)| record))
        .collect()
}

/// An EIP-2124 fork id for the `eth` entry of our ENR (`--enr-eth-forkid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthForkId {
    /// CRC32 of the genesis hash and the passed fork blocks/times.
    pub hash: [u8; 4],
    /// The next fork's block number or time (0: none known).
    pub next: u64,
}

impl EthForkId {
    /// The `eth` entry's value as go-ethereum writes it (`eth/protocols/eth/discovery.go`,
    /// `enrEntry{ForkID}` with an empty tail): the RLP list `[[fork hash, fork next]]`.
    pub fn enr_value(&self) -> Vec<u8> {
        use alloy_rlp::{Encodable, Header};
        let fork_id_len = self.hash.length() + self.next.length();
        let fork_id = Header {
            list: true,
            payload_length: fork_id_len,
        };
        let entry = Header {
            list: true,
            payload_length: fork_id.length() + fork_id_len,
        };
        let mut out = Vec::with_capacity(entry.length() + entry.payload_length);
        entry.encode(&mut out);
        fork_id.encode(&mut out);
        self.hash.encode(&mut out);
        self.next.encode(&mut out);
        out
    }
}

/// Parses a fork id `<fork hash, 8 hex digits>[:<fork next, decimal>]`, e.g. `9f3d2254:0`.
pub fn eth_fork_id(text: &str) -> Result<EthForkId, String> {
    let text = text.trim();
    let (hash_hex, next) = text.split_once(':').unwrap_or((text, "0"));
    let hash_hex = hash_hex.strip_prefix("0x").unwrap_or(hash_hex);
    let mut hash = [0u8; 4];
    hex::decode_to_slice(hash_hex, &mut hash).map_err(|_| {
        format!("invalid fork hash {hash_hex:?}: want 8 hex digits, e.g. 9f3d2254:0")
    })?;
    let next = next
        .trim()
        .parse()
        .map_err(|_| format!("invalid fork next {next:?}: want a decimal block number or time"))?;
    Ok(EthForkId { hash, next })
}

/// Shortens a long argument for an error message.
pub fn abbreviate(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= 40 {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(36).collect();
        format!("\"{head}…\"")
    }
}

/// Parses a duration such as `30m`, `90s`, `1h` or `500ms` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}; want e.g. 30s, 10m or 1h"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {text:?}; use ms, s, m or h"
            ))
        }
    };
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("duration {text:?} out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn nat_modes() {
        assert_eq!(nat("none"), Ok(Nat::None));
        assert_eq!(
            nat("extip:1.2.3.4"),
            Ok(Nat::ExtIp("1.2.3.4".parse().unwrap()))
        );
        assert!(nat("extip:1.2.3").unwrap_err().contains("invalid IP"));
        assert!(nat("upnp").unwrap_err().contains("not supported"));
        assert!(nat("bogus").unwrap_err().contains("unknown NAT mode"));
        assert!(nat("extip:0.0.0.0").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_addr(":30301"), Ok("0.0.0.0:30301".parse().unwrap()));
        assert_eq!(
            listen_addr("127.0.0.1:0"),
            Ok("127.0.0.1:0".parse().unwrap())
        );
        assert!(listen_addr("127.0.0.1:99999").is_err());
        assert!(listen_addr(":x").is_err());
    }

    #[test]
    fn netrestrict_values() {
        assert!(netrestrict("10.0.0.0/8,192.168.0.0/16").is_ok());
        assert!(netrestrict("10.0.0.0/33").is_err());
        assert!(netrestrict("").is_err());
    }

    #[test]
    fn eth_fork_ids_encode_as_geth_enr_entries() {
        // go-ethereum's enrEntry{ForkID{0x01020304, 5}}: [[01020304, 5]].
        let id = eth_fork_id("01020304:5").unwrap();
        assert_eq!(hex::encode(id.enr_value()), "c7c6840102030405");
        // Next 0 is the empty string; the hash stays 4 bytes even when it starts with zeros.
        let id = eth_fork_id("0x00000001").unwrap();
        assert_eq!(
            id,
            EthForkId {
                hash: [0, 0, 0, 1],
                next: 0
            }
        );
        assert_eq!(hex::encode(id.enr_value()), "c7c6840000000180");
        let big = eth_fork_id("9f3d2254:1746612311").unwrap();
        assert_eq!(hex::encode(big.enr_value()), "cbca849f3d225484681b3057");
        assert!(eth_fork_id("9f3d22").is_err());
        assert!(eth_fork_id("9f3d2254:x").is_err());
        assert!(eth_fork_id("zz3d2254:1").is_err());
    }

    #[test]
    fn peers_need_a_tcp_port_only() {
        let key = "a979fb575495b8d6db44f750317d0f4622bf4c2aa3365d6af7c284339968eef29b69ad0dce72a4d8db5ebb4968de0e3bec910127f134779fbcb0cb6d3331163c";
        let no_discovery = format!("enode://{key}@127.0.0.1:30303?discport=0");
        assert!(node(&no_discovery).is_err());
        let record = tcp_node_ip(&no_discovery).unwrap();
        assert_eq!((record.tcp_port, record.udp_port), (30303, 0));
        assert_eq!(node_id(&no_discovery).unwrap(), record.id);
        assert!(tcp_node_ip(&format!("enode://{key}@127.0.0.1:0?discport=30301")).is_err());
        assert!(tcp_node_ip(&format!("enode://{key}@0.0.0.0:30303")).is_err());
    }

    #[test]
    fn node_lists() {
        assert_eq!(node_list(""), Ok(vec![]));
        assert!(node_list("enode://abc@1.2.3.4:1").is_err());
    }
}
