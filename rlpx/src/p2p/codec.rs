//! What the p2p layer puts in a frame: the message ids of the base protocol, and the
//! per-connection [`MessageCodec`] (code prefix, and snappy once both Hellos allow it).

use bytes::{Bytes, BytesMut};

use super::{
    disconnect::{decode_disconnect, DisconnectReason},
    error::P2pError,
    snappy::{SnappyCodec, MAX_MESSAGE_SIZE},
};
use crate::frame::{decode_message_code, encode_message};

/// Base protocol message codes.
pub mod message_id {
    /// Hello: the first message of each side.
    pub const HELLO: u64 = 0x00;
    /// Disconnect with a reason.
    pub const DISCONNECT: u64 = 0x01;
    /// Liveness ping.
    pub const PING: u64 = 0x02;
    /// Answer to a ping.
    pub const PONG: u64 = 0x03;
}

/// Turns messages into frames and back: code prefix, and snappy once it is switched on.
#[derive(Debug, Default)]
pub(crate) struct MessageCodec {
    snappy: Option<SnappyCodec>,
}

impl MessageCodec {
    pub(crate) fn enable_snappy(&mut self) {
        self.snappy = Some(SnappyCodec::new());
    }

    /// Encodes one message into a frame body, compressing the payload if snappy is on.
    pub(crate) fn encode(&mut self, code: u64, payload: &[u8]) -> Result<Bytes, P2pError> {
        let frame = match self.snappy.as_mut() {
            Some(snappy) => {
                let compressed =
                    snappy
                        .compress(payload)
                        .map_err(|_| P2pError::MessageTooLarge {
                            size: payload.len(),
                        })?;
                encode_message(code, &compressed)
            }
            None => {
                if payload.len() > MAX_MESSAGE_SIZE {
                    return Err(P2pError::MessageTooLarge {
                        size: payload.len(),
                    });
                }
                encode_message(code, payload)
            }
        };
        if frame.len() > MAX_MESSAGE_SIZE {
            return Err(P2pError::MessageTooLarge { size: frame.len() });
        }
        Ok(frame)
    }

    /// Decompresses a payload if snappy is on.
    pub(crate) fn decode_payload(&mut self, payload: BytesMut) -> Result<Bytes, P2pError> {
        match self.snappy.as_mut() {
            Some(snappy) => Ok(snappy.decompress(&payload)?),
            None => Ok(payload.freeze()),
        }
    }

    /// Decodes a Disconnect payload in any of its forms (see [`decode_disconnect`]).
    pub(crate) fn decode_disconnect(&mut self, payload: &[u8]) -> DisconnectReason {
        decode_disconnect(payload, self.snappy.as_mut()).unwrap_or(DisconnectReason::UNDECODABLE)
    }
}

/// Splits one frame's content into its message code and payload (the frame layer's code
/// prefix, kept as `BytesMut` so the payload is not copied).
pub(crate) fn split_message(mut frame: BytesMut) -> Result<(u64, BytesMut), P2pError> {
    let (code, payload_len) =
        decode_message_code(&frame).map(|(code, payload)| (code, payload.len()))?;
    let payload = frame.split_off(frame.len() - payload_len);
    Ok((code, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameError;

    #[test]
    fn split_message_keeps_code_and_payload() {
        for code in [0u64, 1, 0x0f, 0x7f, 0x80, 0x1234, u64::MAX] {
            let frame = BytesMut::from(&encode_message(code, b"payload")[..]);
            let (c, p) = split_message(frame).unwrap();
            assert_eq!((c, &p[..]), (code, &b"payload"[..]));
        }
        let (c, p) = split_message(BytesMut::from(&[0x80u8][..])).unwrap();
        assert_eq!((c, p.len()), (0, 0));
    }

    #[test]
    fn split_message_rejects_bad_prefixes() {
        for bad in [
            &[][..],
            &[0xc0],
            &[0x00],
            &[0x81, 0x05],
            &[0x82, 0x00, 0x01],
        ] {
            let err = split_message(BytesMut::from(bad)).unwrap_err();
            assert!(
                matches!(err, P2pError::Frame(FrameError::InvalidMessageCode(_))),
                "{bad:02x?}: {err}"
            );
        }
    }
}
