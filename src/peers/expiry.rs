//! A map whose entries expire at an instant, with a hard capacity: when it is full, the entry
//! that expires first is dropped (an expired one if any, else the one closest to expiring).
//! The building block of every bounded, decaying table in the node: dial history, backoffs,
//! bans, pending inbound ids, the dial memory.

use std::{
    collections::{BTreeMap, HashMap},
    hash::Hash,
    time::Duration,
};

use tokio::time::Instant;

/// `now + duration`, saturating far in the future instead of overflowing (a configured
/// duration of `Duration::MAX` must not panic).
pub(crate) fn deadline(now: Instant, duration: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    now.checked_add(duration)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

#[derive(Debug, Clone)]
struct Slot<V> {
    value: V,
    expires_at: Instant,
    /// Tie-breaker in the expiry index, unique per insertion.
    seq: u64,
}

/// A capacity-bounded map of entries that expire.
///
/// Lookups ignore expired entries; they are dropped when an insertion purges them or makes
/// room. Insertion, removal and eviction cost O(log n).
#[derive(Debug, Clone)]
pub(crate) struct ExpiryMap<K, V> {
    entries: HashMap<K, Slot<V>>,
    /// Every entry once, ordered by (expiry, insertion).
    order: BTreeMap<(Instant, u64), K>,
    capacity: usize,
    next_seq: u64,
}

impl<K: Hash + Eq + Clone, V> ExpiryMap<K, V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            capacity: capacity.max(1),
            next_seq: 0,
        }
    }

    /// Inserts or replaces `key`; returns the key evicted to make room, if any. Expired
    /// entries are purged first, so an entry that still protects something is evicted only
    /// when the map is full of live entries.
    pub(crate) fn insert(
        &mut self,
        key: K,
        value: V,
        expires_at: Instant,
        now: Instant,
    ) -> Option<K> {
        self.remove(&key);
        self.purge_expired(now);
        let mut evicted = None;
        if self.entries.len() >= self.capacity {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.entries.remove(&oldest);
                evicted = Some(oldest);
            }
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.order.insert((expires_at, seq), key.clone());
        self.entries.insert(
            key,
            Slot {
                value,
                expires_at,
                seq,
            },
        );
        evicted
    }

    /// The live value of `key` and when it expires.
    pub(crate) fn get(&self, key: &K, now: Instant) -> Option<(&V, Instant)> {
        self.entries
            .get(key)
            .filter(|slot| slot.expires_at > now)
            .map(|slot| (&slot.value, slot.expires_at))
    }

    /// True when `key` has a live entry.
    pub(crate) fn contains(&self, key: &K, now: Instant) -> bool {
        self.get(key, now).is_some()
    }

    /// When the live entry of `key` expires.
    pub(crate) fn expiry_of(&self, key: &K, now: Instant) -> Option<Instant> {
        self.get(key, now).map(|(_, at)| at)
    }

    /// Removes `key`, live or expired.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.entries.remove(key)?;
        self.order.remove(&(slot.expires_at, slot.seq));
        Some(slot.value)
    }

    /// Drops every entry expired at `now`; returns how many.
    pub(crate) fn purge_expired(&mut self, now: Instant) -> usize {
        let mut purged = 0;
        while let Some(entry) = self.order.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.entries.remove(&key);
            purged += 1;
        }
        purged
    }

    /// The earliest expiry of any entry still held (expired or not).
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.order.keys().next().map(|(at, _)| *at)
    }

    /// Entries held, expired ones not yet purged included.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The most entries the map holds.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Live entries with their expiry.
    pub(crate) fn iter_live(&self, now: Instant) -> impl Iterator<Item = (&K, &V, Instant)> {
        self.entries
            .iter()
            .filter(move |(_, slot)| slot.expires_at > now)
            .map(|(key, slot)| (key, &slot.value, slot.expires_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn entries_expire_and_lookups_ignore_them() {
        let t0 = Instant::now();
        let mut map = ExpiryMap::new(4);
        map.insert("a", 1, t0 + 10 * SEC, t0);
        assert_eq!(map.get(&"a", t0 + 9 * SEC).map(|(v, _)| *v), Some(1));
        assert!(
            !map.contains(&"a", t0 + 10 * SEC),
            "expired exactly at its instant"
        );
        assert_eq!(map.len(), 1, "not purged until an insertion or a purge");
        assert_eq!(map.purge_expired(t0 + 10 * SEC), 1);
        assert_eq!(map.len(), 0);
    }

    #[test]
    fn full_map_evicts_expired_first_then_the_soonest_to_expire() {
        let t0 = Instant::now();
        let mut map = ExpiryMap::new(3);
        map.insert(1, (), t0 + 5 * SEC, t0);
        map.insert(2, (), t0 + 50 * SEC, t0);
        map.insert(3, (), t0 + 20 * SEC, t0);
        // At t0 + 6 s entry 1 has expired: it is purged, nothing live is evicted.
        assert_eq!(map.insert(4, (), t0 + 60 * SEC, t0 + 6 * SEC), None);
        assert!(!map.contains(&1, t0 + 6 * SEC));
        // Now full of live entries: the one expiring first (3) makes room.
        assert_eq!(map.insert(5, (), t0 + 70 * SEC, t0 + 6 * SEC), Some(3));
        assert_eq!(map.len(), 3);
        assert!(map.contains(&2, t0 + 6 * SEC));
    }

    #[test]
    fn replacing_a_key_moves_its_expiry() {
        let t0 = Instant::now();
        let mut map = ExpiryMap::new(2);
        map.insert(1, 'a', t0 + 5 * SEC, t0);
        map.insert(1, 'b', t0 + 50 * SEC, t0);
        assert_eq!(map.len(), 1);
        assert_eq!(map.next_expiry(), Some(t0 + 50 * SEC));
        assert_eq!(map.get(&1, t0 + 10 * SEC).map(|(v, _)| *v), Some('b'));
    }

    #[test]
    fn deadline_saturates_instead_of_panicking() {
        let t0 = Instant::now();
        assert!(deadline(t0, Duration::MAX) > t0 + 1000 * SEC);
        assert_eq!(deadline(t0, SEC), t0 + SEC);
    }
}
