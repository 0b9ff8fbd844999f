//! The EIP-8 devp2p Hello vector from `testdata/vectors/rlpx_handshake.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rlpx::p2p::{Capability, Hello, P2pError};
use secp256k1::{PublicKey, Secp256k1, SecretKey};

fn vectors() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/vectors/rlpx_handshake.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex_field(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn eip8_hello_vector_decodes_leniently() {
    let v = vectors();
    let vector = &v["devp2p_hello_vector"];
    let expected = &vector["expected"];
    let hello = Hello::decode(&hex_field(&vector["hex"])).unwrap();

    // The EIP text says "version 22"; the bytes encode 0x37 = 55.
    assert_eq!(
        hello.protocol_version,
        expected["protocol_version"].as_u64().unwrap()
    );
    assert_eq!(hello.protocol_version, 55);
    assert_eq!(hello.client_id, expected["client_id"].as_str().unwrap());
    let caps: Vec<Capability> = expected["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Capability::new(c[0].as_str().unwrap(), c[1].as_u64().unwrap() as u32))
        .collect();
    assert_eq!(hello.capabilities, caps);
    assert_eq!(
        u64::from(hello.listen_port),
        expected["listen_port"].as_u64().unwrap()
    );
    assert_eq!(hello.id.0.to_vec(), hex_field(&expected["node_id_pubkey"]));

    // The id is static key A's public key, in the form the RLPx handshake proves.
    let secret = SecretKey::from_slice(&hex_field(&v["keys"]["static_key_a"])).unwrap();
    let public = PublicKey::from_secret_key(&Secp256k1::new(), &secret).serialize_uncompressed();
    assert_eq!(hello.id.0[..], public[1..]);

    // Re-encoding drops the unknown trailing elements and still decodes to the same Hello.
    assert_eq!(Hello::decode(&hello.encode()).unwrap(), hello);
}

#[test]
fn hello_vector_with_corrupted_id_is_invalid_identity() {
    let v = vectors();
    let mut bytes = hex_field(&v["devp2p_hello_vector"]["hex"]);
    // zero the 64 id bytes (they follow the 0xb8 0x40 header)
    let at = bytes.windows(2).position(|w| w == [0xb8, 0x40]).unwrap() + 2;
    bytes[at..at + 64].fill(0);
    assert!(matches!(
        Hello::decode(&bytes),
        Err(P2pError::InvalidIdentity)
    ));
}
