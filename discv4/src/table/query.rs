//! Read-only views of the table: closest nodes, random nodes, per-bucket dumps.

use std::collections::{HashMap, HashSet};

use rand::seq::SliceRandom;

use super::{bucket_index, Entry, RevalidationList, Table};
use enode::{
    netutil::{is_lan, subnet_key},
    NodeId, NodeRecord,
};

/// One bucket, for RPC dumps and debugging.
#[derive(Debug, Clone, Copy)]
pub struct BucketView<'a> {
    /// Bucket index, 0..=16.
    pub index: usize,
    /// The bucket's entries (unordered).
    pub entries: &'a [Entry],
    /// The replacement list, newest first.
    pub replacements: &'a [Entry],
}

impl Table {
    /// The `n` bucket entries closest to `target` by XOR distance, closest first. With
    /// `prefer_live`, only nodes that answered a liveness check are returned as long as there
    /// is at least one (how geth answers FINDNODE); otherwise, and when no node is live yet,
    /// all entries are candidates (how lookups seed their result list).
    pub fn closest(&self, target: &NodeId, n: usize, prefer_live: bool) -> Vec<&Entry> {
        let any_live = prefer_live && self.iter().any(|e| e.is_live);
        let mut nodes: Vec<&Entry> = self.iter().filter(|e| !any_live || e.is_live).collect();
        nodes.sort_unstable_by(|a, b| target.cmp_distance(&a.id, &b.id));
        nodes.truncate(n);
        nodes
    }

    /// Up to `n` distinct bucket entries in random order.
    pub fn random_nodes(&mut self, n: usize) -> Vec<NodeRecord> {
        let mut all: Vec<NodeRecord> = self
            .buckets
            .iter()
            .flat_map(|b| b.entries.iter().map(|e| e.record))
            .collect();
        let (chosen, _) = all.partial_shuffle(&mut self.rng, n);
        chosen.to_vec()
    }

    /// All bucket entries, bucket by bucket.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.buckets.iter().flat_map(|b| b.entries.iter())
    }

    /// The 17 buckets with their entries and replacement lists.
    pub fn buckets(&self) -> impl Iterator<Item = BucketView<'_>> + '_ {
        self.buckets
            .iter()
            .enumerate()
            .map(|(index, b)| BucketView {
                index,
                entries: &b.entries,
                replacements: &b.replacements,
            })
    }

    /// Checks every structural invariant; `Err` describes the first violation. Meant for
    /// tests and debug assertions: bucket and replacement sizes, bucket placement, no
    /// duplicate ids, self absent, IP counters equal to a recount, revalidation lists equal
    /// to the entries' list flags, `len()` matching.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        let mut table_ips: HashMap<ipnet::IpNet, usize> = HashMap::new();
        let mut fast = HashSet::new();
        let mut slow = HashSet::new();
        let mut len = 0;
        let prefix = self.ips.prefix();
        for (index, bucket) in self.buckets.iter().enumerate() {
            if bucket.entries.len() > self.config.bucket_size {
                return Err(format!(
                    "bucket {index} has {} entries",
                    bucket.entries.len()
                ));
            }
            if bucket.replacements.len() > self.config.max_replacements {
                return Err(format!(
                    "bucket {index} has {} replacements",
                    bucket.replacements.len()
                ));
            }
            let mut bucket_ips: HashMap<ipnet::IpNet, usize> = HashMap::new();
            for (is_entry, e) in bucket
                .entries
                .iter()
                .map(|e| (true, e))
                .chain(bucket.replacements.iter().map(|e| (false, e)))
            {
                if e.id == self.local {
                    return Err("local node is in the table".into());
                }
                if e.id != e.record.id.node_id() {
                    return Err(format!("entry id {} does not match its record", e.id));
                }
                if bucket_index(&self.local, &e.id) != index {
                    return Err(format!("{} is in bucket {index}, belongs elsewhere", e.id));
                }
                if !seen.insert(e.id) {
                    return Err(format!("{} appears twice", e.id));
                }
                if !(self.config.exempt_lan_from_ip_limits && is_lan(e.record.address)) {
                    *bucket_ips
                        .entry(subnet_key(e.record.address, prefix))
                        .or_default() += 1;
                    *table_ips
                        .entry(subnet_key(e.record.address, prefix))
                        .or_default() += 1;
                }
                match (is_entry, e.list) {
                    (true, Some(RevalidationList::Fast)) => {
                        fast.insert(e.id);
                    }
                    (true, Some(RevalidationList::Slow)) => {
                        slow.insert(e.id);
                    }
                    (false, None) => {}
                    (true, None) => {
                        return Err(format!("entry {} is on no revalidation list", e.id))
                    }
                    (false, Some(_)) => {
                        return Err(format!("replacement {} is on a revalidation list", e.id))
                    }
                }
                if !is_entry && e.check_in_flight {
                    return Err(format!("replacement {} has a check in flight", e.id));
                }
                len += usize::from(is_entry);
            }
            if &bucket_ips != bucket.ips.counts() {
                return Err(format!(
                    "bucket {index} IP counters {:?} != recount {bucket_ips:?}",
                    bucket.ips.counts()
                ));
            }
            if bucket_ips
                .values()
                .any(|c| *c > self.config.bucket_ip_limit)
            {
                return Err(format!("bucket {index} exceeds its IP limit"));
            }
        }
        if &table_ips != self.ips.counts() {
            return Err(format!(
                "table IP counters {:?} != recount {table_ips:?}",
                self.ips.counts()
            ));
        }
        if table_ips.values().any(|c| *c > self.config.table_ip_limit) {
            return Err("table exceeds its IP limit".into());
        }
        if len != self.len {
            return Err(format!("len() is {} but {len} entries exist", self.len));
        }
        let fast_list: HashSet<NodeId> = self.fast.nodes.iter().copied().collect();
        let slow_list: HashSet<NodeId> = self.slow.nodes.iter().copied().collect();
        if fast_list != fast || fast_list.len() != self.fast.nodes.len() {
            return Err("fast revalidation list does not match the entries".into());
        }
        if slow_list != slow || slow_list.len() != self.slow.nodes.len() {
            return Err("slow revalidation list does not match the entries".into());
        }
        if self.fast.nodes.is_empty() != self.fast.next.is_none()
            || self.slow.nodes.is_empty() != self.slow.next.is_none()
        {
            return Err("a revalidation list's schedule does not match its emptiness".into());
        }
        Ok(())
    }
}
