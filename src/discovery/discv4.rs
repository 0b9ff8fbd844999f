//! discv4 as a [`CandidateSource`]: the random walk's nodes, optionally checked through
//! their ENR before they are offered (geth's `enode.AsyncFilter` over discv4 in the eth
//! backend).
//!
//! Without a filter the walk's nodes go out as they are found. With an [`EnrFilter`], each
//! node is asked for its record (ENRRequest, at most [`ENR_FILTER_PARALLELISM`] at once);
//! a node that does not answer is dropped, and one whose record the application refuses
//! (say, an `eth` entry with another fork id) is dropped too.
//!
//! Every candidate goes out with a discovery hint, filtered or not: a node that passed the
//! filter answered us a moment ago; any other carries the last time the discv4 table saw it
//! answer a liveness check (a dump of the table, asked for at most every
//! [`super::LIVENESS_REFRESH`] while the source is polled), if it did lately. The dial
//! scheduler ranks such a node before a stranger.
//!
//! The source also remembers (bounded) the nodes whose dials or sessions showed they are
//! useless to us, so the walk, which meets the same nodes again and again, does not offer
//! them again; discv4 itself stays unaware of the node.

use std::{
    collections::{HashSet, VecDeque},
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use discv4::service::{BucketDump, Discv4Handle, RandomWalk, RequestError};
use enode::{Enr, NodeRecord, PeerId};
use futures::{stream::FuturesUnordered, Stream};
use tokio::time::Instant;

use super::{
    liveness::LiveNodes,
    source::{Candidate, CandidateHints, CandidateSource, Outcome},
};

/// How many ENR requests the filter keeps in flight (geth's eth backend: 16).
pub const ENR_FILTER_PARALLELISM: usize = 16;
/// How many useless nodes the source remembers so as not to offer them again.
pub const REJECTED_MEMORY: usize = 4096;

/// Judges a node's record: `true` to dial it. Runs in the node's service task, so it must
/// be quick (look at an entry, compare a fork id).
pub type EnrFilter = Arc<dyn Fn(&Enr) -> bool + Send + Sync>;

type EnrLookup = Pin<Box<dyn Future<Output = (NodeRecord, Option<Enr>)> + Send>>;
type TableDump = Pin<Box<dyn Future<Output = Result<Vec<BucketDump>, RequestError>> + Send>>;

/// The discv4 random walk as a candidate source.
pub struct Discv4Source {
    walk: RandomWalk,
    discv4: Discv4Handle,
    live: LiveNodes,
    dumping: Option<TableDump>,
    filter: Option<EnrFilter>,
    checking: FuturesUnordered<EnrLookup>,
    checking_ids: HashSet<PeerId>,
    rejected: HashSet<PeerId>,
    rejected_order: VecDeque<PeerId>,
    walk_ended: bool,
}

impl Discv4Source {
    /// Offers the nodes `discv4`'s random walk finds, each checked by `filter` through its
    /// ENR when a filter is given.
    pub fn new(discv4: &Discv4Handle, filter: Option<EnrFilter>) -> Self {
        Self {
            walk: discv4.random_walk(),
            discv4: discv4.clone(),
            live: LiveNodes::default(),
            dumping: None,
            filter,
            checking: FuturesUnordered::new(),
            checking_ids: HashSet::new(),
            rejected: HashSet::new(),
            rejected_order: VecDeque::new(),
            walk_ended: false,
        }
    }

    /// Keeps the table's view of live nodes fresh: asks for a dump when one is due and
    /// takes it when it comes (the waker is registered either way).
    fn poll_liveness(&mut self, cx: &mut Context<'_>) {
        let now = Instant::now();
        if self.dumping.is_none() && self.live.due(now) {
            self.live.asking(now);
            let discv4 = self.discv4.clone();
            self.dumping = Some(Box::pin(async move { discv4.buckets().await }));
        }
        if let Some(dumping) = self.dumping.as_mut() {
            if let Poll::Ready(result) = dumping.as_mut().poll(cx) {
                self.dumping = None;
                // A service that stopped answers nothing; the walk ends with it.
                if let Ok(buckets) = result {
                    self.live.absorb(Instant::now(), &buckets);
                }
            }
        }
    }

    /// What the table says about node `id`.
    fn hints(&self, id: &PeerId) -> CandidateHints {
        CandidateHints {
            answered_at: self.live.answered_at(id),
            past_sessions: 0,
        }
    }

    fn remember_rejected(&mut self, id: PeerId) {
        if self.rejected.insert(id) {
            self.rejected_order.push_back(id);
            if self.rejected_order.len() > REJECTED_MEMORY {
                if let Some(old) = self.rejected_order.pop_front() {
                    self.rejected.remove(&old);
                }
            }
        }
    }

    /// Pulls walk nodes into ENR checks until [`ENR_FILTER_PARALLELISM`] are in flight.
    fn fill_checks(&mut self, cx: &mut Context<'_>) {
        while !self.walk_ended && self.checking.len() < ENR_FILTER_PARALLELISM {
            match Pin::new(&mut self.walk).poll_next(cx) {
                Poll::Ready(Some(node)) => {
                    if self.rejected.contains(&node.id) || !self.checking_ids.insert(node.id) {
                        continue;
                    }
                    let handle = self.discv4.clone();
                    self.checking.push(Box::pin(async move {
                        let enr = handle.request_enr(node).await.ok();
                        (node, enr)
                    }));
                }
                Poll::Ready(None) => self.walk_ended = true,
                Poll::Pending => break,
            }
        }
    }

    fn poll_filtered(
        &mut self,
        cx: &mut Context<'_>,
        filter: &EnrFilter,
    ) -> Poll<Option<Candidate>> {
        loop {
            self.fill_checks(cx);
            match Pin::new(&mut self.checking).poll_next(cx) {
                Poll::Ready(Some((node, enr))) => {
                    self.checking_ids.remove(&node.id);
                    let Some(enr) = enr else { continue };
                    if !filter(&enr) {
                        self.remember_rejected(node.id);
                        continue;
                    }
                    // The record may carry a newer endpoint than the walk saw.
                    let record = enode::enr_to_node_record(&enr)
                        .ok()
                        .filter(|r| r.id == node.id && r.tcp_port != 0)
                        .unwrap_or(node);
                    let hints = CandidateHints {
                        answered_at: Some(Instant::now()),
                        past_sessions: 0,
                    };
                    return Poll::Ready(Some(Candidate::new(record).with_hints(hints)));
                }
                Poll::Ready(None) if self.walk_ended => return Poll::Ready(None),
                // Nothing in flight: the walk registered the waker in fill_checks.
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl fmt::Debug for Discv4Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discv4Source")
            .field("filtered", &self.filter.is_some())
            .field("checking", &self.checking.len())
            .field("rejected", &self.rejected.len())
            .finish_non_exhaustive()
    }
}

impl CandidateSource for Discv4Source {
    fn name(&self) -> &str {
        "discv4"
    }

    fn poll_next_candidate(&mut self, cx: &mut Context<'_>) -> Poll<Option<Candidate>> {
        self.poll_liveness(cx);
        if let Some(filter) = self.filter.clone() {
            return self.poll_filtered(cx, &filter);
        }
        loop {
            match Pin::new(&mut self.walk).poll_next(cx) {
                Poll::Ready(Some(node)) if self.rejected.contains(&node.id) => {}
                Poll::Ready(Some(node)) => {
                    let hints = self.hints(&node.id);
                    return Poll::Ready(Some(Candidate::new(node).with_hints(hints)));
                }
                other => return other.map(|node| node.map(Candidate::new)),
            }
        }
    }

    fn report(&mut self, id: &PeerId, outcome: Outcome) {
        if outcome.is_fatal() {
            self.remember_rejected(*id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        net::{IpAddr, SocketAddr},
        time::Duration,
    };

    use discv4::{
        db::NodeDb,
        service::{self, Discv4Config},
        transport::{SimConfig, SimNetwork},
    };
    use secp256k1::SecretKey;

    use super::*;
    use crate::discovery::next_candidate;

    fn spawn(net: &SimNetwork, n: u8, boot: Option<NodeRecord>) -> (Discv4Handle, NodeRecord) {
        let addr = SocketAddr::new(IpAddr::from([10, 0, 0, n]), 30303);
        let config = Discv4Config {
            bootnodes: boot.into_iter().collect(),
            tcp_port: 30303,
            ..Discv4Config::default()
        };
        let key = SecretKey::new(&mut rand::thread_rng());
        let socket = Arc::new(net.bind(addr).expect("sim socket"));
        let db = NodeDb::in_memory().expect("in-memory db");
        let handle = service::spawn(config, key, socket, db).expect("discv4 starts");
        let record = NodeRecord {
            address: addr.ip(),
            udp_port: 30303,
            tcp_port: 30303,
            id: handle.local_id(),
        };
        (handle, record)
    }

    #[tokio::test(start_paused = true)]
    async fn unfiltered_candidates_carry_the_answers_the_table_saw() {
        let net = SimNetwork::new(SimConfig::default());
        let (_hub, hub) = spawn(&net, 1, None);
        let nodes: Vec<_> = (2..8).map(|n| spawn(&net, n, Some(hub))).collect();
        let (ours, _) = &nodes[0];
        let mut source = Discv4Source::new(ours, None);
        let started = Instant::now();
        let hinted = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                let candidate = next_candidate(&mut source).await?;
                if let Some(at) = candidate.hints.answered_at {
                    return Some((candidate, at));
                }
            }
        })
        .await;
        let Ok(Some((candidate, at))) = hinted else {
            panic!("no walk candidate carried a discovery answer within 120 s: {hinted:?}");
        };
        assert!(at >= started && at <= Instant::now(), "{candidate:?}");
        // The answer is the table's: the node is a live entry there.
        let buckets = ours.buckets().await.expect("dump");
        assert!(buckets
            .iter()
            .flat_map(|b| &b.entries)
            .any(|e| e.record.id == candidate.record.id && e.is_live));
    }
}
