//! Building our own record, re-signing on change, and choosing a contact address.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use alloy_rlp::{Encodable, Header};
use enode::{
    crypto::{keccak256, public_key, sign_recoverable},
    PeerId, SecretKey,
    {
        build_enr, decode_enr, enr_peer_id, enr_to_node_record, parse_enr, parse_node,
        unix_time_millis, EndpointConfig, EnrError, LocalEnr, NodeKey, ParseNodeError,
    },
};

fn key(byte: u8) -> SecretKey {
    SecretKey::from_slice(&[byte; 32]).unwrap()
}

fn v4(ip: [u8; 4], udp: u16, tcp: u16) -> EndpointConfig {
    EndpointConfig {
        ip4: Some(Ipv4Addr::from(ip)),
        udp4: Some(udp),
        tcp4: Some(tcp),
        ..Default::default()
    }
}

#[test]
fn built_records_verify_and_round_trip() {
    let key = key(7);
    let endpoints = EndpointConfig {
        ip6: Some("2001:db8::1".parse().unwrap()),
        udp6: Some(30305),
        ..v4([1, 2, 3, 4], 30301, 30303)
    };
    let record = build_enr(&key, 1_700_000_000_000, &endpoints).unwrap();
    assert_eq!(record.seq(), 1_700_000_000_000);
    assert_eq!(record.id().as_deref(), Some("v4"));
    assert_eq!(enr_peer_id(&record).unwrap(), PeerId::from_secret_key(&key));
    let again = parse_enr(&record.to_base64()).unwrap();
    assert_eq!(again, record);
    assert_eq!(record.udp6(), Some(30305));
    assert_eq!(record.tcp6(), None);

    let node = enr_to_node_record(&record).unwrap();
    assert_eq!(
        (node.address, node.udp_port, node.tcp_port),
        (IpAddr::from([1, 2, 3, 4]), 30301, 30303)
    );
}

#[test]
fn zero_ports_are_left_out_and_extra_entries_are_checked() {
    let key = key(8);
    let record = build_enr(&key, 1, &v4([1, 2, 3, 4], 30303, 0)).unwrap();
    assert_eq!(record.tcp4(), None);

    let mut endpoints = v4([1, 2, 3, 4], 30303, 30303);
    // eth = [[fork hash, fork next]]
    endpoints
        .extra
        .insert("eth".into(), hex::decode("c7c6849a2ee5e980").unwrap());
    let record = build_enr(&key, 2, &endpoints).unwrap();
    let parsed = decode_enr(&alloy_rlp::encode(&record)).unwrap();
    assert_eq!(
        parsed.get_raw_rlp("eth"),
        Some(&hex::decode("c7c6849a2ee5e980").unwrap()[..])
    );

    let mut reserved = endpoints.clone();
    reserved.extra.insert("udp".into(), vec![0x05]);
    assert_eq!(
        build_enr(&key, 3, &reserved).unwrap_err(),
        EnrError::ReservedKey("udp".into())
    );

    let mut not_rlp = endpoints.clone();
    not_rlp.extra.insert("foo".into(), vec![0x82, 0x01]);
    assert_eq!(
        build_enr(&key, 3, &not_rlp).unwrap_err(),
        EnrError::InvalidValue("foo".into())
    );
    let mut two_items = endpoints.clone();
    two_items.extra.insert("foo".into(), vec![0x01, 0x02]);
    assert_eq!(
        build_enr(&key, 3, &two_items).unwrap_err(),
        EnrError::InvalidValue("foo".into())
    );

    let mut huge = endpoints;
    let mut blob = vec![0xb8, 200];
    blob.extend([0xaa; 200]);
    huge.extra.insert("blob".into(), blob);
    assert!(matches!(
        build_enr(&key, 3, &huge),
        Err(EnrError::Build(_) | EnrError::TooLarge(_))
    ));
}

#[test]
fn local_enr_starts_at_unix_millis_and_bumps_seq_only_on_change() {
    let before = unix_time_millis();
    let mut local = LocalEnr::new(key(9), v4([10, 0, 0, 1], 30303, 30303), None).unwrap();
    let after = unix_time_millis();
    let first = local.seq();
    assert!(
        (before..=after).contains(&first),
        "{before} <= {first} <= {after}"
    );

    assert!(!local.set_endpoints(local.endpoints().clone()).unwrap());
    assert_eq!(local.seq(), first);

    assert!(local
        .update(|e| e.ip4 = Some(Ipv4Addr::new(203, 0, 113, 9)))
        .unwrap());
    assert_eq!(local.seq(), first + 1);
    let republished = parse_enr(&local.record().to_base64()).unwrap();
    assert_eq!(republished.ip4(), Some(Ipv4Addr::new(203, 0, 113, 9)));
    assert_eq!(
        local.node_record().unwrap().address,
        IpAddr::from([203, 0, 113, 9])
    );
    assert_eq!(local.peer_id(), PeerId::from_secret_key(&key(9)));

    // A failed change leaves the record as it was.
    let err = local.update(|e| {
        e.extra.insert("id".into(), vec![0x80]);
    });
    assert_eq!(err.unwrap_err(), EnrError::ReservedKey("id".into()));
    assert_eq!(local.seq(), first + 1);
    assert_eq!(local.record().ip4(), Some(Ipv4Addr::new(203, 0, 113, 9)));
    assert!(!format!("{local:?}").contains(&hex::encode([9u8; 32])));
}

#[test]
fn local_enr_continues_from_the_stored_seq_and_never_wraps() {
    let local = LocalEnr::new(key(3), v4([1, 1, 1, 1], 1, 1), Some(41)).unwrap();
    assert_eq!(local.seq(), 42);
    assert_eq!(
        LocalEnr::new(key(3), EndpointConfig::default(), Some(u64::MAX)).unwrap_err(),
        EnrError::SeqOverflow
    );
    let mut last = LocalEnr::new(key(3), v4([1, 1, 1, 1], 1, 1), Some(u64::MAX - 1)).unwrap();
    assert_eq!(last.seq(), u64::MAX);
    assert_eq!(
        last.update(|e| e.udp4 = Some(2)).unwrap_err(),
        EnrError::SeqOverflow
    );
    assert_eq!(last.record().udp4(), Some(1));
}

#[test]
fn contact_address_prefers_ipv4_unless_it_is_lan_and_ipv6_is_global() {
    let k = key(4);
    let global6: Ipv6Addr = "2a01:4f8::1".parse().unwrap();
    let node = |e: &EndpointConfig| enr_to_node_record(&build_enr(&k, 1, e).unwrap());

    let both_global = EndpointConfig {
        ip6: Some(global6),
        udp6: Some(9),
        ..v4([8, 8, 8, 8], 1, 2)
    };
    assert_eq!(
        node(&both_global).unwrap().address,
        IpAddr::from([8, 8, 8, 8])
    );

    let lan4 = EndpointConfig {
        ip4: Some(Ipv4Addr::new(192, 168, 1, 5)),
        ..both_global.clone()
    };
    let chosen = node(&lan4).unwrap();
    assert_eq!(
        (chosen.address, chosen.udp_port, chosen.tcp_port),
        (IpAddr::V6(global6), 9, 2)
    );

    let only6 = EndpointConfig {
        ip6: Some(global6),
        udp4: Some(7),
        ..Default::default()
    };
    let chosen = node(&only6).unwrap();
    assert_eq!(
        (chosen.address, chosen.udp_port, chosen.tcp_port),
        (IpAddr::V6(global6), 7, 0)
    );

    let no_udp = EndpointConfig {
        udp4: None,
        ..v4([8, 8, 8, 8], 1, 2)
    };
    assert_eq!(node(&no_udp).unwrap_err(), EnrError::NoEndpoint);
    assert_eq!(
        node(&EndpointConfig::default()).unwrap_err(),
        EnrError::NoEndpoint
    );
    assert_eq!(
        node(&v4([0, 0, 0, 0], 1, 1)).unwrap_err(),
        EnrError::NoEndpoint
    );
    assert_eq!(
        node(&v4([224, 0, 0, 1], 1, 1)).unwrap_err(),
        EnrError::NoEndpoint
    );

    let text = build_enr(&k, 1, &no_udp).unwrap().to_base64();
    assert!(matches!(
        parse_node(&text),
        Err(ParseNodeError::Enr(EnrError::NoEndpoint))
    ));
}

/// RLP of `[sig?, seq, k1, v1, ...]` with byte-string values.
fn rlp_record(signature: Option<&[u8]>, seq: u64, pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut payload = Vec::new();
    if let Some(signature) = signature {
        signature.encode(&mut payload);
    }
    seq.encode(&mut payload);
    for (k, v) in pairs {
        k.encode(&mut payload);
        v.encode(&mut payload);
    }
    let mut out = Vec::new();
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend(payload);
    out
}

fn signed_record(key: &SecretKey, pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let content = rlp_record(None, 5, pairs);
    let signature = sign_recoverable(&keccak256(&content), key);
    rlp_record(Some(&signature[..64]), 5, pairs)
}

#[test]
fn hand_signed_records_decode_only_with_a_compressed_key() {
    let key = key(5);
    let compressed = public_key(&key).serialize();
    let good = signed_record(
        &key,
        &[
            (b"id", b"v4"),
            (b"secp256k1", &compressed),
            (b"zzz", b"kept"),
        ],
    );
    let record = decode_enr(&good).unwrap();
    assert_eq!(enr_peer_id(&record).unwrap(), NodeKey::from(key).peer_id());
    assert_eq!(record.get_raw_rlp("zzz"), Some(&b"\x84kept"[..]));

    let uncompressed = public_key(&key).serialize_uncompressed();
    let long_key = signed_record(&key, &[(b"id", b"v4"), (b"secp256k1", &uncompressed)]);
    assert_eq!(
        decode_enr(&long_key).unwrap_err(),
        EnrError::InvalidPublicKey
    );

    // x = 2^256 - 1 is above the field prime: no such point.
    let mut beyond_field = [0xff; 33];
    beyond_field[0] = 0x02;
    let not_a_point = signed_record(&key, &[(b"id", b"v4"), (b"secp256k1", &beyond_field)]);
    assert_eq!(
        decode_enr(&not_a_point).unwrap_err(),
        EnrError::InvalidPublicKey
    );

    let no_id = signed_record(&key, &[(b"secp256k1", &compressed)]);
    assert_eq!(decode_enr(&no_id).unwrap_err(), EnrError::InvalidSignature);

    let other_key = signed_record(
        &self::key(6),
        &[(b"id", b"v4"), (b"secp256k1", &compressed)],
    );
    assert_eq!(
        decode_enr(&other_key).unwrap_err(),
        EnrError::InvalidSignature
    );
}
