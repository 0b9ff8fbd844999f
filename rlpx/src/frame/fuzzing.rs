//! Fuzz entry points (see `fuzz/fuzz_targets/rlpx_frame.rs` and
//! `fuzz/fuzz_targets/rlpx_sealed_frame.rs`). The decoders under them never panic; the
//! sealed-frame body asserts properties of what they return.

mod sealed;

use std::sync::OnceLock;

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::{codec::FrameCodec, message::decode_message_code};
use crate::ecies::{Role, Secrets, Transcript};

/// Ack2 of the EIP-8 vectors: seeds node A's ingress MAC in the vector session.
const ACK2_HEX: &str = "01ea0451958701280a56482929d3b0757da8f7fbe5286784beead59d95089c217c9b917788989470b0e330cc6e4fb383c0340ed85fab836ec9fb8a49672712aeabbdfd1e837c1ff4cace34311cd7f4de05d59279e3524ab26ef753a0095637ac88f2b499b9914b5f64e143eae548a1066e14cd2f4bd7f814c4652f11b254f8a2d0191e2f5546fae6055694aed14d906df79ad3b407d94692694e259191cde171ad542fc588fa2b7333313d82a9f887332f1dfc36cea03f831cb9a23fea05b33deb999e85489e645f6aab1872475d488d7bd6c7c120caf28dbfc5d6833888155ed69d34dbdc39c1f299be1057810f34fbe754d021bfca14dc989753d61c413d261934e1a9c67ee060a25eefb54e81a4d14baff922180c395d3f998d70f46f6b58306f969627ae364497e73fc27f6d17ae45a413d322cb8814276be6ddd13b885b201b943213656cde498fa0e9ddc8e0b8f8a53824fbd82254f3e2c17e8eaea009c38b4aa0a3f306e8797db43c25d68e86f262e564086f59a2fc60511c42abfb3057c247a8a8fe4fb3ccbadde17514b7ac8000cdb6a912778426260c47f38919a91f25f4b5ffb455d6aaaf150f7e5529c100ce62d6d92826a71778d809bdf60232ae21ce8a437eca8223f45ac37f6487452ce626f549b3b5fdee26afd2072e4bc75833c2464c805246155289f4";
/// ECDH of the two ephemeral keys in the EIP-8 vector session.
const EPHEMERAL_SHARED: [u8; 32] =
    hex_array("1a08ef840fa6b55e5b2630351aa45804cc16b48e526b64e6ee667b224967ef24");
const NONCE_A: [u8; 32] =
    hex_array("7e968bba13b6c50e2c4cd7f241cc0d64d1ac25c7f5952df231ac6a2bda8ee5d6");
const NONCE_B: [u8; 32] =
    hex_array("559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd");

const fn hex_array(text: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("invalid hex digit"),
        }
    }
    let bytes = text.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(bytes[2 * i]) << 4 | nibble(bytes[2 * i + 1]);
        i += 1;
    }
    out
}

pub use sealed::decode_sealed_frames;

/// Node A's codec in the EIP-8 vector session: it decodes the derived B->A frames.
fn vector_codec() -> Option<FrameCodec> {
    static CODEC: OnceLock<Option<FrameCodec>> = OnceLock::new();
    CODEC
        .get_or_init(|| {
            let ack = hex::decode(ACK2_HEX).ok()?;
            let transcript = Transcript {
                initiator_nonce: &NONCE_A,
                recipient_nonce: &NONCE_B,
                auth: &[],
                ack: &ack,
            };
            let secrets =
                Secrets::from_ephemeral_shared(Role::Initiator, &EPHEMERAL_SHARED, &transcript);
            Some(FrameCodec::new(secrets))
        })
        .clone()
}

/// Feeds `data` to a frame decoder with fixed session secrets, in one piece and split in two,
/// and parses the message code of every frame that decodes.
pub fn decode_frames(data: &[u8]) {
    let Some(template) = vector_codec() else {
        return;
    };
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    for pieces in [[data, &[][..]], [&data[..split], &data[split..]]] {
        let mut codec = template.clone();
        let mut buf = BytesMut::new();
        'pieces: for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        let _ = decode_message_code(&frame);
                    }
                    Ok(None) => break,
                    Err(_) => break 'pieces,
                }
            }
        }
    }
    let _ = decode_message_code(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_codec_decodes_the_seed_frames() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fuzz/corpus/rlpx_frame/b_to_a_hello_ping"
        );
        let mut buf = BytesMut::from(&std::fs::read(path).unwrap()[..]);
        let mut codec = vector_codec().unwrap();
        let hello = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(decode_message_code(&hello).unwrap().0, 0);
        let ping = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&ping[..], &[0x02, 0x01, 0x00, 0xc0]);
        assert!(buf.is_empty());
    }
}
