//! Fuzz entry points (see `fuzz/fuzz_targets/rlpx_{auth,ack}.rs`). Never panic.

use secp256k1::SecretKey;

use super::{
    handshake::{ReceivedAck, ReceivedAuth},
    messages::{AckBody, AuthBody},
};

/// Static key B of the EIP-8 vectors (the recipient of Auth1–3).
const KEY_B: [u8; 32] = [
    0xb7, 0x1c, 0x71, 0xa6, 0x7e, 0x11, 0x77, 0xad, 0x4e, 0x90, 0x16, 0x95, 0xe1, 0xb4, 0xb9, 0xee,
    0x17, 0xae, 0x16, 0xc6, 0x66, 0x8d, 0x31, 0x3e, 0xac, 0x2f, 0x96, 0xdb, 0xcd, 0xa3, 0xf2, 0x91,
];
/// Static key A of the EIP-8 vectors (the recipient of Ack1–3).
const KEY_A: [u8; 32] = [
    0x49, 0xa7, 0xb3, 0x7a, 0xa6, 0xf6, 0x64, 0x59, 0x17, 0xe7, 0xb8, 0x07, 0xe9, 0xd1, 0xc0, 0x0d,
    0x4f, 0xa7, 0x1f, 0x18, 0x34, 0x3b, 0x0d, 0x41, 0x22, 0xa4, 0xd2, 0xdf, 0x64, 0xdd, 0x6f, 0xee,
];

/// Decodes `data` as a whole auth message for key B, and as EIP-8 and legacy auth bodies.
pub fn decode_auth(data: &[u8]) {
    if let Ok(key) = SecretKey::from_slice(&KEY_B) {
        if let Ok(auth) = ReceivedAuth::decode(&key, data) {
            let _ = auth.respond();
        }
    }
    let _ = AuthBody::decode_eip8(data);
    let _ = AuthBody::decode_legacy(data);
}

/// Decodes `data` as a whole ack message for key A, and as EIP-8 and legacy ack bodies.
pub fn decode_ack(data: &[u8]) {
    if let Ok(key) = SecretKey::from_slice(&KEY_A) {
        let _ = ReceivedAck::decode(&key, data);
    }
    let _ = AckBody::decode_eip8(data);
    let _ = AckBody::decode_legacy(data);
}
