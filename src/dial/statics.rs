//! Static nodes and how each is reached: a known endpoint, a DNS name resolved before each
//! dial, or no address at all, looked up through discovery with a backoff of 60 s doubling
//! to 1 h (geth's `initialResolveDelay` / `maxResolveDelay`; reset when a lookup succeeds).

use std::{collections::HashMap, net::IpAddr, time::Duration};

use enode::{netutil::normalize_ip, EnodeUrl, Host, NodeRecord, PeerId};
use rlpx::verdict::Verdict;
use tokio::time::Instant;

use crate::peers::expiry::deadline;

/// Where a static node is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StaticAddress {
    /// A known endpoint.
    Record(NodeRecord),
    /// A DNS name, resolved before every dial (the first IPv4 answer, else the first IPv6).
    Dns {
        /// The name.
        host: String,
        /// TCP port.
        tcp_port: u16,
        /// UDP port.
        udp_port: u16,
    },
    /// Unknown: looked up through discovery before dialing.
    Unknown,
}

/// A node to keep connected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StaticNode {
    /// Its identity.
    pub id: PeerId,
    /// Where it is.
    pub address: StaticAddress,
}

impl StaticNode {
    /// A static node at a known endpoint.
    pub fn at(record: NodeRecord) -> Self {
        Self {
            id: record.id,
            address: StaticAddress::Record(record),
        }
    }

    /// A static node whose endpoint discovery has to find.
    pub fn unresolved(id: PeerId) -> Self {
        Self {
            id,
            address: StaticAddress::Unknown,
        }
    }
}

impl From<NodeRecord> for StaticNode {
    fn from(record: NodeRecord) -> Self {
        Self::at(record)
    }
}

impl From<EnodeUrl> for StaticNode {
    /// An IP host is a known endpoint, a DNS host is resolved at dial time, no host at all
    /// (`enode://<id>`) is looked up through discovery.
    fn from(url: EnodeUrl) -> Self {
        let address = match url.host {
            Some(Host::Ip(ip)) => StaticAddress::Record(NodeRecord {
                address: normalize_ip(ip),
                udp_port: url.udp_port,
                tcp_port: url.tcp_port,
                id: url.id,
            }),
            Some(Host::Dns(host)) => StaticAddress::Dns {
                host,
                tcp_port: url.tcp_port,
                udp_port: url.udp_port,
            },
            None => StaticAddress::Unknown,
        };
        Self {
            id: url.id,
            address,
        }
    }
}

/// The next thing to do for a static node that may be dialed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StaticStep {
    /// Dial this record.
    Dial(NodeRecord),
    /// Look the node up through discovery first.
    LookUp,
    /// Resolve this DNS name first.
    ResolveDns(String),
    /// Nothing to do before this instant (`None`: nothing to do at all).
    Wait(Option<Instant>),
}

/// A static node and what the scheduler learned about reaching it.
#[derive(Debug, Clone)]
pub(crate) struct StaticEntry {
    pub(crate) node: StaticNode,
    /// The endpoint to dial: the configured one, the last resolved or looked-up one, or one
    /// a discovery source offered.
    pub(crate) record: Option<NodeRecord>,
    /// Wait after the next failed lookup.
    lookup_delay: Duration,
    /// No lookup before this instant.
    next_lookup_at: Option<Instant>,
    /// A dial failed in a way that suggests the node moved: look it up before the next dial.
    lookup_again: bool,
}

impl StaticEntry {
    fn new(node: StaticNode, initial_delay: Duration) -> Self {
        let record = match &node.address {
            StaticAddress::Record(record) => Some(*record),
            StaticAddress::Dns { .. } | StaticAddress::Unknown => None,
        };
        Self {
            node,
            record,
            lookup_delay: initial_delay,
            next_lookup_at: None,
            lookup_again: false,
        }
    }

    fn lookup_allowed(&self, now: Instant) -> bool {
        self.next_lookup_at.is_none_or(|at| now >= at)
    }

    /// What to do next, if the node may be dialed now; `can_look_up` says whether the caller
    /// resolves through discovery at all.
    pub(crate) fn step(&self, now: Instant, can_look_up: bool) -> StaticStep {
        match &self.node.address {
            StaticAddress::Dns { host, .. } => StaticStep::ResolveDns(host.clone()),
            StaticAddress::Record(_) | StaticAddress::Unknown => {
                let wants_lookup = self.record.is_none() || self.lookup_again;
                if can_look_up && wants_lookup && self.lookup_allowed(now) {
                    return StaticStep::LookUp;
                }
                match self.record {
                    Some(record) => StaticStep::Dial(record),
                    None if can_look_up => StaticStep::Wait(self.next_lookup_at),
                    None => StaticStep::Wait(None),
                }
            }
        }
    }
}

/// The static nodes, bounded.
#[derive(Debug, Clone)]
pub(crate) struct StaticNodes {
    entries: HashMap<PeerId, StaticEntry>,
    capacity: usize,
    initial_delay: Duration,
    max_delay: Duration,
}

/// The static set is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StaticsFull;

impl StaticNodes {
    pub(crate) fn new(capacity: usize, initial_delay: Duration, max_delay: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
            initial_delay,
            max_delay: max_delay.max(initial_delay),
        }
    }

    /// Adds `node`, or updates the address of a node already there (keeping its lookup
    /// backoff); true if it is new.
    pub(crate) fn add(&mut self, node: StaticNode) -> Result<bool, StaticsFull> {
        if let Some(entry) = self.entries.get_mut(&node.id) {
            if entry.node.address != node.address {
                let fresh = StaticEntry::new(node, self.initial_delay);
                entry.record = fresh.record.or(entry.record);
                entry.node = fresh.node;
            }
            return Ok(false);
        }
        if self.entries.len() >= self.capacity {
            return Err(StaticsFull);
        }
        self.entries
            .insert(node.id, StaticEntry::new(node, self.initial_delay));
        Ok(true)
    }

    pub(crate) fn remove(&mut self, id: &PeerId) -> bool {
        self.entries.remove(id).is_some()
    }

    pub(crate) fn contains(&self, id: &PeerId) -> bool {
        self.entries.contains_key(id)
    }

    pub(crate) fn get(&self, id: &PeerId) -> Option<&StaticEntry> {
        self.entries.get(id)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&PeerId, &StaticEntry)> {
        self.entries.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// A discovery source offered this record for a static node: use it if the node has
    /// no endpoint yet (an address-less static node found without a lookup).
    pub(crate) fn learn(&mut self, record: NodeRecord) {
        if let Some(entry) = self.entries.get_mut(&record.id) {
            if entry.node.address == StaticAddress::Unknown && entry.record.is_none() {
                entry.record = Some(record);
            }
        }
    }

    /// A lookup started at `now`: no other before the current delay has passed.
    pub(crate) fn lookup_started(&mut self, now: Instant, id: &PeerId) {
        if let Some(entry) = self.entries.get_mut(id) {
            entry.next_lookup_at = Some(deadline(now, entry.lookup_delay));
        }
    }

    /// A lookup ended: a found record resets the backoff; a failure doubles it (up to the
    /// maximum). Returns the record to dial now, if any (the old one after a failure).
    pub(crate) fn lookup_finished(
        &mut self,
        now: Instant,
        id: &PeerId,
        found: Option<NodeRecord>,
    ) -> Option<NodeRecord> {
        let entry = self.entries.get_mut(id)?;
        entry.lookup_again = false;
        match found.filter(|r| r.id == *id) {
            Some(record) => {
                entry.record = Some(record);
                entry.lookup_delay = self.initial_delay;
                entry.next_lookup_at = Some(deadline(now, self.initial_delay));
            }
            None => {
                entry.next_lookup_at = Some(deadline(now, entry.lookup_delay));
                entry.lookup_delay = entry.lookup_delay.saturating_mul(2).min(self.max_delay);
            }
        }
        entry.record
    }

    /// A DNS resolution ended with `addresses` (empty on failure): the first IPv4 address,
    /// else the first IPv6 one, becomes the endpoint. Returns the record to dial now, if
    /// any (the previous one when nothing was found).
    pub(crate) fn dns_finished(&mut self, id: &PeerId, addresses: &[IpAddr]) -> Option<NodeRecord> {
        let entry = self.entries.get_mut(id)?;
        let StaticAddress::Dns {
            tcp_port, udp_port, ..
        } = entry.node.address
        else {
            return entry.record;
        };
        let chosen = addresses
            .iter()
            .map(|ip| normalize_ip(*ip))
            .find(IpAddr::is_ipv4)
            .or_else(|| addresses.first().map(|ip| normalize_ip(*ip)));
        if let Some(address) = chosen {
            entry.record = Some(NodeRecord {
                address,
                udp_port,
                tcp_port,
                id: *id,
            });
        }
        entry.record
    }

    /// A dial failed: after a network-level failure (transient, timeout) the node may have
    /// moved, so it is looked up again before the next dial (geth resolves once more).
    pub(crate) fn dial_failed(&mut self, id: &PeerId, verdict: Verdict) {
        if let Some(entry) = self.entries.get_mut(id) {
            if matches!(verdict, Verdict::Transient | Verdict::Timeout) {
                entry.lookup_again = true;
            }
        }
    }

    /// The wait before the next lookup after a failure (for tests and introspection).
    pub(crate) fn lookup_delay(&self, id: &PeerId) -> Option<Duration> {
        self.entries.get(id).map(|e| e.lookup_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn record(n: u8) -> NodeRecord {
        NodeRecord {
            address: IpAddr::from([10, 0, 0, n]),
            udp_port: 30303,
            tcp_port: 30303,
            id: PeerId([n; 64]),
        }
    }

    fn statics() -> StaticNodes {
        StaticNodes::new(4, 60 * SEC, 3600 * SEC)
    }

    #[test]
    fn enode_urls_become_the_right_address_kind() {
        let id = PeerId([1; 64]);
        let url = |host| EnodeUrl {
            id,
            host,
            tcp_port: 30303,
            udp_port: 30301,
        };
        let ip = StaticNode::from(url(Some(Host::Ip("::ffff:1.2.3.4".parse().unwrap()))));
        assert_eq!(
            ip.address,
            StaticAddress::Record(NodeRecord {
                address: "1.2.3.4".parse().unwrap(),
                udp_port: 30301,
                tcp_port: 30303,
                id
            })
        );
        let dns = StaticNode::from(url(Some(Host::Dns("node.example".into()))));
        assert!(
            matches!(dns.address, StaticAddress::Dns { ref host, tcp_port: 30303, .. } if host == "node.example")
        );
        assert_eq!(StaticNode::from(url(None)).address, StaticAddress::Unknown);
    }

    #[test]
    fn lookup_backoff_doubles_from_60_s_to_an_hour_and_resets_on_success() {
        let t0 = Instant::now();
        let mut s = statics();
        let id = PeerId([1; 64]);
        s.add(StaticNode::unresolved(id)).unwrap();
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..9 {
            assert_eq!(s.get(&id).unwrap().step(now, true), StaticStep::LookUp);
            s.lookup_started(now, &id);
            assert_eq!(s.lookup_finished(now, &id, None), None);
            let StaticStep::Wait(Some(next)) = s.get(&id).unwrap().step(now, true) else {
                panic!("must wait after a failed lookup");
            };
            waits.push((next - now).as_secs());
            now = next;
        }
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        // Found: dial it, and the delay starts from 60 s again.
        let found = s.lookup_finished(now, &id, Some(record(1)));
        assert_eq!(found, Some(record(1)));
        assert_eq!(s.lookup_delay(&id), Some(60 * SEC));
        assert_eq!(
            s.get(&id).unwrap().step(now, true),
            StaticStep::Dial(record(1))
        );
    }

    #[test]
    fn a_network_failure_asks_for_a_new_lookup_when_allowed() {
        let t0 = Instant::now();
        let mut s = statics();
        s.add(StaticNode::at(record(1))).unwrap();
        let id = record(1).id;
        assert_eq!(
            s.get(&id).unwrap().step(t0, true),
            StaticStep::Dial(record(1))
        );
        s.dial_failed(&id, Verdict::Busy);
        assert_eq!(
            s.get(&id).unwrap().step(t0, true),
            StaticStep::Dial(record(1))
        );
        s.dial_failed(&id, Verdict::Timeout);
        assert_eq!(s.get(&id).unwrap().step(t0, true), StaticStep::LookUp);
        assert_eq!(
            s.get(&id).unwrap().step(t0, false),
            StaticStep::Dial(record(1))
        );
        s.lookup_started(t0, &id);
        // Not found: the configured endpoint is dialed anyway.
        assert_eq!(s.lookup_finished(t0, &id, None), Some(record(1)));
    }

    #[test]
    fn dns_prefers_the_first_ipv4_answer_and_keeps_the_old_one_on_failure() {
        let mut s = statics();
        let id = PeerId([2; 64]);
        s.add(StaticNode {
            id,
            address: StaticAddress::Dns {
                host: "n.example".into(),
                tcp_port: 1,
                udp_port: 2,
            },
        })
        .unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let found = s.dns_finished(&id, &[v6, v4]).unwrap();
        assert_eq!((found.address, found.tcp_port, found.udp_port), (v4, 1, 2));
        assert_eq!(s.dns_finished(&id, &[]).unwrap().address, v4);
        assert_eq!(s.dns_finished(&id, &[v6]).unwrap().address, v6);
    }

    #[test]
    fn bounded_and_updates_in_place() {
        let mut s = statics();
        for n in 0..4 {
            assert_eq!(s.add(StaticNode::at(record(n))), Ok(true));
        }
        assert_eq!(s.add(StaticNode::at(record(9))), Err(StaticsFull));
        let moved = NodeRecord {
            tcp_port: 4000,
            ..record(1)
        };
        assert_eq!(s.add(StaticNode::at(moved)), Ok(false));
        assert_eq!(s.get(&record(1).id).unwrap().record, Some(moved));
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn discovery_can_supply_the_address_of_an_unresolved_static_node() {
        let t0 = Instant::now();
        let mut s = statics();
        let id = record(3).id;
        s.add(StaticNode::unresolved(id)).unwrap();
        s.learn(record(3));
        // The learned record is dialed without a lookup.
        assert_eq!(
            s.get(&id).unwrap().step(t0, true),
            StaticStep::Dial(record(3))
        );
        assert_eq!(
            s.get(&id).unwrap().step(t0, false),
            StaticStep::Dial(record(3))
        );
    }
}
