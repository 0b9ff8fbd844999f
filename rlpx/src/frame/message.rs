//! Frame content: `RLP(message code) || payload`.

use alloy_rlp::{Decodable, Encodable};
use bytes::{BufMut, Bytes, BytesMut};

use super::error::FrameError;

/// Builds a frame's content from a message code and its (already encoded) payload.
pub fn encode_message(code: u64, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(code.length() + payload.len());
    code.encode(&mut out);
    out.put_slice(payload);
    out.freeze()
}

/// Splits a frame's content into its message code and the payload after it. The code must be
/// a canonical RLP integer (code 0 is `0x80`).
pub fn decode_message_code(content: &[u8]) -> Result<(u64, &[u8]), FrameError> {
    let mut rest = content;
    let code = u64::decode(&mut rest).map_err(FrameError::InvalidMessageCode)?;
    Ok((code, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_with_canonical_encoding() {
        assert_eq!(&encode_message(0, b"\xc0")[..], b"\x80\xc0");
        assert_eq!(&encode_message(2, b"")[..], b"\x02");
        assert_eq!(&encode_message(0x10, b"x")[..], b"\x10x");
        assert_eq!(&encode_message(0x80, b"")[..], b"\x81\x80");
        for code in [0, 1, 0x0f, 0x10, 0x7f, 0x80, 0xff, 0x1234, u64::MAX] {
            let content = encode_message(code, b"payload");
            assert_eq!(
                decode_message_code(&content).unwrap(),
                (code, &b"payload"[..])
            );
        }
    }

    #[test]
    fn bad_codes_are_errors() {
        assert!(decode_message_code(b"").is_err());
        assert!(decode_message_code(b"\x00").is_err()); // non-canonical zero
        assert!(decode_message_code(b"\x81\x05").is_err()); // non-canonical single byte
        assert!(decode_message_code(b"\xc0").is_err()); // a list
        assert!(decode_message_code(b"\x82\x01").is_err()); // truncated
    }
}
