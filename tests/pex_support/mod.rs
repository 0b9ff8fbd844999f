//! A small in-memory [`PexBook`] for the PEX end-to-end tests (the real address book lives in
//! `src/pex/book/`): verified records keyed by id, a simple retry delay, a decaying-free
//! misbehaviour score that bans at 100, and counters the tests read through a [`Probe`].

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use enode::{build_enr, enr_peer_id, enr_to_node_record, EndpointConfig, Enr, NodeKey, PeerId};
use kadnode::{
    discovery::{Candidate, Outcome},
    pex::{
        BookContext, BookFactory, GossipRecord, GossipSource, IngestReport, Misbehaviour,
        PersistError, PexBook,
    },
};
use rand::RngCore;
use tokio::time::Instant;

/// An entry handed out without a report is offered again after this long.
const REOFFER: Duration = Duration::from_secs(5);

/// What a test can see of a book from outside.
#[derive(Debug, Default)]
pub struct Stats {
    pub known: Vec<PeerId>,
    pub penalties: Vec<Misbehaviour>,
    pub bans: usize,
    pub persists: usize,
    /// Set by a test: the book says it had a session with these nodes (the answer's hint).
    pub had_session: Vec<PeerId>,
    /// Nodes a peer's answer vouched for (hint bit 0), in arrival order.
    pub vouched: Vec<PeerId>,
}

/// Shared view of a [`TestBook`].
pub type Probe = Arc<Mutex<Stats>>;

struct Entry {
    record: Enr,
    eligible_at: Instant,
    /// Handed out to the dialer, and when; offered again after a while without a report.
    handed_out: bool,
    handed_at: Instant,
    crawled_at: Option<Instant>,
    /// Failed dials and sessions since the last success: the retry delay doubles with each.
    failures: u32,
}

/// The test double.
pub struct TestBook {
    own: Option<PeerId>,
    entries: HashMap<PeerId, Entry>,
    scores: HashMap<PeerId, u32>,
    wanted: usize,
    probe: Probe,
}

impl TestBook {
    pub fn new(own: Option<PeerId>, wanted: usize, probe: Probe) -> Self {
        Self {
            own,
            entries: HashMap::new(),
            scores: HashMap::new(),
            wanted,
            probe,
        }
    }

    fn sync(&self) {
        let mut stats = self.probe.lock().unwrap();
        stats.known = self.entries.keys().copied().collect();
    }
}

/// A factory for node configs, with the records the book starts with and its probe.
pub fn factory(own: PeerId, wanted: usize, initial: Vec<Enr>) -> (BookFactory, Probe) {
    let probe = Probe::default();
    let shared = Arc::clone(&probe);
    let factory: BookFactory = Arc::new(move |_context: &BookContext<'_>| {
        let mut book = TestBook::new(Some(own), wanted, Arc::clone(&shared));
        let source = GossipSource {
            id: PeerId([0xee; 64]),
            ip: "10.9.9.9".parse().unwrap(),
            private: false,
        };
        book.ingest(source, initial.clone(), Instant::now());
        Box::new(book)
    });
    (factory, probe)
}

/// A record for key `seed` at 127.0.0.1:`port` (nobody listens there unless a test says).
pub fn record(seed: u8, port: u16) -> Enr {
    // Distinct valid secret keys (a key of all 0xff bytes is above the curve order).
    let mut secret = [1u8; 32];
    secret[31] = seed;
    let key = NodeKey::from_hex(&hex::encode(secret)).unwrap();
    record_of(&key, port)
}

/// `key`'s record (seq 1) at 127.0.0.1:`port`.
pub fn record_of(key: &NodeKey, port: u16) -> Enr {
    let endpoints = EndpointConfig {
        ip4: Some([127, 0, 0, 1].into()),
        tcp4: Some(port),
        udp4: Some(port),
        ..EndpointConfig::default()
    };
    build_enr(key.secret_key(), 1, &endpoints).unwrap()
}

impl PexBook for TestBook {
    fn ingest(&mut self, _source: GossipSource, records: Vec<Enr>, now: Instant) -> IngestReport {
        let mut report = IngestReport::default();
        for record in records {
            let Ok(id) = enr_peer_id(&record) else {
                report.invalid += 1;
                continue;
            };
            if Some(id) == self.own || enr_to_node_record(&record).is_err() {
                report.ignored += 1;
                continue;
            }
            match self.entries.get_mut(&id) {
                Some(entry) if entry.record.seq() < record.seq() => {
                    entry.record = record;
                    report.updated += 1;
                }
                Some(_) => report.ignored += 1,
                None => {
                    self.entries.insert(
                        id,
                        Entry {
                            record,
                            eligible_at: now,
                            handed_out: false,
                            handed_at: now,
                            crawled_at: None,
                            failures: 0,
                        },
                    );
                    report.added += 1;
                }
            }
        }
        self.sync();
        report
    }

    fn ingest_answer(
        &mut self,
        source: GossipSource,
        records: Vec<GossipRecord>,
        now: Instant,
    ) -> IngestReport {
        {
            let mut stats = self.probe.lock().unwrap();
            for gossip in records.iter().filter(|r| r.had_session) {
                if let Ok(id) = enr_peer_id(&gossip.record) {
                    stats.vouched.push(id);
                }
            }
        }
        let records = records.into_iter().map(|r| r.record).collect();
        self.ingest(source, records, now)
    }

    fn select_for_gossip(
        &mut self,
        requester: &PeerId,
        limit: usize,
        _now: Instant,
        _rng: &mut dyn RngCore,
    ) -> Vec<GossipRecord> {
        let had_session = self.probe.lock().unwrap().had_session.clone();
        self.entries
            .iter()
            .filter(|(id, _)| *id != requester)
            .map(|(id, entry)| GossipRecord {
                record: entry.record.clone(),
                had_session: had_session.contains(id),
            })
            .take(limit.min(64))
            .collect()
    }

    fn needs_more(&self, _now: Instant) -> bool {
        self.entries.len() < self.wanted
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn next_candidate(&mut self, now: Instant, rng: &mut dyn RngCore) -> Option<Candidate> {
        // A random eligible entry: always taking the first in map order would hammer the same
        // few (full) nodes while the ones with room wait.
        let eligible: Vec<PeerId> = self
            .entries
            .iter()
            .filter(|(_, entry)| {
                let free = !entry.handed_out || now >= entry.handed_at + REOFFER;
                free && entry.eligible_at <= now
            })
            .map(|(id, _)| *id)
            .collect();
        if eligible.is_empty() {
            return None;
        }
        let pick = eligible[(rng.next_u64() % eligible.len() as u64) as usize];
        let entry = self.entries.get_mut(&pick)?;
        entry.handed_out = true;
        entry.handed_at = now;
        Some(Candidate::new(enr_to_node_record(&entry.record).ok()?))
    }

    fn next_eligible_at(&self, _now: Instant) -> Option<Instant> {
        self.entries
            .values()
            .map(|entry| {
                if entry.handed_out {
                    entry.eligible_at.max(entry.handed_at + REOFFER)
                } else {
                    entry.eligible_at
                }
            })
            .min()
    }

    fn report(&mut self, id: &PeerId, outcome: Outcome, now: Instant) {
        if let Some(entry) = self.entries.get_mut(id) {
            match outcome {
                Outcome::Connected | Outcome::Useful => entry.failures = 0,
                Outcome::Abandoned => {
                    entry.handed_out = false;
                    entry.eligible_at = now + Duration::from_millis(500);
                }
                _ => {
                    entry.handed_out = false;
                    entry.failures = entry.failures.saturating_add(1);
                    let delay = Duration::from_millis(250) * 2u32.pow(entry.failures.min(4));
                    entry.eligible_at = now + delay;
                }
            }
        }
    }

    fn penalize(&mut self, id: &PeerId, _ip: IpAddr, what: Misbehaviour, _now: Instant) -> bool {
        let weight = match what {
            Misbehaviour::RequestFlood => 2,
            Misbehaviour::UnsolicitedPeers => 10,
            Misbehaviour::InvalidRecords | Misbehaviour::ProtocolViolation => 50,
        };
        let score = self.scores.entry(*id).or_default();
        *score += weight;
        let mut stats = self.probe.lock().unwrap();
        stats.penalties.push(what);
        let banned = *score >= 100;
        if banned {
            stats.bans += 1;
        }
        banned
    }

    fn crawl_candidates(&mut self, max: usize, now: Instant) -> Vec<Enr> {
        let mut out = Vec::new();
        for entry in self.entries.values_mut() {
            if out.len() >= max {
                break;
            }
            if entry
                .crawled_at
                .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(120))
            {
                entry.crawled_at = Some(now);
                out.push(entry.record.clone());
            }
        }
        out
    }

    fn persist(&mut self, _now: Instant) -> Result<(), PersistError> {
        self.probe.lock().unwrap().persists += 1;
        Ok(())
    }
}
