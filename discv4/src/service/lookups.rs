//! The lookups the service task drives, as plain state: each is a [`Lookup`] state machine
//! (`crate::lookup`) kept under a [`LookupId`] with whoever waits for it. The service asks for
//! the next nodes to query, sends the FINDNODEs itself and reports the answers back here;
//! nothing in here does I/O or waits.
//!
//! Lookups submitted while the table is empty are parked here until the service starts them.

use std::collections::{BTreeSet, HashMap, VecDeque};

use tokio::{sync::mpsc, time::Instant};
use tracing::trace;

use crate::lookup::Lookup;

use enode::{NodeId, NodeRecord, PeerId};

use super::{
    command::{Answer, LookupOutcome},
    pending::LookupId,
};

/// Lookups running or parked at once for handles (a refresh's own lookups are not counted);
/// beyond it a new lookup is refused with `RequestError::TooManyRequests`.
pub(crate) const MAX_LOOKUPS: usize = 1024;
/// Newly seen nodes a lookup keeps for a random walk whose consumer is slow; further ones are
/// not handed on (the walk is an endless stream of nodes, a few less do not matter).
const FOUND_BACKLOG: usize = 1024;

/// Where newly seen nodes go while a lookup runs (a random walk's stream). Never blocks: what
/// does not fit in the channel waits in a bounded backlog.
#[derive(Debug)]
pub(crate) struct FoundSink {
    tx: mpsc::Sender<NodeRecord>,
    backlog: VecDeque<NodeRecord>,
}

impl FoundSink {
    pub(crate) const fn new(tx: mpsc::Sender<NodeRecord>) -> Self {
        Self {
            tx,
            backlog: VecDeque::new(),
        }
    }

    /// Hands `nodes` on after whatever waits already. Returns false when the receiver is gone.
    fn offer(&mut self, nodes: &[NodeRecord]) -> bool {
        let room = FOUND_BACKLOG.saturating_sub(self.backlog.len());
        self.backlog.extend(nodes.iter().copied().take(room));
        self.flush()
    }

    /// Hands on what fits and returns the rest (the lookup has ended).
    pub(crate) fn into_undelivered(mut self) -> Vec<NodeRecord> {
        self.flush();
        Vec::from(self.backlog)
    }

    fn flush(&mut self) -> bool {
        while let Some(node) = self.backlog.front() {
            match self.tx.try_send(*node) {
                Ok(()) => {
                    self.backlog.pop_front();
                }
                Err(mpsc::error::TrySendError::Full(_)) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        !self.tx.is_closed()
    }
}

/// Who started a lookup and hears its end.
#[derive(Debug)]
pub(crate) enum Owner {
    /// A handle's lookup or a random walk's.
    Client {
        reply: Answer<LookupOutcome>,
        found: Option<FoundSink>,
    },
    /// A step of the running refresh.
    Refresh,
}

#[derive(Debug)]
struct Active {
    target: PeerId,
    lookup: Lookup,
    owner: Owner,
}

#[derive(Debug)]
struct Parked {
    until: Instant,
    target: PeerId,
    owner: Owner,
}

/// A lookup that has finished.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) closest: Vec<NodeRecord>,
    pub(crate) owner: Owner,
}

/// The lookups the service drives, and those waiting for the table to fill.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    next_id: u64,
    active: HashMap<LookupId, Active>,
    parked: Vec<Parked>,
    /// Lookups that may have queries to send or may have finished.
    dirty: BTreeSet<LookupId>,
}

impl Lookups {
    /// Lookups held for handles (running or parked).
    pub(crate) fn client_count(&self) -> usize {
        self.parked.len()
            + self
                .active
                .values()
                .filter(|a| matches!(a.owner, Owner::Client { .. }))
                .count()
    }

    /// Starts a lookup for `target` from `seeds` (the table's closest nodes).
    pub(crate) fn start(
        &mut self,
        target: PeerId,
        local: NodeId,
        seeds: Vec<NodeRecord>,
        owner: Owner,
    ) -> LookupId {
        let id = LookupId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        let lookup = Lookup::new(target.node_id(), local, seeds);
        let mut owner = owner;
        if let Owner::Client {
            found: Some(sink), ..
        } = &mut owner
        {
            // As geth's lookup iterator does, the table's nodes the lookup starts from are
            // results too: in a small network they may be all there is to find.
            sink.offer(&lookup.result());
        }
        self.active.insert(
            id,
            Active {
                target,
                lookup,
                owner,
            },
        );
        self.dirty.insert(id);
        id
    }

    /// Holds a lookup until the table has a node (or `until`).
    pub(crate) fn park(&mut self, target: PeerId, owner: Owner, until: Instant) {
        self.parked.push(Parked {
            until,
            target,
            owner,
        });
    }

    /// The parked lookups that may start: all of them when `ready`, else those whose wait
    /// ended by `now`.
    pub(crate) fn unpark(&mut self, ready: bool, now: Instant) -> Vec<(PeerId, Owner)> {
        let (go, stay): (Vec<Parked>, Vec<Parked>) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|p| ready || p.until <= now);
        self.parked = stay;
        go.into_iter().map(|p| (p.target, p.owner)).collect()
    }

    /// When the earliest parked lookup stops waiting.
    pub(crate) fn next_unpark(&self) -> Option<Instant> {
        self.parked.iter().map(|p| p.until).min()
    }

    /// A lookup to look at next.
    pub(crate) fn pop_dirty(&mut self) -> Option<LookupId> {
        self.dirty.pop_first()
    }

    /// The target and the next queries of a lookup (up to its concurrency), or `None` when it
    /// is gone — or was dropped here because nobody waits for it any more.
    pub(crate) fn next_queries(&mut self, id: LookupId) -> Option<(PeerId, Vec<NodeRecord>)> {
        let active = self.active.get(&id)?;
        if let Owner::Client { reply, found } = &active.owner {
            let walk_gone = found.as_ref().is_some_and(|f| f.tx.is_closed());
            if reply.is_closed() || walk_gone {
                trace!(target: "discv4", ?id, "lookup abandoned by its caller");
                self.active.remove(&id);
                return None;
            }
        }
        let active = self.active.get_mut(&id)?;
        let mut queries = Vec::new();
        while let Some(node) = active.lookup.next_query() {
            queries.push(node);
        }
        Some((active.target, queries))
    }

    /// Takes the lookup out when it has finished.
    pub(crate) fn take_if_done(&mut self, id: LookupId) -> Option<Finished> {
        if !self.active.get(&id)?.lookup.is_done() {
            return None;
        }
        let active = self.active.remove(&id)?;
        Some(Finished {
            closest: active.lookup.result(),
            owner: active.owner,
        })
    }

    /// A queried node answered with `nodes`.
    pub(crate) fn answered(&mut self, id: LookupId, from: &NodeId, nodes: Vec<NodeRecord>) {
        let Some(active) = self.active.get_mut(&id) else {
            return;
        };
        let fresh = active.lookup.on_reply(from, nodes);
        if let Owner::Client {
            found: Some(sink), ..
        } = &mut active.owner
        {
            if !sink.offer(&fresh) {
                // The walk is gone: `next_queries` drops the lookup.
                trace!(target: "discv4", ?id, "random walk consumer gone");
            }
        }
        self.dirty.insert(id);
    }

    /// A queried node did not answer.
    pub(crate) fn failed(&mut self, id: LookupId, from: &NodeId) {
        if let Some(active) = self.active.get_mut(&id) {
            active.lookup.on_failure(from);
            self.dirty.insert(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        net::{IpAddr, Ipv4Addr},
        time::Duration,
    };
    use tokio::sync::oneshot;

    fn record(i: u8) -> NodeRecord {
        NodeRecord {
            address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
            udp_port: 30303,
            tcp_port: 0,
            id: PeerId([i; 64]),
        }
    }

    fn client() -> (
        Owner,
        oneshot::Receiver<Result<LookupOutcome, super::super::command::RequestError>>,
    ) {
        let (reply, rx) = oneshot::channel();
        (Owner::Client { reply, found: None }, rx)
    }

    #[tokio::test]
    async fn a_slow_walk_keeps_a_bounded_backlog_in_order() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut sink = FoundSink::new(tx);
        let nodes: Vec<NodeRecord> = (1..=5).map(record).collect();
        assert!(sink.offer(&nodes[..3]));
        assert!(sink.offer(&nodes[3..]));
        assert_eq!(rx.recv().await, Some(record(1)));
        assert_eq!(rx.recv().await, Some(record(2)));
        // The rest waits in the backlog; when the lookup ends, what fits goes into the channel
        // and the remainder comes back, in order.
        assert_eq!(sink.into_undelivered(), vec![record(5)]);
        assert_eq!(rx.recv().await, Some(record(3)));
        assert_eq!(rx.recv().await, Some(record(4)));

        let (tx, rx) = mpsc::channel(2);
        let mut sink = FoundSink::new(tx);
        let many: Vec<NodeRecord> = (0..=255u8)
            .cycle()
            .take(FOUND_BACKLOG * 2)
            .map(record)
            .collect();
        assert!(sink.offer(&many));
        assert_eq!(sink.backlog.len(), FOUND_BACKLOG - 2, "bounded");
        drop(rx);
        assert!(!sink.offer(&nodes), "the walk is gone");
    }

    #[tokio::test(start_paused = true)]
    async fn lookups_report_queries_answers_and_their_end() {
        let mut lookups = Lookups::default();
        let (owner, mut done) = client();
        let seeds = vec![record(1), record(2)];
        let id = lookups.start(PeerId([9; 64]), NodeId([0; 32]), seeds, owner);
        assert_eq!(lookups.pop_dirty(), Some(id));
        let (_, queries) = lookups.next_queries(id).unwrap();
        assert_eq!(queries.len(), 2);
        assert!(lookups.take_if_done(id).is_none(), "queries in flight");
        lookups.answered(id, &record(1).id.node_id(), vec![]);
        lookups.failed(id, &record(2).id.node_id());
        assert_eq!(lookups.pop_dirty(), Some(id));
        assert_eq!(lookups.next_queries(id).unwrap().1, vec![]);
        let finished = lookups.take_if_done(id).unwrap();
        assert_eq!(
            finished.closest.len(),
            2,
            "a node that failed stays in the result"
        );
        assert!(
            done.try_recv().is_err(),
            "the service sends the answer, not the registry"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_walk_hears_the_seeds_too() {
        let mut lookups = Lookups::default();
        let (tx, mut rx) = mpsc::channel(8);
        let (reply, _done) = oneshot::channel();
        let owner = Owner::Client {
            reply,
            found: Some(FoundSink::new(tx)),
        };
        let id = lookups.start(
            PeerId([9; 64]),
            NodeId([0; 32]),
            vec![record(1), record(2)],
            owner,
        );
        let mut heard: Vec<NodeRecord> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        heard.sort_by_key(|r| r.id.0[0]);
        assert_eq!(heard, vec![record(1), record(2)]);
        // A seed named again in a reply is not handed on twice. (Asked first: only a node the
        // lookup queried can answer.)
        assert!(lookups.next_queries(id).is_some());
        lookups.answered(id, &record(1).id.node_id(), vec![record(2), record(3)]);
        assert_eq!(rx.try_recv().ok(), Some(record(3)));
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_nobody_waits_for_is_dropped() {
        let mut lookups = Lookups::default();
        let (owner, done) = client();
        let id = lookups.start(PeerId([9; 64]), NodeId([0; 32]), vec![record(1)], owner);
        drop(done);
        assert!(lookups.next_queries(id).is_none());
        assert_eq!(lookups.client_count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn parked_lookups_go_when_ready_or_when_their_wait_ends() {
        let mut lookups = Lookups::default();
        let now = Instant::now();
        lookups.park(PeerId([1; 64]), client().0, now + Duration::from_secs(60));
        lookups.park(PeerId([2; 64]), client().0, now + Duration::from_secs(30));
        assert_eq!(lookups.client_count(), 2);
        assert_eq!(lookups.next_unpark(), Some(now + Duration::from_secs(30)));
        assert!(lookups.unpark(false, now).is_empty());
        let go = lookups.unpark(false, now + Duration::from_secs(30));
        assert_eq!(go.len(), 1);
        assert_eq!(go[0].0, PeerId([2; 64]));
        assert_eq!(lookups.unpark(true, now).len(), 1);
        assert_eq!(lookups.next_unpark(), None);
    }
}
