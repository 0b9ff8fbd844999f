//! Bonding before a request (geth's `ensureBond`), as plain state the service drives.
//!
//! A node answers FINDNODE and ENRRequest only after it has proven our endpoint: it PINGs us
//! and gets our PONG. When we have no sign that a node did (no PING from its id and IP within
//! the bond expiration, or an unanswered FINDNODE since), the request waits behind a bond: we
//! PING the node; an unbonded node answers with a PONG and PINGs us back, and our ingress
//! worker has sent the PONG to that PING before the service sees it. So the request goes out
//! as soon as both have happened — our PING ended and the node's PING arrived — one round trip
//! after the PING, with no timer. A node that does not PING back (it still holds a proof from
//! earlier) gets the request once `settle` has passed after our PING ended; geth always sleeps
//! that long (500 ms).
//!
//! Requests to the same node share one bond, so concurrent lookups PING a node once.

use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
};

use tokio::time::Instant;

use enode::{NodeRecord, PeerId};

use super::pending::{EnrWaiter, NeighborsWaiter};

/// A request held back until its bond is done.
#[derive(Debug)]
pub(crate) enum AfterBond {
    /// A FINDNODE.
    FindNode {
        node: NodeRecord,
        target: PeerId,
        waiter: NeighborsWaiter,
        /// False for the retransmission of a FINDNODE that went unanswered: it is not
        /// retransmitted again.
        first_attempt: bool,
    },
    /// An ENRRequest.
    EnrRequest { node: NodeRecord, waiter: EnrWaiter },
}

type Key = (PeerId, IpAddr);

#[derive(Debug, Default)]
struct Bond {
    /// The node PINGed us since the bond started.
    remote_pinged: bool,
    /// Set when our PING ended: the requests go at this instant at the latest.
    settle_until: Option<Instant>,
    queued: Vec<AfterBond>,
}

/// The bonds in progress, keyed by node id and IP (the endpoint proof is per id and IP).
#[derive(Debug, Default)]
pub(crate) struct Bonds {
    bonds: HashMap<Key, Bond>,
    deadlines: BTreeSet<(Instant, Key)>,
}

impl Bonds {
    /// Queues `after` behind a bond with `node`. Returns true when this starts a new bond: the
    /// caller then PINGs the node (with a waiter that reports to [`Bonds::ping_ended`]).
    pub(crate) fn queue(&mut self, node: &NodeRecord, after: AfterBond) -> bool {
        let mut started = false;
        let bond = self
            .bonds
            .entry((node.id, node.address))
            .or_insert_with(|| {
                started = true;
                Bond::default()
            });
        bond.queued.push(after);
        started
    }

    /// True when a bond with this node is in progress.
    pub(crate) fn contains(&self, peer: &PeerId, ip: IpAddr) -> bool {
        self.bonds.contains_key(&(*peer, ip))
    }

    /// The node PINGed us. Returns the requests that may go now (none when no bond with it is
    /// in progress, or our PING has not ended yet).
    pub(crate) fn remote_pinged(&mut self, peer: &PeerId, ip: IpAddr) -> Vec<AfterBond> {
        let key = (*peer, ip);
        let Some(bond) = self.bonds.get_mut(&key) else {
            return Vec::new();
        };
        bond.remote_pinged = true;
        match bond.settle_until {
            Some(at) => {
                self.deadlines.remove(&(at, key));
                self.release(&key)
            }
            None => Vec::new(),
        }
    }

    /// Our PING ended (answered, timed out or not sent). Returns the requests that may go now:
    /// all of them when the node has PINGed us already; otherwise they wait for its PING until
    /// `settle_until`.
    pub(crate) fn ping_ended(
        &mut self,
        peer: &PeerId,
        ip: IpAddr,
        settle_until: Instant,
    ) -> Vec<AfterBond> {
        let key = (*peer, ip);
        let Some(bond) = self.bonds.get_mut(&key) else {
            return Vec::new();
        };
        if bond.remote_pinged {
            return self.release(&key);
        }
        if bond.settle_until.is_none() {
            bond.settle_until = Some(settle_until);
            self.deadlines.insert((settle_until, key));
        }
        Vec::new()
    }

    /// When the earliest settle wait ends.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// The requests whose settle wait has ended by `now`.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<AfterBond> {
        let mut due = Vec::new();
        while let Some((at, key)) = self.deadlines.first().copied() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, key));
            due.extend(self.release(&key));
        }
        due
    }

    /// Bonds in progress.
    pub(crate) fn len(&self) -> usize {
        self.bonds.len()
    }

    fn release(&mut self, key: &Key) -> Vec<AfterBond> {
        self.bonds
            .remove(key)
            .map(|bond| bond.queued)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::pending::LookupId;
    use std::{net::Ipv4Addr, time::Duration};

    fn node(i: u8) -> NodeRecord {
        NodeRecord {
            address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
            udp_port: 30303,
            tcp_port: 0,
            id: PeerId([i; 64]),
        }
    }

    fn findnode(node: NodeRecord, lookup: u64) -> AfterBond {
        AfterBond::FindNode {
            node,
            target: PeerId([0; 64]),
            waiter: NeighborsWaiter::Lookup(LookupId(lookup)),
            first_attempt: true,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_go_once_our_ping_ended_and_the_node_pinged_back() {
        let mut bonds = Bonds::default();
        let a = node(1);
        assert!(
            bonds.queue(&a, findnode(a, 1)),
            "first request starts the bond"
        );
        assert!(!bonds.queue(&a, findnode(a, 2)), "second one shares it");
        let settle = Instant::now() + Duration::from_millis(500);
        assert!(bonds.ping_ended(&a.id, a.address, settle).is_empty());
        assert_eq!(bonds.next_deadline(), Some(settle));
        // The node's PING arrives: both requests go at once, the timer is gone.
        assert_eq!(bonds.remote_pinged(&a.id, a.address).len(), 2);
        assert_eq!(bonds.next_deadline(), None);
        assert_eq!(bonds.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_ping_back_before_our_pong_releases_on_the_pong() {
        let mut bonds = Bonds::default();
        let a = node(1);
        bonds.queue(&a, findnode(a, 1));
        assert!(bonds.remote_pinged(&a.id, a.address).is_empty());
        let released = bonds.ping_ended(&a.id, a.address, Instant::now());
        assert_eq!(released.len(), 1);
        assert_eq!(bonds.next_deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_ping_back_requests_go_after_the_settle_wait() {
        let mut bonds = Bonds::default();
        let (a, b) = (node(1), node(2));
        bonds.queue(&a, findnode(a, 1));
        bonds.queue(&b, findnode(b, 2));
        let now = Instant::now();
        bonds.ping_ended(&a.id, a.address, now + Duration::from_millis(500));
        bonds.ping_ended(&b.id, b.address, now + Duration::from_millis(700));
        assert!(bonds.take_due(now + Duration::from_millis(499)).is_empty());
        assert_eq!(bonds.take_due(now + Duration::from_millis(500)).len(), 1);
        assert!(bonds.contains(&b.id, b.address));
        assert!(!bonds.contains(&a.id, a.address));
        // PINGs from strangers or other IPs change nothing.
        assert!(bonds.remote_pinged(&a.id, a.address).is_empty());
        assert!(bonds
            .remote_pinged(&b.id, IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)))
            .is_empty());
        assert!(bonds.contains(&b.id, b.address));
    }
}
