//! Property tests of the record codecs: round trips and "never panics".

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv6Addr};

use enode::{
    PeerId, SecretKey,
    {
        build_enr, decode_enr, enr_to_node_record, normalize_ip, parse_enr, EndpointConfig,
        EnodeUrl, Host, NodeArg, NodeRecord,
    },
};
use proptest::prelude::*;

fn secret_key() -> impl Strategy<Value = SecretKey> {
    any::<[u8; 32]>().prop_filter_map("not a valid secret key", |b| SecretKey::from_slice(&b).ok())
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
        // IPv4-mapped IPv6, which must come back as IPv4.
        any::<[u8; 4]>().prop_map(|v4| IpAddr::V6(std::net::Ipv4Addr::from(v4).to_ipv6_mapped())),
    ]
}

fn node_record() -> impl Strategy<Value = NodeRecord> {
    (ip(), any::<u16>(), any::<u16>(), secret_key()).prop_map(
        |(address, udp_port, tcp_port, key)| NodeRecord {
            address,
            udp_port,
            tcp_port,
            id: PeerId::from_secret_key(&key),
        },
    )
}

/// Text close to an enode URL, so that the parser gets past its first checks.
fn enodeish() -> impl Strategy<Value = String> {
    let key = "[0-9a-fA-F]{0,130}";
    let host = prop_oneof![
        "[0-9.]{0,16}",
        r"\[[0-9a-fA-F:.%]{0,45}\]",
        "[a-zA-Z0-9._-]{0,70}",
        r"\PC{0,10}",
    ];
    let tail = prop_oneof!["", r"\?discport=[0-9a-z]{0,7}", r"[/?#&=]\PC{0,10}"];
    (
        prop_oneof!["enode://", "ENODE://", "enr:", ""],
        key,
        "@?",
        host,
        ":?[0-9+-]{0,7}",
        tail,
    )
        .prop_map(|(scheme, key, at, host, port, tail)| {
            format!("{scheme}{key}{at}{host}{port}{tail}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn node_record_display_parses_back(record in node_record()) {
        let text = record.to_string();
        let parsed: NodeRecord = text.parse().unwrap();
        let expected = NodeRecord { address: normalize_ip(record.address), ..record };
        prop_assert_eq!(parsed, expected);
        prop_assert_eq!(parsed.to_string(), text.clone());
        let omits_discport = !text.contains("?discport=");
        prop_assert_eq!(omits_discport, record.udp_port == record.tcp_port);
        prop_assert_eq!(matches!(parsed.address, IpAddr::V6(_)), text.contains('['));
    }

    #[test]
    fn dns_enode_urls_round_trip(name in "[a-z][a-z0-9-]{0,20}(\\.[a-z0-9_-]{1,10}){0,3}\\.[a-z]{2,6}\\.?",
                                 tcp in any::<u16>(), udp in any::<u16>(), key in secret_key()) {
        let url = EnodeUrl { id: PeerId::from_secret_key(&key), host: Some(Host::Dns(name)), tcp_port: tcp, udp_port: udp };
        prop_assert_eq!(url.to_string().parse::<EnodeUrl>().unwrap(), url);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in r"\PC{0,300}") {
        let _ = text.parse::<EnodeUrl>();
        let _ = text.parse::<NodeRecord>();
        let _ = text.parse::<NodeArg>();
        let _ = parse_enr(&text);
    }

    #[test]
    fn parsing_near_enode_text_never_panics_and_round_trips(text in enodeish()) {
        if let Ok(url) = text.parse::<EnodeUrl>() {
            prop_assert_eq!(url.to_string().parse::<EnodeUrl>().unwrap(), url);
        }
        let _ = text.parse::<NodeArg>();
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_enr(&bytes);
    }

    #[test]
    fn decoding_a_damaged_record_never_panics_and_never_verifies(
        key in secret_key(), index in any::<prop::sample::Index>(), bit in 0u8..8,
    ) {
        let endpoints = EndpointConfig { ip6: Some(Ipv6Addr::LOCALHOST), udp6: Some(1), ..Default::default() };
        let record = build_enr(&key, 9, &endpoints).unwrap();
        let mut bytes = alloy_rlp::encode(&record);
        let at = index.index(bytes.len());
        bytes[at] ^= 1 << bit;
        // Any change to a signed record must be caught: by the RLP structure, the key
        // or the signature (a flipped bit in the key changes the signer).
        prop_assert!(decode_enr(&bytes).is_err(), "bit {} of byte {} accepted", bit, at);
    }

    #[test]
    fn built_records_give_back_their_endpoint(key in secret_key(), v4 in any::<[u8; 4]>(), udp in 1u16.., tcp in any::<u16>()) {
        let ip = std::net::Ipv4Addr::from(v4);
        prop_assume!(!ip.is_unspecified() && !ip.is_multicast());
        let endpoints = EndpointConfig { ip4: Some(ip), udp4: Some(udp), tcp4: Some(tcp), ..Default::default() };
        let record = build_enr(&key, 1, &endpoints).unwrap();
        let node = enr_to_node_record(&parse_enr(&record.to_base64()).unwrap()).unwrap();
        prop_assert_eq!(node, NodeRecord { address: IpAddr::V4(ip), udp_port: udp, tcp_port: tcp, id: PeerId::from_secret_key(&key) });
    }
}
