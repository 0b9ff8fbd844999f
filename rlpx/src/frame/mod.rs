//! RLPx framing: AES-256-CTR + keccak MAC frame codec and the authenticated stream.
//!
//! [`UnauthedRlpx`] runs the [`crate::ecies`] handshake over a byte stream and keys a
//! [`FrameCodec`] with the secrets it derived, giving an [`RlpxStream`].
//!
//! A frame is `header-ct(16) || header-mac(16) || body-ct(padded to 16) || body-mac(16)`;
//! its content is `RLP(message code) || payload` (see [`encode_message`] and
//! [`decode_message_code`]).

mod cipher;
mod codec;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod mac;
mod message;
mod stream;
mod unauthed;

pub use cipher::MAX_FRAME_SIZE;
pub use codec::FrameCodec;
pub use error::FrameError;
pub use message::{decode_message_code, encode_message};
pub use stream::RlpxStream;
pub use unauthed::UnauthedRlpx;
