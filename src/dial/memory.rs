//! What the scheduler remembers of past dials, per node: where it was dialed last, how many
//! sessions succeeded, how many dials failed in a row at that address, whether any dial there
//! ever reached the node, whether it proved incompatible. Ranking reads it;
//! [`DialMemory::snapshot`] and [`DialMemory::restore`] carry it across restarts. Bounded: at most `capacity` nodes, each forgotten `retention`
//! after its last update (the least recently updated go first when full).

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use enode::{netutil::normalize_ip, PeerId};
use rlpx::verdict::{Backoff, Verdict};
use tokio::time::Instant;

use super::snapshot::{DialMemorySnapshot, SnapshotEntry};
use crate::peers::expiry::{deadline, ExpiryMap};

/// What is remembered of one node's dials and sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialRecord {
    /// The TCP address of the last dial or session.
    pub addr: SocketAddr,
    /// Sessions established by dialing the node.
    pub successes: u32,
    /// Dials that failed in a row at `addr` since the last success.
    pub failures: u32,
    /// No dial at `addr` ever reached the node: every one timed out or met a network error,
    /// and none produced a session. A node behind a NAT looks like this for ever, however
    /// well it answers discovery.
    pub never_reached: bool,
    /// A dial or session ended with a fatal verdict (other network, no shared capability).
    pub incompatible: bool,
    /// The last success, if any.
    pub last_success: Option<Instant>,
    /// The last failure, if any.
    pub last_failure: Option<Instant>,
    /// The last update of this record.
    pub updated: Instant,
}

/// Per-node dial results, bounded.
#[derive(Debug, Clone)]
pub struct DialMemory {
    records: ExpiryMap<PeerId, DialRecord>,
    retention: Duration,
}

fn normalize(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(normalize_ip(addr.ip()), addr.port())
}

impl DialMemory {
    /// Remembers at most `capacity` nodes, each for `retention` after its last update.
    pub fn new(capacity: usize, retention: Duration) -> Self {
        Self {
            records: ExpiryMap::new(capacity),
            retention,
        }
    }

    fn put(&mut self, now: Instant, id: PeerId, record: DialRecord) {
        let forget_at = deadline(record.updated, self.retention);
        self.records.insert(id, record, forget_at, now);
    }

    fn current(&self, now: Instant, id: &PeerId, addr: SocketAddr) -> DialRecord {
        self.records
            .get(id, now)
            .map(|(record, _)| *record)
            .unwrap_or(DialRecord {
                addr,
                successes: 0,
                failures: 0,
                never_reached: true,
                incompatible: false,
                last_success: None,
                last_failure: None,
                updated: now,
            })
    }

    /// A session with node `id` at `addr` was established.
    pub fn record_success(&mut self, now: Instant, id: PeerId, addr: SocketAddr) {
        let addr = normalize(addr);
        let mut record = self.current(now, &id, addr);
        record.addr = addr;
        record.successes = record.successes.saturating_add(1);
        record.failures = 0;
        record.never_reached = false;
        record.incompatible = false;
        record.last_success = Some(now);
        record.updated = now;
        self.put(now, id, record);
    }

    /// A dial to node `id` at `addr` failed with `verdict`. Failures count per address: a
    /// node that moved starts again from zero. A verdict other than a timeout or a network
    /// error (say, too many peers) means the dial reached the node.
    pub fn record_failure(&mut self, now: Instant, id: PeerId, addr: SocketAddr, verdict: Verdict) {
        let addr = normalize(addr);
        let mut record = self.current(now, &id, addr);
        if record.addr != addr {
            record.addr = addr;
            record.failures = 0;
            record.never_reached = true;
        }
        record.failures = record.failures.saturating_add(1);
        record.never_reached &= !reached_the_node(verdict);
        record.incompatible |= verdict.is_fatal();
        record.last_failure = Some(now);
        record.updated = now;
        self.put(now, id, record);
    }

    /// A session with node `id` ended with `verdict`: a fatal one marks it incompatible.
    pub fn record_session_end(&mut self, now: Instant, id: PeerId, verdict: Verdict) {
        if !verdict.is_fatal() {
            return;
        }
        if let Some((record, _)) = self.records.get(&id, now) {
            let mut record = *record;
            record.incompatible = true;
            record.updated = now;
            self.put(now, id, record);
        }
    }

    /// The record of node `id`, if remembered.
    pub fn get(&self, now: Instant, id: &PeerId) -> Option<&DialRecord> {
        self.records.get(id, now).map(|(record, _)| record)
    }

    /// Nodes remembered (expired ones not yet purged included); at most the capacity.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.records.len() == 0
    }

    /// Every live record as a compact, serialisable snapshot. `wall_clock_secs` is the
    /// current Unix time (seconds), so that [`DialMemory::restore`] in a later process can
    /// age the records by the time that passed in between.
    pub fn snapshot(&self, now: Instant, wall_clock_secs: u64) -> DialMemorySnapshot {
        let ago = |at: Instant| {
            let secs = now.saturating_duration_since(at).as_secs();
            u32::try_from(secs).unwrap_or(u32::MAX)
        };
        let mut entries: Vec<SnapshotEntry> = self
            .records
            .iter_live(now)
            .map(|(id, record, _)| SnapshotEntry {
                id: *id,
                addr: record.addr,
                successes: record.successes,
                failures: record.failures,
                never_reached: record.never_reached,
                incompatible: record.incompatible,
                updated_secs_ago: ago(record.updated),
                last_success_secs_ago: record.last_success.map(ago),
                last_failure_secs_ago: record.last_failure.map(ago),
            })
            .collect();
        // Most recently updated first, so a reader that keeps only a prefix keeps the freshest.
        entries.sort_by_key(|e| (e.updated_secs_ago, e.id));
        DialMemorySnapshot::new(wall_clock_secs, entries)
    }

    /// Loads a snapshot taken by [`DialMemory::snapshot`], aging every record by the wall
    /// time since it was taken (`wall_clock_secs` is the current Unix time). Records older
    /// than the retention are skipped; a node already remembered keeps whichever record
    /// is newer. Returns how many records were loaded.
    pub fn restore(
        &mut self,
        now: Instant,
        wall_clock_secs: u64,
        snapshot: &DialMemorySnapshot,
    ) -> usize {
        let offline = wall_clock_secs.saturating_sub(snapshot.taken_at_secs());
        let at = |secs_ago: u32| {
            let age = Duration::from_secs(offline.saturating_add(u64::from(secs_ago)));
            // A time before this process could place it is taken as now (conservative for
            // failures, harmless for the rest).
            now.checked_sub(age).unwrap_or(now)
        };
        let mut loaded = 0;
        // Oldest first, so that with more entries than capacity the freshest remain.
        for entry in snapshot.entries().iter().rev() {
            let age = offline.saturating_add(u64::from(entry.updated_secs_ago));
            if Duration::from_secs(age) >= self.retention {
                continue;
            }
            let updated = at(entry.updated_secs_ago);
            if self
                .records
                .get(&entry.id, now)
                .is_some_and(|(old, _)| old.updated >= updated)
            {
                continue;
            }
            let record = DialRecord {
                addr: normalize(entry.addr),
                successes: entry.successes,
                failures: entry.failures,
                never_reached: entry.never_reached,
                incompatible: entry.incompatible,
                last_success: entry.last_success_secs_ago.map(at),
                last_failure: entry.last_failure_secs_ago.map(at),
                updated,
            };
            self.put(now, entry.id, record);
            loaded += 1;
        }
        loaded
    }
}

/// True when a dial that failed with `verdict` still reached the node: anything but a
/// timeout or a network error (the classes a black-holed or refused address produces).
fn reached_the_node(verdict: Verdict) -> bool {
    verdict.backoff() != Backoff::Medium
}

/// The standing of a candidate at an address, as ranking sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Standing {
    /// Sessions established before.
    pub(crate) successes: u32,
    /// Failures in a row at this very address.
    pub(crate) failures_here: u32,
    /// Of those, the ones of a node no dial ever reached at this address and that never had
    /// a session: `failures_here` when that is so, else 0.
    pub(crate) unreached_failures: u32,
    /// Proved incompatible.
    pub(crate) incompatible: bool,
    /// When the last failure happened.
    pub(crate) last_failure: Option<Instant>,
}

impl DialMemory {
    /// What is known about node `id` at `ip:port`.
    pub(crate) fn standing(&self, now: Instant, id: &PeerId, ip: IpAddr, port: u16) -> Standing {
        let Some(record) = self.get(now, id) else {
            return Standing::default();
        };
        let here = record.addr == normalize(SocketAddr::new(ip, port));
        let failures_here = if here { record.failures } else { 0 };
        let unreached = record.never_reached && record.successes == 0;
        Standing {
            successes: record.successes,
            failures_here,
            unreached_failures: if unreached { failures_here } else { 0 },
            incompatible: record.incompatible,
            last_failure: record.last_failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::new(IpAddr::from([8, 8, 8, n]), 30303)
    }

    fn id(n: u8) -> PeerId {
        PeerId([n; 64])
    }

    #[test]
    fn failures_count_per_address_and_a_success_clears_them() {
        let t0 = Instant::now();
        let mut m = DialMemory::new(16, 7 * DAY);
        m.record_failure(t0, id(1), addr(1), Verdict::Timeout);
        m.record_failure(t0, id(1), addr(1), Verdict::Timeout);
        let s = m.standing(t0, &id(1), addr(1).ip(), 30303);
        assert_eq!((s.failures_here, s.successes), (2, 0));
        assert_eq!(m.standing(t0, &id(1), addr(2).ip(), 30303).failures_here, 0);
        m.record_failure(t0, id(1), addr(2), Verdict::Timeout);
        assert_eq!(
            m.get(t0, &id(1)).unwrap().failures,
            1,
            "moved: counting restarts"
        );
        m.record_success(t0, id(1), addr(2));
        let r = m.get(t0, &id(1)).unwrap();
        assert_eq!((r.failures, r.successes), (0, 1));
    }

    #[test]
    fn fatal_verdicts_mark_incompatible() {
        let t0 = Instant::now();
        let mut m = DialMemory::new(16, 7 * DAY);
        m.record_success(t0, id(1), addr(1));
        m.record_session_end(t0, id(1), Verdict::Transient);
        assert!(!m.get(t0, &id(1)).unwrap().incompatible);
        m.record_session_end(t0, id(1), Verdict::Incompatible);
        assert!(m.get(t0, &id(1)).unwrap().incompatible);
        m.record_failure(t0, id(2), addr(2), Verdict::Impostor);
        assert!(m.get(t0, &id(2)).unwrap().incompatible);
    }

    #[test]
    fn bounded_and_forgets_after_retention() {
        let t0 = Instant::now();
        let mut m = DialMemory::new(8, DAY);
        for n in 0..100u8 {
            m.record_failure(t0 + u32::from(n) * SEC, id(n), addr(n), Verdict::Timeout);
        }
        assert_eq!(m.len(), 8);
        assert!(m.get(t0 + 100 * SEC, &id(99)).is_some());
        assert!(
            m.get(t0 + 100 * SEC, &id(0)).is_none(),
            "least recently updated evicted"
        );
        assert!(
            m.get(t0 + DAY + 99 * SEC, &id(99)).is_none(),
            "retention over"
        );
    }

    #[test]
    fn snapshot_restores_aged_by_the_time_offline() {
        let t0 = Instant::now();
        let mut m = DialMemory::new(16, 7 * DAY);
        m.record_success(t0, id(1), addr(1));
        m.record_failure(t0 + 10 * SEC, id(2), addr(2), Verdict::Timeout);
        let wall = 1_800_000_000;
        let snapshot = m.snapshot(t0 + 20 * SEC, wall);
        let bytes = snapshot.encode();
        let decoded = DialMemorySnapshot::decode(&bytes).unwrap();
        assert_eq!(decoded, snapshot);

        // A new process, one hour later.
        let t1 = t0 + 3 * DAY;
        let mut restored = DialMemory::new(16, 7 * DAY);
        assert_eq!(restored.restore(t1, wall + 3600, &decoded), 2);
        let r1 = restored.get(t1, &id(1)).unwrap();
        assert_eq!(r1.successes, 1);
        assert_eq!(r1.last_success, Some(t1 - 3600 * SEC - 20 * SEC));
        let r2 = restored.get(t1, &id(2)).unwrap();
        assert_eq!((r2.failures, r2.addr), (1, addr(2)));
        assert_eq!(r2.last_failure, Some(t1 - 3600 * SEC - 10 * SEC));

        // Eight days later everything is past the retention.
        let mut late = DialMemory::new(16, 7 * DAY);
        assert_eq!(late.restore(t1, wall + 8 * 24 * 3600, &decoded), 0);
    }
}
