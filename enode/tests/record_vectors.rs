//! The enode URL and ENR vectors of `testdata/vectors/` (from go-ethereum and EIP-778).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use enode::{
    PeerIdError,
    {
        decode_enr, enr_node_id, enr_peer_id, enr_to_node_record, parse_enr, parse_node,
        EnodeError, EnodeUrl, EnrError, Host, NodeArg, NodeKey, NodeRecord, ParseNodeError,
    },
};
use serde_json::Value;

fn vectors(name: &str) -> Value {
    let path = format!("{}/../testdata/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

/// The error each vector's text names, as one of our kinds.
fn assert_enode_error_kind(input: &str, expected: &str) {
    let err = parse_node(input).unwrap_err();
    let kind_matches = match expected {
        e if e.starts_with("missing 'enr:' prefix") => {
            matches!(err, ParseNodeError::UnknownFormat)
        }
        "invalid port" => matches!(err, ParseNodeError::Enode(EnodeError::InvalidPort(_))),
        "invalid discport in query" => {
            matches!(err, ParseNodeError::Enode(EnodeError::InvalidDiscport(_)))
        }
        "invalid public key (wrong length, want 128 hex chars)" => matches!(
            err,
            ParseNodeError::Enode(EnodeError::InvalidPublicKey(PeerIdError::BadLength(8)))
        ),
        other => panic!("unmapped vector error {other:?}"),
    };
    assert!(kind_matches, "{input:?}: want {expected:?}, got {err:?}");
    // The same kind through the URL parser, for inputs that claim to be URLs.
    if input.starts_with("enode://") {
        let direct = input.parse::<EnodeUrl>().unwrap_err();
        assert_eq!(direct.to_string(), err.to_string());
    }
}

#[test]
fn enode_vectors() {
    let file = vectors("enode.json");
    let cases = file["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 15);
    let mut valid = 0;
    for case in cases {
        let input = str_of(case, "input");
        if !case["valid"].as_bool().unwrap() {
            assert_enode_error_kind(input, str_of(case, "expected_error"));
            continue;
        }
        valid += 1;
        let expected = &case["expected"];
        let url: EnodeUrl = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(url.id.to_string(), str_of(expected, "public_key_64"));
        assert_eq!(url.node_id().to_string(), str_of(expected, "node_id"));
        assert_eq!(u64::from(url.tcp_port), expected["tcp"].as_u64().unwrap());
        assert_eq!(u64::from(url.udp_port), expected["udp"].as_u64().unwrap());
        match (
            &url.host,
            expected["ip"].as_str(),
            expected["hostname"].as_str(),
        ) {
            (Some(Host::Ip(ip)), Some(want), None) => {
                assert_eq!(*ip, want.parse::<IpAddr>().unwrap())
            }
            (Some(Host::Dns(name)), None, Some(want)) => assert_eq!(name, want),
            (None, None, None) => assert!(url.is_incomplete()),
            (host, ip, name) => panic!("{input}: host {host:?}, want ip {ip:?} / name {name:?}"),
        }
        assert_eq!(url.to_string(), str_of(case, "string_roundtrip"));
        let complete_ok = case["validate_complete_ok"].as_bool().unwrap();
        assert_eq!(url.validate_complete().is_ok(), complete_ok, "{input}");
        assert_eq!(parse_node(input).is_ok(), complete_ok, "{input}");

        // The complete IP form is also a NodeRecord with the same text.
        match NodeRecord::try_from(url.clone()) {
            Ok(record) => {
                assert_eq!(record.enode_url(), str_of(case, "string_roundtrip"));
                assert_eq!(input.parse::<NodeRecord>().unwrap(), record);
                assert_eq!(record.node_id(), url.node_id());
            }
            Err(EnodeError::Unresolved(name)) => {
                assert_eq!(Some(name.as_str()), expected["hostname"].as_str())
            }
            Err(EnodeError::Incomplete) => assert!(url.is_incomplete()),
            Err(e) => panic!("{input}: {e}"),
        }
    }
    assert_eq!(valid, 6);
}

#[test]
fn valid_enr_vectors_verify_and_give_the_stated_identity() {
    let file = vectors("enr.json");
    for case in file["valid_records"].as_array().unwrap() {
        let text = str_of(case, "text");
        let record = parse_enr(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let rlp = hex::decode(str_of(case, "rlp_hex")).unwrap();
        assert_eq!(rlp.len() as u64, case["rlp_len"].as_u64().unwrap());
        assert_eq!(decode_enr(&rlp).unwrap(), record);
        assert_eq!(record.to_base64(), text);
        assert_eq!(record.seq(), case["seq"].as_u64().unwrap());
        assert_eq!(hex::encode(record.signature()), str_of(case, "signature"));
        assert_eq!(enr_node_id(&record).to_string(), str_of(case, "node_id"));
        let peer_id = enr_peer_id(&record).unwrap();
        assert_eq!(
            peer_id.to_string(),
            str_of(case, "public_key_uncompressed_64")
        );
        assert_eq!(peer_id.node_id(), enr_node_id(&record));

        let pairs = &case["pairs"];
        assert_eq!(record.id().as_deref(), pairs["id"].as_str());
        assert_eq!(
            record.ip4().map(|ip| ip.to_string()).as_deref(),
            pairs["ip"].as_str()
        );
        assert_eq!(record.udp4().map(u64::from), pairs["udp"].as_u64());
        assert_eq!(record.iter().count(), pairs.as_object().unwrap().len());

        let node = enr_to_node_record(&record).unwrap();
        assert_eq!(node.address.to_string(), str_of(pairs, "ip"));
        assert_eq!(u64::from(node.udp_port), pairs["udp"].as_u64().unwrap());
        assert_eq!(node.tcp_port, 0, "no tcp entry means no TCP");
        assert_eq!(node.id, peer_id);
        let (parsed, parsed_record) = parse_node(text).unwrap();
        assert_eq!((parsed, parsed_record), (node, Some(record)));

        // The private key given is the record's key.
        let key = NodeKey::from_hex(str_of(case, "private_key")).unwrap();
        assert_eq!(key.peer_id(), peer_id);
    }
}

#[test]
fn invalid_enr_vectors_are_rejected_with_the_expected_kind() {
    let file = vectors("enr.json");
    let mut checked = 0;
    for case in file["invalid_records"].as_array().unwrap() {
        let text = str_of(case, "text");
        let err = parse_enr(text).unwrap_err();
        let name = str_of(case, "name");
        let want = match name {
            "empty_after_prefix" => EnrError::Empty,
            "invalid_signature" => EnrError::InvalidSignature,
            "missing_prefix" => EnrError::MissingPrefix,
            "bad_base64" => {
                assert!(matches!(err, EnrError::Base64(_)), "{name}: {err:?}");
                checked += 1;
                continue;
            }
            other => panic!("unmapped vector {other}"),
        };
        assert_eq!(err, want, "{name}");
        if let Some(rlp) = case["rlp_hex"].as_str() {
            assert_eq!(
                decode_enr(&hex::decode(rlp).unwrap()).unwrap_err(),
                want,
                "{name} (bytes)"
            );
        }
        // The generic parser rejects it too (a bare key is not an enode URL there).
        assert!(text.parse::<NodeArg>().is_err(), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn structural_decode_cases() {
    let file = vectors("enr.json");
    for case in file["structural_decode_cases"]["cases"].as_array().unwrap() {
        let rlp = hex::decode(str_of(case, "rlp_hex")).unwrap();
        let expected = str_of(case, "expected");
        let err = decode_enr(&rlp).unwrap_err();
        if expected.starts_with("error") {
            assert!(matches!(err, EnrError::Malformed(_)), "{expected}: {err:?}");
        } else {
            // Structurally fine, but with no key it can never verify: we check
            // signatures on decode, geth only on use.
            assert_eq!(err, EnrError::MissingPublicKey, "{expected}");
        }
    }
}

#[test]
fn size_limit_trailing_bytes_and_key_order_are_enforced() {
    let file = vectors("enr.json");
    let rlp = hex::decode(str_of(&file["valid_records"][0], "rlp_hex")).unwrap();

    let mut trailing = rlp.clone();
    trailing.push(0x80);
    assert_eq!(
        decode_enr(&trailing).unwrap_err(),
        EnrError::TrailingBytes(1)
    );

    assert_eq!(
        decode_enr(&vec![0xc0; 301]).unwrap_err(),
        EnrError::TooLarge(301)
    );
    let long_text = format!("enr:{}", "A".repeat(404));
    assert!(matches!(parse_enr(&long_text), Err(EnrError::TooLarge(_))));

    // Swap the "ip" and "id" pairs: keys out of order.
    let id_pair = hex::decode("826964827634").unwrap();
    let ip_pair = hex::decode("826970847f000001").unwrap();
    let at = rlp
        .windows(id_pair.len())
        .position(|w| w == id_pair)
        .unwrap();
    let mut unsorted = rlp.clone();
    unsorted[at..at + ip_pair.len()].copy_from_slice(&ip_pair);
    unsorted[at + ip_pair.len()..at + ip_pair.len() + id_pair.len()].copy_from_slice(&id_pair);
    assert_eq!(decode_enr(&unsorted).unwrap_err(), EnrError::UnsortedKeys);

    // Flip one signature bit.
    let mut tampered = rlp.clone();
    tampered[10] ^= 1;
    assert_eq!(
        decode_enr(&tampered).unwrap_err(),
        EnrError::InvalidSignature
    );

    // A scheme other than v4.
    let mut v5 = rlp;
    let at = v5
        .windows(id_pair.len())
        .position(|w| w == id_pair)
        .unwrap();
    v5[at + 5] = b'5';
    assert_eq!(decode_enr(&v5).unwrap_err(), EnrError::UnsupportedScheme);
}
