//! The session task: one tokio task per connection owns the stream, reads and writes frames,
//! answers and sends pings, and moves messages between the wire and the capability queues.
//!
//! Reading pauses — backpressure instead of buffering — while a protocol's queue (or the
//! inbound byte budget) is full, while base-protocol frames pile up unwritten, and while a
//! Pong is held back by the rate limit. Time spent not reading does not count toward the
//! idle timeout; a writer that makes no progress for [`WRITE_TIMEOUT`] ends the session.

use std::{collections::VecDeque, future::poll_fn, sync::Arc, task::Poll, time::Duration};

use bytes::{Bytes, BytesMut};
use futures::{
    stream::{SplitSink, SplitStream},
    Sink, StreamExt,
};
use tokio::{
    sync::{mpsc, oneshot, watch},
    time::{interval_at, sleep, Instant, MissedTickBehavior},
};

use super::{
    budget::{BudgetPermit, ByteBudget},
    capability::{SharedCapabilities, BASE_PROTOCOL_LENGTH},
    codec::{message_id, split_message, MessageCodec},
    disconnect::DisconnectReason,
    error::{P2pError, SessionEnd},
    ping::{PongLimiter, EMPTY_LIST, IDLE_TIMEOUT, PING_INTERVAL},
    transport::{drain_until_closed, send_disconnect_and_close, MessageStream, WRITE_TIMEOUT},
};
use crate::frame::FrameError;

/// Encoded base-protocol frames (pongs, pings) waiting for the sink, besides the protocol
/// message being written. Reading pauses while this many are queued.
const WRITE_QUEUE_LIMIT: usize = 8;

/// Explicit pings ([`super::P2pConnection::ping`]) awaiting their pong; further requests wait
/// in their (equally small) queue.
pub(super) const MAX_PENDING_PINGS: usize = 16;

/// An explicit ping: answered with the round-trip time once the pong arrives.
pub(super) type PingRequest = oneshot::Sender<Duration>;

/// A message for a capability: its code relative to the capability's offset, the payload, and
/// its share of the inbound byte budget (released when the handle takes it).
pub(super) type Inbound = (u64, Bytes, BudgetPermit);

/// A message a protocol queued, holding its share of the outbound byte budget until it is
/// encoded for the wire.
#[derive(Debug)]
pub(super) struct Outbound {
    /// Absolute message id.
    pub(super) code: u64,
    pub(super) payload: Bytes,
    pub(super) permit: BudgetPermit,
    /// Set on the marker [`super::ProtocolHandle::disconnect_after_queued`] sends: once
    /// everything queued before it is written and flushed, the session ends with this reason.
    pub(super) then_disconnect: Option<DisconnectReason>,
}

/// The task's ends of the channels to the connection and its handles.
#[derive(Debug)]
pub(super) struct Channels {
    /// One queue per shared capability, in offset order.
    pub(super) inbound: Vec<mpsc::Sender<Inbound>>,
    /// Bytes of messages in the inbound queues.
    pub(super) inbound_budget: ByteBudget,
    pub(super) outbound: mpsc::Receiver<Outbound>,
    pub(super) disconnect: mpsc::Receiver<DisconnectReason>,
    pub(super) ping_requests: mpsc::Receiver<PingRequest>,
    /// Where the end is published.
    pub(super) end: watch::Sender<Option<SessionEnd>>,
}

/// A ping we sent for [`super::P2pConnection::ping`]: resolved by the `seq`-th pong.
struct PongWaiter {
    seq: u64,
    sent_at: Instant,
    reply: PingRequest,
}

/// A protocol message read from the wire, waiting for room in its capability's queue.
struct Pending {
    index: usize,
    code: u64,
    payload: Bytes,
    /// Its share of the inbound budget, once it got one.
    permit: Option<BudgetPermit>,
}

/// State owned by the session task.
pub(super) struct Task<S: MessageStream> {
    sink: SplitSink<S, Bytes>,
    stream: SplitStream<S>,
    codec: MessageCodec,
    shared: SharedCapabilities,
    inbound: Vec<mpsc::Sender<Inbound>>,
    inbound_budget: ByteBudget,
    outbound: mpsc::Receiver<Outbound>,
    disconnect: mpsc::Receiver<DisconnectReason>,
    ping_requests: mpsc::Receiver<PingRequest>,
    pong_waiters: VecDeque<PongWaiter>,
    /// Pings sent (periodic and explicit) and the pongs matched to them, for [`PongWaiter`].
    pings_sent: u64,
    pongs_received: u64,
    pongs: PongLimiter,
    /// A Ping was read whose Pong the rate limit holds back until this instant.
    pong_due: Option<Instant>,
    write_queue: VecDeque<Bytes>,
    needs_flush: bool,
    /// The last time the sink took a frame or finished a flush.
    write_progress: Instant,
    pending: Option<Pending>,
    /// An ordered disconnect was taken from the outbound queue: nothing more is taken, and
    /// the session ends with this reason once the write queue and the sink are flushed.
    closing: Option<DisconnectReason>,
}

/// What an inbound frame asks the loop to do.
enum Step {
    Continue,
    End(SessionEnd, Option<DisconnectReason>),
}

/// Ends the session with `err`, sending a Disconnect first if the error calls for one.
fn fail(err: P2pError) -> Step {
    let reason = err
        .sends_disconnect()
        .then(|| err.disconnect_reason())
        .flatten();
    Step::End(SessionEnd::Error(Arc::new(err)), reason)
}

impl<S: MessageStream> Task<S> {
    pub(super) fn new(
        sink: SplitSink<S, Bytes>,
        stream: SplitStream<S>,
        codec: MessageCodec,
        shared: SharedCapabilities,
        channels: Channels,
    ) -> (Self, watch::Sender<Option<SessionEnd>>) {
        let Channels {
            inbound,
            inbound_budget,
            outbound,
            disconnect,
            ping_requests,
            end,
        } = channels;
        let now = Instant::now();
        let task = Self {
            sink,
            stream,
            codec,
            shared,
            inbound,
            inbound_budget,
            outbound,
            disconnect,
            ping_requests,
            pong_waiters: VecDeque::new(),
            pings_sent: 0,
            pongs_received: 0,
            pongs: PongLimiter::new(now),
            pong_due: None,
            write_queue: VecDeque::new(),
            needs_flush: false,
            write_progress: now,
            pending: None,
            closing: None,
        };
        (task, end)
    }

    /// Runs the session to its end, says goodbye as the end calls for, and publishes the end.
    pub(super) async fn run(mut self, end_tx: watch::Sender<Option<SessionEnd>>) {
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
        let write_stall = sleep(WRITE_TIMEOUT);
        let pong_timer = sleep(Duration::ZERO);
        tokio::pin!(idle, write_stall, pong_timer);
        let mut ping = interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (mut was_reading, mut was_writing) = (true, false);

        loop {
            if let Some(reason) = self.closing {
                if self.write_queue.is_empty() && !self.needs_flush {
                    return (SessionEnd::Local(reason), Some(reason));
                }
            }
            let reading = self.pending.is_none()
                && self.pong_due.is_none()
                && self.write_queue.len() < WRITE_QUEUE_LIMIT;
            if reading && !was_reading {
                // We did not read for a while; the remote's silence then does not count.
                idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
            }
            let writing = !self.write_queue.is_empty() || self.needs_flush;
            if writing && !was_writing {
                self.write_progress = Instant::now();
                write_stall
                    .as_mut()
                    .reset(self.write_progress + WRITE_TIMEOUT);
            }
            (was_reading, was_writing) = (reading, writing);
            // A protocol message is taken only when the previous one went to the sink.
            let take_outbound = self.write_queue.is_empty() && self.closing.is_none();
            // A parked message first waits for its share of the budget, then for a slot.
            let (needs_budget, needs_slot) = match &self.pending {
                Some(p) if p.permit.is_none() => (Some(p.payload.len()), None),
                Some(p) => (None, Some(self.inbound.get(p.index).cloned())),
                None => (None, None),
            };

            tokio::select! {
                Some(reason) = self.disconnect.recv() => {
                    return (SessionEnd::Local(reason), Some(reason));
                }
                written = poll_fn(|cx| poll_write(&mut self.sink, &mut self.write_queue, &mut self.needs_flush, &mut self.write_progress, cx)), if writing => {
                    if let Err(e) = written {
                        return (SessionEnd::Error(Arc::new(P2pError::Frame(e))), None);
                    }
                }
                () = &mut write_stall, if writing => {
                    let stalled_since = self.write_progress;
                    if stalled_since.elapsed() >= WRITE_TIMEOUT {
                        // Like geth (a write error), no Disconnect: it could not be written.
                        let err = P2pError::WriteTimeout(WRITE_TIMEOUT);
                        return (SessionEnd::Error(Arc::new(err)), None);
                    }
                    write_stall.as_mut().reset(stalled_since + WRITE_TIMEOUT);
                }
                permit = acquire(&self.inbound_budget, needs_budget), if needs_budget.is_some() => {
                    if let Some(pending) = self.pending.as_mut() {
                        pending.permit = permit;
                    }
                }
                slot = reserve(needs_slot.flatten()), if needs_slot.is_some() => {
                    // A handle that is gone takes nothing: the message is discarded.
                    if let (Some(pending), Some(slot)) = (self.pending.take(), slot) {
                        if let Some(permit) = pending.permit {
                            slot.send((pending.code, pending.payload, permit));
                        }
                    }
                }
                () = &mut pong_timer, if self.pong_due.is_some() => {
                    self.pong_due = None;
                    if let Err(due) = self.pongs.try_take(Instant::now()) {
                        self.pong_due = Some(due);
                        pong_timer.as_mut().reset(due);
                    } else if let Err(e) = self.queue(message_id::PONG, &EMPTY_LIST) {
                        return (SessionEnd::Error(Arc::new(e)), None);
                    }
                }
                item = self.stream.next(), if reading => {
                    idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                    if let Step::End(end, reason) = self.on_inbound(item) {
                        return (end, reason);
                    }
                    if let Some(due) = self.pong_due {
                        pong_timer.as_mut().reset(due);
                    }
                }
                message = self.outbound.recv(), if take_outbound => {
                    let Some(Outbound { code, payload, permit, then_disconnect }) = message else {
                        let reason = DisconnectReason::ClientQuitting;
                        return (SessionEnd::Local(reason), Some(reason));
                    };
                    if then_disconnect.is_some() {
                        self.closing = then_disconnect;
                        continue;
                    }
                    // Encoded, it leaves the budget: at most one message sits in the write
                    // queue, and the sink holds at most one more.
                    let queued = self.queue(code, &payload);
                    drop(permit);
                    if let Err(e) = queued {
                        return (SessionEnd::Error(Arc::new(e)), None);
                    }
                }
                () = &mut idle, if reading => {
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

    /// Answers a Ping now, or notes when the rate limit lets us.
    fn on_ping(&mut self) -> Result<(), P2pError> {
        match self.pongs.try_take(Instant::now()) {
            Ok(()) => self.queue(message_id::PONG, &EMPTY_LIST),
            Err(due) => {
                self.pong_due = Some(due);
                Ok(())
            }
        }
    }

    fn queue(&mut self, code: u64, payload: &[u8]) -> Result<(), P2pError> {
        let frame = self.codec.encode(code, payload)?;
        self.write_queue.push_back(frame);
        Ok(())
    }

    fn on_inbound(&mut self, item: Option<Result<BytesMut, FrameError>>) -> Step {
        let frame = match item {
            None => return fail(P2pError::ConnectionClosed),
            Some(Err(e)) => return fail(P2pError::Frame(e)),
            Some(Ok(frame)) => frame,
        };
        let (code, payload) = match split_message(frame) {
            Ok(parts) => parts,
            Err(e) => return fail(e),
        };
        if code == message_id::DISCONNECT {
            // Read leniently: some clients send it uncompressed after snappy is on.
            let reason = self.codec.decode_disconnect(&payload);
            return Step::End(SessionEnd::Remote(reason), None);
        }
        // Every other payload is decompressed, base-protocol ones included (as geth does):
        // a snappy header announcing more than 16 MiB ends the session whatever the code.
        let payload = match self.codec.decode_payload(payload) {
            Ok(payload) => payload,
            Err(e) => return fail(e),
        };
        let handled = match code {
            message_id::PING => self.on_ping(),
            message_id::PONG => {
                self.on_pong();
                Ok(())
            }
            // Other base codes are reserved; like any message they proved liveness.
            code if code < BASE_PROTOCOL_LENGTH => Ok(()),
            code => self.deliver(code, payload),
        };
        match handled {
            Ok(()) => Step::Continue,
            Err(e) => fail(e),
        }
    }

    /// Hands a capability message to its queue, or parks it (and stops reading) until the
    /// queue and the inbound budget have room.
    fn deliver(&mut self, code: u64, payload: Bytes) -> Result<(), P2pError> {
        let Some((index, cap)) = self.shared.find_by_code(code) else {
            return Err(P2pError::UnknownMessageCode(code));
        };
        let relative = code - cap.offset;
        let Some(sender) = self.inbound.get(index) else {
            return Ok(());
        };
        let Some(permit) = self.inbound_budget.try_acquire(payload.len()) else {
            self.pending = Some(Pending {
                index,
                code: relative,
                payload,
                permit: None,
            });
            return Ok(());
        };
        match sender.try_send((relative, payload, permit)) {
            // A dropped handle means nobody runs that protocol any more: discard.
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full((relative, payload, permit))) => {
                self.pending = Some(Pending {
                    index,
                    code: relative,
                    payload,
                    permit: Some(permit),
                });
            }
        }
        Ok(())
    }
}

/// Waits for the share of a `len`-byte message of the inbound budget.
async fn acquire(budget: &ByteBudget, len: Option<usize>) -> Option<BudgetPermit> {
    budget.acquire(len?).await
}

/// Waits for a slot in a capability's queue; `None` if its handle is gone.
async fn reserve(sender: Option<mpsc::Sender<Inbound>>) -> Option<mpsc::OwnedPermit<Inbound>> {
    sender?.reserve_owned().await.ok()
}

/// Moves queued frames into the sink and flushes; `Ready` once everything queued is flushed.
/// Every frame the sink takes, and every finished flush, counts as progress.
fn poll_write<K>(
    sink: &mut K,
    queue: &mut VecDeque<Bytes>,
    needs_flush: &mut bool,
    progress: &mut Instant,
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
            *progress = Instant::now();
        }
    }
    match sink.as_mut().poll_flush(cx) {
        Poll::Ready(Ok(())) => {
            *needs_flush = false;
            *progress = Instant::now();
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}
