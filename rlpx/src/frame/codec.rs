//! `tokio_util::codec` framing of an authenticated RLPx session.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{
    cipher::{padded, FrameCipher, HEADER_LEN, MAC_LEN, MAX_FRAME_SIZE},
    error::FrameError,
    mac::MacKeccak,
};
use crate::ecies::Secrets;

#[derive(Debug, Clone, Copy)]
enum ReadState {
    /// Waiting for the 32 bytes of header ciphertext and header MAC.
    Header,
    /// Header verified; waiting for the padded body and frame MAC of a `size`-byte frame.
    Body { size: usize },
    /// A MAC or size check failed: the ingress state is lost for good.
    Failed,
}

/// Encodes frame contents into RLPx frames and decodes RLPx frames back into their contents
/// (`RLP(message code) || payload`), one frame per message.
///
/// The decoder verifies each MAC before decrypting, and reserves buffer space for a body only
/// after its header MAC verified and its size passed the limit.
#[derive(Clone)]
pub struct FrameCodec {
    cipher: FrameCipher<MacKeccak>,
    state: ReadState,
    max_frame_size: usize,
    /// A lower limit for the next incoming frame only (e.g. the Hello's).
    next_frame_limit: Option<usize>,
}

impl std::fmt::Debug for FrameCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameCodec")
            .field("state", &self.state)
            .field("max_frame_size", &self.max_frame_size)
            .field("next_frame_limit", &self.next_frame_limit)
            .finish_non_exhaustive()
    }
}

impl FrameCodec {
    /// A codec for the session whose secrets the handshake derived.
    pub fn new(secrets: Secrets) -> Self {
        let Secrets {
            aes_secret,
            mac_secret,
            egress_mac,
            ingress_mac,
        } = secrets;
        Self {
            cipher: FrameCipher::new(
                &aes_secret,
                &mac_secret,
                egress_mac.into_hash(),
                ingress_mac.into_hash(),
            ),
            state: ReadState::Header,
            max_frame_size: MAX_FRAME_SIZE,
            next_frame_limit: None,
        }
    }

    /// Largest incoming frame accepted (default and ceiling: [`MAX_FRAME_SIZE`]).
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Lowers (or restores) the largest incoming frame accepted; capped at [`MAX_FRAME_SIZE`].
    pub fn set_max_frame_size(&mut self, max: usize) {
        self.max_frame_size = max.min(MAX_FRAME_SIZE);
    }

    /// Lowers the limit for the next incoming frame only (its header is refused if it
    /// announces more, before any of its body is read or buffered); later frames get
    /// [`Self::max_frame_size`] again. Used for the first frame of a session, the Hello.
    pub fn limit_next_frame(&mut self, max: usize) {
        self.next_frame_limit = Some(max);
    }

    /// Appends one frame carrying `content` (`RLP(code) || payload`) to `dst`.
    pub fn encode_frame(&mut self, content: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        self.cipher.encode(content, dst)
    }

    /// Appends a frame with an arbitrary plaintext `header` and unpadded `body`, both sealed
    /// with valid MACs by the egress side (fuzzing only; see `FrameCipher::seal_raw`).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn seal_raw(&mut self, header: [u8; 16], body: &[u8], dst: &mut BytesMut) {
        self.cipher.seal_raw(header, body, dst);
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        loop {
            match self.state {
                ReadState::Failed => return Err(FrameError::Poisoned),
                ReadState::Header => {
                    let Some(header) = src.get(..HEADER_LEN) else {
                        return Ok(None);
                    };
                    let mut header_bytes = [0u8; HEADER_LEN];
                    header_bytes.copy_from_slice(header);
                    self.state = ReadState::Failed;
                    let size = self.cipher.decode_header(&header_bytes)?;
                    let max = match self.next_frame_limit.take() {
                        Some(limit) => limit.min(self.max_frame_size),
                        None => self.max_frame_size,
                    };
                    if size > max {
                        return Err(FrameError::FrameTooLarge { size, max });
                    }
                    src.advance(HEADER_LEN);
                    self.state = ReadState::Body { size };
                }
                ReadState::Body { size } => {
                    let needed = padded(size) + MAC_LEN;
                    if src.len() < needed {
                        src.reserve(needed - src.len());
                        return Ok(None);
                    }
                    let mut frame = src.split_to(needed);
                    self.state = ReadState::Failed;
                    self.cipher.decode_body(&mut frame)?;
                    frame.truncate(size);
                    self.state = ReadState::Header;
                    return Ok(Some(frame));
                }
            }
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, content: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.cipher.encode(&content, dst)
    }
}
