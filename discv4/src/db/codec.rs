//! Byte layouts of the node database's keys and values.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use secp256k1::SecretKey;

use crate::table::NodeInfo;

use enode::{netutil::normalize_ip, NodeRecord, PeerId};

type Enr = enr::Enr<SecretKey>;

/// Version byte of the node value layout below.
const NODE_FORMAT: u8 = 1;

/// Key of an endpoint row: node id (32 bytes) followed by the IP as 16 bytes (IPv4 as
/// IPv4-mapped IPv6, as geth does), so all rows of one node are adjacent.
pub(crate) type EndpointKey = [u8; 48];

pub(crate) fn endpoint_key(id: &[u8; 32], ip: IpAddr) -> EndpointKey {
    let ip16 = match normalize_ip(ip) {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    let mut key = [0u8; 48];
    key[..32].copy_from_slice(id);
    key[32..].copy_from_slice(&ip16);
    key
}

pub(crate) fn endpoint_key_id(key: &EndpointKey) -> [u8; 32] {
    let mut id = [0u8; 32];
    id.copy_from_slice(&key[..32]);
    id
}

/// Node value: `format(1) || seq(8) || ip_len(1) || ip || udp(2) || tcp(2) || peer id(64) ||
/// enr rlp (rest, possibly empty)`. Integers big-endian.
pub(crate) fn encode_node(record: &NodeRecord, enr: Option<&Enr>, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 8 + 17 + 4 + 64 + 300);
    out.push(NODE_FORMAT);
    out.extend_from_slice(&seq.to_be_bytes());
    match normalize_ip(record.address) {
        IpAddr::V4(v4) => {
            out.push(4);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(16);
            out.extend_from_slice(&v6.octets());
        }
    }
    out.extend_from_slice(&record.udp_port.to_be_bytes());
    out.extend_from_slice(&record.tcp_port.to_be_bytes());
    out.extend_from_slice(record.id.as_bytes());
    if let Some(enr) = enr {
        out.extend_from_slice(&alloy_rlp::encode(enr));
    }
    out
}

/// Why a stored node value could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NodeDecodeError {
    #[error("unknown node value format {0}")]
    Format(u8),
    #[error("node value truncated")]
    Truncated,
    #[error("bad IP length {0}")]
    IpLength(u8),
    #[error("stored ENR does not decode: {0}")]
    Enr(String),
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], NodeDecodeError> {
    if data.len() < n {
        return Err(NodeDecodeError::Truncated);
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

fn take_array<const N: usize>(data: &mut &[u8]) -> Result<[u8; N], NodeDecodeError> {
    let mut out = [0u8; N];
    out.copy_from_slice(take(data, N)?);
    Ok(out)
}

pub(crate) fn decode_node(mut data: &[u8]) -> Result<NodeInfo, NodeDecodeError> {
    let data = &mut data;
    let [format] = take_array::<1>(data)?;
    if format != NODE_FORMAT {
        return Err(NodeDecodeError::Format(format));
    }
    let seq = u64::from_be_bytes(take_array(data)?);
    let [ip_len] = take_array::<1>(data)?;
    let address = match ip_len {
        4 => IpAddr::V4(Ipv4Addr::from(take_array::<4>(data)?)),
        16 => IpAddr::V6(Ipv6Addr::from(take_array::<16>(data)?)),
        other => return Err(NodeDecodeError::IpLength(other)),
    };
    let udp_port = u16::from_be_bytes(take_array(data)?);
    let tcp_port = u16::from_be_bytes(take_array(data)?);
    let id = PeerId(take_array(data)?);
    let enr = if data.is_empty() {
        None
    } else {
        let mut rlp: &[u8] = data;
        Some(
            <Enr as alloy_rlp::Decodable>::decode(&mut rlp)
                .map_err(|e| NodeDecodeError::Enr(e.to_string()))?,
        )
    };
    Ok(NodeInfo {
        record: NodeRecord {
            address,
            udp_port,
            tcp_port,
            id,
        },
        enr,
        seq,
    })
}

/// Reads the seq of an encoded node value without decoding the rest.
pub(crate) fn node_seq(data: &[u8]) -> Option<u64> {
    let bytes = data.get(1..9)?;
    let mut seq = [0u8; 8];
    seq.copy_from_slice(bytes);
    Some(u64::from_be_bytes(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_values_round_trip() {
        let key = SecretKey::from_slice(&[3u8; 32]).unwrap();
        let enr = enr::Enr::builder()
            .seq(9)
            .ip4(Ipv4Addr::new(8, 8, 8, 8))
            .udp4(30303)
            .build(&key)
            .unwrap();
        let record = NodeRecord {
            address: "2001:4860::1".parse().unwrap(),
            udp_port: 30301,
            tcp_port: 0,
            id: PeerId::from_secret_key(&key),
        };
        let bytes = encode_node(&record, Some(&enr), 9);
        let back = decode_node(&bytes).unwrap();
        assert_eq!(back.record, record);
        assert_eq!(back.seq, 9);
        assert_eq!(back.enr.unwrap(), enr);
        assert_eq!(node_seq(&bytes), Some(9));
        let plain = encode_node(
            &NodeRecord {
                address: "::ffff:1.2.3.4".parse().unwrap(),
                ..record
            },
            None,
            0,
        );
        let back = decode_node(&plain).unwrap();
        assert_eq!(back.record.address, "1.2.3.4".parse::<IpAddr>().unwrap());
        assert!(back.enr.is_none());
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let record = NodeRecord {
            address: "1.2.3.4".parse().unwrap(),
            udp_port: 1,
            tcp_port: 2,
            id: PeerId([7; 64]),
        };
        let bytes = encode_node(&record, None, 1);
        for cut in 0..bytes.len() {
            assert!(decode_node(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = bytes.clone();
        bad[0] = 99;
        assert_eq!(decode_node(&bad).unwrap_err(), NodeDecodeError::Format(99));
        let mut bad = bytes.clone();
        bad[9] = 5;
        assert_eq!(decode_node(&bad).unwrap_err(), NodeDecodeError::IpLength(5));
        let mut junk_enr = bytes;
        junk_enr.extend_from_slice(&[0xc1, 0x80]);
        assert!(matches!(
            decode_node(&junk_enr),
            Err(NodeDecodeError::Enr(_))
        ));
    }

    #[test]
    fn endpoint_keys_group_by_node_and_normalise_ipv4() {
        let id = [9u8; 32];
        let a = endpoint_key(&id, "1.2.3.4".parse().unwrap());
        let b = endpoint_key(&id, "::ffff:1.2.3.4".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(endpoint_key_id(&a), id);
        assert_ne!(a, endpoint_key(&id, "1.2.3.5".parse().unwrap()));
    }
}
