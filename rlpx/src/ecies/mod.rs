//! ECIES (EIP-8) handshake: auth/ack messages, key agreement and session secrets.
//!
//! [`initiate`] and [`respond`] run the handshake over any async byte stream and return the
//! proven remote key and the session [`Secrets`], from which the frame layer keys its codec.
//! The pure pieces underneath ([`Initiator`],
//! [`ReceivedAuth`], [`ReceivedAck`], [`Secrets`]) take every random input explicitly, so the
//! EIP-8 vectors can be checked byte for byte.

mod envelope;
mod error;
mod exchange;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod lenient;
mod messages;
mod secrets;

pub use envelope::{
    decrypt as ecies_decrypt, encrypt_into as ecies_encrypt_into, EciesRandomness, ECIES_OVERHEAD,
};
pub use error::HandshakeError;
pub use exchange::{initiate, respond, HandshakeConfig, DEFAULT_HANDSHAKE_TIMEOUT};
pub use handshake::{Initiator, ReceivedAck, ReceivedAuth, Session};
pub use lenient::LenientList;
pub use messages::{
    open_message, seal_eip8, seal_legacy, AckBody, AuthBody, WireFormat, HANDSHAKE_VERSION,
    LEGACY_ACK_LEN, LEGACY_AUTH_LEN, MAX_HANDSHAKE_BODY, PADDING_RANGE,
};
pub use secrets::{MacState, Role, Secrets, Transcript};
