//! Endpoints (`[ip, udp, tcp]`) and NEIGHBORS entries (`[ip, udp, tcp, id]`) on the wire.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use alloy_rlp::{BufMut, Encodable, Header};

use super::{
    error::DecodeError,
    rlp_util::{decode_list, Fields},
};
use enode::{NodeRecord, PeerId};

/// A UDP/TCP endpoint as carried in PING and PONG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// IP address; the unspecified address when the sender sent none (geth sends an empty
    /// IP when it does not know its own).
    pub ip: IpAddr,
    /// UDP (discovery) port.
    pub udp_port: u16,
    /// TCP (RLPx) port; 0 when not accepting TCP (e.g. the `to` of an outgoing PING).
    pub tcp_port: u16,
}

impl Endpoint {
    /// An endpoint with a normalised IP (IPv4-mapped IPv6 becomes IPv4).
    pub fn new(ip: IpAddr, udp_port: u16, tcp_port: u16) -> Self {
        Self {
            ip: normalize_ip(ip),
            udp_port,
            tcp_port,
        }
    }

    /// The endpoint of a UDP socket address with the given TCP port.
    pub fn from_udp(addr: SocketAddr, tcp_port: u16) -> Self {
        Self::new(addr.ip(), addr.port(), tcp_port)
    }

    /// The UDP socket address.
    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.udp_port)
    }
}

pub use enode::netutil::normalize_ip;

/// Wire bytes of an IP: 4 for IPv4 (and IPv4-mapped IPv6), 16 for IPv6.
enum IpBytes {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl IpBytes {
    fn of(ip: IpAddr) -> Self {
        match normalize_ip(ip) {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => Self::V6(v6.octets()),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Self::V4(b) => b,
            Self::V6(b) => b,
        }
    }
}

fn decode_ip(buf: &mut &[u8], list: &'static str) -> Result<IpAddr, DecodeError> {
    let bytes = Header::decode_bytes(buf, false).map_err(|source| DecodeError::InvalidField {
        list,
        field: "ip",
        source,
    })?;
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Ok(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Ok(normalize_ip(IpAddr::V6(Ipv6Addr::from(v6))))
    } else if bytes.is_empty() {
        Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    } else {
        Err(DecodeError::InvalidIpLength {
            list,
            len: bytes.len(),
        })
    }
}

/// Decodes a port leniently: ethereumjs always writes ports as two bytes, so port 0 arrives
/// as `82 00 00` and port 5 as `82 00 05`, which strict RLP rejects (leading zero,
/// non-canonical single byte). Any byte string whose big-endian value fits 16 bits is taken;
/// lists, long strings and wider values are errors.
fn decode_port(
    buf: &mut &[u8],
    list: &'static str,
    field: &'static str,
) -> Result<u16, DecodeError> {
    let invalid = |source| DecodeError::InvalidField {
        list,
        field,
        source,
    };
    let (&first, rest) = buf
        .split_first()
        .ok_or(invalid(alloy_rlp::Error::InputTooShort))?;
    let digits: &[u8] = match first {
        0x00..=0x7f => {
            *buf = rest;
            return Ok(u16::from(first));
        }
        0x80..=0xb7 => {
            let len = usize::from(first - 0x80);
            let (digits, after) = rest
                .split_at_checked(len)
                .ok_or(invalid(alloy_rlp::Error::InputTooShort))?;
            *buf = after;
            digits
        }
        0xb8..=0xbf => return Err(invalid(alloy_rlp::Error::Overflow)),
        0xc0..=0xff => return Err(invalid(alloy_rlp::Error::UnexpectedList)),
    };
    let significant = digits
        .iter()
        .position(|&b| b != 0)
        .map_or(&[][..], |start| &digits[start..]);
    match significant {
        [] => Ok(0),
        [low] => Ok(u16::from(*low)),
        [high, low] => Ok(u16::from_be_bytes([*high, *low])),
        _ => Err(invalid(alloy_rlp::Error::Overflow)),
    }
}

fn read_addr(fields: &mut Fields<'_>) -> Result<(IpAddr, u16, u16), DecodeError> {
    let ip = fields.with("ip", decode_ip)?;
    let udp_port = fields.with("udp-port", |b, l| decode_port(b, l, "udp-port"))?;
    let tcp_port = fields.with("tcp-port", |b, l| decode_port(b, l, "tcp-port"))?;
    Ok((ip, udp_port, tcp_port))
}

/// Decodes an `[ip, udp, tcp, …]` endpoint list; extra items are ignored.
pub(crate) fn decode_endpoint(
    buf: &mut &[u8],
    list: &'static str,
) -> Result<Endpoint, DecodeError> {
    decode_list(buf, list, |fields| {
        let (ip, udp_port, tcp_port) = read_addr(fields)?;
        Ok(Endpoint {
            ip,
            udp_port,
            tcp_port,
        })
    })
}

/// Decodes an `[ip, udp, tcp, id, …]` NEIGHBORS entry; extra items are ignored.
pub(crate) fn decode_node(buf: &mut &[u8], list: &'static str) -> Result<NodeRecord, DecodeError> {
    decode_list(buf, list, |fields| {
        let (address, udp_port, tcp_port) = read_addr(fields)?;
        let id = PeerId(fields.array::<64>("id")?);
        Ok(NodeRecord {
            address,
            udp_port,
            tcp_port,
            id,
        })
    })
}

/// Smallest encoding of a NEIGHBORS entry (empty IP, one-byte ports, 64-byte id, 2-byte
/// list header); bounds how many entries a datagram can hold.
pub(crate) const MIN_NODE_RLP_LEN: usize = 2 + 1 + 1 + 1 + 65;

fn addr_payload_len(ip: &IpBytes, udp_port: u16, tcp_port: u16) -> usize {
    ip.as_slice().length() + udp_port.length() + tcp_port.length()
}

/// Encoded length of an endpoint, list header included.
pub(crate) fn endpoint_len(endpoint: &Endpoint) -> usize {
    let ip = IpBytes::of(endpoint.ip);
    let payload = addr_payload_len(&ip, endpoint.udp_port, endpoint.tcp_port);
    Header {
        list: true,
        payload_length: payload,
    }
    .length_with_payload()
}

/// Appends `[ip, udp, tcp]`.
pub(crate) fn encode_endpoint(endpoint: &Endpoint, out: &mut dyn BufMut) {
    let ip = IpBytes::of(endpoint.ip);
    let payload_length = addr_payload_len(&ip, endpoint.udp_port, endpoint.tcp_port);
    Header {
        list: true,
        payload_length,
    }
    .encode(out);
    ip.as_slice().encode(out);
    endpoint.udp_port.encode(out);
    endpoint.tcp_port.encode(out);
}

fn node_payload_len(node: &NodeRecord, ip: &IpBytes) -> usize {
    addr_payload_len(ip, node.udp_port, node.tcp_port) + node.id.0.length()
}

/// Encoded length of a NEIGHBORS entry, list header included.
pub(crate) fn node_len(node: &NodeRecord) -> usize {
    let payload = node_payload_len(node, &IpBytes::of(node.address));
    Header {
        list: true,
        payload_length: payload,
    }
    .length_with_payload()
}

/// Appends `[ip, udp, tcp, id]`.
pub(crate) fn encode_node(node: &NodeRecord, out: &mut dyn BufMut) {
    let ip = IpBytes::of(node.address);
    Header {
        list: true,
        payload_length: node_payload_len(node, &ip),
    }
    .encode(out);
    ip.as_slice().encode(out);
    node.udp_port.encode(out);
    node.tcp_port.encode(out);
    node.id.0.encode(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(endpoint: Endpoint) -> Endpoint {
        let mut out = Vec::new();
        encode_endpoint(&endpoint, &mut out);
        assert_eq!(out.len(), endpoint_len(&endpoint));
        let mut buf = &out[..];
        let decoded = decode_endpoint(&mut buf, "test").unwrap();
        assert!(buf.is_empty());
        decoded
    }

    #[test]
    fn ipv4_mapped_ipv6_becomes_ipv4() {
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(normalize_ip(mapped), v4);
        assert_eq!(Endpoint::new(mapped, 1, 2).ip, v4);
        // Encoded as 4 bytes, so decoding gives IPv4 too.
        let ep = Endpoint {
            ip: mapped,
            udp_port: 30303,
            tcp_port: 30303,
        };
        assert_eq!(roundtrip(ep).ip, v4);
        // 16 wire bytes holding a mapped address are normalised on decode.
        let mut wire = vec![0xcb, 0x90];
        wire.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]);
        wire.extend_from_slice(&[0x01, 0x02]);
        wire[0] = 0xc0 + (wire.len() - 1) as u8;
        assert_eq!(decode_endpoint(&mut &wire[..], "t").unwrap().ip, v4);
    }

    #[test]
    fn loopback_v6_is_not_treated_as_ipv4_compatible() {
        let ep = Endpoint::new("::1".parse().unwrap(), 2222, 3333);
        assert_eq!(ep.ip, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(roundtrip(ep), ep);
    }

    #[test]
    fn empty_ip_is_unspecified() {
        let wire = [0xc3, 0x80, 0x01, 0x02];
        let ep = decode_endpoint(&mut &wire[..], "t").unwrap();
        assert_eq!(
            ep,
            Endpoint {
                ip: Ipv4Addr::UNSPECIFIED.into(),
                udp_port: 1,
                tcp_port: 2
            }
        );
    }

    #[test]
    fn odd_ip_lengths_are_rejected() {
        let wire = [0xc6, 0x83, 1, 2, 3, 0x01, 0x02];
        assert_eq!(
            decode_endpoint(&mut &wire[..], "PING.from").unwrap_err(),
            DecodeError::InvalidIpLength {
                list: "PING.from",
                len: 3
            }
        );
    }

    #[test]
    fn ports_wider_than_16_bits_are_rejected() {
        let wire = [0xc8, 0x84, 1, 2, 3, 4, 0x83, 1, 0, 0];
        assert!(matches!(
            decode_endpoint(&mut &wire[..], "t"),
            Err(DecodeError::InvalidField {
                field: "udp-port",
                ..
            })
        ));
    }

    #[test]
    fn ethereumjs_two_byte_ports_are_accepted() {
        // PING body from @ethereumjs/devp2p 10.0.0 with from = 127.0.0.1:30303 tcp 0 and
        // to = 127.0.0.1:200: it writes every port as two bytes (`82 00 00`, `82 00 c8`).
        let body =
            hex::decode("dc04cb847f00000182765f820000c9847f0000018200c880846a000000").unwrap();
        let ping = match super::super::decode::decode_body(super::super::PacketKind::Ping, &body)
            .unwrap()
        {
            super::super::Packet::Ping(ping) => ping,
            other => panic!("not a PING: {other:?}"),
        };
        assert_eq!(
            ping.from,
            Endpoint::new(Ipv4Addr::LOCALHOST.into(), 30303, 0)
        );
        assert_eq!(ping.to, Endpoint::new(Ipv4Addr::LOCALHOST.into(), 200, 0));
        assert_eq!(ping.expiration, 0x6a00_0000);
        // Its NEIGHBORS entries do the same (udp 99 = `82 00 63`, tcp 0 = `82 00 00`).
        let mut entry = hex::decode("f84d847f000001820063820000b840").unwrap();
        entry.extend_from_slice(&[2; 64]);
        let node = decode_node(&mut &entry[..], "t").unwrap();
        assert_eq!((node.udp_port, node.tcp_port), (99, 0));
    }

    #[test]
    fn lenient_ports_still_bounded() {
        let cases: [(&[u8], Option<u16>); 8] = [
            (&[0x80], Some(0)),
            (&[0x05], Some(5)),
            (&[0x81, 0x05], Some(5)),
            (&[0x83, 0, 0xff, 0xff], Some(u16::MAX)),
            (&[0x83, 1, 0, 0], None),
            (&[0x82, 0x01], None),
            (&[0xc1, 0x01], None),
            (&[0xb8, 0x01, 0x01], None),
        ];
        for (wire, expected) in cases {
            let mut buf = wire;
            let got = decode_port(&mut buf, "t", "udp-port").ok();
            assert_eq!(got, expected, "{wire:02x?}");
            if expected.is_some() {
                assert!(buf.is_empty(), "{wire:02x?} must be consumed whole");
            }
        }
    }

    #[test]
    fn node_entries_roundtrip_and_match_length() {
        let node = NodeRecord {
            address: "2001:db8::1".parse().unwrap(),
            udp_port: u16::MAX,
            tcp_port: u16::MAX,
            id: PeerId([0xab; 64]),
        };
        let mut out = Vec::new();
        encode_node(&node, &mut out);
        assert_eq!(out.len(), node_len(&node));
        assert_eq!(decode_node(&mut &out[..], "t").unwrap(), node);
    }
}
