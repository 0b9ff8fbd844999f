//! The in-memory backend: plain maps, bounded, for simulations and nodes without a data
//! directory. A few hundred bytes per row instead of an embedded database per node, so a
//! simulation of 10,000 nodes fits in a few GiB.

use std::collections::HashMap;

use super::{
    codec::{endpoint_key_id, EndpointKey},
    Batch, EndpointRow, ExpireStats, Extra,
};

/// Rows kept before the least recently seen endpoints (and their nodes) are evicted. A
/// discovery node meets far fewer distinct nodes than this in a day.
pub(super) const MEMORY_ROW_LIMIT: usize = 100_000;

#[derive(Debug, Default)]
pub(super) struct MemoryTables {
    nodes: HashMap<[u8; 32], Vec<u8>>,
    endpoints: HashMap<EndpointKey, EndpointRow>,
    local_seq: HashMap<[u8; 32], u64>,
    limit: usize,
}

impl MemoryTables {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            ..Self::default()
        }
    }

    pub(super) fn node(&self, id: &[u8; 32]) -> Option<Vec<u8>> {
        self.nodes.get(id).cloned()
    }

    pub(super) fn endpoint(&self, key: &EndpointKey) -> Option<EndpointRow> {
        self.endpoints.get(key).copied()
    }

    pub(super) fn local_seq(&self, id: &[u8; 32]) -> Option<u64> {
        self.local_seq.get(id).copied()
    }

    pub(super) fn youngest_pongs(&self) -> HashMap<[u8; 32], u64> {
        let mut youngest: HashMap<[u8; 32], u64> = HashMap::new();
        for (key, row) in &self.endpoints {
            let slot = youngest.entry(endpoint_key_id(key)).or_insert(0);
            *slot = (*slot).max(row.last_pong);
        }
        youngest
    }

    pub(super) fn commit(&mut self, batch: Batch<'_>, extra: Extra) -> ExpireStats {
        for (id, value) in batch.nodes {
            self.nodes.insert(*id, value.clone());
        }
        for (key, update) in batch.endpoints {
            update.apply(self.endpoints.entry(*key).or_default());
        }
        let stats = match extra {
            Extra::None => ExpireStats::default(),
            Extra::LocalSeq(id, seq) => {
                self.local_seq.insert(id, seq);
                ExpireStats::default()
            }
            Extra::Remove(id) => {
                self.nodes.remove(&id);
                self.endpoints.retain(|key, _| endpoint_key_id(key) != id);
                ExpireStats::default()
            }
            Extra::Expire(cutoff) => self.expire(cutoff),
        };
        self.bound();
        stats
    }

    fn expire(&mut self, cutoff: u64) -> ExpireStats {
        let mut stats = ExpireStats::default();
        let before = self.endpoints.len();
        self.endpoints
            .retain(|_, row| row.last_ping.max(row.last_pong) >= cutoff);
        stats.endpoints = before - self.endpoints.len();
        let youngest = self.youngest_pongs();
        let before = self.nodes.len();
        self.nodes.retain(|id, _| {
            youngest
                .get(id)
                .is_some_and(|pong| *pong >= cutoff && *pong != 0)
        });
        stats.nodes = before - self.nodes.len();
        stats
    }

    /// Keeps the tables under the limit: when over it, drops the tenth of the endpoint rows
    /// seen least recently and the records of nodes left without a row (amortised: one
    /// sort per tenth of the limit).
    fn bound(&mut self) {
        if self.endpoints.len() <= self.limit && self.nodes.len() <= self.limit {
            return;
        }
        let target = self.limit - self.limit / 10;
        if self.endpoints.len() > target {
            let mut ages: Vec<u64> = self
                .endpoints
                .values()
                .map(|row| row.last_ping.max(row.last_pong))
                .collect();
            let cut = self.endpoints.len() - target;
            let (_, threshold, _) = ages.select_nth_unstable(cut - 1);
            let threshold = *threshold;
            let mut to_drop = cut;
            self.endpoints.retain(|_, row| {
                let drop = to_drop > 0 && row.last_ping.max(row.last_pong) <= threshold;
                to_drop -= usize::from(drop);
                !drop
            });
        }
        if self.nodes.len() > target {
            let with_rows: std::collections::HashSet<[u8; 32]> =
                self.endpoints.keys().map(endpoint_key_id).collect();
            self.nodes.retain(|id, _| with_rows.contains(id));
            // Still too many (records without any endpoint row): drop arbitrary ones.
            let excess = self.nodes.len().saturating_sub(target);
            let victims: Vec<[u8; 32]> = self.nodes.keys().take(excess).copied().collect();
            for id in victims {
                self.nodes.remove(&id);
            }
        }
    }
}
