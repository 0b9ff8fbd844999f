//! The 17-bucket Kademlia table (pure data structure, no I/O).
//!
//! go-ethereum's design (`p2p/discover/table.go`, revalidation from PR #29572):
//!
//! - Bucket index 0 holds every node at log-distance ≤ 240 from us, 241..=256 map to
//!   buckets 1..=16. Each bucket has up to 16 entries (unordered) and a replacement list
//!   of up to 10 nodes, newest first.
//! - IP diversity: at most 2 nodes per /24 per bucket and 10 per /24 in the table, counting
//!   replacement-list nodes too; LAN and loopback addresses are exempt.
//! - Nodes found through lookups/NEIGHBORS/seeds ([`Table::add_found`]) only update an
//!   existing entry with a strictly higher seq; nodes that contacted us
//!   ([`Table::add_inbound`]) may update it with any record but are refused until
//!   [`Table::set_init_done`].
//! - Revalidation: two lists, fast (3 s) and slow (9 s), each with its own next-run time
//!   drawn uniformly from `[now, now + interval)`. The service asks
//!   [`Table::next_revalidation_at`] when to wake up, takes checks with
//!   [`Table::poll_revalidation`], pings, and reports with
//!   [`Table::on_revalidation_result`].
//!
//! One deliberate difference from geth (DESIGN.md): a failed check never removes the
//! table's last node when no replacement can take its place.
//!
//! Time is passed in as `now` and randomness comes from the injected [`StdRng`], so the
//! table is deterministic under test.

mod config;
mod entry;
mod ip_limits;
mod outcome;
mod query;
mod revalidation;
#[cfg(test)]
mod tests;

use std::{collections::VecDeque, net::IpAddr};

use rand::{rngs::StdRng, Rng};
use tokio::time::Instant;

pub use config::{TableConfig, BUCKET_MIN_DISTANCE, BUCKET_SIZE, MAX_REPLACEMENTS, N_BUCKETS};
pub use entry::{Entry, NodeInfo, RevalidationList};
pub use outcome::{
    AddOutcome, CheckOutcome, RefuseReason, Removal, RevalidationRequest, RevalidationResult,
    TableEvent,
};
pub use query::BucketView;

use enode::{
    netutil::{is_lan, normalize_ip},
    NodeId,
};
use ip_limits::SubnetCounter;
use revalidation::RevalList;

/// The bucket a node at `id` belongs in, seen from `local`.
pub fn bucket_index(local: &NodeId, id: &NodeId) -> usize {
    let distance = local.log_distance(id);
    if distance <= BUCKET_MIN_DISTANCE {
        0
    } else {
        (distance - BUCKET_MIN_DISTANCE) as usize
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    entries: Vec<Entry>,
    /// Newest first.
    replacements: Vec<Entry>,
    ips: SubnetCounter,
}

/// The discv4 node table. See the [module documentation](self) for the rules.
#[derive(Debug)]
pub struct Table {
    local: NodeId,
    config: TableConfig,
    buckets: Vec<Bucket>,
    ips: SubnetCounter,
    fast: RevalList,
    slow: RevalList,
    rng: StdRng,
    init_done: bool,
    len: usize,
    events: VecDeque<TableEvent>,
    events_dropped: u64,
}

impl Table {
    /// An empty table for the local node `local`.
    pub fn new(local: NodeId, config: TableConfig, rng: StdRng) -> Self {
        let buckets = (0..N_BUCKETS)
            .map(|_| Bucket {
                // Grown on demand: the closest buckets stay empty in all but huge networks,
                // and 17 full-size buckets up front are ~70 KiB per table.
                entries: Vec::new(),
                replacements: Vec::new(),
                ips: SubnetCounter::new(config.ip_subnet_prefix, config.bucket_ip_limit),
            })
            .collect();
        Self {
            local,
            ips: SubnetCounter::new(config.ip_subnet_prefix, config.table_ip_limit),
            fast: RevalList::new(config.fast_revalidation_interval),
            slow: RevalList::new(config.slow_revalidation_interval),
            config,
            buckets,
            rng,
            init_done: false,
            len: 0,
            events: VecDeque::new(),
            events_dropped: 0,
        }
    }

    /// The local node's id.
    pub fn local_id(&self) -> &NodeId {
        &self.local
    }

    /// The configuration in use.
    pub fn config(&self) -> &TableConfig {
        &self.config
    }

    /// Replaces the random source (geth reseeds its table RNG every 10 minutes).
    pub fn reseed(&mut self, rng: StdRng) {
        self.rng = rng;
    }

    /// Marks the initial refresh (seeds + bootnodes + first lookups) as finished; from now
    /// on [`Table::add_inbound`] is accepted.
    pub fn set_init_done(&mut self) {
        self.init_done = true;
    }

    /// True once [`Table::set_init_done`] was called.
    pub fn is_init_done(&self) -> bool {
        self.init_done
    }

    /// Number of bucket entries (replacement lists not counted).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no bucket has an entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when `id` is a bucket entry.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.get(id).is_some()
    }

    /// The bucket entry for `id`.
    pub fn get(&self, id: &NodeId) -> Option<&Entry> {
        self.buckets
            .get(bucket_index(&self.local, id))?
            .entries
            .iter()
            .find(|e| e.id == *id)
    }

    /// Number of entries in the bucket `id` falls into (geth drops a node for FINDNODE
    /// failures only when its bucket has at least 4 entries).
    pub fn bucket_len_for(&self, id: &NodeId) -> usize {
        self.buckets
            .get(bucket_index(&self.local, id))
            .map_or(0, |b| b.entries.len())
    }

    /// Offers a node learnt from a lookup, NEIGHBORS, the database or the bootnode list.
    /// An existing entry is only updated by a record with a strictly higher seq.
    pub fn add_found(&mut self, node: NodeInfo, now: Instant) -> AddOutcome {
        self.add(node, now, false)
    }

    /// Offers a node that contacted us and passed the endpoint proof. Refused until
    /// [`Table::set_init_done`]; an existing entry takes the record whatever its seq.
    pub fn add_inbound(&mut self, node: NodeInfo, now: Instant) -> AddOutcome {
        self.add(node, now, true)
    }

    /// Removes the bucket entry `id` (replacement-list nodes are not touched) and promotes a
    /// random replacement of its bucket. Unlike a failed revalidation this may empty the
    /// table: it is the caller's explicit decision.
    pub fn remove(&mut self, id: &NodeId, now: Instant) -> Option<Removal> {
        let b = bucket_index(&self.local, id);
        let index = self
            .buckets
            .get(b)?
            .entries
            .iter()
            .position(|e| e.id == *id)?;
        Some(self.delete_in_bucket(b, index, now))
    }

    /// Takes the queued [`TableEvent`]s, oldest first.
    pub fn take_events(&mut self) -> Vec<TableEvent> {
        self.events.drain(..).collect()
    }

    /// Events lost because the queue exceeded `max_pending_events` between two
    /// [`Table::take_events`] calls.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    fn add(&mut self, mut node: NodeInfo, now: Instant, inbound: bool) -> AddOutcome {
        let id = node.record.id.node_id();
        if id == self.local {
            return AddOutcome::Refused(RefuseReason::IsSelf);
        }
        node.record.address = normalize_ip(node.record.address);
        if !usable_endpoint(node.record.address, node.record.udp_port) {
            return AddOutcome::Refused(RefuseReason::InvalidEndpoint);
        }
        if let Some(enr) = &node.enr {
            if enr.node_id().raw() != id.0 {
                return AddOutcome::Refused(RefuseReason::EnrMismatch);
            }
        }
        if inbound && !self.init_done {
            return AddOutcome::Refused(RefuseReason::InitNotDone);
        }
        let b = bucket_index(&self.local, &id);
        if let Some(index) = self.buckets[b].entries.iter().position(|e| e.id == id) {
            return self.bump(b, index, node, inbound, now);
        }
        if self.buckets[b].entries.len() >= self.config.bucket_size {
            return self.add_replacement(b, id, node, now);
        }
        if let Err(reason) = self.add_ip(b, node.record.address) {
            return AddOutcome::Refused(reason);
        }
        // A node leaving the replacement list for the bucket keeps its first-seen time and
        // hands back the IP slot it held there (the new entry just took one).
        let mut added_at = now;
        if let Some(r) = self.buckets[b].replacements.iter().position(|e| e.id == id) {
            let old = self.buckets[b].replacements.remove(r);
            self.remove_ip(b, old.record.address);
            added_at = old.added_at;
        }
        let mut entry = Entry::new(id, node, now);
        entry.added_at = added_at;
        self.insert_entry(b, entry, now);
        AddOutcome::Added
    }

    /// Applies a new record to the existing entry `buckets[b].entries[index]`.
    fn bump(
        &mut self,
        b: usize,
        index: usize,
        node: NodeInfo,
        inbound: bool,
        now: Instant,
    ) -> AddOutcome {
        let (old_ip, old_udp, old_seq) = {
            let e = &self.buckets[b].entries[index];
            (e.record.address, e.record.udp_port, e.seq)
        };
        // Found records must advance the seq; this also means discv4-found nodes (seq 0)
        // never overwrite an entry. The node itself (inbound) may set anything.
        if !inbound && node.seq <= old_seq {
            return AddOutcome::Unchanged;
        }
        let ip_changed = node.record.address != old_ip;
        let endpoint_changed = ip_changed || node.record.udp_port != old_udp;
        if ip_changed {
            self.remove_ip(b, old_ip);
            if let Err(reason) = self.add_ip(b, node.record.address) {
                // Cannot fail: the slot was freed just above.
                let _ = self.add_ip(b, old_ip);
                return AddOutcome::Refused(reason);
            }
        }
        let entry = &mut self.buckets[b].entries[index];
        entry.record = node.record;
        entry.enr = node.enr.map(Box::new);
        entry.seq = node.seq;
        if endpoint_changed {
            entry.is_live = false;
            let id = entry.id;
            self.move_to_list(b, index, id, RevalidationList::Fast, now);
        }
        AddOutcome::Updated { endpoint_changed }
    }

    fn add_replacement(
        &mut self,
        b: usize,
        id: NodeId,
        node: NodeInfo,
        now: Instant,
    ) -> AddOutcome {
        if self.buckets[b].replacements.iter().any(|e| e.id == id) {
            return AddOutcome::Unchanged;
        }
        if let Err(reason) = self.add_ip(b, node.record.address) {
            return AddOutcome::Refused(reason);
        }
        let max = self.config.max_replacements;
        let list = &mut self.buckets[b].replacements;
        // The oldest goes before the newcomer comes in, and growth stops at the list's bound:
        // the list never holds max + 1 entries, so its capacity never doubles past max (a
        // capacity of 16 for 10 entries wasted 6 entries' room per full list).
        let oldest = if list.len() >= max { list.pop() } else { None };
        if list.len() == list.capacity() {
            let grown = (list.capacity() * 2).max(4).min(max.max(1));
            list.reserve_exact(grown.saturating_sub(list.len()));
        }
        list.insert(0, Entry::new(id, node, now));
        // max == 0: no replacement list at all.
        let overflow = if list.len() > max { list.pop() } else { None };
        for entry in oldest.into_iter().chain(overflow) {
            self.remove_ip(b, entry.record.address);
        }
        AddOutcome::AddedReplacement
    }

    /// Pushes a new bucket entry (IP slot already taken) onto the fast list.
    fn insert_entry(&mut self, b: usize, mut entry: Entry, now: Instant) {
        entry.in_bucket_since = now;
        entry.list = Some(RevalidationList::Fast);
        entry.check_in_flight = false;
        self.fast.push(entry.id, now, &mut self.rng);
        self.push_event(TableEvent::NodeAdded(entry.record));
        self.buckets[b].entries.push(entry);
        self.len += 1;
    }

    /// Removes `buckets[b].entries[index]` and promotes a random replacement.
    fn delete_in_bucket(&mut self, b: usize, index: usize, now: Instant) -> Removal {
        let removed = self.buckets[b].entries.swap_remove(index);
        self.len -= 1;
        self.remove_ip(b, removed.record.address);
        match removed.list {
            Some(RevalidationList::Fast) => self.fast.remove(&removed.id),
            Some(RevalidationList::Slow) => self.slow.remove(&removed.id),
            None => {}
        }
        self.push_event(TableEvent::NodeRemoved(removed.record));
        let replacement = if self.buckets[b].replacements.is_empty() {
            None
        } else {
            let r = self.rng.gen_range(0..self.buckets[b].replacements.len());
            let promoted = self.buckets[b].replacements.remove(r);
            let record = promoted.record;
            // The replacement already holds its IP slot.
            self.insert_entry(b, promoted, now);
            Some(record)
        };
        Removal {
            removed,
            replacement,
        }
    }

    fn add_ip(&mut self, b: usize, ip: IpAddr) -> Result<(), RefuseReason> {
        if self.config.exempt_lan_from_ip_limits && is_lan(ip) {
            return Ok(());
        }
        if !self.ips.try_add(ip) {
            return Err(RefuseReason::TableIpLimit);
        }
        if !self.buckets[b].ips.try_add(ip) {
            self.ips.remove(ip);
            return Err(RefuseReason::BucketIpLimit);
        }
        Ok(())
    }

    fn remove_ip(&mut self, b: usize, ip: IpAddr) {
        if self.config.exempt_lan_from_ip_limits && is_lan(ip) {
            return;
        }
        self.ips.remove(ip);
        self.buckets[b].ips.remove(ip);
    }

    fn push_event(&mut self, event: TableEvent) {
        if self.events.len() >= self.config.max_pending_events.max(1) {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        self.events.push_back(event);
    }
}

/// A node endpoint the table can use: a unicast, specified IP and a UDP port.
fn usable_endpoint(ip: IpAddr, udp_port: u16) -> bool {
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    udp_port != 0 && !ip.is_unspecified() && !ip.is_multicast() && !broadcast
}
