//! Error paths and limits of the discv4 codec: lengths, hash, signature, unknown types,
//! malformed bodies, size limits and expirations.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, Ipv6Addr};

use discv4::proto::{
    self, is_expired, DecodeError, EncodeError, Endpoint, EnrRequest, FindNode, Neighbors, Packet,
    PacketKind, Ping, MAX_DATAGRAM_SIZE, MAX_NEIGHBORS_PER_PACKET, MAX_PACKET_SIZE,
    MIN_PACKET_SIZE,
};

use enode::{
    crypto::{keccak256, SignatureError},
    NodeRecord, PeerId, SecretKey,
};
use enr::Enr;

fn key() -> SecretKey {
    SecretKey::from_byte_array(&[0x11; 32]).unwrap()
}

fn ping() -> Packet {
    Packet::Ping(Ping {
        version: 4,
        from: Endpoint::new([127, 0, 0, 1].into(), 30303, 30303),
        to: Endpoint::new([10, 0, 0, 2].into(), 30304, 0),
        expiration: 1_900_000_000,
        enr_seq: Some(7),
    })
}

fn rehash(mut datagram: Vec<u8>) -> Vec<u8> {
    let hash = keccak256(&datagram[32..]);
    datagram[..32].copy_from_slice(&hash);
    datagram
}

/// RLP list wrapping already-encoded items.
fn rlp_list(items: &[&[u8]]) -> Vec<u8> {
    let payload: Vec<u8> = items.concat();
    let mut out = Vec::new();
    alloy_rlp::Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend_from_slice(&payload);
    out
}

fn rlp<T: alloy_rlp::Encodable + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

#[test]
fn too_short_and_too_long_datagrams_are_rejected() {
    for len in [0, 1, 32, 97] {
        assert_eq!(
            proto::decode(&vec![0u8; len]),
            Err(DecodeError::TooShort {
                len,
                min: MIN_PACKET_SIZE
            })
        );
    }
    assert_eq!(
        proto::decode(&vec![0u8; MAX_DATAGRAM_SIZE + 1]),
        Err(DecodeError::TooLarge {
            len: 1501,
            max: 1500
        })
    );
    // 98 bytes: a valid head and type byte, but no body.
    let (bytes, _) = proto::sign_packet(1, &[], &key());
    assert_eq!(bytes.len(), MIN_PACKET_SIZE);
    assert!(matches!(
        proto::decode(&bytes),
        Err(DecodeError::NotAList { list: "PING", .. })
    ));
}

#[test]
fn datagrams_up_to_1500_bytes_are_accepted() {
    let (bytes, _) = proto::encode(&ping(), &key()).unwrap();
    let mut body = bytes[97..].to_vec();
    body.resize(MAX_DATAGRAM_SIZE - 97, 0xee); // trailing junk, signed
    let (bytes, _) = proto::sign_packet(body[0], &body[1..], &key());
    assert_eq!(bytes.len(), MAX_DATAGRAM_SIZE);
    assert_eq!(proto::decode(&bytes).unwrap().packet, ping());
}

#[test]
fn a_wrong_hash_is_rejected() {
    let (mut bytes, _) = proto::encode(&ping(), &key()).unwrap();
    bytes[0] ^= 1;
    assert_eq!(proto::decode(&bytes), Err(DecodeError::HashMismatch));
    let (mut bytes, _) = proto::encode(&ping(), &key()).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    assert_eq!(proto::decode(&bytes), Err(DecodeError::HashMismatch));
}

#[test]
fn bad_signatures_are_rejected_or_recover_another_sender() {
    let (bytes, _) = proto::encode(&ping(), &key()).unwrap();
    let mut bad_v = bytes.clone();
    bad_v[96] = 27;
    assert_eq!(
        proto::decode(&rehash(bad_v)),
        Err(DecodeError::BadSignature(
            SignatureError::InvalidRecoveryId(27)
        ))
    );
    let mut zero_r = bytes.clone();
    zero_r[32..64].fill(0);
    assert!(matches!(
        proto::decode(&rehash(zero_r)),
        Err(DecodeError::BadSignature(_))
    ));
    let mut overflow_s = bytes.clone();
    overflow_s[64..96].fill(0xff);
    assert!(matches!(
        proto::decode(&rehash(overflow_s)),
        Err(DecodeError::BadSignature(_))
    ));
    // A changed body with an intact signature recovers some other key (or none).
    let mut tampered = bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    match proto::decode(&rehash(tampered)) {
        Ok(decoded) => assert_ne!(decoded.sender, PeerId::from_secret_key(&key())),
        Err(err) => assert!(matches!(
            err,
            DecodeError::BadSignature(_) | DecodeError::InvalidField { .. }
        )),
    }
}

#[test]
fn unknown_packet_types_are_a_distinct_error() {
    for packet_type in [0u8, 7, 0x80, 0xff] {
        let (bytes, _) = proto::sign_packet(packet_type, &rlp_list(&[&rlp(&1u64)]), &key());
        let err = proto::decode(&bytes).unwrap_err();
        assert_eq!(err, DecodeError::UnknownPacketType(packet_type));
        assert!(err.is_unknown_type());
    }
    assert!(!DecodeError::HashMismatch.is_unknown_type());
}

#[test]
fn missing_and_malformed_fields_are_named() {
    let only_version = rlp_list(&[&rlp(&4u64)]);
    let (bytes, _) = proto::sign_packet(1, &only_version, &key());
    assert_eq!(
        proto::decode(&bytes),
        Err(DecodeError::MissingField {
            list: "PING",
            field: "from"
        })
    );
    let short_target = rlp_list(&[&rlp(&[1u8; 63][..]), &rlp(&5u64)]);
    let (bytes, _) = proto::sign_packet(3, &short_target, &key());
    let err = proto::decode(&bytes).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::InvalidField {
            list: "FINDNODE",
            field: "target",
            ..
        }
    ));
    assert!(err.to_string().contains("FINDNODE"), "{err}");
    // Non-canonical integers (leading zero) are rejected as geth does.
    let leading_zero = rlp_list(&[&[0x82, 0x00, 0x05][..]]);
    let (bytes, _) = proto::sign_packet(5, &leading_zero, &key());
    assert!(matches!(
        proto::decode(&bytes),
        Err(DecodeError::InvalidField {
            list: "ENRREQUEST",
            field: "expiration",
            ..
        })
    ));
}

#[test]
fn extra_elements_and_odd_enr_seq_are_tolerated() {
    let from = rlp_list(&[&rlp(&[127u8, 0, 0, 1][..]), &rlp(&1u16), &rlp(&2u16)]);
    let extra = rlp_list(&[
        &rlp(&[127u8, 0, 0, 1][..]),
        &rlp(&1u16),
        &rlp(&2u16),
        &rlp(&9u8),
    ]);
    for seq_slot in [
        rlp(&[1u8; 9][..]),
        rlp_list(&[&rlp(&1u8)]),
        vec![0x82, 0x00, 0x01],
    ] {
        let body = rlp_list(&[
            &rlp(&555u64),
            &from,
            &extra,
            &rlp(&5u64),
            &seq_slot,
            &rlp(&1u8),
        ]);
        let (bytes, _) = proto::sign_packet(1, &body, &key());
        let Packet::Ping(ping) = proto::decode(&bytes).unwrap().packet else {
            panic!()
        };
        assert_eq!(
            (ping.version, ping.enr_seq, ping.expiration),
            (555, None, 5)
        );
        assert_eq!(ping.to, Endpoint::new([127, 0, 0, 1].into(), 1, 2));
    }
}

#[test]
fn wrapped_negative_expirations_decode_and_count_as_expired() {
    let now = proto::now_unix_secs();
    let past = 0u64.wrapping_sub(now + 20);
    let body = rlp_list(&[&rlp(&[7u8; 64][..]), &rlp(&past)]);
    let (bytes, _) = proto::sign_packet(3, &body, &key());
    let packet = proto::decode(&bytes).unwrap().packet;
    assert_eq!(
        packet,
        Packet::FindNode(FindNode {
            target: PeerId([7; 64]),
            expiration: past
        })
    );
    assert!(packet.is_expired(now));
    assert!(is_expired(past, now));
    let fresh = Packet::EnrRequest(EnrRequest {
        expiration: proto::expiration_after(proto::DEFAULT_EXPIRATION),
    });
    assert!(!fresh.is_expired(now));
}

fn worst_case_node(i: u8) -> NodeRecord {
    NodeRecord {
        address: IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0xffff,
            0xffff,
            0xffff,
            0xffff,
            0xffff,
            u16::from(i) + 1,
        )),
        udp_port: u16::MAX,
        tcp_port: u16::MAX,
        id: PeerId([0xff; 64]),
    }
}

#[test]
fn twelve_worst_case_neighbors_fit_and_thirteen_are_refused() {
    let nodes: Vec<_> = (0..13).map(worst_case_node).collect();
    let full = Packet::Neighbors(Neighbors {
        nodes: nodes[..12].to_vec(),
        expiration: u64::MAX,
    });
    let (bytes, _) = proto::encode(&full, &key()).unwrap();
    assert!(bytes.len() <= MAX_PACKET_SIZE, "{} bytes", bytes.len());
    assert_eq!(proto::decode(&bytes).unwrap().packet, full);

    let over = Packet::Neighbors(Neighbors {
        nodes: nodes.clone(),
        expiration: 1,
    });
    assert_eq!(
        proto::encode(&over, &key()),
        Err(EncodeError::TooManyNeighbors {
            count: 13,
            max: MAX_NEIGHBORS_PER_PACKET
        })
    );
    for part in Neighbors::split(&nodes, u64::MAX) {
        let (bytes, _) = proto::encode(&Packet::Neighbors(part), &key()).unwrap();
        assert!(bytes.len() <= MAX_PACKET_SIZE);
    }
}

#[test]
fn received_neighbors_may_exceed_twelve_entries() {
    // ethereumjs sends up to 16 nodes (1373 bytes); accept them.
    let node = |i: u8| NodeRecord {
        address: [1, 2, 3, i].into(),
        udp_port: 30303,
        tcp_port: 30303,
        id: PeerId([i; 64]),
    };
    let nodes: Vec<Vec<u8>> = (0..16u8)
        .map(|i| {
            let n = node(i);
            let ip = match n.address {
                IpAddr::V4(v4) => v4.octets(),
                IpAddr::V6(_) => unreachable!(),
            };
            rlp_list(&[
                &rlp(&ip[..]),
                &rlp(&n.udp_port),
                &rlp(&n.tcp_port),
                &rlp(&n.id.0[..]),
            ])
        })
        .collect();
    let refs: Vec<&[u8]> = nodes.iter().map(Vec::as_slice).collect();
    let body = rlp_list(&[&rlp_list(&refs), &rlp(&9u64)]);
    let (bytes, _) = proto::sign_packet(PacketKind::Neighbors.byte(), &body, &key());
    assert!(bytes.len() > MAX_PACKET_SIZE && bytes.len() <= MAX_DATAGRAM_SIZE);
    let Packet::Neighbors(got) = proto::decode(&bytes).unwrap().packet else {
        panic!()
    };
    assert_eq!(got.nodes, (0..16).map(node).collect::<Vec<_>>());
}

#[test]
fn ipv4_mapped_addresses_in_neighbors_become_ipv4() {
    let mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 9];
    let entry = rlp_list(&[
        &rlp(&mapped[..]),
        &rlp(&30303u16),
        &rlp(&30303u16),
        &rlp(&[3u8; 64][..]),
    ]);
    let body = rlp_list(&[&rlp_list(&[&entry]), &rlp(&9u64)]);
    let (bytes, _) = proto::sign_packet(4, &body, &key());
    let Packet::Neighbors(got) = proto::decode(&bytes).unwrap().packet else {
        panic!()
    };
    assert_eq!(got.nodes[0].address, IpAddr::from([192, 168, 1, 9]));
}

#[test]
fn enr_responses_check_size_and_signature() {
    let enr_key = SecretKey::from_byte_array(&[0x22; 32]).unwrap();
    let record = Enr::builder()
        .ip4([10, 0, 0, 1].into())
        .udp4(30303)
        .build(&enr_key)
        .unwrap();
    let encoded = rlp(&record);
    let hash = [9u8; 32];
    let body = rlp_list(&[&rlp(&hash), &encoded]);
    let (bytes, _) = proto::sign_packet(6, &body, &key());
    let Packet::EnrResponse(got) = proto::decode(&bytes).unwrap().packet else {
        panic!()
    };
    assert_eq!((got.request_hash, got.enr), (hash, record));

    // Flip a byte of the record's signature: the record no longer verifies.
    let mut forged = encoded.clone();
    forged[4] ^= 1;
    let body = rlp_list(&[&rlp(&hash), &forged]);
    let (bytes, _) = proto::sign_packet(6, &body, &key());
    assert!(matches!(
        proto::decode(&bytes),
        Err(DecodeError::InvalidEnr(_))
    ));

    // A record over 300 bytes is refused before parsing.
    let big = rlp_list(&[
        &rlp(&[0u8; 64][..]),
        &rlp(&1u64),
        &rlp(&b"zz"[..]),
        &rlp(&[0u8; 250][..]),
    ]);
    let body = rlp_list(&[&rlp(&hash), &big]);
    let (bytes, _) = proto::sign_packet(6, &body, &key());
    assert!(matches!(
        proto::decode(&bytes),
        Err(DecodeError::EnrTooLarge { max: 300, .. })
    ));
}

#[test]
fn error_messages_are_actionable() {
    let msg = DecodeError::TooShort { len: 10, min: 98 }.to_string();
    assert!(msg.contains("10") && msg.contains("98"), "{msg}");
    let msg = DecodeError::UnknownPacketType(9).to_string();
    assert!(msg.contains("0x09") && msg.contains("ignore"), "{msg}");
    let msg = EncodeError::TooManyNeighbors { count: 13, max: 12 }.to_string();
    assert!(msg.contains("split"), "{msg}");
}
