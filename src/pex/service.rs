//! The PEX service: one task owns the address book. The `pex/1` run loops talk to it over a
//! bounded channel with typed replies; the node's fair mix takes the book's candidates from
//! it through [`PexSource`]; it tells sessions when to ask, saves the book every
//! `save_interval` and at shutdown, and, as a seed, hands stale entries out to be crawled.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::IpAddr,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use enode::{enr_to_node_record, Enr, PeerId};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use tokio::{
    sync::{mpsc, oneshot, watch},
    time::{sleep_until, Instant},
};

use super::{
    ask_interval::AskInterval,
    config::PexConfig,
    metrics::{bump, PexMetrics},
    seed_answers::SeedAnswers,
    session::{PexProtocol, REQUEST_REFILL},
    source::{PexSource, REPORT_QUEUE},
    BookDump, GossipRecord, GossipSource, Misbehaviour, PexBook,
};
use crate::discovery::{Candidate, Outcome};

/// Requests from the run loops that may wait for the service.
const REQUEST_QUEUE: usize = 256;
/// Commands that may wait for one session.
const SESSION_QUEUE: usize = 4;
/// A crawl target that produced no report by then is counted as done.
const CRAWL_DEADLINE: Duration = Duration::from_secs(30);

/// What a run loop asks of the service.
#[derive(Debug)]
pub(crate) enum Request {
    /// A session passed the Status exchange.
    Register {
        session: SessionInfo,
        reply: oneshot::Sender<Registration>,
    },
    /// A Peers message answering our request, with its hints and the count of records
    /// that did not verify (or `None` on a timeout).
    Answer {
        from: GossipSource,
        answer: Option<(Vec<GossipRecord>, usize)>,
        reply: oneshot::Sender<AnswerReply>,
    },
    /// Records for a requester.
    Select {
        requester: PeerId,
        limit: usize,
        reply: oneshot::Sender<Vec<GossipRecord>>,
    },
    /// Scores misbehaviour; the reply says whether the peer is now banned.
    Penalize {
        id: PeerId,
        ip: IpAddr,
        what: Misbehaviour,
        reply: oneshot::Sender<bool>,
    },
    /// The book's content.
    Dump { reply: oneshot::Sender<BookDump> },
    /// Save the book and stop.
    Shutdown { reply: oneshot::Sender<()> },
}

/// A session as it registers.
#[derive(Debug)]
pub(crate) struct SessionInfo {
    pub(crate) id: PeerId,
    pub(crate) ip: IpAddr,
    /// The peer's own record, from its Status.
    pub(crate) own_record: Enr,
    /// The session already sent its first GetPeers.
    pub(crate) asked: bool,
}

/// What a session does, decided by the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// An ordinary session: asks when told, answers within the rate limit.
    Normal,
    /// A seed's crawl: one GetPeers, then hang up.
    Crawl,
}

/// The service's answer to a registration.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) role: Role,
    pub(crate) private: bool,
    pub(crate) commands: mpsc::Receiver<SessionCommand>,
}

/// What the service tells one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionCommand {
    /// Send a GetPeers (if none is outstanding).
    Ask,
}

/// The service's answer to an answer: whether the sender is now banned (for forged
/// records).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnswerReply {
    pub(crate) banned: bool,
}

/// The handle to a running PEX service: its counters, our record as sessions announce it,
/// and shutdown (which saves the book).
#[derive(Debug, Clone)]
pub struct PexHandle {
    requests: mpsc::Sender<Request>,
    local_enr: Arc<watch::Sender<Enr>>,
    metrics: Arc<PexMetrics>,
}

impl PexHandle {
    /// The service's counters.
    pub fn metrics(&self) -> &Arc<PexMetrics> {
        &self.metrics
    }

    /// Announces `record` in the Status of sessions from now on (after an endpoint or
    /// sequence change).
    pub fn set_local_record(&self, record: Enr) {
        self.local_enr.send_replace(record);
    }

    /// The book's entries, bans and table sizes; `None` once the service stopped.
    pub async fn book(&self) -> Option<BookDump> {
        let (reply, dump) = oneshot::channel();
        self.requests.send(Request::Dump { reply }).await.ok()?;
        dump.await.ok()
    }

    /// Saves the book and stops the service; returns at once if it already stopped.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .requests
            .send(Request::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
    }
}

/// The three parts of a started PEX service.
#[derive(Debug)]
pub struct PexParts {
    /// The `pex/1` capability, for the node's protocols.
    pub protocol: PexProtocol,
    /// The book's candidates, for the node's fair mix.
    pub source: PexSource,
    /// Metrics and shutdown.
    pub handle: PexHandle,
}

/// Starts the service task over `book`. `local_enr` is our signed record (it must carry our
/// node key: peers check it against the session).
pub fn spawn_pex(book: Box<dyn PexBook>, config: PexConfig, local_enr: Enr) -> PexParts {
    let metrics = Arc::new(PexMetrics::default());
    let (requests_tx, requests) = mpsc::channel(REQUEST_QUEUE);
    let (reports_tx, reports) = mpsc::channel(REPORT_QUEUE);
    let (candidates_tx, candidates) = mpsc::channel(1);
    let (enr_tx, enr_rx) = watch::channel(local_enr);
    let protocol = PexProtocol::new(
        requests_tx.clone(),
        enr_rx,
        config.seed_mode,
        config.response_timeout,
        Arc::clone(&metrics),
    );
    let source = PexSource {
        candidates,
        reports: reports_tx,
        metrics: Arc::clone(&metrics),
    };
    let handle = PexHandle {
        requests: requests_tx,
        local_enr: Arc::new(enr_tx),
        metrics: Arc::clone(&metrics),
    };
    let service = Service {
        private: config.private_ids.iter().copied().collect(),
        ask_interval: AskInterval::new(config.ensure_period, config.max_ensure_period),
        config,
        book,
        rng: StdRng::from_entropy(),
        sessions: HashMap::new(),
        crawl_queue: VecDeque::new(),
        crawling: HashMap::new(),
        seed_retry: HashMap::new(),
        seed_answers: SeedAnswers::default(),
        metrics,
    };
    tokio::spawn(service.run(requests, reports, candidates_tx));
    PexParts {
        protocol,
        source,
        handle,
    }
}

struct SessionEntry {
    commands: mpsc::Sender<SessionCommand>,
    outstanding: bool,
    /// We asked this peer at least once.
    asked: bool,
    /// When we last asked: a peer is asked at most once per [`REQUEST_REFILL`], the rate
    /// its token bucket refills at, so an honest node never runs into anyone's limit.
    asked_at: Option<Instant>,
    /// The session's remote IP.
    ip: IpAddr,
}

struct Service {
    config: PexConfig,
    book: Box<dyn PexBook>,
    rng: StdRng,
    private: HashSet<PeerId>,
    sessions: HashMap<PeerId, SessionEntry>,
    /// Seed mode: entries waiting for a crawl slot, and those being crawled (with deadline).
    crawl_queue: VecDeque<Candidate>,
    crawling: HashMap<PeerId, Instant>,
    /// Seeds: when each may be offered again.
    seed_retry: HashMap<PeerId, Instant>,
    ask_interval: AskInterval,
    metrics: Arc<PexMetrics>,
    seed_answers: SeedAnswers,
}

impl Service {
    async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut reports: mpsc::Receiver<(PeerId, Outcome)>,
        candidates: mpsc::Sender<Candidate>,
    ) {
        let start = Instant::now();
        // New outbound sessions ask at once; the periodic ask starts within one period.
        let first_ask = self
            .config
            .ensure_period
            .mul_f64(self.rng.gen_range(0.0..1.0));
        let mut next_ask = super::after(start, first_ask);
        let mut next_save = super::after(start, self.config.save_interval);
        let mut next_crawl = start;
        let mut slot: Option<mpsc::OwnedPermit<Candidate>> = None;
        let mut source_gone = false;
        let mut shutdown_reply = None;
        loop {
            let now = Instant::now();
            let mut wake = None;
            if let Some(permit) = slot.take() {
                match self.next_offer(now) {
                    Some(candidate) => drop(permit.send(candidate)),
                    None => {
                        wake = self.next_offer_at(now);
                        slot = Some(permit);
                    }
                }
            }
            self.update_book_gauges(now);
            let seed_mode = self.config.seed_mode;
            tokio::select! {
                request = requests.recv() => match request {
                    Some(Request::Shutdown { reply }) => {
                        shutdown_reply = Some(reply);
                        break;
                    }
                    Some(request) => self.on_request(request),
                    None => break,
                },
                Some((id, outcome)) = reports.recv() => self.on_report(id, outcome),
                permit = candidates.clone().reserve_owned(), if slot.is_none() && !source_gone => {
                    match permit {
                        Ok(permit) => slot = Some(permit),
                        // The node dropped the source (no dialing): nothing more to offer.
                        Err(_) => source_gone = true,
                    }
                }
                () = sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
                () = sleep_until(next_ask), if !seed_mode => {
                    let interval = self.ask_interval.on_tick();
                    self.ask_someone(Instant::now());
                    next_ask = super::after(Instant::now(), self.jitter(interval));
                }
                () = sleep_until(next_crawl), if seed_mode => {
                    self.crawl_round(Instant::now());
                    next_crawl = super::after(Instant::now(), self.config.crawl_period);
                }
                () = sleep_until(next_save) => {
                    self.persist(Instant::now());
                    next_save = super::after(Instant::now(), self.config.save_interval);
                }
            }
        }
        self.persist(Instant::now());
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    /// `period` ± 25 %, so nodes started together do not ask in lockstep.
    fn jitter(&mut self, period: Duration) -> Duration {
        let factor = self.rng.gen_range(0.75..1.25);
        Duration::try_from_secs_f64(period.as_secs_f64() * factor).unwrap_or(Duration::MAX)
    }

    fn persist(&mut self, now: Instant) {
        if let Err(error) = self.book.persist(now) {
            tracing::warn!(target: "kadnode::pex", %error, "address book not saved");
        }
    }

    /// The next candidate for the mix: a crawl target in seed mode; otherwise the book's
    /// next eligible entry, or a seed when the book has nothing and wants more.
    fn next_offer(&mut self, now: Instant) -> Option<Candidate> {
        if self.config.seed_mode {
            self.crawling.retain(|_, deadline| *deadline > now);
            if self.crawling.len() >= self.config.crawl_concurrency {
                return None;
            }
            let candidate = self.crawl_queue.pop_front()?;
            self.crawling
                .insert(candidate.record.id, now + CRAWL_DEADLINE);
            bump(&self.metrics.crawls, 1);
            return Some(candidate);
        }
        if let Some(candidate) = self.book.next_candidate(now, &mut self.rng) {
            return Some(candidate);
        }
        if !self.book.needs_more(now) {
            return None;
        }
        let seed = self
            .config
            .seeds
            .iter()
            .filter(|seed| !self.sessions.contains_key(&seed.id))
            .find(|seed| self.seed_retry.get(&seed.id).is_none_or(|at| *at <= now))
            .copied()?;
        self.seed_retry
            .insert(seed.id, super::after(now, self.config.ensure_period));
        Some(Candidate::new(seed))
    }

    /// When [`Self::next_offer`] may have something it has not now.
    fn next_offer_at(&self, now: Instant) -> Option<Instant> {
        if self.config.seed_mode {
            // Crawl slots free on reports and registrations, which wake the loop anyway;
            // the deadline is the fallback.
            return (!self.crawl_queue.is_empty())
                .then(|| self.crawling.values().min().copied())
                .flatten();
        }
        let book = self.book.next_eligible_at(now);
        let seeds = self
            .config
            .seeds
            .iter()
            .filter_map(|seed| self.seed_retry.get(&seed.id))
            .filter(|at| **at > now)
            .min()
            .copied();
        match (book, seeds) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn ask_someone(&mut self, now: Instant) {
        self.sessions.retain(|_, entry| !entry.commands.is_closed());
        self.metrics
            .sessions
            .store(self.sessions.len() as u64, Ordering::Relaxed);
        let asks = self.book.peers_to_ask(now);
        if asks == 0 {
            return;
        }
        // Peers never asked first: the stretched interval is about asking the same peers
        // again, a new peer may know something.
        let never_asked = self
            .sessions
            .values()
            .any(|entry| !entry.outstanding && !entry.asked);
        let rested = |entry: &SessionEntry| {
            entry
                .asked_at
                .is_none_or(|at| now.saturating_duration_since(at) >= REQUEST_REFILL)
        };
        let mut idle: Vec<PeerId> = self
            .sessions
            .iter()
            .filter(|(_, entry)| rested(entry))
            .filter(|(_, entry)| !entry.outstanding && (entry.asked || never_asked))
            .filter(|(_, entry)| !never_asked || !entry.asked)
            .map(|(id, _)| *id)
            .collect();
        idle.shuffle(&mut self.rng);
        for id in idle.into_iter().take(asks) {
            if let Some(entry) = self.sessions.get_mut(&id) {
                if entry.commands.try_send(SessionCommand::Ask).is_ok() {
                    entry.outstanding = true;
                    entry.asked = true;
                    entry.asked_at = Some(now);
                }
            }
        }
    }

    fn crawl_round(&mut self, now: Instant) {
        let room = self
            .config
            .crawl_batch
            .saturating_sub(self.crawl_queue.len());
        for record in self.book.crawl_candidates(room, now) {
            if let Ok(node) = enr_to_node_record(&record) {
                self.crawl_queue.push_back(Candidate::new(node));
            }
        }
    }

    fn on_report(&mut self, id: PeerId, outcome: Outcome) {
        let now = Instant::now();
        if outcome != Outcome::Connected {
            // A crawl is over once its dial failed or its session ended.
            self.crawling.remove(&id);
        }
        self.book.report(&id, outcome, now);
    }

    fn update_book_gauges(&self, now: Instant) {
        let stats = self.book.stats(now);
        let m = &self.metrics;
        m.book_size.store(self.book.len() as u64, Ordering::Relaxed);
        m.book_new.store(stats.new as u64, Ordering::Relaxed);
        m.book_tried.store(stats.tried as u64, Ordering::Relaxed);
        m.book_banned.store(stats.banned as u64, Ordering::Relaxed);
    }

    fn on_request(&mut self, request: Request) {
        let now = Instant::now();
        match request {
            Request::Dump { reply } => {
                let _ = reply.send(self.book.dump(now));
            }
            Request::Register { session, reply } => {
                let private = self.private.contains(&session.id);
                let source = GossipSource {
                    id: session.id,
                    ip: session.ip,
                    private,
                };
                self.book.ingest(source, vec![session.own_record], now);
                let role = if self.crawling.contains_key(&session.id) {
                    Role::Crawl
                } else {
                    Role::Normal
                };
                let (commands, receiver) = mpsc::channel(SESSION_QUEUE);
                self.sessions.insert(
                    session.id,
                    SessionEntry {
                        commands,
                        outstanding: session.asked,
                        asked: session.asked,
                        asked_at: session.asked.then_some(now),
                        ip: session.ip,
                    },
                );
                self.metrics
                    .sessions
                    .store(self.sessions.len() as u64, Ordering::Relaxed);
                let _ = reply.send(Registration {
                    role,
                    private,
                    commands: receiver,
                });
            }
            Request::Answer {
                from,
                answer,
                reply,
            } => {
                if let Some(entry) = self.sessions.get_mut(&from.id) {
                    entry.outstanding = false;
                }
                let Some((records, invalid)) = answer else {
                    bump(&self.metrics.request_timeouts, 1);
                    return;
                };
                bump(&self.metrics.gossip_in, records.len());
                let report = self.book.ingest_answer(from, records, now);
                self.ask_interval.on_answer(report.added);
                let mut banned = false;
                if invalid > 0 {
                    bump(&self.metrics.invalid_records, invalid);
                    banned = self.penalize(from.id, from.ip, Misbehaviour::InvalidRecords, now);
                }
                let _ = reply.send(AnswerReply { banned });
            }
            Request::Select {
                requester,
                limit,
                reply,
            } => {
                let requester_ip = self.sessions.get(&requester).map(|s| s.ip);
                let allowed = !self.config.seed_mode
                    || requester_ip.is_none_or(|ip| self.seed_answers.allow(ip, now));
                let records = if allowed {
                    self.book.select_for_gossip(
                        &requester,
                        limit.min(super::wire::MAX_RECORDS),
                        now,
                        &mut self.rng,
                    )
                } else {
                    // Answered this IP within the minute: an empty answer keeps the pairing.
                    bump(&self.metrics.rate_limited, 1);
                    Vec::new()
                };
                bump(&self.metrics.gossip_out, records.len());
                let _ = reply.send(records);
            }
            Request::Penalize {
                id,
                ip,
                what,
                reply,
            } => {
                let banned = self.penalize(id, ip, what, now);
                let _ = reply.send(banned);
            }
            Request::Shutdown { .. } => {}
        }
    }

    fn penalize(&mut self, id: PeerId, ip: IpAddr, what: Misbehaviour, now: Instant) -> bool {
        match what {
            Misbehaviour::RequestFlood => bump(&self.metrics.rate_limited, 1),
            Misbehaviour::UnsolicitedPeers => bump(&self.metrics.unsolicited, 1),
            Misbehaviour::InvalidRecords | Misbehaviour::ProtocolViolation => {}
        }
        let banned = self.book.penalize(&id, ip, what, now);
        if banned {
            bump(&self.metrics.bans, 1);
        }
        banned
    }
}
