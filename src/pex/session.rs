//! The `pex/1` run loop on one session: Status exchange (the peer's record must carry the
//! session's key), then asking when the service says so (and once at the start of an
//! outbound session or with a seed), answering within a per-session token bucket, and
//! ignoring and scoring answers to requests we never made.
//!
//! A seed answers one GetPeers and then hangs up with a Disconnect queued behind its answer
//! ([`ProtocolConn::disconnect_after_sent`]), so the answer cannot be lost; a client that
//! sees the seed flag hangs up itself as soon as it has the answer.

use std::{sync::Arc, time::Duration};

use enode::{enr_peer_id, Enr};
use rand::Rng;
use rlpx::p2p::DisconnectReason;
use tokio::{
    sync::{mpsc, oneshot, watch},
    time::{sleep_until, timeout, Instant},
};

use super::{
    metrics::{bump, PexMetrics},
    service::{AnswerReply, Registration, Request, Role, SessionCommand, SessionInfo},
    wire::{
        GetPeers, Peers, PexMessage, Status, FLAG_SEED, FLAG_WANTS_ADDRESSES, HINT_CONNECTED,
        MAX_RECORDS, PEX_MESSAGES, PEX_NAME, PEX_VERSION,
    },
    GossipRecord, GossipSource, Misbehaviour,
};
use crate::protocol::{
    Direction, PeerInfo, Protocol, ProtocolConn, ProtocolError, ProtocolFuture, ProtocolSpec,
};

/// Requests a peer may make at once (after a reconnect or a fast dial).
pub const REQUEST_BURST: u32 = 3;
/// One more request is allowed every this long.
pub const REQUEST_REFILL: Duration = Duration::from_secs(10);
/// Consecutive requests over the limit after which the session ends: only sustained abuse
/// disconnects, an honest peer asking too eagerly gets empty answers.
pub const FLOOD_DISCONNECT: u32 = 20;
/// How long the peer's Status may take.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(10);
/// A seed's inbound session ends after this long whatever happens.
pub const SEED_SESSION_CAP: Duration = Duration::from_secs(15);

/// The `pex/1` capability; built by [`super::spawn_pex`] and registered with the node's
/// protocols.
#[derive(Debug, Clone)]
pub struct PexProtocol {
    requests: mpsc::Sender<Request>,
    local_enr: watch::Receiver<Enr>,
    seed_mode: bool,
    response_timeout: Duration,
    metrics: Arc<PexMetrics>,
}

impl PexProtocol {
    pub(crate) fn new(
        requests: mpsc::Sender<Request>,
        local_enr: watch::Receiver<Enr>,
        seed_mode: bool,
        response_timeout: Duration,
        metrics: Arc<PexMetrics>,
    ) -> Self {
        Self {
            requests,
            local_enr,
            seed_mode,
            response_timeout,
            metrics,
        }
    }
}

impl Protocol for PexProtocol {
    fn spec(&self) -> ProtocolSpec {
        ProtocolSpec::new(PEX_NAME, PEX_VERSION, PEX_MESSAGES)
    }

    fn run(&self, peer: PeerInfo, conn: ProtocolConn) -> ProtocolFuture {
        let this = self.clone();
        Box::pin(async move {
            let seed_mode = this.seed_mode;
            let inbound = peer.direction == Direction::Inbound;
            let session = this.run_session(peer, conn);
            if seed_mode && inbound {
                // A seed never holds a session open for long.
                match timeout(SEED_SESSION_CAP, session).await {
                    Ok(result) => result,
                    Err(_) => Ok(()),
                }
            } else {
                session.await
            }
        })
    }
}

/// A token bucket: `REQUEST_BURST` tokens, one more every `REQUEST_REFILL`.
#[derive(Debug)]
struct RequestBucket {
    tokens: u32,
    refilled_at: Instant,
}

impl RequestBucket {
    fn new(now: Instant) -> Self {
        Self {
            tokens: REQUEST_BURST,
            refilled_at: now,
        }
    }

    fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        let earned = (elapsed.as_millis() / REQUEST_REFILL.as_millis()) as u32;
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(REQUEST_BURST);
            self.refilled_at += REQUEST_REFILL * earned;
            if self.tokens == REQUEST_BURST {
                self.refilled_at = now;
            }
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

struct Session {
    peer: PeerInfo,
    conn: ProtocolConn,
    requests: mpsc::Sender<Request>,
    metrics: Arc<PexMetrics>,
    source: GossipSource,
    seed_mode: bool,
    peer_is_seed: bool,
    role: Role,
    response_timeout: Duration,
    bucket: RequestBucket,
    flood: u32,
    next_request_id: u64,
    outstanding: Option<(u64, Instant)>,
}

fn service_gone() -> ProtocolError {
    ProtocolError::Local("the PEX service has stopped".into())
}

async fn send(conn: &ProtocolConn, message: &PexMessage) -> Result<(), ProtocolError> {
    conn.send(message.code(), message.encode()).await
}

impl PexProtocol {
    async fn run_session(
        self,
        peer: PeerInfo,
        mut conn: ProtocolConn,
    ) -> Result<(), ProtocolError> {
        let own = self.local_enr.borrow().clone();
        let flags = if self.seed_mode {
            FLAG_SEED
        } else {
            FLAG_WANTS_ADDRESSES
        };
        let status = PexMessage::Status(Status {
            version: u64::from(PEX_VERSION),
            flags,
            enr: own,
            max_records: MAX_RECORDS as u64,
        });
        send(&conn, &status).await?;
        let (code, payload) = timeout(STATUS_TIMEOUT, conn.recv())
            .await
            .map_err(|_| ProtocolError::Timeout("no pex Status".into()))??;
        let status = match PexMessage::decode(code, &payload) {
            Ok(PexMessage::Status(status)) => status,
            Ok(other) => {
                return Err(ProtocolError::BadMessage(format!(
                    "pex message {} before Status",
                    other.code()
                )))
            }
            Err(error) => return Err(ProtocolError::BadMessage(error.to_string())),
        };
        if status.version == 0 {
            return Err(ProtocolError::Incompatible("pex version 0".into()));
        }
        match enr_peer_id(&status.enr) {
            Ok(id) if id == peer.id => {}
            _ => {
                return Err(ProtocolError::Misbehaved(
                    "pex Status record is not signed by the session's key".into(),
                ))
            }
        }
        let outbound = peer.direction == Direction::Outbound;
        // Inbound peers are trusted less: we ask at once only peers we dialed, and seeds
        // (whose sessions, ours or their crawls, exist only for the exchange).
        let ask_now = outbound || status.is_seed();
        let ip = peer.remote_addr.ip();
        let (reply, registered) = oneshot::channel();
        self.requests
            .send(Request::Register {
                session: SessionInfo {
                    id: peer.id,
                    ip,
                    own_record: status.enr.clone(),
                    asked: ask_now,
                },
                reply,
            })
            .await
            .map_err(|_| service_gone())?;
        let Registration {
            role,
            private,
            commands,
        } = registered.await.map_err(|_| service_gone())?;
        let mut session = Session {
            source: GossipSource {
                id: peer.id,
                ip,
                private,
            },
            peer,
            conn,
            requests: self.requests,
            metrics: self.metrics,
            seed_mode: self.seed_mode,
            peer_is_seed: status.is_seed(),
            role,
            response_timeout: self.response_timeout,
            bucket: RequestBucket::new(Instant::now()),
            flood: 0,
            next_request_id: rand::thread_rng().gen(),
            outstanding: None,
        };
        if ask_now {
            session.ask().await?;
        }
        session.run(commands).await
    }
}

/// What handling one message asks the loop to do.
enum Next {
    Continue,
    End(Result<(), ProtocolError>),
}

impl Session {
    async fn run(
        &mut self,
        mut commands: mpsc::Receiver<SessionCommand>,
    ) -> Result<(), ProtocolError> {
        loop {
            let deadline = self.outstanding.map(|(_, at)| at);
            tokio::select! {
                message = self.conn.recv() => {
                    let (code, payload) = message?;
                    if let Next::End(result) = self.on_message(code, &payload).await? {
                        return result;
                    }
                }
                Some(SessionCommand::Ask) = commands.recv() => {
                    if self.outstanding.is_none() {
                        self.ask().await?;
                    }
                }
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.outstanding = None;
                    self.report_answer(None).await?;
                    if self.role == Role::Crawl || self.peer_is_seed {
                        return Err(ProtocolError::Timeout("no answer to GetPeers".into()));
                    }
                }
            }
        }
    }

    async fn ask(&mut self) -> Result<(), ProtocolError> {
        let request_id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        send(
            &self.conn,
            &PexMessage::GetPeers(GetPeers {
                request_id,
                limit: MAX_RECORDS as u64,
            }),
        )
        .await?;
        bump(&self.metrics.requests_sent, 1);
        self.outstanding = Some((
            request_id,
            super::after(Instant::now(), self.response_timeout),
        ));
        Ok(())
    }

    async fn on_message(&mut self, code: u64, payload: &[u8]) -> Result<Next, ProtocolError> {
        let message = match PexMessage::decode(code, payload) {
            Ok(message) => message,
            Err(error) => {
                self.penalize(Misbehaviour::ProtocolViolation).await?;
                return Err(ProtocolError::BadMessage(error.to_string()));
            }
        };
        match message {
            PexMessage::Status(_) => {
                self.penalize(Misbehaviour::ProtocolViolation).await?;
                Err(ProtocolError::BadMessage("a second pex Status".into()))
            }
            PexMessage::GetPeers(request) => self.on_get_peers(request).await,
            PexMessage::Peers(peers) => self.on_peers(peers).await,
        }
    }

    async fn on_get_peers(&mut self, request: GetPeers) -> Result<Next, ProtocolError> {
        let now = Instant::now();
        if !self.bucket.try_take(now) {
            self.flood += 1;
            // Keep request/answer pairing: the peer gets an empty answer.
            self.answer(request.request_id, Vec::new()).await?;
            let banned = self.penalize(Misbehaviour::RequestFlood).await?;
            if banned || self.flood >= FLOOD_DISCONNECT {
                return Err(ProtocolError::Misbehaved(format!(
                    "{} GetPeers over the rate limit",
                    self.flood
                )));
            }
            return Ok(Next::Continue);
        }
        self.flood = 0;
        let limit = usize::try_from(request.limit)
            .unwrap_or(MAX_RECORDS)
            .min(MAX_RECORDS);
        let (reply, records) = oneshot::channel();
        self.requests
            .send(Request::Select {
                requester: self.peer.id,
                limit,
                reply,
            })
            .await
            .map_err(|_| service_gone())?;
        let records = records.await.map_err(|_| service_gone())?;
        self.answer(request.request_id, records).await?;
        bump(&self.metrics.requests_served, 1);
        if self.seed_mode && self.peer.direction == Direction::Inbound {
            // One answer per session; the Disconnect goes behind it through the same queue.
            let end = self
                .conn
                .disconnect_after_sent(DisconnectReason::DisconnectRequested)
                .await;
            return Ok(Next::End(Err(ProtocolError::Session(end))));
        }
        Ok(Next::Continue)
    }

    async fn answer(
        &self,
        request_id: u64,
        records: Vec<GossipRecord>,
    ) -> Result<(), ProtocolError> {
        send(
            &self.conn,
            &PexMessage::Peers(peers_message(request_id, records)),
        )
        .await
    }

    async fn on_peers(&mut self, peers: Peers) -> Result<Next, ProtocolError> {
        match self.outstanding {
            Some((id, _)) if id == peers.request_id => {}
            _ => {
                // Stale (after our timeout) or never asked: ignored, scored lightly.
                if self.penalize(Misbehaviour::UnsolicitedPeers).await? {
                    return Err(ProtocolError::Misbehaved(
                        "answers to requests never made".into(),
                    ));
                }
                return Ok(Next::Continue);
            }
        }
        self.outstanding = None;
        let invalid = peers.invalid;
        let reply = self
            .report_answer(Some((gossip_records(peers), invalid)))
            .await?;
        if reply.is_some_and(|r| r.banned) {
            return Err(ProtocolError::Misbehaved("forged records".into()));
        }
        if self.role == Role::Crawl || self.peer_is_seed {
            // A crawl or a seed: the answer is all we came for.
            return Ok(Next::End(Ok(())));
        }
        Ok(Next::Continue)
    }

    /// Hands an answer (or a timeout) to the service; `None` back for a timeout.
    async fn report_answer(
        &self,
        answer: Option<(Vec<GossipRecord>, usize)>,
    ) -> Result<Option<AnswerReply>, ProtocolError> {
        let timed_out = answer.is_none();
        let (reply, outcome) = oneshot::channel();
        self.requests
            .send(Request::Answer {
                from: self.source,
                answer,
                reply,
            })
            .await
            .map_err(|_| service_gone())?;
        if timed_out {
            return Ok(None);
        }
        outcome.await.map(Some).map_err(|_| service_gone())
    }

    /// Scores `what` against the peer; true when the book now bans it.
    async fn penalize(&self, what: Misbehaviour) -> Result<bool, ProtocolError> {
        let (reply, banned) = oneshot::channel();
        self.requests
            .send(Request::Penalize {
                id: self.peer.id,
                ip: self.source.ip,
                what,
                reply,
            })
            .await
            .map_err(|_| service_gone())?;
        banned.await.map_err(|_| service_gone())
    }
}

/// The Peers message answering `request_id` with `records`: one hint byte per record, bit
/// 0 set where we had a session with the node in the last 24 hours.
fn peers_message(request_id: u64, records: Vec<GossipRecord>) -> Peers {
    let hints = records
        .iter()
        .map(|r| if r.had_session { HINT_CONNECTED } else { 0 })
        .collect();
    Peers {
        request_id,
        records: records.into_iter().map(|r| r.record).collect(),
        hints,
        invalid: 0,
    }
}

/// The records of a received Peers message with their hints (a record past the end of
/// the hints, or whose hint lacks bit 0, claims nothing; other bits are for later versions).
fn gossip_records(peers: Peers) -> Vec<GossipRecord> {
    let hints = peers.hints;
    peers
        .records
        .into_iter()
        .enumerate()
        .map(|(n, record)| GossipRecord {
            record,
            had_session: hints.get(n).is_some_and(|h| h & HINT_CONNECTED != 0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_serves_a_burst_then_one_per_refill() {
        let start = Instant::now();
        let mut bucket = RequestBucket::new(start);
        assert!((0..REQUEST_BURST).all(|_| bucket.try_take(start)));
        assert!(!bucket.try_take(start), "the burst is used up");
        assert!(!bucket.try_take(start + REQUEST_REFILL / 2));
        assert!(bucket.try_take(start + REQUEST_REFILL));
        assert!(!bucket.try_take(start + REQUEST_REFILL));
        // An idle peer earns the whole burst back, no more.
        let later = start + REQUEST_REFILL * 100;
        assert!((0..REQUEST_BURST).all(|_| bucket.try_take(later)));
        assert!(!bucket.try_take(later));
    }

    #[tokio::test(start_paused = true)]
    async fn an_honest_peer_asking_every_ten_seconds_is_always_served() {
        let start = Instant::now();
        let mut bucket = RequestBucket::new(start);
        for i in 0..1000u32 {
            assert!(bucket.try_take(start + REQUEST_REFILL * i), "request {i}");
        }
    }
}
