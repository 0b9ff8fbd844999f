//! Ingress workers: receive datagrams, rate-limit, verify, and answer PINGs, in parallel.
//!
//! Signature recovery (and signing the PONG) is the whole cost of handling a PING. Running it
//! in the single service task would cap the node at one core, so several workers share the
//! socket: each verifies what it receives, answers PINGs itself (a PONG depends only on the
//! PING, our key and our ENR seq), pings unknown pingers back (see [`super::ping_back`]), and
//! forwards the verified packet to the service for the bookkeeping (bonds, table, replies).
//! A worker receives a batch of datagrams per system call and sends the batch's PONGs and
//! ping-backs with one system call too.
//!
//! Packets reach the service in the order they arrived: each worker takes tickets when it
//! receives, and its batch goes to the service only after every earlier ticket (see
//! [`super::handover`]; a batch that finishes first is parked, and its worker goes on).
//! Without this, a FINDNODE verified faster than the PONG sent just before it (the order in
//! which a peer completes an endpoint proof and then asks) would find the sender unbonded
//! and be dropped — go-ethereum's conformance suite caught it in ~3% of runs.

use std::{
    net::SocketAddr,
    sync::{atomic::Ordering, Arc, Mutex},
    time::Duration,
};

use enode::PeerId;
use tokio::{
    sync::{mpsc, Mutex as AsyncMutex},
    time::Instant,
};
use tracing::{debug, trace};

use crate::{
    proto::{
        decode_unverified, encode, expiration_after, is_expired, normalize_ip, now_unix_secs,
        DecodeError, Decoded, Endpoint, Packet, PacketKind, Ping, Pong,
    },
    transport::{DatagramTransport, RecvBatch, SendBatch},
};

use super::{
    handover::Handover,
    local::SharedLocal,
    metrics::{DropReason, Metrics},
    ping_back::{PingBack, PingBacks},
    priority::{Admission, Priority},
    ratelimit::{IpRateLimiter, RateLimitConfig},
    skew::SkewDetector,
};

/// A verified packet on its way to the service.
#[derive(Debug)]
pub(crate) struct Ingress {
    /// UDP source (IPv4-mapped addresses normalised).
    pub(crate) src: SocketAddr,
    /// The verified packet.
    pub(crate) decoded: Decoded,
    /// What the worker did about pinging a PING's sender back.
    pub(crate) ping_back: PingBack,
}

/// What the workers share.
pub(crate) struct IngressContext {
    pub(crate) transport: Arc<dyn DatagramTransport>,
    pub(crate) local: Arc<SharedLocal>,
    pub(crate) rate_limit: RateLimitConfig,
    pub(crate) limiter: Mutex<IpRateLimiter>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) skew: Arc<SkewDetector>,
    pub(crate) packet_expiration: Duration,
    pub(crate) to_service: mpsc::Sender<Ingress>,
    /// Who is verified first while the socket has a backlog.
    pub(crate) priority: Arc<Priority>,
    /// The ping-back budget, shared with the service.
    pub(crate) ping_backs: Arc<PingBacks>,
    /// The next arrival ticket; held while receiving, so tickets follow arrival order.
    pub(crate) next_ticket: AsyncMutex<u64>,
    /// Puts the workers' batches back in ticket order on their way to the service.
    pub(crate) handover: Handover<Ingress>,
}

/// Receive buffers per worker: one batched receive takes up to this many datagrams.
const BATCH: usize = 32;

/// One worker: runs until the service is gone.
pub(crate) async fn run_worker(ctx: Arc<IngressContext>) {
    // Only the buffers the transport fills per call, of the size it needs: 32 GRO-sized
    // buffers are 2 MiB per worker, which a simulation of thousands of nodes on one-datagram
    // transports cannot pay.
    let batch_capacity = ctx.transport.recv_batch_capacity().clamp(1, BATCH);
    let mut batch = RecvBatch::with_buffer_len(batch_capacity, ctx.transport.recv_buffer_len());
    let mut verified = Vec::with_capacity(batch_capacity);
    let mut replies = Replies::default();
    loop {
        ctx.handover.wait_for_room().await;
        // Tickets for the whole batch, taken while receiving so they follow arrival order.
        let (first_ticket, count) = {
            let mut next_ticket = ctx.next_ticket.lock().await;
            let count = receive(&ctx, &mut batch).await;
            let first = *next_ticket;
            *next_ticket += count as u64;
            (first, count)
        };
        if count == 0 {
            continue;
        }
        verified.clear();
        // A full batch means more datagrams were waiting: the socket is behind.
        let full_batch = count >= BATCH;
        let behind = ctx.priority.behind(full_batch, Instant::now());
        for (datagram, src) in batch.datagrams() {
            let src = SocketAddr::new(normalize_ip(src.ip()), src.port());
            let Some(mut ingress) = verify(&ctx, datagram, src, behind) else {
                continue;
            };
            if let Packet::Ping(ping) = &ingress.decoded.packet {
                replies.pong(&ctx, ingress.src, ping, ingress.decoded.hash);
                ingress.ping_back =
                    replies.ping_back(&ctx, ingress.decoded.sender, ingress.src, ping);
            }
            verified.push(ingress);
        }
        // Sent before the hand-over: a ping-back's PONG then arrives after its PING's ticket.
        replies.send(&ctx).await;
        // Every ticket is handed over (a dropped datagram as nothing), in order.
        ctx.handover.submit(
            first_ticket,
            count as u64,
            &mut verified,
            |ingress| match ctx.to_service.try_send(ingress) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    ctx.metrics.dropped(DropReason::QueueFull);
                }
            },
        );
        if ctx.to_service.is_closed() {
            return;
        }
        // A socket with a backlog is always ready, so without this a worker would run batch
        // after batch until tokio's task budget runs out (hundreds of milliseconds of
        // signatures) while the service task, woken by the hand-over, waits for the thread
        // and its queue overflows. Only then: a yield lets tokio's paused clock (simulations)
        // jump to the next timer, so yielding after every batch would fire request timeouts
        // before replies that are on their way.
        if full_batch {
            tokio::task::yield_now().await;
        }
    }
}

/// The PONGs and ping-backs of one received batch, sent together.
#[derive(Debug, Default)]
struct Replies {
    batch: SendBatch,
    kinds: Vec<PacketKind>,
}

impl Replies {
    /// Every PING gets a PONG to its UDP source, whatever its `from` says.
    fn pong(&mut self, ctx: &IngressContext, src: SocketAddr, ping: &Ping, ping_hash: [u8; 32]) {
        let pong = Packet::Pong(Pong {
            to: Endpoint::new(src.ip(), src.port(), ping.from.tcp_port),
            ping_hash,
            expiration: expiration_after(ctx.packet_expiration),
            enr_seq: Some(ctx.local.enr_seq.load(Ordering::Relaxed)),
        });
        self.push(&pong, &ctx.local.key, src);
    }

    /// Pings the sender of `ping` back when it needs it and the budget allows.
    fn ping_back(
        &mut self,
        ctx: &IngressContext,
        sender: PeerId,
        src: SocketAddr,
        ping: &Ping,
    ) -> PingBack {
        let decision = ctx
            .ping_backs
            .decide(sender, src, &ctx.priority, Instant::now());
        match decision {
            PingBack::Sent { .. } => {}
            PingBack::OverBudget => {
                ctx.metrics.dropped(DropReason::PingBackLimited);
                return decision;
            }
            PingBack::Skipped => return decision,
        }
        let packet = Packet::Ping(Ping {
            version: Ping::VERSION,
            from: ctx.local.ping_endpoint(),
            to: Endpoint::new(src.ip(), src.port(), ping.from.tcp_port),
            expiration: expiration_after(ctx.packet_expiration),
            enr_seq: Some(ctx.local.enr_seq.load(Ordering::Relaxed)),
        });
        match self.push(&packet, &ctx.local.key, src) {
            Some(hash) => PingBack::Sent { hash },
            None => PingBack::Skipped,
        }
    }

    fn push(
        &mut self,
        packet: &Packet,
        key: &secp256k1::SecretKey,
        to: SocketAddr,
    ) -> Option<[u8; 32]> {
        match encode(packet, key) {
            Ok((bytes, hash)) => {
                self.batch.push(&bytes, to);
                self.kinds.push(packet.kind());
                Some(hash)
            }
            Err(error) => {
                debug!(target: "discv4", %to, %error, "cannot encode packet");
                None
            }
        }
    }

    /// Sends what was queued, in one system call where the transport can.
    async fn send(&mut self, ctx: &IngressContext) {
        if self.batch.is_empty() {
            return;
        }
        let report = ctx.transport.send_batch(&self.batch).await;
        let mut failed = report.failed.iter().map(|(index, _)| *index).peekable();
        for (index, kind) in self.kinds.iter().enumerate() {
            if failed.next_if_eq(&index).is_some() {
                ctx.metrics.send_error();
            } else {
                ctx.metrics.packet_out(*kind);
            }
        }
        for (index, error) in &report.failed {
            let to = self.batch.datagrams().nth(*index).map(|(_, to)| to);
            debug!(target: "discv4", ?to, %error, "send failed");
        }
        self.batch.clear();
        self.kinds.clear();
    }
}

/// Receives a batch; returns the number of datagrams in it (0 after an error).
async fn receive(ctx: &IngressContext, batch: &mut RecvBatch) -> usize {
    match ctx.transport.recv_batch(batch).await {
        Ok(()) => batch.len(),
        Err(error) => {
            // ICMP errors from earlier sends surface here on Linux; they end nothing.
            trace!(target: "discv4", %error, "receive error");
            // Avoid a hot loop should the socket fail persistently.
            tokio::time::sleep(Duration::from_millis(1)).await;
            0
        }
    }
}

/// Rate limit, decode, verify, drop own and expired packets.
fn verify(ctx: &IngressContext, datagram: &[u8], src: SocketAddr, behind: bool) -> Option<Ingress> {
    let allowed = ctx.rate_limit.is_exempt(src.ip())
        || ctx
            .limiter
            .lock()
            .map(|mut limiter| limiter.allow(src.ip(), Instant::now()))
            .unwrap_or(true);
    if !allowed {
        ctx.metrics.dropped(DropReason::RateLimited);
        return None;
    }
    // Before the hash: under a flood, shedding must cost less than hashing a datagram or the
    // socket still falls behind (keccak of every shed datagram was a third of the node's CPU
    // under a two-thread flood).
    let admission = ctx.priority.triage(src, behind);
    if admission == Admission::Shed {
        ctx.metrics.dropped(DropReason::Overloaded);
        return None;
    }
    let unverified = match decode_unverified(datagram) {
        Ok(unverified) => unverified,
        Err(error) => {
            drop_undecodable(ctx, src, &error);
            return None;
        }
    };
    // Expired packets are dropped before the signature is recovered: a replayed or stale
    // packet costs a hash, not an ECDSA recovery.
    if let Some(expiration) = unverified.packet.expiration() {
        let now = now_unix_secs();
        let expired = is_expired(expiration, now);
        // Read as signed, like the expiration rule itself: 2^64 − t is t seconds in the past.
        ctx.skew
            .observe(expired, (expiration as i64).wrapping_sub(now as i64));
        if expired {
            debug!(target: "discv4", %src, kind = unverified.packet.kind().name(), "dropping expired packet");
            ctx.metrics.dropped(DropReason::Expired);
            return None;
        }
    }
    if admission == Admission::WithinBudget && !ctx.priority.spend() {
        ctx.metrics.dropped(DropReason::Overloaded);
        return None;
    }
    let decoded = match unverified.verify() {
        Ok(decoded) => decoded,
        Err(error) => {
            drop_undecodable(ctx, src, &error);
            return None;
        }
    };
    if decoded.sender == ctx.local.peer_id {
        ctx.metrics.dropped(DropReason::FromSelf);
        return None;
    }
    ctx.metrics.packet_in(decoded.packet.kind());
    Some(Ingress {
        src,
        decoded,
        ping_back: PingBack::Skipped,
    })
}

fn drop_undecodable(ctx: &IngressContext, src: SocketAddr, error: &DecodeError) {
    let reason = if error.is_unknown_type() {
        DropReason::UnknownType
    } else {
        DropReason::Malformed
    };
    trace!(target: "discv4", %src, %error, "dropping packet");
    ctx.metrics.dropped(reason);
}

/// Signs and sends a packet; returns its hash when it went out.
pub(crate) async fn send_packet(
    transport: &dyn DatagramTransport,
    metrics: &Metrics,
    packet: &Packet,
    key: &secp256k1::SecretKey,
    to: SocketAddr,
) -> Option<[u8; 32]> {
    let (bytes, hash) = match encode(packet, key) {
        Ok(encoded) => encoded,
        Err(error) => {
            debug!(target: "discv4", %to, %error, "cannot encode packet");
            return None;
        }
    };
    send_bytes(transport, metrics, packet.kind(), &bytes, to)
        .await
        .then_some(hash)
}

/// Sends an already encoded packet.
pub(crate) async fn send_bytes(
    transport: &dyn DatagramTransport,
    metrics: &Metrics,
    kind: PacketKind,
    bytes: &[u8],
    to: SocketAddr,
) -> bool {
    match transport.send_to(bytes, to).await {
        Ok(_) => {
            metrics.packet_out(kind);
            true
        }
        Err(error) => {
            debug!(target: "discv4", %to, %error, kind = kind.name(), "send failed");
            metrics.send_error();
            false
        }
    }
}
