//! The running session: one task owns the stream and multiplexes the shared capabilities.
//!
//! Per capability a [`ProtocolHandle`] receives messages with codes relative to its offset
//! and sends through one bounded queue shared by all capabilities (writes are serialised, as
//! in geth). Inbound queues are bounded: when a protocol does not keep up, the task stops
//! reading from the socket (backpressure) instead of buffering without limit.
//!
//! An inbound code outside the base protocol and every capability ends the session with
//! [`P2pError::UnknownMessageCode`] and, like geth (which treats it as a read error, reason
//! 0x01), *no* Disconnect is sent: the peer is not speaking the protocol we negotiated.

use std::{collections::VecDeque, future::poll_fn, sync::Arc, task::Poll, time::Duration};

use bytes::Bytes;
use futures::{
    stream::{SplitSink, SplitStream},
    Sink, StreamExt,
};
use tokio::{
    sync::{mpsc, oneshot, watch},
    time::{interval_at, sleep, Instant, MissedTickBehavior},
};

use super::{
    capability::{SharedCapabilities, SharedCapability, BASE_PROTOCOL_LENGTH},
    codec::{message_id, split_message, MessageCodec},
    disconnect::DisconnectReason,
    error::{P2pError, SessionEnd},
    ping::{EMPTY_LIST, IDLE_TIMEOUT, PING_INTERVAL},
    snappy::MAX_MESSAGE_SIZE,
    transport::{drain_until_closed, send_disconnect_and_close, MessageStream},
};
use crate::frame::FrameError;

/// Capacity of the outbound queue shared by all capabilities of one connection.
pub const OUTBOUND_QUEUE_CAPACITY: usize = 32;

/// Capacity of each capability's inbound queue; when full, reading from the socket pauses.
pub const PROTOCOL_INBOUND_CAPACITY: usize = 32;

/// Encoded frames waiting for the sink (pongs, pings, one protocol message at a time). Reading
/// pauses while this many are queued, which bounds the cost of a ping flood.
const WRITE_QUEUE_LIMIT: usize = 8;

/// Explicit pings ([`P2pConnection::ping`]) awaiting their pong; further requests wait in
/// their (equally small) queue.
const MAX_PENDING_PINGS: usize = 16;

/// An explicit ping: answered with the round-trip time once the pong arrives.
type PingRequest = oneshot::Sender<Duration>;

/// A ping we sent for [`P2pConnection::ping`]: resolved by the `seq`-th pong.
struct PongWaiter {
    seq: u64,
    sent_at: Instant,
    reply: PingRequest,
}

struct Outbound {
    code: u64,
    payload: Bytes,
}

/// What handles and the connection share to reach the task.
#[derive(Clone)]
struct Control {
    outbound: mpsc::Sender<Outbound>,
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
        let session = Session {
            sink,
            stream,
            codec,
            shared: shared.clone(),
            inbound,
            outbound: outbound_rx,
            disconnect: disconnect_rx,
            ping_requests: ping_rx,
            pong_waiters: VecDeque::new(),
            pings_sent: 0,
            pongs_received: 0,
            write_queue: VecDeque::new(),
            needs_flush: false,
            pending_inbound: None,
        };
        tokio::spawn(session.run(end_tx));
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

    /// Sends a Ping now (besides the automatic one every [`PING_INTERVAL`]) and returns
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
    inbound: mpsc::Receiver<(u64, Bytes)>,
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
        self.inbound.recv().await
    }

    /// Queues a message; `code` is relative to the capability's offset and must be below its
    /// length. Waits while the shared outbound queue is full. Fails with
    /// [`P2pError::SessionClosed`] once the session has ended.
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
        let message = Outbound {
            code: self.capability.offset + code,
            payload,
        };
        match self.control.outbound.send(message).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.control.session_closed().await),
        }
    }

    /// Asks the session to disconnect with `reason` (e.g. [`DisconnectReason::SubprotocolError`]).
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
}

/// State owned by the session task.
struct Session<S: MessageStream> {
    sink: SplitSink<S, Bytes>,
    stream: SplitStream<S>,
    codec: MessageCodec,
    shared: SharedCapabilities,
    inbound: Vec<mpsc::Sender<(u64, Bytes)>>,
    outbound: mpsc::Receiver<Outbound>,
    disconnect: mpsc::Receiver<DisconnectReason>,
    ping_requests: mpsc::Receiver<PingRequest>,
    pong_waiters: VecDeque<PongWaiter>,
    /// Pings sent (periodic and explicit) and the pongs matched to them, for [`PongWaiter`].
    pings_sent: u64,
    pongs_received: u64,
    write_queue: VecDeque<Bytes>,
    needs_flush: bool,
    /// A protocol message waiting for room in its capability's inbound queue.
    pending_inbound: Option<(usize, u64, Bytes)>,
}

/// What an inbound frame asks the loop to do.
enum Step {
    Continue,
    End(SessionEnd, Option<DisconnectReason>),
}

impl<S: MessageStream> Session<S> {
    async fn run(mut self, end_tx: watch::Sender<Option<SessionEnd>>) {
        let (end, send_reason) = self.run_loop().await;
        tracing::debug!(target: "rlpx::p2p", %end, "session ended");
        self.write_queue.clear();
        send_disconnect_and_close(&mut self.sink, &mut self.codec, send_reason).await;
        // Publish the reason before the inbound senders drop, so a handle whose `recv`
        // returns `None` already sees why.
        end_tx.send_replace(Some(end));
        if send_reason.is_some() {
            drain_until_closed(&mut self.stream).await;
        }
    }

    async fn run_loop(&mut self) -> (SessionEnd, Option<DisconnectReason>) {
        let idle = sleep(IDLE_TIMEOUT);
        tokio::pin!(idle);
        let mut ping = interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);

        loop {
            let can_read =
                self.pending_inbound.is_none() && self.write_queue.len() < WRITE_QUEUE_LIMIT;
            let can_write = !self.write_queue.is_empty() || self.needs_flush;
            let take_outbound = self.write_queue.is_empty();
            let delivery = self
                .pending_inbound
                .as_ref()
                .and_then(|(i, _, _)| self.inbound.get(*i).cloned());

            tokio::select! {
                Some(reason) = self.disconnect.recv() => {
                    return (SessionEnd::Local(reason), Some(reason));
                }
                written = poll_fn(|cx| poll_write(&mut self.sink, &mut self.write_queue, &mut self.needs_flush, cx)), if can_write => {
                    if let Err(e) = written {
                        return (SessionEnd::Error(Arc::new(P2pError::Frame(e))), None);
                    }
                }
                permit = reserve(delivery), if self.pending_inbound.is_some() => {
                    if let (Some((_, code, payload)), Ok(permit)) = (self.pending_inbound.take(), permit) {
                        permit.send((code, payload));
                    }
                    // We were not reading while blocked; the remote's silence did not count.
                    idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                }
                item = self.stream.next(), if can_read => {
                    idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                    if let Step::End(end, reason) = self.on_inbound(item) {
                        return (end, reason);
                    }
                }
                message = self.outbound.recv(), if take_outbound => {
                    let Some(Outbound { code, payload }) = message else {
                        let reason = DisconnectReason::ClientQuitting;
                        return (SessionEnd::Local(reason), Some(reason));
                    };
                    if let Err(e) = self.queue(code, &payload) {
                        return (SessionEnd::Error(Arc::new(e)), None);
                    }
                }
                () = &mut idle, if self.pending_inbound.is_none() => {
                    return (SessionEnd::Timeout, Some(DisconnectReason::PingTimeout));
                }
                _ = ping.tick() => {
                    if let Err(e) = self.queue_ping() {
                        return (SessionEnd::Error(Arc::new(e)), None);
                    }
                }
                Some(reply) = self.ping_requests.recv(), if self.pong_waiters.len() < MAX_PENDING_PINGS => {
                    let seq = match self.queue_ping() {
                        Ok(seq) => seq,
                        Err(e) => return (SessionEnd::Error(Arc::new(e)), None),
                    };
                    self.pong_waiters.push_back(PongWaiter { seq, sent_at: Instant::now(), reply });
                }
            }
        }
    }

    /// Queues a Ping and returns its sequence number (1 for the first).
    fn queue_ping(&mut self) -> Result<u64, P2pError> {
        self.queue(message_id::PING, &EMPTY_LIST)?;
        self.pings_sent += 1;
        Ok(self.pings_sent)
    }

    /// Counts a Pong (unsolicited ones are ignored) and answers the explicit pings it covers.
    fn on_pong(&mut self) {
        if self.pongs_received < self.pings_sent {
            self.pongs_received += 1;
        }
        while let Some(waiter) = self.pong_waiters.front() {
            if waiter.seq > self.pongs_received {
                break;
            }
            if let Some(waiter) = self.pong_waiters.pop_front() {
                // The caller may have given up waiting; that is fine.
                let _ = waiter.reply.send(waiter.sent_at.elapsed());
            }
        }
    }

    fn queue(&mut self, code: u64, payload: &[u8]) -> Result<(), P2pError> {
        let frame = self.codec.encode(code, payload)?;
        self.write_queue.push_back(frame);
        Ok(())
    }

    fn on_inbound(&mut self, item: Option<Result<bytes::BytesMut, FrameError>>) -> Step {
        let fail = |e: P2pError| {
            let reason = e
                .sends_disconnect()
                .then(|| e.disconnect_reason())
                .flatten();
            Step::End(SessionEnd::Error(Arc::new(e)), reason)
        };
        let frame = match item {
            None => return fail(P2pError::ConnectionClosed),
            Some(Err(e)) => return fail(P2pError::Frame(e)),
            Some(Ok(frame)) => frame,
        };
        let (code, payload) = match split_message(frame) {
            Ok(parts) => parts,
            Err(e) => return fail(e),
        };
        match code {
            message_id::DISCONNECT => {
                let reason = self.codec.decode_disconnect(&payload);
                Step::End(SessionEnd::Remote(reason), None)
            }
            message_id::PING => match self.queue(message_id::PONG, &EMPTY_LIST) {
                Ok(()) => Step::Continue,
                Err(e) => fail(e),
            },
            message_id::PONG => {
                self.on_pong();
                Step::Continue
            }
            // Other base codes are reserved; like any message they proved liveness.
            code if code < BASE_PROTOCOL_LENGTH => Step::Continue,
            code => {
                let Some((index, cap)) = self.shared.find_by_code(code) else {
                    return fail(P2pError::UnknownMessageCode(code));
                };
                let relative = code - cap.offset;
                let payload = match self.codec.decode_payload(payload) {
                    Ok(p) => p,
                    Err(e) => return fail(e),
                };
                let Some(sender) = self.inbound.get(index) else {
                    return Step::Continue;
                };
                match sender.try_send((relative, payload)) {
                    // A dropped handle means nobody runs that protocol any more: discard.
                    Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                    Err(mpsc::error::TrySendError::Full((relative, payload))) => {
                        self.pending_inbound = Some((index, relative, payload));
                    }
                }
                Step::Continue
            }
        }
    }
}

/// Waits for room in a capability's inbound queue.
async fn reserve(
    sender: Option<mpsc::Sender<(u64, Bytes)>>,
) -> Result<mpsc::OwnedPermit<(u64, Bytes)>, ()> {
    match sender {
        Some(sender) => sender.reserve_owned().await.map_err(|_| ()),
        None => Err(()),
    }
}

/// Moves queued frames into the sink and flushes; `Ready` once everything queued is flushed.
fn poll_write<K>(
    sink: &mut K,
    queue: &mut VecDeque<Bytes>,
    needs_flush: &mut bool,
    cx: &mut std::task::Context<'_>,
) -> Poll<Result<(), FrameError>>
where
    K: Sink<Bytes, Error = FrameError> + Unpin,
{
    let mut sink = std::pin::Pin::new(sink);
    while !queue.is_empty() {
        match sink.as_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        if let Some(frame) = queue.pop_front() {
            sink.as_mut().start_send(frame)?;
            *needs_flush = true;
        }
    }
    match sink.as_mut().poll_flush(cx) {
        Poll::Ready(Ok(())) => {
            *needs_flush = false;
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}
