//! The p2p base protocol: Hello, Disconnect, Ping/Pong, snappy and capability multiplexing.
//!
//! Entry point: [`UnauthedP2p::new`] over an authenticated RLPx message stream (one item per
//! frame: RLP message code ‖ payload), then [`UnauthedP2p::handshake`] exchanges Hellos and
//! negotiates capabilities. The resulting [`P2pConnection`] runs the session in one tokio task
//! (reads, writes, pings, idle timeout) and hands each shared capability a [`ProtocolHandle`].
//!
//! # What one connection may buffer
//!
//! Both directions are bounded in messages and in bytes, whatever the peer does:
//!
//! - inbound: at most [`PROTOCOL_INBOUND_CAPACITY`] messages per capability and
//!   [`INBOUND_BUFFER_LIMIT`] bytes of payloads across all capabilities (a single larger
//!   message passes alone) wait for the protocols; one more message waits for room while the
//!   task stops reading; the frame being read is at most 16 MiB, and its header is checked
//!   before its body is buffered (the session layer lowers that to about 2 KiB for the
//!   first frame, the Hello);
//! - outbound: at most [`OUTBOUND_QUEUE_CAPACITY`] messages and [`OUTBOUND_BUFFER_LIMIT`]
//!   bytes of payloads queued by the protocols (a single larger message passes alone;
//!   [`ProtocolHandle::send`] waits while the budget is used up), plus the message being
//!   written and one encoded behind it, plus a few small base-protocol frames (pongs, pings):
//!   reading pauses while those pile up, so a peer that sends but never reads stalls itself,
//!   and a writer that makes no progress for [`WRITE_TIMEOUT`] ends the session;
//! - pings: answered at once up to [`PONG_BURST`], then one per
//!   [`PONG_REFILL_INTERVAL`]; a faster peer is not read from until its Pong is due.
//!
//! Files, bottom up (each imports only files before it): `snappy`, `ping` (timers, Pong rate),
//! `budget` (byte budgets of the queues) and `capability` import no sibling; then
//! `disconnect`, `error`, `hello`, `codec` (message ids, code prefix, snappy on or off),
//! `transport` (what the layer runs over, the write timeouts, the Disconnect
//! write-and-drain), `task` (the session task), `mux` (the connection and protocol handles,
//! which spawn the task) and `handshake` (the Hello exchange, which starts the session).

mod budget;
mod capability;
mod codec;
mod disconnect;
mod error;
mod handshake;
mod hello;
mod mux;
mod ping;
mod snappy;
mod task;
mod transport;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use capability::{
    Capability, Protocol, SharedCapabilities, SharedCapability, BASE_PROTOCOL_LENGTH,
};
pub use codec::message_id;
pub(crate) use codec::MessageCodec;
pub use disconnect::{decode_disconnect, encode_disconnect, DisconnectReason};
pub use error::{P2pError, SessionEnd};
pub use handshake::{UnauthedP2p, HELLO_TIMEOUT};
pub use hello::{Hello, MAX_HELLO_SIZE, P2P_PROTOCOL_VERSION};
pub use mux::{
    P2pConnection, ProtocolHandle, INBOUND_BUFFER_LIMIT, OUTBOUND_BUFFER_LIMIT,
    OUTBOUND_QUEUE_CAPACITY, PROTOCOL_INBOUND_CAPACITY,
};
pub use ping::{IDLE_TIMEOUT, PING_INTERVAL, PONG_BURST, PONG_REFILL_INTERVAL};
pub use snappy::{SnappyCodec, SnappyError, MAX_MESSAGE_SIZE};
pub(crate) use transport::{drain_until_closed, send_disconnect_and_close};
pub use transport::{MessageStream, DISCONNECT_WRITE_TIMEOUT, WRITE_TIMEOUT};
