//! The p2p base protocol: Hello, Disconnect, Ping/Pong, snappy and capability multiplexing.
//!
//! Entry point: [`UnauthedP2p::new`] over an authenticated RLPx message stream (one item per
//! frame: RLP message code ‖ payload), then [`UnauthedP2p::handshake`] exchanges Hellos and
//! negotiates capabilities. The resulting [`P2pConnection`] runs the session in one tokio task
//! (reads, writes, pings, idle timeout) and hands each shared capability a [`ProtocolHandle`].

mod capability;
mod disconnect;
mod error;
mod hello;
mod mux;
mod ping;
mod snappy;
mod stream;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use capability::{Protocol, SharedCapabilities, SharedCapability};
pub use disconnect::{decode_disconnect, encode_disconnect, DisconnectReason};
pub use error::{P2pError, SessionEnd};
pub use hello::{Capability, Hello};
pub use mux::{P2pConnection, ProtocolHandle, OUTBOUND_QUEUE_CAPACITY, PROTOCOL_INBOUND_CAPACITY};
pub use ping::{IDLE_TIMEOUT, PING_INTERVAL};
pub use snappy::{SnappyCodec, MAX_MESSAGE_SIZE};
pub(crate) use stream::{drain_until_closed, send_disconnect_and_close, MessageCodec};
pub use stream::{UnauthedP2p, DISCONNECT_WRITE_TIMEOUT, HELLO_TIMEOUT};

/// Version of the p2p base protocol this implementation speaks (snappy from version 5 on).
pub const P2P_PROTOCOL_VERSION: u64 = 5;

/// Message ids `0x00..=0x0f` belong to the base protocol; capabilities start at this offset.
pub const BASE_PROTOCOL_LENGTH: u64 = 0x10;

/// Largest Hello payload accepted (geth's `baseProtocolMaxMsgSize`).
pub const MAX_HELLO_SIZE: usize = 2 * 1024;

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

/// What this layer runs over: an authenticated RLPx stream ([`crate::frame::RlpxStream`], or
/// an in-memory stand-in in tests) with one item per frame, carrying the RLP-encoded message
/// code followed by the payload, and failing with the frame layer's typed error.
pub trait MessageStream:
    futures::Stream<Item = Result<bytes::BytesMut, crate::frame::FrameError>>
    + futures::Sink<bytes::Bytes, Error = crate::frame::FrameError>
    + Unpin
    + Send
    + 'static
{
}

impl<S> MessageStream for S where
    S: futures::Stream<Item = Result<bytes::BytesMut, crate::frame::FrameError>>
        + futures::Sink<bytes::Bytes, Error = crate::frame::FrameError>
        + Unpin
        + Send
        + 'static
{
}
