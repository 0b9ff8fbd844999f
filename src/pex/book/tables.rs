//! The new and tried tables and where an entry goes in them. Placement is a keyed hash over
//! a 32-byte secret that is saved with the book, so an attacker cannot aim entries at chosen
//! buckets and the placement is the same after a restart. All the entries one source group
//! announces fall into at most [`NEW_BUCKETS_PER_SOURCE_GROUP`] of the new buckets; a tried
//! entry's bucket depends on its own group, [`TRIED_BUCKETS_PER_GROUP`] buckets per group.

use enode::{crypto::keccak256, PeerId};

use super::group::Group;

/// New buckets one source group can reach (CometBFT's `newBucketsPerGroup`).
pub const NEW_BUCKETS_PER_SOURCE_GROUP: u64 = 32;
/// Tried buckets one address group can reach.
pub const TRIED_BUCKETS_PER_GROUP: u64 = 8;

/// The sizes of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSizes {
    /// New buckets (default 256).
    pub new_buckets: usize,
    /// Tried buckets (default 64).
    pub tried_buckets: usize,
    /// Entries per bucket (default 64).
    pub bucket_size: usize,
}

impl Default for TableSizes {
    fn default() -> Self {
        Self {
            new_buckets: 256,
            tried_buckets: 64,
            bucket_size: 64,
        }
    }
}

fn hash_u64(parts: &[&[u8]]) -> u64 {
    let mut input = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        input.extend_from_slice(part);
    }
    let digest = keccak256(&input);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The new and tried buckets, holding node ids.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    secret: [u8; 32],
    sizes: TableSizes,
    new: Vec<Vec<PeerId>>,
    tried: Vec<Vec<PeerId>>,
}

impl Tables {
    pub(crate) fn new(secret: [u8; 32], sizes: TableSizes) -> Self {
        let sizes = TableSizes {
            new_buckets: sizes.new_buckets.max(1),
            tried_buckets: sizes.tried_buckets.max(1),
            bucket_size: sizes.bucket_size.max(1),
        };
        Self {
            secret,
            sizes,
            new: vec![Vec::new(); sizes.new_buckets],
            tried: vec![Vec::new(); sizes.tried_buckets],
        }
    }

    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    pub(crate) fn sizes(&self) -> TableSizes {
        self.sizes
    }

    /// The new bucket for an entry in `group` announced by a peer in `source_group`.
    pub(crate) fn new_bucket(&self, group: Group, source_group: Group) -> usize {
        let slot = hash_u64(&[
            &self.secret,
            b"new",
            group.as_bytes(),
            source_group.as_bytes(),
        ]) % NEW_BUCKETS_PER_SOURCE_GROUP;
        let bucket = hash_u64(&[
            &self.secret,
            b"new-bucket",
            source_group.as_bytes(),
            &slot.to_be_bytes(),
        ]);
        (bucket % self.sizes.new_buckets as u64) as usize
    }

    /// The tried bucket of node `id` in `group`.
    pub(crate) fn tried_bucket(&self, id: &PeerId, group: Group) -> usize {
        let slot = hash_u64(&[&self.secret, b"tried", &id.0]) % TRIED_BUCKETS_PER_GROUP;
        let bucket = hash_u64(&[
            &self.secret,
            b"tried-bucket",
            group.as_bytes(),
            &slot.to_be_bytes(),
        ]);
        (bucket % self.sizes.tried_buckets as u64) as usize
    }

    pub(crate) fn new_bucket_ids(&self, bucket: usize) -> &[PeerId] {
        self.new.get(bucket).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn tried_bucket_ids(&self, bucket: usize) -> &[PeerId] {
        self.tried.get(bucket).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn new_is_full(&self, bucket: usize) -> bool {
        self.new_bucket_ids(bucket).len() >= self.sizes.bucket_size
    }

    pub(crate) fn tried_is_full(&self, bucket: usize) -> bool {
        self.tried_bucket_ids(bucket).len() >= self.sizes.bucket_size
    }

    pub(crate) fn in_new(&self, bucket: usize, id: &PeerId) -> bool {
        self.new_bucket_ids(bucket).contains(id)
    }

    /// Adds `id` to new bucket `bucket` (the caller made room); false when already there.
    pub(crate) fn add_new(&mut self, bucket: usize, id: PeerId) -> bool {
        match self.new.get_mut(bucket) {
            Some(ids) if !ids.contains(&id) => {
                ids.push(id);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn add_tried(&mut self, bucket: usize, id: PeerId) {
        if let Some(ids) = self.tried.get_mut(bucket) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }

    /// Removes `id` from every new bucket; returns how many held it.
    pub(crate) fn remove_new(&mut self, id: &PeerId) -> usize {
        let mut removed = 0;
        for ids in &mut self.new {
            if let Some(at) = ids.iter().position(|x| x == id) {
                ids.swap_remove(at);
                removed += 1;
            }
        }
        removed
    }

    pub(crate) fn remove_from_new_bucket(&mut self, bucket: usize, id: &PeerId) -> bool {
        match self.new.get_mut(bucket) {
            Some(ids) => match ids.iter().position(|x| x == id) {
                Some(at) => {
                    ids.swap_remove(at);
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    pub(crate) fn remove_tried(&mut self, bucket: usize, id: &PeerId) -> bool {
        match self.tried.get_mut(bucket) {
            Some(ids) => match ids.iter().position(|x| x == id) {
                Some(at) => {
                    ids.swap_remove(at);
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    /// Ids in the new table (an id in several buckets appears once per bucket).
    pub(crate) fn new_len(&self) -> usize {
        self.new.iter().map(Vec::len).sum()
    }

    pub(crate) fn tried_len(&self) -> usize {
        self.tried.iter().map(Vec::len).sum()
    }

    /// Buckets of the new table that hold at least one id.
    #[cfg(test)]
    pub(crate) fn used_new_buckets(&self) -> usize {
        self.new.iter().filter(|b| !b.is_empty()).count()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn group(a: u8, b: u8) -> Group {
        Group::of(std::net::IpAddr::from([a, b, 1, 1]))
    }

    #[test]
    fn one_source_group_reaches_at_most_32_new_buckets() {
        let tables = Tables::new([9; 32], TableSizes::default());
        let source = group(100, 1);
        let buckets: HashSet<usize> = (0..=255u8)
            .flat_map(|a| (0..=40u8).map(move |b| (a, b)))
            .map(|(a, b)| tables.new_bucket(group(a, b), source))
            .collect();
        assert!(buckets.len() <= 32, "{}", buckets.len());
        assert!(buckets.len() >= 24, "spread {}", buckets.len());
    }

    #[test]
    fn one_group_reaches_at_most_8_tried_buckets() {
        let tables = Tables::new([9; 32], TableSizes::default());
        let buckets: HashSet<usize> = (0..2000u16)
            .map(|n| {
                let mut id = [0u8; 64];
                id[..2].copy_from_slice(&n.to_be_bytes());
                tables.tried_bucket(&PeerId(id), group(1, 2))
            })
            .collect();
        assert!(buckets.len() <= 8);
    }

    #[test]
    fn placement_depends_on_the_secret_only() {
        let a = Tables::new([1; 32], TableSizes::default());
        let same = Tables::new([1; 32], TableSizes::default());
        let other = Tables::new([2; 32], TableSizes::default());
        let pairs: Vec<(Group, Group)> = (0..50u8).map(|n| (group(n, 1), group(200, n))).collect();
        let place = |t: &Tables| {
            pairs
                .iter()
                .map(|(g, s)| t.new_bucket(*g, *s))
                .collect::<Vec<_>>()
        };
        assert_eq!(place(&a), place(&same));
        assert_ne!(place(&a), place(&other));
    }
}
