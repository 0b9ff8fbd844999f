//! Fuzz entry points (`fuzz/fuzz_targets/enode_url.rs`, `enr_decode.rs`). Each takes
//! arbitrary bytes and must never panic except on a broken invariant (the asserts).

use super::{
    enode::{EnodeUrl, NodeRecord},
    enr::{decode_enr as decode_enr_bytes, enr_peer_id, enr_to_node_record, parse_enr, Enr},
    node_arg::parse_node,
};

/// Parses the input as an enode URL and as a node argument; a URL that parses must
/// print to a canonical form that parses back to the same value.
pub fn parse_enode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(url) = text.parse::<EnodeUrl>() {
        let canonical = url.to_string();
        match canonical.parse::<EnodeUrl>() {
            Ok(again) => assert_eq!(again, url, "round trip of {canonical}"),
            Err(e) => panic!("canonical URL {canonical} does not parse: {e}"),
        }
        let _ = url.validate_complete();
        if let Ok(node) = NodeRecord::try_from(url) {
            assert_eq!(node.to_string(), canonical);
            let _ = node.validate_complete();
        }
    }
    let _ = parse_node(text);
}

/// Decodes the input as record bytes and, if it is text, as `enr:…`; a record that
/// decodes must re-encode to the same bytes and text.
pub fn decode_enr(data: &[u8]) {
    if let Ok(record) = decode_enr_bytes(data) {
        assert_eq!(
            alloy_rlp::encode(&record),
            data,
            "re-encoding changed the record"
        );
        check_record(&record);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(record) = parse_enr(text) {
            check_record(&record);
        }
        let _ = parse_node(text);
    }
}

fn check_record(record: &Enr) {
    assert!(
        enr_peer_id(record).is_ok(),
        "a verified record has a public key"
    );
    let _ = enr_to_node_record(record);
    let text = record.to_base64();
    match parse_enr(&text) {
        Ok(again) => assert_eq!(&again, record),
        Err(e) => panic!("record {text} does not parse back: {e}"),
    }
}
