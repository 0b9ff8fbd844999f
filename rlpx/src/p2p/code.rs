//! The message-code prefix of a frame: the code as an RLP integer (code 0 is `0x80`).

use bytes::{BufMut, Bytes, BytesMut};

use super::error::P2pError;

/// Builds one frame body: RLP(code) ‖ payload.
pub(crate) fn encode_message(code: u64, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(9 + payload.len());
    alloy_rlp::Encodable::encode(&code, &mut out);
    out.put_slice(payload);
    out.freeze()
}

/// Splits one frame body into its message code and payload.
pub(crate) fn split_message(mut frame: BytesMut) -> Result<(u64, BytesMut), P2pError> {
    let mut view: &[u8] = &frame;
    let code = <u64 as alloy_rlp::Decodable>::decode(&mut view)
        .map_err(|e| P2pError::InvalidMessageCodePrefix(e.to_string()))?;
    let prefix_len = frame.len() - view.len();
    let payload = frame.split_off(prefix_len);
    Ok((code, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_zero_is_empty_string() {
        assert_eq!(&encode_message(0, b"xy")[..], &[0x80, b'x', b'y']);
        assert_eq!(&encode_message(0x10, b"")[..], &[0x10]);
        assert_eq!(&encode_message(0x80, b"")[..], &[0x81, 0x80]);
    }

    #[test]
    fn split_round_trip() {
        for code in [0u64, 1, 0x0f, 0x7f, 0x80, 0x1234, u64::MAX] {
            let frame = BytesMut::from(&encode_message(code, b"payload")[..]);
            let (c, p) = split_message(frame).unwrap();
            assert_eq!(c, code);
            assert_eq!(&p[..], b"payload");
        }
    }

    #[test]
    fn bad_prefix_rejected() {
        assert!(split_message(BytesMut::new()).is_err());
        assert!(split_message(BytesMut::from(&[0xc0u8][..])).is_err());
        assert!(split_message(BytesMut::from(&[0x00u8][..])).is_err());
        assert!(split_message(BytesMut::from(&[0x82u8, 0x00, 0x01][..])).is_err());
    }
}
