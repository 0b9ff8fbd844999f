//! Entry points for the fuzz targets in `fuzz/`. Not part of the public API.

use secp256k1::SecretKey;

use super::{
    decode,
    decode::decode_body,
    encode,
    encode::encode_body,
    messages::{Packet, PacketKind},
    EncodeError, HEAD_SIZE, MAX_NEIGHBORS_PER_PACKET, MAX_PACKET_SIZE,
};
use enode::{crypto::keccak256, PeerId};

/// Decodes `data` as a datagram and, separately, bytes 97.. as type byte + body (a fuzzer
/// cannot forge the hash, so this is how it reaches the body decoders). Every packet that
/// decodes is re-encoded and must decode to itself.
///
/// Never panics on any input unless one of those invariants is broken (a bug).
pub fn decode_packet(data: &[u8]) {
    check_datagram(data);
    if let Some((&type_byte, rlp)) = data.get(HEAD_SIZE..).and_then(<[u8]>::split_first) {
        check_body(type_byte, rlp);
    }
}

fn check_datagram(data: &[u8]) {
    let Ok(decoded) = decode(data) else {
        return;
    };
    assert_eq!(Some(&decoded.hash[..]), data.get(..32));
    assert_eq!(decoded.hash, keccak256(data.get(32..).unwrap_or_default()));

    let Ok(key) = SecretKey::from_byte_array(&[0x42; 32]) else {
        return;
    };
    match encode(&decoded.packet, &key) {
        Ok((bytes, hash)) => {
            assert!(
                bytes.len() <= MAX_PACKET_SIZE,
                "encoded {} bytes",
                bytes.len()
            );
            let again = decode(&bytes);
            let Ok(again) = again else {
                panic!("re-encoded packet does not decode: {again:?}");
            };
            assert_eq!(again.hash, hash);
            assert_eq!(again.sender, PeerId::from_secret_key(&key));
            assert_eq!(again.packet, decoded.packet);
        }
        Err(EncodeError::TooManyNeighbors { count, .. }) => {
            assert!(count > MAX_NEIGHBORS_PER_PACKET);
            assert!(matches!(decoded.packet, Packet::Neighbors(_)));
        }
        Err(other) => panic!("decoded packet cannot be re-encoded: {other}"),
    }
}

fn check_body(type_byte: u8, rlp: &[u8]) {
    let Some(kind) = PacketKind::from_byte(type_byte) else {
        return;
    };
    let Ok(packet) = decode_body(kind, rlp) else {
        return;
    };
    let mut encoded = Vec::new();
    encode_body(&packet, &mut encoded);
    let again = decode_body(kind, &encoded);
    let Ok(again) = again else {
        panic!("re-encoded body does not decode: {again:?}");
    };
    assert_eq!(again, packet, "body does not survive re-encoding");
    // Our encoding is a fixed point: encoding what we decoded from it changes nothing.
    let mut encoded_again = Vec::new();
    encode_body(&again, &mut encoded_again);
    assert_eq!(encoded, encoded_again, "encoding is not canonical");
}
