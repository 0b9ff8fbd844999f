//! `rlpx_sealed_frame`: frames sealed with valid MACs, so the fuzzer gets past the header MAC.
//!
//! The input is read as a small configuration (frame limits, how the stream is fed) followed
//! by a sequence of pieces, each a header size field and a body. Every piece is sealed by the
//! egress side of one end of a fixed session, the resulting byte stream is fed to the other
//! end's decoder, and what comes out is compared with a model of what must come out:
//!
//! - every frame sealed from a valid size (body length = padded size, size within the limit)
//!   before the first bad piece decodes to exactly its content, in order;
//! - a header announcing more than the limit is refused with `FrameTooLarge` carrying the
//!   announced size and the limit, and nothing is buffered or reserved for its body;
//! - a flipped bit is caught by the header MAC or the frame MAC;
//! - after any error the decoder stays poisoned;
//! - the decoder's buffer never grows beyond what the fed bytes plus one frame of the limit
//!   need.

use std::sync::OnceLock;

use bytes::BytesMut;
use secp256k1::SecretKey;
use tokio_util::codec::Decoder;

use crate::{
    ecies::{EciesRandomness, Initiator, ReceivedAuth},
    frame::{
        cipher::{padded, HEADER_LEN, MAC_LEN, MAX_FRAME_SIZE},
        codec::FrameCodec,
        error::FrameError,
    },
};

/// The two ends of a session keyed by a real handshake with fixed keys and randomness:
/// `(initiator, recipient)`. The initiator seals, the recipient decodes.
fn session_pair() -> Option<(FrameCodec, FrameCodec)> {
    static PAIR: OnceLock<Option<(FrameCodec, FrameCodec)>> = OnceLock::new();
    PAIR.get_or_init(|| {
        let key = |byte: u8| SecretKey::from_slice(&[byte; 32]).ok();
        let initiator_key = enode::NodeKey::from(key(0x11)?);
        let recipient_key = enode::NodeKey::from(key(0x22)?);
        let initiator = Initiator::with_parameters(
            &initiator_key,
            recipient_key.public_key(),
            key(0x33)?,
            [0x44; 32],
            &EciesRandomness {
                key: key(0x55)?,
                iv: [0x66; 16],
            },
            &[0x77; 100],
        );
        let auth =
            ReceivedAuth::decode(recipient_key.secret_key(), initiator.auth_message()).ok()?;
        let (ack, recipient) = auth.respond_with(
            key(0x88)?,
            [0x99; 32],
            &EciesRandomness {
                key: key(0xaa)?,
                iv: [0xbb; 16],
            },
            &[0xcc; 100],
        );
        let initiator = initiator.read_ack(&initiator_key, &ack).ok()?;
        Some((
            FrameCodec::new(initiator.secrets),
            FrameCodec::new(recipient.secrets),
        ))
    })
    .clone()
}

/// Reads the fuzz input front to back; missing bytes read as zero.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        first
    }

    fn u16(&mut self) -> usize {
        usize::from(self.byte()) | usize::from(self.byte()) << 8
    }

    fn u24(&mut self) -> usize {
        self.u16() | usize::from(self.byte()) << 16
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the decoder must do at the first piece that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Refuse it with exactly this error.
    TooLarge { size: usize, max: usize },
    /// A flipped bit in the header or its MAC.
    HeaderMac,
    /// A flipped bit in the body or its MAC of an otherwise valid frame.
    FrameMac,
    /// Body length and size field disagree: an error, or waiting for bytes that never come.
    Anything,
}

/// The plaintext header of a frame of `size` bytes with the given header-data.
fn header(size: usize, data: &[u8]) -> [u8; 16] {
    let mut header = [0u8; 16];
    header[..3].copy_from_slice(&(size as u32 & 0x00ff_ffff).to_be_bytes()[1..]);
    header[3..3 + data.len().min(13)].copy_from_slice(&data[..data.len().min(13)]);
    header
}

/// Seals the pieces of `data` and checks what a decoder makes of them (see the module docs).
/// Returns how many frames decoded back to what was sealed.
pub fn decode_sealed_frames(data: &[u8]) -> usize {
    let Some((mut sender, mut receiver)) = session_pair() else {
        return 0;
    };
    let mut input = Input(data);
    let max = input.u16();
    receiver.set_max_frame_size(max);
    let first_limit = match input.byte() {
        0 => None,
        n => Some(usize::from(n) * 8),
    };
    if let Some(limit) = first_limit {
        receiver.limit_next_frame(limit);
    }
    let chunk = usize::from(input.byte()).max(1) * 7;

    // Seal the pieces, recording the frames that must come out and where the decoder stops.
    let mut stream = BytesMut::new();
    let mut expected: Vec<Vec<u8>> = Vec::new();
    let mut stop = None;
    while stop.is_none() && !input.is_empty() {
        let limit = match (expected.is_empty(), first_limit) {
            (true, Some(first)) => first.min(max),
            _ => max,
        };
        let tag = input.byte();
        let start = stream.len();
        // (announced size, content it must decode to if the frame is well formed)
        let (size, content): (usize, Option<Vec<u8>>) = match tag & 0x03 {
            // An honest frame through the public encoder.
            0 => {
                let n = input.u16() & 0x1fff;
                let content = input.take(n).to_vec();
                if sender.encode_frame(&content, &mut stream).is_err() {
                    return 0;
                }
                (content.len(), Some(content))
            }
            // Any size field and any body length, header-data from the input.
            1 => {
                let size = input.u24();
                let header_len = usize::from(input.byte() % 14);
                let header_data = input.take(header_len);
                let body_len = input.u16() & 0x1fff;
                let body = input.take(body_len);
                sender.seal_raw(header(size, header_data), body, &mut stream);
                let valid = body.len() == padded(size);
                (size, valid.then(|| body[..size].to_vec()))
            }
            // A zero-filled honest frame of a size just around the limit.
            2 => {
                let delta = isize::from(input.byte() as i8);
                let size = limit.saturating_add_signed(delta).min(MAX_FRAME_SIZE);
                let mut content = vec![0u8; size];
                let filler = input.take(size);
                content[..filler.len()].copy_from_slice(filler);
                if sender.encode_frame(&content, &mut stream).is_err() {
                    return 0;
                }
                (size, Some(content))
            }
            // A well-formed frame with non-zero padding and arbitrary header-data.
            _ => {
                let size = usize::from(input.byte());
                let header_data = input.take(13);
                let mut body = input.take(padded(size)).to_vec();
                body.resize(padded(size), 0xa5);
                sender.seal_raw(header(size, header_data), &body, &mut stream);
                body.truncate(size);
                (size, Some(body))
            }
        };
        let sealed_len = stream.len() - start;
        let flip = tag & 0x80 != 0;
        if flip {
            let at = input.u16() % sealed_len.max(1);
            if let Some(byte) = stream.get_mut(start + at) {
                *byte ^= 1 << (tag >> 4 & 0x07);
            }
            if at < HEADER_LEN {
                stop = Some(Stop::HeaderMac);
                break;
            }
        }
        stop = match content {
            _ if size > limit => Some(Stop::TooLarge { size, max: limit }),
            None => Some(Stop::Anything),
            Some(_) if flip => Some(Stop::FrameMac),
            Some(content) => {
                expected.push(content);
                None
            }
        };
    }

    // Feed the stream in chunks and compare what decodes with the model.
    let total = stream.len();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut decoded = 0;
    let mut error = None;
    // The most the decoder may ask the buffer to hold: every byte fed plus one frame.
    let frame_room = padded(max) + HEADER_LEN + MAC_LEN;
    'feed: for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            let len_before = buf.len();
            let cap_before = buf.capacity();
            let result = receiver.decode(&mut buf);
            // A buffer reallocates only when asked for more than it holds, and then to at
            // most twice the request, which is at most `fed + frame_room`.
            assert!(buf.capacity() <= cap_before.max(2 * (fed + frame_room)));
            match result {
                Ok(Some(frame)) => {
                    assert_eq!(
                        expected.get(decoded).map(Vec::as_slice),
                        Some(&frame[..]),
                        "frame {decoded} decoded to other bytes than were sealed"
                    );
                    decoded += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    if let FrameError::FrameTooLarge { .. } = e {
                        // Refused from the header alone: nothing consumed, nothing reserved.
                        assert_eq!(buf.len(), len_before);
                        assert_eq!(buf.capacity(), cap_before);
                    }
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(
        decoded,
        expected.len(),
        "a sealed valid frame did not decode"
    );
    match (stop, &error) {
        (None, None) => assert!(buf.is_empty() && fed == total),
        (None, Some(e)) => panic!("error {e} on a stream of valid frames"),
        (
            Some(Stop::TooLarge { size, max }),
            Some(FrameError::FrameTooLarge { size: s, max: m }),
        ) => {
            assert_eq!((size, max), (*s, *m));
        }
        (Some(Stop::HeaderMac), Some(FrameError::HeaderMacMismatch))
        | (Some(Stop::FrameMac), Some(FrameError::FrameMacMismatch))
        | (Some(Stop::Anything), _) => {}
        (Some(stop), error) => panic!("expected {stop:?}, got {error:?}"),
    }
    if error.is_some() {
        assert!(matches!(
            receiver.decode(&mut buf),
            Err(FrameError::Poisoned)
        ));
    }
    decoded
}
