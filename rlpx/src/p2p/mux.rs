//! The handles of a running session: the [`P2pConnection`] and one [`ProtocolHandle`] per
//! shared capability, talking to the session task (`task.rs`) over bounded channels.
//!
//! Per capability a [`ProtocolHandle`] receives messages with codes relative to its offset
//! and sends through one queue shared by all capabilities (writes are serialised, as in
//! geth). An inbound code outside the base protocol and every capability ends the session
//! with [`P2pError::UnknownMessageCode`] and, like geth (which treats it as a read error,
//! reason 0x01), *no* Disconnect is sent: the peer is not speaking the protocol we negotiated.
//!
//! What one connection may buffer is documented on the [`super`] module.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    budget::ByteBudget,
    capability::{SharedCapabilities, SharedCapability},
    codec::MessageCodec,
    disconnect::DisconnectReason,
    error::{P2pError, SessionEnd},
    snappy::MAX_MESSAGE_SIZE,
    task::{Channels, Inbound, Outbound, PingRequest, Task, MAX_PENDING_PINGS},
    transport::MessageStream,
};

/// Capacity of the outbound queue shared by all capabilities of one connection.
pub const OUTBOUND_QUEUE_CAPACITY: usize = 32;

/// Bytes of payloads the protocols of one connection may have queued for sending; a message
/// larger than this is queued alone.
pub const OUTBOUND_BUFFER_LIMIT: usize = 4 << 20;

/// Capacity of each capability's inbound queue; when full, reading from the socket pauses.
pub const PROTOCOL_INBOUND_CAPACITY: usize = 32;

/// Bytes of received payloads that may wait in the capability queues of one connection; a
/// message larger than this waits alone. When it is used up, reading from the socket pauses.
pub const INBOUND_BUFFER_LIMIT: usize = 4 << 20;

/// What handles and the connection share to reach the task.
#[derive(Clone)]
struct Control {
    outbound: mpsc::Sender<Outbound>,
    outbound_budget: ByteBudget,
    disconnect: mpsc::Sender<DisconnectReason>,
    ping: mpsc::Sender<PingRequest>,
    end: watch::Receiver<Option<SessionEnd>>,
}

impl Control {
    fn disconnect(&self, reason: DisconnectReason) {
        // A full queue means a disconnect is already pending; a closed one, that the session
        // is over. Either way there is nothing more to do.
        let _ = self.disconnect.try_send(reason);
    }

    async fn closed(&self) -> SessionEnd {
        let mut end = self.end.clone();
        let result = match end.wait_for(Option::is_some).await {
            Ok(value) => value.clone(),
            Err(_) => None,
        };
        // `None` only if the task vanished without reporting (it panicked).
        result.unwrap_or_else(|| SessionEnd::Error(Arc::new(P2pError::ConnectionClosed)))
    }

    fn end_reason(&self) -> Option<SessionEnd> {
        self.end.borrow().clone()
    }

    async fn session_closed(&self) -> P2pError {
        P2pError::SessionClosed(self.closed().await)
    }
}

/// A running p2p session. The session task lives while this value or any
/// [`ProtocolHandle`] is alive; when all are dropped it disconnects with
/// [`DisconnectReason::ClientQuitting`].
pub struct P2pConnection {
    shared: SharedCapabilities,
    handles: Vec<Option<ProtocolHandle>>,
    control: Control,
}

impl std::fmt::Debug for P2pConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P2pConnection")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl P2pConnection {
    pub(crate) fn spawn<S: MessageStream>(
        sink: SplitSink<S, Bytes>,
        stream: SplitStream<S>,
        codec: MessageCodec,
        shared: SharedCapabilities,
    ) -> Self {
        let (outbound_tx, outbound_rx) = mpsc::channel(OUTBOUND_QUEUE_CAPACITY);
        let (disconnect_tx, disconnect_rx) = mpsc::channel(1);
        let (ping_tx, ping_rx) = mpsc::channel(MAX_PENDING_PINGS);
        let (end_tx, end_rx) = watch::channel(None);
        let control = Control {
            outbound: outbound_tx,
            outbound_budget: ByteBudget::new(OUTBOUND_BUFFER_LIMIT),
            disconnect: disconnect_tx,
            ping: ping_tx,
            end: end_rx,
        };
        let mut inbound = Vec::with_capacity(shared.len());
        let mut handles = Vec::with_capacity(shared.len());
        for cap in &shared {
            let (tx, rx) = mpsc::channel(PROTOCOL_INBOUND_CAPACITY);
            inbound.push(tx);
            handles.push(Some(ProtocolHandle {
                capability: cap.clone(),
                inbound: rx,
                control: control.clone(),
            }));
        }
        let channels = Channels {
            inbound,
            inbound_budget: ByteBudget::new(INBOUND_BUFFER_LIMIT),
            outbound: outbound_rx,
            disconnect: disconnect_rx,
            ping_requests: ping_rx,
            end: end_tx,
        };
        let (task, end_tx) = Task::new(sink, stream, codec, shared.clone(), channels);
        tokio::spawn(task.run(end_tx));
        Self {
            shared,
            handles,
            control,
        }
    }

    /// The negotiated capabilities, in message-id order.
    pub fn shared_capabilities(&self) -> &SharedCapabilities {
        &self.shared
    }

    /// Takes the handle of the shared capability with this name (once; `None` afterwards or if
    /// the name is not shared).
    ///
    /// Handles not taken stay inside the connection: messages for them fill their bounded
    /// queue and then stall the whole session's reading. Take every handle you run; drop the
    /// ones you don't (messages for a dropped handle are discarded).
    pub fn take_handle(&mut self, name: &str) -> Option<ProtocolHandle> {
        let index = self.shared.iter().position(|c| c.name == name)?;
        self.handles.get_mut(index)?.take()
    }

    /// Takes every handle not yet taken, in message-id order.
    pub fn take_handles(&mut self) -> Vec<ProtocolHandle> {
        self.handles.iter_mut().filter_map(Option::take).collect()
    }

    /// Asks the session to send Disconnect(`reason`) (1 s deadline) and close. Returns at
    /// once; await [`Self::closed`] to know when it is done.
    pub fn disconnect(&self, reason: DisconnectReason) {
        self.control.disconnect(reason);
    }

    /// Waits until the session has ended and says why.
    pub async fn closed(&self) -> SessionEnd {
        self.control.closed().await
    }

    /// Why the session ended, or `None` while it runs.
    pub fn end_reason(&self) -> Option<SessionEnd> {
        self.control.end_reason()
    }

    /// Sends a Ping now (besides the automatic one every [`super::PING_INTERVAL`]) and returns
    /// the round-trip time once its Pong arrives. Pongs answer pings in order, so the Pong
    /// counted is the one for this Ping even while periodic pings are in flight.
    ///
    /// A remote that never answers keeps this pending until the session ends (then it fails
    /// with [`P2pError::SessionClosed`]); wrap it in a timeout to probe liveness.
    pub async fn ping(&self) -> Result<Duration, P2pError> {
        let (reply, answer) = oneshot::channel();
        if self.control.ping.send(reply).await.is_err() {
            return Err(self.control.session_closed().await);
        }
        match answer.await {
            Ok(rtt) => Ok(rtt),
            Err(_) => Err(self.control.session_closed().await),
        }
    }
}

/// One capability's side of the session.
pub struct ProtocolHandle {
    capability: SharedCapability,
    inbound: mpsc::Receiver<Inbound>,
    control: Control,
}

impl std::fmt::Debug for ProtocolHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolHandle")
            .field("capability", &self.capability)
            .finish_non_exhaustive()
    }
}

impl ProtocolHandle {
    /// The negotiated capability, with its offset and length.
    pub fn capability(&self) -> &SharedCapability {
        &self.capability
    }

    /// The next message for this capability: (code relative to the capability's offset,
    /// decompressed payload). `None` once the session has ended (see [`Self::closed`]).
    pub async fn recv(&mut self) -> Option<(u64, Bytes)> {
        // The message leaves the inbound budget as it is handed over.
        let (code, payload, _permit) = self.inbound.recv().await?;
        Some((code, payload))
    }

    /// Queues a message; `code` is relative to the capability's offset and must be below its
    /// length. Waits while the connection's outbound queue or byte budget
    /// ([`OUTBOUND_BUFFER_LIMIT`]) is full. Fails with [`P2pError::SessionClosed`] once the
    /// session has ended.
    pub async fn send(&self, code: u64, payload: Bytes) -> Result<(), P2pError> {
        if code >= self.capability.length {
            return Err(P2pError::InvalidMessageCode {
                code,
                capability: self.capability.capability().to_string(),
                length: self.capability.length,
            });
        }
        if payload.len() > MAX_MESSAGE_SIZE {
            return Err(P2pError::MessageTooLarge {
                size: payload.len(),
            });
        }
        let Some(permit) = self.control.outbound_budget.acquire(payload.len()).await else {
            return Err(self.control.session_closed().await);
        };
        let message = Outbound {
            code: self.capability.offset + code,
            payload,
            permit,
            then_disconnect: None,
        };
        match self.control.outbound.send(message).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.control.session_closed().await),
        }
    }

    /// Asks the session to disconnect with `reason` (e.g. [`DisconnectReason::SubprotocolError`]).
    /// The Disconnect overtakes messages still queued; see [`Self::disconnect_after_queued`].
    pub fn disconnect(&self, reason: DisconnectReason) {
        self.control.disconnect(reason);
    }

    /// Queues a Disconnect with `reason` behind every message already queued by any
    /// capability: the session writes and flushes them first, then says goodbye (a seed's
    /// answer is never lost to its own hang-up). The write timeout still bounds a peer that
    /// does not read. Returns once queued; [`Self::closed`] tells when the session ended.
    pub async fn disconnect_after_queued(&self, reason: DisconnectReason) -> Result<(), P2pError> {
        let Some(permit) = self.control.outbound_budget.acquire(0).await else {
            return Err(self.control.session_closed().await);
        };
        let marker = Outbound {
            code: 0,
            payload: Bytes::new(),
            permit,
            then_disconnect: Some(reason),
        };
        match self.control.outbound.send(marker).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.control.session_closed().await),
        }
    }

    /// Waits until the session has ended and says why.
    pub async fn closed(&self) -> SessionEnd {
        self.control.closed().await
    }

    /// Why the session ended, or `None` while it runs.
    pub fn end_reason(&self) -> Option<SessionEnd> {
        self.control.end_reason()
    }
}
