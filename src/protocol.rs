//! The application's side of a peer: a [`Protocol`] names a capability (name, version,
//! message count) and runs one loop per peer that shares it, as go-ethereum's
//! `p2p.Protocol{Run}` does. The loop receives the peer's [`PeerInfo`] and a
//! [`ProtocolConn`] that sends and receives the capability's messages (codes relative to the
//! capability); it ends the peer by returning.
//!
//! ```
//! use std::{future::Future, pin::Pin};
//!
//! use bytes::Bytes;
//! use kadnode::{PeerInfo, Protocol, ProtocolConn, ProtocolError, ProtocolSpec};
//!
//! /// `echo/1`: message 0 is a request, answered by message 1 with the same payload.
//! struct Echo;
//!
//! impl Protocol for Echo {
//!     fn spec(&self) -> ProtocolSpec {
//!         ProtocolSpec::new("echo", 1, 2)
//!     }
//!
//!     fn run(
//!         &self,
//!         _peer: PeerInfo,
//!         mut conn: ProtocolConn,
//!     ) -> Pin<Box<dyn Future<Output = Result<(), ProtocolError>> + Send>> {
//!         Box::pin(async move {
//!             loop {
//!                 let (code, payload) = conn.recv().await?;
//!                 match code {
//!                     0 => conn.send(1, payload).await?,
//!                     1 => {}
//!                     other => return Err(ProtocolError::BadMessage(format!("code {other}"))),
//!                 }
//!             }
//!         })
//!     }
//! }
//! ```

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::SystemTime,
};

use bytes::Bytes;
use enode::PeerId;
use rlpx::{
    p2p::{Capability, DisconnectReason, ProtocolHandle, SessionEnd},
    verdict::{HasVerdict, Verdict},
};

/// A capability's name, version and number of message codes (e.g. `eth`, 68, 17).
pub type ProtocolSpec = rlpx::p2p::Protocol;

/// What a protocol's run loop returns when it fails.
pub type ProtocolFuture = Pin<Box<dyn Future<Output = Result<(), ProtocolError>> + Send>>;

/// A capability the application runs on every peer that shares it.
pub trait Protocol: Send + Sync + 'static {
    /// The capability: name, version and how many message codes it uses.
    fn spec(&self) -> ProtocolSpec;

    /// Runs the protocol with one peer until it returns. `Ok(())` ends the peer with
    /// Disconnect 0x08 (client quitting), an error with the reason of
    /// [`ProtocolError::disconnect_reason`]; either way the dial scheduler learns the error's
    /// [`Verdict`].
    fn run(&self, peer: PeerInfo, conn: ProtocolConn) -> ProtocolFuture;
}

/// Which side opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The remote dialed us.
    Inbound,
    /// We dialed the remote.
    Outbound,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        })
    }
}

/// Byte counters of one capability on one peer (payload bytes after decompression).
#[derive(Debug, Default)]
pub struct Traffic {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl Traffic {
    /// Payload bytes received.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    /// Payload bytes sent.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }
}

/// Everything known about a connected peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The peer's identity, proven by the RLPx handshake.
    pub id: PeerId,
    /// The client name from its Hello.
    pub client_id: String,
    /// The capabilities it announced.
    pub capabilities: Vec<Capability>,
    /// The capabilities both sides run, as name/version.
    pub shared: Vec<Capability>,
    /// The TCP address of the connection.
    pub remote_addr: SocketAddr,
    /// Who dialed this connection.
    pub direction: Direction,
    /// The peer limit it counts against: [`Direction::Outbound`] for a peer we chose to dial
    /// (a dialed slot), [`Direction::Inbound`] otherwise. The same as `direction` unless two
    /// simultaneous dials met and the node kept the other side's connection: the peer then
    /// keeps the slot it first took, so the swap cannot push either count over its limit.
    pub slot: Direction,
    /// A static peer of ours (redialed after every disconnect).
    pub is_static: bool,
    /// A trusted peer (admitted above the peer limits).
    pub is_trusted: bool,
    /// When the session was established.
    pub connected_since: SystemTime,
    /// Payload traffic per shared capability, in [`Self::shared`] order.
    pub traffic: Arc<[Arc<Traffic>]>,
}

impl PeerInfo {
    /// Payload bytes received on every capability.
    pub fn bytes_in(&self) -> u64 {
        self.traffic.iter().map(|t| t.bytes_in()).sum()
    }

    /// Payload bytes sent on every capability.
    pub fn bytes_out(&self) -> u64 {
        self.traffic.iter().map(|t| t.bytes_out()).sum()
    }
}

/// One capability's messages with one peer. Codes are relative to the capability (0 is its
/// first message).
#[derive(Debug)]
pub struct ProtocolConn {
    handle: ProtocolHandle,
    traffic: Arc<Traffic>,
}

impl ProtocolConn {
    pub(crate) fn new(handle: ProtocolHandle, traffic: Arc<Traffic>) -> Self {
        Self { handle, traffic }
    }

    /// The next message. Fails with [`ProtocolError::Session`] once the session has ended
    /// (the remote left, the network failed, or the node disconnected the peer).
    pub async fn recv(&mut self) -> Result<(u64, Bytes), ProtocolError> {
        match self.handle.recv().await {
            Some((code, payload)) => {
                self.traffic
                    .bytes_in
                    .fetch_add(payload.len() as u64, Ordering::Relaxed);
                Ok((code, payload))
            }
            None => Err(ProtocolError::Session(self.handle.closed().await)),
        }
    }

    /// Queues a message, waiting while the session's bounded outbound queue is full. A code
    /// outside the capability is our bug and fails without sending.
    pub async fn send(&self, code: u64, payload: Bytes) -> Result<(), ProtocolError> {
        let len = payload.len() as u64;
        match self.handle.send(code, payload).await {
            Ok(()) => {
                self.traffic.bytes_out.fetch_add(len, Ordering::Relaxed);
                Ok(())
            }
            Err(rlpx::p2p::P2pError::SessionClosed(end)) => Err(ProtocolError::Session(end)),
            Err(other) => Err(ProtocolError::Local(other.to_string())),
        }
    }
}

impl ProtocolConn {
    /// Ends the session with `reason` after every message queued before it (by any
    /// capability) has been written: unlike returning from the run loop, whose Disconnect
    /// overtakes queued messages, the last answer is never lost. Waits until the session has
    /// ended and returns why (for the run loop to return as [`ProtocolError::Session`]).
    pub async fn disconnect_after_sent(&self, reason: DisconnectReason) -> SessionEnd {
        // Queued or not (the session may already be over), the end is what we wait for.
        let _ = self.handle.disconnect_after_queued(reason).await;
        self.handle.closed().await
    }
}

/// Why a protocol's run loop ended the peer. The variant decides the Disconnect reason sent
/// and the verdict the dial scheduler learns.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The peer sent a message code or payload the protocol does not accept: Disconnect 0x02
    /// (breach of protocol); the peer misbehaved.
    #[error("bad message: {0}")]
    BadMessage(String),
    /// The peer is on another network or chain (e.g. an `eth` Status with another genesis or
    /// fork id): Disconnect 0x10; never worth redialing.
    #[error("incompatible peer: {0}")]
    Incompatible(String),
    /// The peer broke the protocol's rules (e.g. an answer to a request never made, a flood):
    /// Disconnect 0x10; banned for a while.
    #[error("protocol violation: {0}")]
    Misbehaved(String),
    /// The peer did not answer in time: Disconnect 0x10.
    #[error("timeout: {0}")]
    Timeout(String),
    /// Something on our side failed (a code outside the capability, a full local resource):
    /// Disconnect 0x10; the peer is not blamed.
    #[error("local error: {0}")]
    Local(String),
    /// The session ended underneath the protocol; nothing more is sent.
    #[error("session ended: {0}")]
    Session(SessionEnd),
}

impl ProtocolError {
    /// The reason to send in the Disconnect; `None` when the session already ended.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            Self::BadMessage(_) => Some(DisconnectReason::ProtocolBreach),
            Self::Incompatible(_) | Self::Misbehaved(_) | Self::Timeout(_) | Self::Local(_) => {
                Some(DisconnectReason::SubprotocolError)
            }
            Self::Session(_) => None,
        }
    }
}

impl HasVerdict for ProtocolError {
    fn verdict(&self) -> Verdict {
        match self {
            Self::BadMessage(_) | Self::Misbehaved(_) => Verdict::Misbehaved,
            Self::Incompatible(_) => Verdict::Incompatible,
            Self::Timeout(_) => Verdict::Timeout,
            Self::Local(_) => Verdict::Transient,
            Self::Session(end) => end.verdict(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_kind_has_its_reason_and_verdict() {
        let cases = [
            (
                ProtocolError::BadMessage("x".into()),
                Some(DisconnectReason::ProtocolBreach),
                Verdict::Misbehaved,
            ),
            (
                ProtocolError::Incompatible("x".into()),
                Some(DisconnectReason::SubprotocolError),
                Verdict::Incompatible,
            ),
            (
                ProtocolError::Local("x".into()),
                Some(DisconnectReason::SubprotocolError),
                Verdict::Transient,
            ),
            (
                ProtocolError::Session(SessionEnd::Remote(DisconnectReason::TooManyPeers)),
                None,
                Verdict::Busy,
            ),
        ];
        for (error, reason, verdict) in cases {
            assert_eq!(error.disconnect_reason(), reason, "{error}");
            assert_eq!(error.verdict(), verdict, "{error}");
        }
    }
}
