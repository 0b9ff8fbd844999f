//! Which nodes answered discovery lately, as the discv4 table shows it: the hint that lets
//! the dial scheduler rank a walk's node that is alive before a stranger, for every
//! candidate the discv4 source offers (not only those an ENR filter asked).
//!
//! The table revalidates its entries with PINGs all the time; an entry that answered its
//! last check and has a positive count of answered checks is live. The source asks the
//! table for a dump ([`discv4::service::Discv4Handle::buckets`]) at most every
//! [`LIVENESS_REFRESH`] while it is being polled, and takes the time of the dump as the
//! time of the answer (an entry that stops answering loses its count, then its place).
//! Pure: the caller brings the dump and the time. Bounded: answers older than
//! [`LIVENESS_MEMORY`] are forgotten, and at most [`LIVENESS_CAPACITY`] nodes are kept.

use std::{collections::HashMap, time::Duration};

use discv4::service::BucketDump;
use enode::PeerId;
use tokio::time::Instant;

use super::clock::deadline_after;

/// How often the discv4 source asks the table which nodes are live, while polled.
pub const LIVENESS_REFRESH: Duration = Duration::from_secs(10);
/// How long an answer seen in a dump is remembered after the node left the table: the dial
/// scheduler's window for a recent answer ([`crate::dial::DEFAULT_FRESH_ANSWER`]).
pub const LIVENESS_MEMORY: Duration = Duration::from_secs(10 * 60);
/// The most nodes whose answers are remembered.
pub const LIVENESS_CAPACITY: usize = 4096;

/// When nodes last showed as live in the discv4 table.
#[derive(Debug, Clone, Default)]
pub(super) struct LiveNodes {
    answered: HashMap<PeerId, Instant>,
    /// When the last dump was asked for (answered or not).
    asked_at: Option<Instant>,
}

impl LiveNodes {
    /// True when a new dump is due at `now`.
    pub(super) fn due(&self, now: Instant) -> bool {
        self.asked_at
            .is_none_or(|at| now >= deadline_after(at, LIVENESS_REFRESH))
    }

    /// A dump is being asked for at `now` (paces the next one, whatever its answer).
    pub(super) fn asking(&mut self, now: Instant) {
        self.asked_at = Some(now);
    }

    /// Takes a table dump made at `now`: every live entry answered by then.
    pub(super) fn absorb(&mut self, now: Instant, buckets: &[BucketDump]) {
        let live = buckets
            .iter()
            .flat_map(|bucket| &bucket.entries)
            .filter(|entry| entry.is_live && entry.liveness_checks > 0);
        for entry in live {
            self.answered.insert(entry.record.id, now);
        }
        self.answered
            .retain(|_, at| now.saturating_duration_since(*at) < LIVENESS_MEMORY);
        if self.answered.len() > LIVENESS_CAPACITY {
            // Only when the table churned through thousands of nodes within the memory:
            // keep the freshest.
            let mut times: Vec<Instant> = self.answered.values().copied().collect();
            times.sort_unstable_by(|a, b| b.cmp(a));
            let cutoff = times[LIVENESS_CAPACITY - 1];
            self.answered.retain(|_, at| *at > cutoff);
        }
    }

    /// When node `id` last showed as live, if within the memory.
    pub(super) fn answered_at(&self, id: &PeerId) -> Option<Instant> {
        self.answered.get(id).copied()
    }

    /// Nodes remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.answered.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use discv4::service::EntryDump;
    use enode::NodeRecord;

    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn entry(n: u16, checks: u32, is_live: bool) -> EntryDump {
        let mut id = [0u8; 64];
        id[..2].copy_from_slice(&n.to_be_bytes());
        EntryDump {
            record: NodeRecord {
                address: IpAddr::from([10, 0, 0, 1]),
                udp_port: 30303,
                tcp_port: 30303,
                id: PeerId(id),
            },
            seq: 1,
            in_bucket_for: SEC,
            liveness_checks: checks,
            is_live,
        }
    }

    fn dump(entries: Vec<EntryDump>) -> Vec<BucketDump> {
        vec![BucketDump {
            index: 0,
            entries,
            replacements: 0,
        }]
    }

    #[test]
    fn only_entries_that_answered_their_checks_count_and_answers_age_out() {
        let t0 = Instant::now();
        let mut live = LiveNodes::default();
        assert!(live.due(t0));
        live.asking(t0);
        assert!(!live.due(t0 + LIVENESS_REFRESH - SEC));
        assert!(live.due(t0 + LIVENESS_REFRESH));
        let answered = entry(1, 2, true);
        let unchecked = entry(2, 0, false);
        let demoted = entry(3, 0, true);
        live.absorb(
            t0,
            &dump(vec![answered.clone(), unchecked.clone(), demoted.clone()]),
        );
        assert_eq!(live.answered_at(&answered.record.id), Some(t0));
        assert_eq!(live.answered_at(&unchecked.record.id), None);
        assert_eq!(live.answered_at(&demoted.record.id), None);
        // Node 1 left the table; its answer is remembered for a while, then forgotten.
        live.absorb(t0 + LIVENESS_MEMORY - SEC, &dump(vec![]));
        assert_eq!(live.answered_at(&answered.record.id), Some(t0));
        live.absorb(t0 + LIVENESS_MEMORY, &dump(vec![]));
        assert_eq!(live.answered_at(&answered.record.id), None);
    }

    #[test]
    fn bounded_keeping_the_freshest() {
        let t0 = Instant::now();
        let mut live = LiveNodes::default();
        for round in 0..3u16 {
            let entries = (0..2000u16)
                .map(|n| entry(round * 2000 + n, 1, true))
                .collect();
            live.absorb(t0 + u32::from(round) * SEC, &dump(entries));
        }
        assert!(live.len() <= LIVENESS_CAPACITY);
        assert_eq!(
            live.answered_at(&entry(4000, 1, true).record.id),
            Some(t0 + 2 * SEC)
        );
        assert_eq!(live.answered_at(&entry(0, 1, true).record.id), None);
    }
}
