//! Moving entries in and out of the tables while keeping the per-IP and per-subnet counts of
//! the new table right: insertion into a new bucket (making room by evicting a terrible or
//! the oldest entry), promotion to tried (demoting the oldest tried entry of a full bucket),
//! and removal.

use enode::PeerId;
use tokio::time::Instant;

use super::{
    entry::{Entry, Table},
    group::{cap_subnet, Group},
    AddressBook,
};

impl AddressBook {
    /// New-table entries of `entry`'s IP and subnet, as the ingest caps count them. LAN and
    /// loopback addresses are exempt, as in geth's table: a test network on one machine or
    /// one LAN is one operator's.
    pub(super) fn cap_counts(&self, entry_ip: std::net::IpAddr) -> (usize, usize) {
        let ip = enode::netutil::normalize_ip(entry_ip);
        if enode::netutil::is_lan(ip) {
            return (0, 0);
        }
        (
            self.per_ip.get(&ip).copied().unwrap_or(0),
            self.per_subnet.get(&cap_subnet(ip)).copied().unwrap_or(0),
        )
    }

    pub(super) fn count_new(&mut self, ip: std::net::IpAddr, delta: isize) {
        let ip = enode::netutil::normalize_ip(ip);
        if enode::netutil::is_lan(ip) {
            return;
        }
        for (map, key) in [
            (&mut self.per_ip, ip),
            (&mut self.per_subnet, cap_subnet(ip)),
        ] {
            let count = map.entry(key).or_insert(0);
            *count = count.saturating_add_signed(delta);
            if *count == 0 {
                map.remove(&key);
            }
        }
    }

    /// Inserts a fresh entry into its new bucket for `source_group`. Returns false (and
    /// stores nothing) when the bucket is full of entries that may not be evicted.
    pub(super) fn insert_new(&mut self, mut entry: Entry, now: Instant) -> bool {
        let id = entry.id();
        let bucket = self.tables.new_bucket(entry.group, entry.source_group);
        if self.tables.new_is_full(bucket) && !self.make_room_in_new(bucket, now) {
            return false;
        }
        self.tables.add_new(bucket, id);
        entry.table = Table::New;
        entry.new_refs = 1;
        self.count_new(entry.node.address, 1);
        self.entries.insert(id, entry);
        true
    }

    /// Puts a known new entry in one more new bucket (the one for `source_group`), with
    /// probability 1 / (2 × buckets it is in), up to the configured number of buckets.
    pub(super) fn add_new_ref(&mut self, id: &PeerId, source_group: Group, now: Instant) {
        let Some(entry) = self.entries.get(id) else {
            return;
        };
        if entry.table != Table::New || entry.new_refs >= self.config.max_new_refs {
            return;
        }
        let bucket = self.tables.new_bucket(entry.group, source_group);
        if self.tables.in_new(bucket, id) {
            return;
        }
        let odds = 2 * u32::from(entry.new_refs.max(1));
        if !rand::Rng::gen_ratio(&mut self.rng, 1, odds) {
            return;
        }
        if self.tables.new_is_full(bucket) && !self.make_room_in_new(bucket, now) {
            return;
        }
        self.tables.add_new(bucket, *id);
        if let Some(entry) = self.entries.get_mut(id) {
            entry.new_refs += 1;
        }
    }

    /// Frees one place in new bucket `bucket`: a terrible entry first, else the one seen
    /// longest ago. The victim loses this bucket; it leaves the book when it was its last.
    fn make_room_in_new(&mut self, bucket: usize, now: Instant) -> bool {
        let ids = self.tables.new_bucket_ids(bucket);
        let victim = ids
            .iter()
            .find(|id| self.entries.get(id).is_some_and(|e| e.is_terrible(now)))
            .or_else(|| {
                ids.iter()
                    .filter(|id| !self.connected.contains(id))
                    .min_by_key(|id| self.entries.get(id).map(|e| e.last_seen))
            })
            .copied();
        let Some(victim) = victim else {
            return false;
        };
        self.tables.remove_from_new_bucket(bucket, &victim);
        let gone = match self.entries.get_mut(&victim) {
            Some(entry) => {
                entry.new_refs = entry.new_refs.saturating_sub(1);
                entry.new_refs == 0
            }
            None => false,
        };
        if gone {
            if let Some(entry) = self.entries.remove(&victim) {
                self.count_new(entry.node.address, -1);
            }
        }
        true
    }

    /// Moves `id` to the tried table (it proved itself). A full tried bucket demotes its
    /// entry with the oldest success to the new table.
    pub(super) fn promote(&mut self, id: &PeerId, now: Instant) {
        let Some(entry) = self.entries.get(id) else {
            return;
        };
        if entry.table == Table::Tried {
            return;
        }
        let (address, group) = (entry.node.address, entry.group);
        self.tables.remove_new(id);
        self.count_new(address, -1);
        let bucket = self.tables.tried_bucket(id, group);
        if self.tables.tried_is_full(bucket) {
            let oldest = self
                .tables
                .tried_bucket_ids(bucket)
                .iter()
                .min_by_key(|other| self.entries.get(other).and_then(|e| e.last_success))
                .copied();
            if let Some(oldest) = oldest {
                self.demote(&oldest, bucket, now);
            }
        }
        self.tables.add_tried(bucket, *id);
        if let Some(entry) = self.entries.get_mut(id) {
            entry.table = Table::Tried;
            entry.new_refs = 0;
        }
    }

    /// Moves tried entry `id` out of tried bucket `bucket` back to the new table (or out of
    /// the book when its new bucket has no room).
    fn demote(&mut self, id: &PeerId, bucket: usize, now: Instant) {
        self.tables.remove_tried(bucket, id);
        let Some(mut entry) = self.entries.remove(id) else {
            return;
        };
        entry.table = Table::New;
        self.insert_new(entry, now);
    }

    /// Takes `id` out of the tables and the book.
    pub(super) fn remove_entry(&mut self, id: &PeerId) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        match entry.table {
            Table::New => {
                self.tables.remove_new(id);
                self.count_new(entry.node.address, -1);
            }
            Table::Tried => {
                let bucket = self.tables.tried_bucket(id, entry.group);
                self.tables.remove_tried(bucket, id);
            }
        }
        self.connected.remove(id);
        Some(entry)
    }

    /// A known entry changed its address (a newer signed record): it is placed again.
    pub(super) fn replace_record(
        &mut self,
        id: &PeerId,
        record: enode::Enr,
        node: enode::NodeRecord,
        now: Instant,
    ) {
        let Some(mut entry) = self.remove_entry(id) else {
            return;
        };
        let was_tried = entry.table == Table::Tried;
        entry.record = record;
        entry.group = Group::of(node.address);
        entry.node = node;
        // The new address is unproven.
        entry.last_success = None;
        entry.failures = 0;
        entry.eligible_at = now;
        entry.status_at = None;
        entry.verified_at = None;
        entry.vouched_at = None;
        if self.insert_new(entry, now) && was_tried {
            tracing::debug!(target: "kadnode::pex", ?id, "tried entry moved; back to new");
        }
    }
}
