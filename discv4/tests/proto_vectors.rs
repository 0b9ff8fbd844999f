//! The discv4 EIP-8 vectors (`testdata/vectors/discv4_eip8.json`) through `proto::decode`
//! and `proto::encode`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::IpAddr;

use discv4::proto::{self, Endpoint, Packet, Ping};

use enode::{PeerId, SecretKey};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/vectors/discv4_eip8.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn vector(name: &str) -> Value {
    vectors()["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
        .clone()
}

fn hex_of(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn key() -> SecretKey {
    SecretKey::from_slice(&hex_of(&vectors()["signing_private_key"])).unwrap()
}

fn endpoint(value: &Value) -> Endpoint {
    Endpoint {
        ip: value["ip"].as_str().unwrap().parse().unwrap(),
        udp_port: value["udp"].as_u64().unwrap() as u16,
        tcp_port: value["tcp"].as_u64().unwrap() as u16,
    }
}

fn peer_id(value: &Value) -> PeerId {
    value.as_str().unwrap().parse().unwrap()
}

/// Decodes a vector and checks everything common to all of them.
fn decode_vector(name: &str) -> (Value, proto::Decoded) {
    let v = vector(name);
    let packet = hex_of(&v["packet_hex"]);
    assert_eq!(packet.len() as u64, v["packet_len"].as_u64().unwrap());
    let decoded = proto::decode(&packet).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(decoded.hash.to_vec(), hex_of(&v["hash_hex"]), "{name}");
    assert_eq!(
        decoded.sender,
        peer_id(&vectors()["signing_public_key_64"]),
        "{name}"
    );
    assert_eq!(
        decoded.sender.node_id().to_string(),
        vectors()["signer_node_id"].as_str().unwrap()
    );
    assert_eq!(
        decoded.packet.kind().byte() as u64,
        v["packet_type"].as_u64().unwrap()
    );
    assert_eq!(
        decoded.packet.expiration(),
        v["expected"]["expiration"].as_u64()
    );
    (v, decoded)
}

fn expect_ping(name: &str, enr_seq: Option<u64>) -> Ping {
    let (v, decoded) = decode_vector(name);
    let Packet::Ping(ping) = decoded.packet else {
        panic!("{name} is not a ping")
    };
    let expected = &v["expected"];
    assert_eq!(ping.version, expected["version"].as_u64().unwrap());
    assert_eq!(ping.from, endpoint(&expected["from"]));
    assert_eq!(ping.to, endpoint(&expected["to"]));
    assert_eq!(ping.enr_seq, enr_seq);
    ping
}

#[test]
fn plain_ping_decodes() {
    expect_ping("ping_v4_plain", None);
}

#[test]
fn ping_with_extra_elements_reads_the_first_as_enr_seq() {
    // EIP-868 reads element 5 as enr-seq (as geth does); element 6 is ignored.
    expect_ping("ping_v4_extra_elements", Some(1));
}

#[test]
fn ping_v555_with_a_list_in_the_enr_seq_slot_and_trailing_data_decodes() {
    // Decided in DESIGN.md: a non-integer where enr-seq sits is absent, not an error.
    expect_ping("ping_v555_extra_list_and_trailing_data", None);
}

#[test]
fn pong_with_extra_list_and_trailing_data_decodes() {
    let (v, decoded) = decode_vector("pong_extra_list_and_trailing_data");
    let Packet::Pong(pong) = decoded.packet else {
        panic!("not a pong")
    };
    assert_eq!(pong.to, endpoint(&v["expected"]["to"]));
    assert_eq!(pong.ping_hash.to_vec(), hex_of(&v["expected"]["ping_hash"]));
    assert_eq!(pong.enr_seq, None);
}

#[test]
fn findnode_with_extra_elements_and_trailing_data_decodes() {
    let (v, decoded) = decode_vector("findnode_extra_elements_and_trailing_data");
    let Packet::FindNode(find) = decoded.packet else {
        panic!("not a findnode")
    };
    assert_eq!(find.target, peer_id(&v["expected"]["target"]));
}

#[test]
fn neighbours_with_extra_elements_and_trailing_data_decode() {
    let (v, decoded) = decode_vector("neighbours_extra_elements_and_trailing_data");
    let Packet::Neighbors(neighbors) = decoded.packet else {
        panic!("not neighbors")
    };
    let expected = v["expected"]["nodes"].as_array().unwrap();
    assert_eq!(neighbors.nodes.len(), expected.len());
    for (node, want) in neighbors.nodes.iter().zip(expected) {
        assert_eq!(
            node.address,
            want["ip"].as_str().unwrap().parse::<IpAddr>().unwrap()
        );
        assert_eq!(u64::from(node.udp_port), want["udp"].as_u64().unwrap());
        assert_eq!(u64::from(node.tcp_port), want["tcp"].as_u64().unwrap());
        assert_eq!(node.id, peer_id(&want["id"]));
    }
}

#[test]
fn every_vector_is_covered() {
    let names: Vec<String> = vectors()["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 6);
    for name in names {
        decode_vector(&name);
    }
}

#[test]
fn plain_ping_reencodes_to_the_same_signed_bytes() {
    // The vector's signature was not made with RFC 6979 nonces (ours are: libsecp256k1 is
    // deterministic), so only type || RLP can match byte for byte; the signature differs
    // but must recover to the same key, and our own encoding must be reproducible.
    let v = vector("ping_v4_plain");
    let original = hex_of(&v["packet_hex"]);
    let ping = expect_ping("ping_v4_plain", None);
    let (bytes, hash) = proto::encode(&Packet::Ping(ping), &key()).unwrap();
    assert_eq!(hex::encode(&bytes[97..]), hex::encode(&original[97..]));
    assert_eq!(bytes.len(), original.len());
    let decoded = proto::decode(&bytes).unwrap();
    assert_eq!(decoded.hash, hash);
    assert_eq!(decoded.sender, proto::decode(&original).unwrap().sender);
    assert_eq!(
        proto::encode(&Packet::Ping(ping), &key()).unwrap(),
        (bytes, hash)
    );
}

#[test]
fn sign_packet_reproduces_vectors_with_trailing_data() {
    // Hash and signature cover the bytes after the RLP list too.
    for v in vectors()["vectors"].as_array().unwrap() {
        let packet = hex_of(&v["packet_hex"]);
        let (bytes, hash) = proto::sign_packet(packet[97], &packet[98..], &key());
        let decoded = proto::decode(&bytes).unwrap();
        assert_eq!(decoded.hash, hash);
        assert_eq!(decoded.packet, proto::decode(&packet).unwrap().packet);
        assert_eq!(&bytes[97..], &packet[97..]);
    }
}
