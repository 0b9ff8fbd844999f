//! ECIES (EIP-8) handshake: auth/ack messages, key agreement and session secrets.
//!
//! [`UnauthedRlpx`] runs the handshake over any async byte stream and yields an
//! authenticated [`crate::frame::RlpxStream`]. The pure pieces underneath ([`Initiator`],
//! [`ReceivedAuth`], [`ReceivedAck`], [`Secrets`]) take every random input explicitly, so the
//! EIP-8 vectors can be checked byte for byte.

mod envelope;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod io;
mod lenient;
mod messages;
mod secrets;

pub use envelope::{
    decrypt as ecies_decrypt, encrypt_into as ecies_encrypt_into, EciesRandomness, ECIES_OVERHEAD,
};
pub use error::HandshakeError;
pub use handshake::{Initiator, ReceivedAck, ReceivedAuth, Session};
pub use io::{
    handshake_initiator, handshake_recipient, HandshakeConfig, UnauthedRlpx,
    DEFAULT_HANDSHAKE_TIMEOUT,
};
pub use lenient::LenientList;
pub use messages::{
    open_message, seal_eip8, seal_legacy, AckBody, AuthBody, WireFormat, HANDSHAKE_VERSION,
    LEGACY_ACK_LEN, LEGACY_AUTH_LEN, MAX_HANDSHAKE_BODY, PADDING_RANGE,
};
pub use secrets::{Role, Secrets, Transcript};
