//! Property tests for the discv4 codec: encode→decode is the identity, and no input,
//! random or derived from valid packets, makes `decode` panic.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use discv4::proto::{
    self, normalize_ip, Endpoint, EnrRequest, EnrResponse, FindNode, Neighbors, Packet, Ping, Pong,
    MAX_NEIGHBORS_PER_PACKET, MAX_PACKET_SIZE,
};

use enode::{NodeRecord, PeerId, SecretKey};
use enr::Enr;
use proptest::prelude::*;

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| normalize_ip(IpAddr::V6(Ipv6Addr::from(b)))),
        // IPv4-mapped and loopback, the interesting corners
        any::<[u8; 4]>().prop_map(|b| normalize_ip(IpAddr::V6(Ipv4Addr::from(b).to_ipv6_mapped()))),
        Just(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        Just(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    (ip(), any::<u16>(), any::<u16>()).prop_map(|(ip, udp_port, tcp_port)| Endpoint {
        ip,
        udp_port,
        tcp_port,
    })
}

fn peer_id() -> impl Strategy<Value = PeerId> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut id = [0u8; 64];
        id[..32].copy_from_slice(&a);
        id[32..].copy_from_slice(&b);
        PeerId(id)
    })
}

fn node() -> impl Strategy<Value = NodeRecord> {
    (ip(), any::<u16>(), any::<u16>(), peer_id()).prop_map(|(address, udp_port, tcp_port, id)| {
        NodeRecord {
            address,
            udp_port,
            tcp_port,
            id,
        }
    })
}

fn secret_key() -> impl Strategy<Value = SecretKey> {
    any::<[u8; 32]>().prop_filter_map("not a valid scalar", |b| {
        SecretKey::from_byte_array(&b).ok()
    })
}

fn enr() -> impl Strategy<Value = Enr<SecretKey>> {
    (
        secret_key(),
        any::<u64>(),
        proptest::option::of((any::<[u8; 4]>(), any::<u16>())),
    )
        .prop_map(|(key, seq, addr)| {
            let mut builder = Enr::builder();
            builder.seq(seq);
            if let Some((ip, port)) = addr {
                builder.ip4(ip.into()).udp4(port).tcp4(port);
            }
            builder.build(&key).unwrap()
        })
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (
            any::<u64>(),
            endpoint(),
            endpoint(),
            any::<u64>(),
            any::<Option<u64>>()
        )
            .prop_map(|(version, from, to, expiration, enr_seq)| {
                Packet::Ping(Ping {
                    version,
                    from,
                    to,
                    expiration,
                    enr_seq,
                })
            }),
        (
            endpoint(),
            any::<[u8; 32]>(),
            any::<u64>(),
            any::<Option<u64>>()
        )
            .prop_map(|(to, ping_hash, expiration, enr_seq)| {
                Packet::Pong(Pong {
                    to,
                    ping_hash,
                    expiration,
                    enr_seq,
                })
            }),
        (peer_id(), any::<u64>())
            .prop_map(|(target, expiration)| Packet::FindNode(FindNode { target, expiration })),
        (
            proptest::collection::vec(node(), 0..=MAX_NEIGHBORS_PER_PACKET),
            any::<u64>()
        )
            .prop_map(|(nodes, expiration)| Packet::Neighbors(Neighbors { nodes, expiration })),
        any::<u64>().prop_map(|expiration| Packet::EnrRequest(EnrRequest { expiration })),
        (any::<[u8; 32]>(), enr())
            .prop_map(|(request_hash, enr)| Packet::EnrResponse(EnrResponse { request_hash, enr })),
    ]
}

/// Re-computes the hash so that a mutated packet reaches body decoding.
fn rehash(mut datagram: Vec<u8>) -> Vec<u8> {
    if datagram.len() >= 32 {
        let hash = enode::crypto::keccak256(&datagram[32..]);
        datagram[..32].copy_from_slice(&hash);
    }
    datagram
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_then_decode_is_the_identity(packet in packet(), key in secret_key()) {
        let (bytes, hash) = proto::encode(&packet, &key).unwrap();
        prop_assert!(bytes.len() <= MAX_PACKET_SIZE);
        let decoded = proto::decode(&bytes).unwrap();
        prop_assert_eq!(decoded.hash, hash);
        prop_assert_eq!(decoded.sender, PeerId::from_secret_key(&key));
        prop_assert_eq!(decoded.packet, packet);
    }

    #[test]
    fn decode_of_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let _ = proto::decode(&data);
        let _ = proto::decode(&rehash(data));
    }

    #[test]
    fn decode_of_arbitrary_signed_bodies_never_panics(
        packet_type in 0u8..8,
        body in proptest::collection::vec(any::<u8>(), 0..400),
        key in secret_key(),
    ) {
        let (bytes, hash) = proto::sign_packet(packet_type, &body, &key);
        if let Ok(decoded) = proto::decode(&bytes) {
            prop_assert_eq!(decoded.hash, hash);
            prop_assert_eq!(decoded.sender, PeerId::from_secret_key(&key));
        }
    }

    #[test]
    fn decode_of_mutated_packets_never_panics(
        packet in packet(),
        key in secret_key(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
        fix_hash in any::<bool>(),
    ) {
        let (mut bytes, _) = proto::encode(&packet, &key).unwrap();
        for (index, byte, op) in edits {
            let at = index.index(bytes.len());
            match op {
                0 => bytes[at] = byte,
                1 => bytes[at] ^= 1 << (byte % 8),
                2 => { bytes.insert(at, byte); }
                _ => { bytes.truncate(at.max(1)); }
            }
        }
        let bytes = if fix_hash { rehash(bytes) } else { bytes };
        let _ = proto::decode(&bytes);
    }
}
