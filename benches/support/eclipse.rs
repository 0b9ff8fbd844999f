//! The eclipse attacker of the node simulation: a node that behaves like any other (dials,
//! accepts sessions, speaks `pex/1`, asks for addresses and keeps an honest book of its
//! own) but answers every GetPeers only with other attackers' records, as many as it may
//! send, each with the "had a session" hint set (a lie where it never met them;
//! `NODE_SIM_ECLIPSE_HINTS=0` sends them without).

use std::{net::IpAddr, sync::Arc};

use enode::{build_enr, EndpointConfig, Enr, NodeKey, PeerId};
use kadnode::{
    discovery::{Candidate, Outcome},
    pex::{
        AddressBook, BookConfig, BookContext, BookDump, BookFactory, BookStats, GossipRecord,
        GossipSource, IngestReport, Misbehaviour, PersistError, PexBook,
    },
};
use rand::{seq::SliceRandom, RngCore};
use tokio::time::Instant;

/// The attackers: their keys and the records they gossip about each other.
pub(crate) struct Attackers {
    /// Node index to the attacker's key.
    keys: Vec<Option<NodeKey>>,
    records: Arc<Vec<(PeerId, Enr)>>,
    /// Attackers claim a session with every record they send.
    hint: bool,
}

impl Attackers {
    /// `share` of the nodes other than node 0 (the seed/bootnode), spread evenly over the
    /// indices (so over reachable and unreachable nodes alike); `ip_of` gives a node's IP.
    pub(crate) fn new(nodes: usize, share: f64, ip_of: impl Fn(usize) -> IpAddr) -> Self {
        let every = if share > 0.0 {
            (1.0 / share).round().max(1.0) as usize
        } else {
            usize::MAX
        };
        let mut keys = Vec::with_capacity(nodes);
        let mut records = Vec::new();
        for index in 0..nodes {
            if index == 0 || every == usize::MAX || index % every != every - 1 {
                keys.push(None);
                continue;
            }
            let key = NodeKey::generate();
            let IpAddr::V4(ip4) = ip_of(index) else {
                unreachable!("the simulation uses IPv4");
            };
            let endpoints = EndpointConfig {
                ip4: Some(ip4),
                tcp4: Some(30303),
                udp4: Some(30303),
                ..EndpointConfig::default()
            };
            let record = build_enr(key.secret_key(), 1, &endpoints).expect("attacker record");
            records.push((key.peer_id(), record));
            keys.push(Some(key));
        }
        Self {
            keys,
            records: Arc::new(records),
            hint: std::env::var("NODE_SIM_ECLIPSE_HINTS").map_or(true, |v| v != "0"),
        }
    }

    /// Node `index`'s key when it is an attacker.
    pub(crate) fn key(&self, index: usize) -> Option<NodeKey> {
        self.keys.get(index).cloned().flatten()
    }

    pub(crate) fn is_attacker(&self, id: &PeerId) -> bool {
        self.records.iter().any(|(other, _)| other == id)
    }

    pub(crate) fn count(&self) -> usize {
        self.records.len()
    }

    /// The book factory of an attacker: a real address book whose answers are replaced.
    pub(crate) fn book(&self) -> BookFactory {
        let records = Arc::clone(&self.records);
        let hint = self.hint;
        let honest = AddressBook::factory(BookConfig::default());
        Arc::new(move |context: &BookContext<'_>| -> Box<dyn PexBook> {
            Box::new(AttackerBook {
                inner: honest(context),
                own: context.local_id,
                records: Arc::clone(&records),
                hint,
            })
        })
    }
}

struct AttackerBook {
    inner: Box<dyn PexBook>,
    own: Option<PeerId>,
    records: Arc<Vec<(PeerId, Enr)>>,
    hint: bool,
}

impl PexBook for AttackerBook {
    fn select_for_gossip(
        &mut self,
        requester: &PeerId,
        limit: usize,
        _now: Instant,
        rng: &mut dyn RngCore,
    ) -> Vec<GossipRecord> {
        let mut others: Vec<&(PeerId, Enr)> = self
            .records
            .iter()
            .filter(|(id, _)| id != requester && Some(*id) != self.own)
            .collect();
        others.shuffle(rng);
        others
            .into_iter()
            .take(limit.min(64))
            .map(|(_, record)| GossipRecord {
                record: record.clone(),
                had_session: self.hint,
            })
            .collect()
    }

    fn ingest(&mut self, source: GossipSource, records: Vec<Enr>, now: Instant) -> IngestReport {
        self.inner.ingest(source, records, now)
    }
    fn ingest_answer(
        &mut self,
        source: GossipSource,
        records: Vec<GossipRecord>,
        now: Instant,
    ) -> IngestReport {
        self.inner.ingest_answer(source, records, now)
    }
    fn needs_more(&self, now: Instant) -> bool {
        self.inner.needs_more(now)
    }
    // Forwarded like every other method: the trait's default (one peer per tick) would
    // make attackers ask less than honest books do.
    fn peers_to_ask(&self, now: Instant) -> usize {
        self.inner.peers_to_ask(now)
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn next_candidate(&mut self, now: Instant, rng: &mut dyn RngCore) -> Option<Candidate> {
        self.inner.next_candidate(now, rng)
    }
    fn next_eligible_at(&self, now: Instant) -> Option<Instant> {
        self.inner.next_eligible_at(now)
    }
    fn report(&mut self, id: &PeerId, outcome: Outcome, now: Instant) {
        self.inner.report(id, outcome, now);
    }
    fn penalize(&mut self, id: &PeerId, ip: IpAddr, what: Misbehaviour, now: Instant) -> bool {
        self.inner.penalize(id, ip, what, now)
    }
    fn crawl_candidates(&mut self, max: usize, now: Instant) -> Vec<Enr> {
        self.inner.crawl_candidates(max, now)
    }
    fn persist(&mut self, now: Instant) -> Result<(), PersistError> {
        self.inner.persist(now)
    }
    fn stats(&self, now: Instant) -> BookStats {
        self.inner.stats(now)
    }
    fn dump(&self, now: Instant) -> BookDump {
        self.inner.dump(now)
    }
}
