//! Outstanding requests and the matching of replies to them (geth's reply matchers).
//!
//! A reply counts only if it comes from the same node id *and* IP the request went to, has the
//! expected type, and (for PONG and ENRResponse) carries the request's hash as reply token.
//! Everything else is unsolicited and changes nothing.

use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
};

use tokio::{sync::oneshot, time::Instant};

use crate::{lookup::RESULT_SIZE, proto::PacketKind};

use enode::{NodeRecord, PeerId};

use super::{handle::RequestError, local::Enr};

/// What a request waits for.
#[derive(Debug)]
pub(crate) enum Expect {
    /// A PONG echoing the PING's hash.
    Pong { ping_hash: [u8; 32] },
    /// NEIGHBORS packets until `RESULT_SIZE` entries arrived or the deadline passed.
    Neighbors {
        nodes: Vec<NodeRecord>,
        received: usize,
    },
    /// An ENRResponse echoing the request's hash.
    Enr { request_hash: [u8; 32] },
}

impl Expect {
    const fn kind(&self) -> PacketKind {
        match self {
            Self::Pong { .. } => PacketKind::Pong,
            Self::Neighbors { .. } => PacketKind::Neighbors,
            Self::Enr { .. } => PacketKind::EnrResponse,
        }
    }
}

/// A successful answer to a request.
#[derive(Debug)]
pub enum Reply {
    /// The node answered our PING.
    Pong {
        /// `enr-seq` from the PONG, when the node supports EIP-868.
        enr_seq: Option<u64>,
        /// Round-trip time.
        rtt: std::time::Duration,
    },
    /// Nodes from one or more NEIGHBORS packets (already filtered).
    Neighbors(Vec<NodeRecord>),
    /// The node's record from an ENRResponse (verified, same id).
    Enr(Box<Enr>),
}

/// Who gets told when the request ends.
#[derive(Debug)]
pub(crate) enum Waiter {
    /// A handle call waiting on a oneshot.
    Client(oneshot::Sender<Result<Reply, RequestError>>),
    /// A table liveness check.
    Revalidation,
    /// We pinged back an unknown pinger; add it (as inbound) when it answers.
    PingBack { record: NodeRecord },
    /// The node advertised a newer ENR seq; offer the fetched record to the table.
    EnrRefresh { record: NodeRecord },
}

/// One outstanding request.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) peer: PeerId,
    pub(crate) ip: IpAddr,
    pub(crate) expect: Expect,
    pub(crate) sent_at: Instant,
    pub(crate) waiter: Waiter,
}

/// Outcome of offering NEIGHBORS to the matchers.
#[derive(Debug)]
pub(crate) enum NeighborsMatch {
    /// No FINDNODE to that id and IP is outstanding.
    Unsolicited,
    /// Added to at least one request that wants more.
    Accumulated,
    /// These requests now have enough entries and are finished.
    Completed(Vec<Pending>),
}

type Key = (PeerId, IpAddr, PacketKind);

/// The set of outstanding requests, bounded, with deadlines.
#[derive(Debug)]
pub(crate) struct PendingRequests {
    next_id: u64,
    requests: HashMap<u64, (Pending, Instant)>,
    by_key: HashMap<Key, Vec<u64>>,
    deadlines: BTreeSet<(Instant, u64)>,
    max: usize,
}

impl PendingRequests {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            next_id: 0,
            requests: HashMap::new(),
            by_key: HashMap::new(),
            deadlines: BTreeSet::new(),
            max: max.max(1),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.requests.len()
    }

    /// True when no further request can be registered.
    pub(crate) fn is_full(&self) -> bool {
        self.requests.len() >= self.max
    }

    /// Registers a request. Fails (handing the request back) when the bound is reached.
    pub(crate) fn insert(
        &mut self,
        pending: Pending,
        deadline: Instant,
    ) -> Result<(), Box<Pending>> {
        if self.is_full() {
            return Err(Box::new(pending));
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let key = (pending.peer, pending.ip, pending.expect.kind());
        self.by_key.entry(key).or_default().push(id);
        self.deadlines.insert((deadline, id));
        self.requests.insert(id, (pending, deadline));
        Ok(())
    }

    /// True when a request of this kind to this node is outstanding.
    pub(crate) fn has(&self, peer: &PeerId, ip: IpAddr, kind: PacketKind) -> bool {
        self.by_key
            .get(&(*peer, ip, kind))
            .is_some_and(|ids| !ids.is_empty())
    }

    /// Takes the PING request answered by this PONG, if any.
    pub(crate) fn take_pong(
        &mut self,
        peer: &PeerId,
        ip: IpAddr,
        ping_hash: &[u8; 32],
    ) -> Option<Pending> {
        self.take_matching(
            peer,
            ip,
            PacketKind::Pong,
            |e| matches!(e, Expect::Pong { ping_hash: h } if h == ping_hash),
        )
    }

    /// Takes the ENR request answered by this ENRResponse, if any.
    pub(crate) fn take_enr(
        &mut self,
        peer: &PeerId,
        ip: IpAddr,
        request_hash: &[u8; 32],
    ) -> Option<Pending> {
        self.take_matching(
            peer,
            ip,
            PacketKind::EnrResponse,
            |e| matches!(e, Expect::Enr { request_hash: h } if h == request_hash),
        )
    }

    /// Feeds one NEIGHBORS packet (`received` entries on the wire, of which `nodes` passed the
    /// filters) to every FINDNODE outstanding to that node.
    pub(crate) fn offer_neighbors(
        &mut self,
        peer: &PeerId,
        ip: IpAddr,
        received: usize,
        nodes: &[NodeRecord],
    ) -> NeighborsMatch {
        let key = (*peer, ip, PacketKind::Neighbors);
        let Some(ids) = self.by_key.get(&key).cloned() else {
            return NeighborsMatch::Unsolicited;
        };
        if ids.is_empty() {
            return NeighborsMatch::Unsolicited;
        }
        let mut done = Vec::new();
        for id in ids {
            if let Some((
                Pending {
                    expect:
                        Expect::Neighbors {
                            nodes: acc,
                            received: count,
                        },
                    ..
                },
                _,
            )) = self.requests.get_mut(&id)
            {
                *count += received;
                acc.extend(
                    nodes
                        .iter()
                        .copied()
                        .take(RESULT_SIZE.saturating_sub(acc.len())),
                );
                if *count >= RESULT_SIZE {
                    done.push(id);
                }
            }
        }
        if done.is_empty() {
            return NeighborsMatch::Accumulated;
        }
        NeighborsMatch::Completed(done.into_iter().filter_map(|id| self.remove(id)).collect())
    }

    /// When the earliest deadline falls.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Removes and returns every request whose deadline is at or before `now`.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<Pending> {
        let mut expired = Vec::new();
        while let Some((at, id)) = self.deadlines.first().copied() {
            if at > now {
                break;
            }
            if let Some(pending) = self.remove(id) {
                expired.push(pending);
            } else {
                self.deadlines.remove(&(at, id));
            }
        }
        expired
    }

    /// Removes every request (service shutdown).
    pub(crate) fn drain(&mut self) -> Vec<Pending> {
        let ids: Vec<u64> = self.requests.keys().copied().collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    fn take_matching(
        &mut self,
        peer: &PeerId,
        ip: IpAddr,
        kind: PacketKind,
        pred: impl Fn(&Expect) -> bool,
    ) -> Option<Pending> {
        let ids = self.by_key.get(&(*peer, ip, kind))?;
        let id = ids
            .iter()
            .copied()
            .find(|id| self.requests.get(id).is_some_and(|(p, _)| pred(&p.expect)))?;
        self.remove(id)
    }

    fn remove(&mut self, id: u64) -> Option<Pending> {
        let (pending, deadline) = self.requests.remove(&id)?;
        self.deadlines.remove(&(deadline, id));
        let key = (pending.peer, pending.ip, pending.expect.kind());
        if let Some(ids) = self.by_key.get_mut(&key) {
            ids.retain(|x| *x != id);
            if ids.is_empty() {
                self.by_key.remove(&key);
            }
        }
        Some(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{net::Ipv4Addr, time::Duration};

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const OTHER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    fn pending(peer: u8, expect: Expect) -> Pending {
        Pending {
            peer: PeerId([peer; 64]),
            ip: IP,
            expect,
            sent_at: Instant::now(),
            waiter: Waiter::Revalidation,
        }
    }

    fn record(i: u8) -> NodeRecord {
        NodeRecord {
            address: IP,
            udp_port: 30303,
            tcp_port: 0,
            id: PeerId([i; 64]),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pong_needs_the_right_token_id_and_ip() {
        let mut reqs = PendingRequests::new(10);
        let deadline = Instant::now() + Duration::from_millis(500);
        reqs.insert(pending(1, Expect::Pong { ping_hash: [9; 32] }), deadline)
            .unwrap();
        assert!(
            reqs.take_pong(&PeerId([1; 64]), IP, &[0; 32]).is_none(),
            "wrong token"
        );
        assert!(
            reqs.take_pong(&PeerId([2; 64]), IP, &[9; 32]).is_none(),
            "wrong id"
        );
        assert!(
            reqs.take_pong(&PeerId([1; 64]), OTHER_IP, &[9; 32])
                .is_none(),
            "wrong ip"
        );
        assert!(reqs.take_pong(&PeerId([1; 64]), IP, &[9; 32]).is_some());
        assert_eq!(reqs.len(), 0);
        assert!(
            reqs.take_pong(&PeerId([1; 64]), IP, &[9; 32]).is_none(),
            "answered once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn neighbors_accumulate_until_sixteen() {
        let mut reqs = PendingRequests::new(10);
        let deadline = Instant::now() + Duration::from_millis(500);
        reqs.insert(
            pending(
                1,
                Expect::Neighbors {
                    nodes: vec![],
                    received: 0,
                },
            ),
            deadline,
        )
        .unwrap();
        let peer = PeerId([1; 64]);
        let twelve: Vec<NodeRecord> = (0..12).map(record).collect();
        assert!(matches!(
            reqs.offer_neighbors(&peer, IP, 12, &twelve),
            NeighborsMatch::Accumulated
        ));
        let four: Vec<NodeRecord> = (12..16).map(record).collect();
        match reqs.offer_neighbors(&peer, IP, 4, &four) {
            NeighborsMatch::Completed(done) => match &done[0].expect {
                Expect::Neighbors { nodes, received } => {
                    assert_eq!(nodes.len(), 16);
                    assert_eq!(*received, 16);
                }
                other => panic!("unexpected {other:?}"),
            },
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            reqs.offer_neighbors(&peer, IP, 1, &four[..1]),
            NeighborsMatch::Unsolicited
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_expire_in_order_and_bound_holds() {
        let mut reqs = PendingRequests::new(2);
        let now = Instant::now();
        reqs.insert(
            pending(
                1,
                Expect::Enr {
                    request_hash: [1; 32],
                },
            ),
            now + Duration::from_millis(300),
        )
        .unwrap();
        reqs.insert(
            pending(
                2,
                Expect::Enr {
                    request_hash: [2; 32],
                },
            ),
            now + Duration::from_millis(100),
        )
        .unwrap();
        assert!(reqs
            .insert(
                pending(
                    3,
                    Expect::Enr {
                        request_hash: [3; 32]
                    }
                ),
                now
            )
            .is_err());
        assert_eq!(reqs.next_deadline(), Some(now + Duration::from_millis(100)));
        let expired = reqs.take_expired(now + Duration::from_millis(200));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].peer, PeerId([2; 64]));
        assert_eq!(reqs.len(), 1);
        assert!(reqs.has(&PeerId([1; 64]), IP, PacketKind::EnrResponse));
    }
}
