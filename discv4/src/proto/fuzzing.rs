//! Entry points for the fuzz targets in `fuzz/`. Not part of the public API.

use secp256k1::SecretKey;

use super::{decode, encode, EncodeError, Packet, MAX_NEIGHBORS_PER_PACKET, MAX_PACKET_SIZE};
use crate::{crypto::keccak256, id::PeerId};

/// Decodes `data` as a datagram; when it is a valid packet, re-encodes it with a fixed key
/// and checks that the result is within the size limit and decodes to the same packet.
///
/// Never panics on any input unless one of those invariants is broken (a bug).
pub fn decode_packet(data: &[u8]) {
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
