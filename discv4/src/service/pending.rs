//! Outstanding requests and the matching of replies to them (geth's reply matchers).
//!
//! A reply counts only if it comes from the same node id *and* IP the request went to, has the
//! expected type, and (for PONG and ENRResponse) carries the request's hash as reply token.
//! Everything else is unsolicited and changes nothing.
//!
//! Each expectation carries its own kind of waiter, so a PONG can only ever reach someone
//! waiting for a PONG: a handle's [`PongInfo`] oneshot, a liveness check, a ping-back or a bond.

use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
};

use tokio::{sync::oneshot, time::Instant};

use crate::{lookup::RESULT_SIZE, proto::PacketKind};

use enode::{Enr, NodeRecord, PeerId};

use super::command::{PongInfo, RequestError};

/// Names one lookup driven by the service, so its FINDNODEs can report back to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct LookupId(pub(crate) u64);

/// Who gets told when a PING ends.
#[derive(Debug)]
pub(crate) enum PongWaiter {
    /// A handle's `ping`.
    Client(oneshot::Sender<Result<PongInfo, RequestError>>),
    /// A table liveness check.
    Revalidation,
    /// We pinged back an unknown pinger; add it (as inbound) when it answers.
    PingBack { record: NodeRecord },
    /// We are bonding with the node before sending it requests.
    Bond,
}

/// Who gets told when a FINDNODE ends.
#[derive(Debug)]
pub(crate) enum NeighborsWaiter {
    /// A handle's `findnode`.
    Client(oneshot::Sender<Result<Vec<NodeRecord>, RequestError>>),
    /// A lookup running in the service.
    Lookup(LookupId),
}

/// Who gets told when an ENRRequest ends.
#[derive(Debug)]
pub(crate) enum EnrWaiter {
    /// A handle's `request_enr`.
    Client(oneshot::Sender<Result<Enr, RequestError>>),
    /// The node advertised a newer ENR seq; offer the fetched record to the table.
    Refresh { record: NodeRecord },
}

/// What a request waits for, and who is told.
#[derive(Debug)]
pub(crate) enum Expect {
    /// A PONG echoing the PING's hash.
    Pong {
        ping_hash: [u8; 32],
        waiter: PongWaiter,
    },
    /// NEIGHBORS packets until `RESULT_SIZE` entries arrived or the deadline passed.
    Neighbors {
        nodes: Vec<NodeRecord>,
        received: usize,
        /// A NEIGHBORS packet arrived, if an empty one: the node answered (it has no nodes
        /// for us), which is not a timeout.
        replied: bool,
        waiter: NeighborsWaiter,
    },
    /// An ENRResponse echoing the request's hash.
    Enr {
        request_hash: [u8; 32],
        waiter: EnrWaiter,
    },
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

/// Where a request went and when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    pub(crate) peer: PeerId,
    pub(crate) ip: IpAddr,
    pub(crate) at: Instant,
    /// What to send again if this first attempt times out (the service's own liveness and
    /// bond PINGs and lookup FINDNODEs get one retransmission; a handle's requests do not:
    /// their caller decides). `None` on a retransmission.
    pub(crate) resend: Option<Resend>,
}

/// A request the service sends a second time when the first went unanswered: on a lossy
/// path a single lost datagram must not cost a table entry or a lookup hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// A PING to this node.
    Ping(NodeRecord),
    /// A FINDNODE for `target` to this node.
    FindNode(NodeRecord, PeerId),
}

/// One outstanding request.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) sent: Sent,
    pub(crate) expect: Expect,
}

/// A FINDNODE that has its answer: the nodes that passed the filters.
#[derive(Debug)]
pub(crate) struct Answered {
    pub(crate) sent: Sent,
    pub(crate) nodes: Vec<NodeRecord>,
    pub(crate) waiter: NeighborsWaiter,
}

/// Outcome of offering NEIGHBORS to the matchers.
#[derive(Debug)]
pub(crate) enum NeighborsMatch {
    /// No FINDNODE to that id and IP is outstanding.
    Unsolicited,
    /// Added to at least one request that wants more.
    Accumulated,
    /// These requests now have enough entries and are finished.
    Completed(Vec<Answered>),
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
        let key = (pending.sent.peer, pending.sent.ip, pending.expect.kind());
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
    ) -> Option<(Sent, PongWaiter)> {
        let pending = self.take_matching(
            peer,
            ip,
            PacketKind::Pong,
            |e| matches!(e, Expect::Pong { ping_hash: h, .. } if h == ping_hash),
        )?;
        match pending.expect {
            Expect::Pong { waiter, .. } => Some((pending.sent, waiter)),
            Expect::Neighbors { .. } | Expect::Enr { .. } => None,
        }
    }

    /// Takes the ENR request answered by this ENRResponse, if any.
    pub(crate) fn take_enr(
        &mut self,
        peer: &PeerId,
        ip: IpAddr,
        request_hash: &[u8; 32],
    ) -> Option<(Sent, EnrWaiter)> {
        let pending = self.take_matching(
            peer,
            ip,
            PacketKind::EnrResponse,
            |e| matches!(e, Expect::Enr { request_hash: h, .. } if h == request_hash),
        )?;
        match pending.expect {
            Expect::Enr { waiter, .. } => Some((pending.sent, waiter)),
            Expect::Pong { .. } | Expect::Neighbors { .. } => None,
        }
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
                            replied,
                            ..
                        },
                    ..
                },
                _,
            )) = self.requests.get_mut(&id)
            {
                *count += received;
                *replied = true;
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
        NeighborsMatch::Completed(
            done.into_iter()
                .filter_map(|id| self.remove(id))
                .filter_map(|pending| match pending.expect {
                    Expect::Neighbors { nodes, waiter, .. } => Some(Answered {
                        sent: pending.sent,
                        nodes,
                        waiter,
                    }),
                    Expect::Pong { .. } | Expect::Enr { .. } => None,
                })
                .collect(),
        )
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
        let key = (pending.sent.peer, pending.sent.ip, pending.expect.kind());
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
            sent: Sent {
                resend: None,
                peer: PeerId([peer; 64]),
                ip: IP,
                at: Instant::now(),
            },
            expect,
        }
    }

    fn pong(ping_hash: [u8; 32]) -> Expect {
        Expect::Pong {
            ping_hash,
            waiter: PongWaiter::Revalidation,
        }
    }

    fn enr(request_hash: [u8; 32]) -> Expect {
        Expect::Enr {
            request_hash,
            waiter: EnrWaiter::Refresh { record: record(0) },
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
        reqs.insert(pending(1, pong([9; 32])), deadline).unwrap();
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
                    replied: false,
                    waiter: NeighborsWaiter::Lookup(LookupId(7)),
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
            NeighborsMatch::Completed(done) => {
                assert_eq!(done.len(), 1);
                assert_eq!(done[0].nodes.len(), 16);
                assert!(matches!(
                    done[0].waiter,
                    NeighborsWaiter::Lookup(LookupId(7))
                ));
            }
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
        reqs.insert(pending(1, enr([1; 32])), now + Duration::from_millis(300))
            .unwrap();
        reqs.insert(pending(2, enr([2; 32])), now + Duration::from_millis(100))
            .unwrap();
        assert!(reqs.insert(pending(3, enr([3; 32])), now).is_err());
        assert_eq!(reqs.next_deadline(), Some(now + Duration::from_millis(100)));
        let expired = reqs.take_expired(now + Duration::from_millis(200));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].sent.peer, PeerId([2; 64]));
        assert_eq!(reqs.len(), 1);
        assert!(reqs.has(&PeerId([1; 64]), IP, PacketKind::EnrResponse));
    }
}
