//! Doubling penalties that are forgiven over time: the n-th penalty in a row lasts
//! `base × 2ⁿ` (capped), and every `decay` period that passes after a penalty has ended
//! without a new one lowers n by one. Shared by backoffs and bans.

use std::{hash::Hash, time::Duration};

use tokio::time::Instant;

use super::expiry::{deadline, ExpiryMap};

/// Doubling steps beyond which the duration cannot grow further anyway (2^32 × 1 s ≫ any cap).
const MAX_LEVEL: u32 = 32;

/// How one kind of penalty grows and decays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ladder {
    /// The first penalty.
    pub(crate) base: Duration,
    /// The longest penalty.
    pub(crate) max: Duration,
    /// After a penalty ends, each such period without a new one forgives one doubling.
    pub(crate) decay: Duration,
}

impl Ladder {
    /// The penalty at doubling level `level`: `base × 2^level`, at most `max`.
    pub(crate) fn duration_at(&self, level: u32) -> Duration {
        let factor = 1u32 << level.min(MAX_LEVEL - 1);
        self.base
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// What is remembered of a key's past penalties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rung {
    /// Level of the last penalty.
    level: u32,
    /// When the last penalty ended (or ends).
    ends_at: Instant,
}

/// Per-key doubling levels, bounded; a key is forgotten once its level has decayed to zero.
#[derive(Debug, Clone)]
pub(crate) struct Escalation<K> {
    rungs: ExpiryMap<K, Rung>,
}

impl<K: Hash + Eq + Clone> Escalation<K> {
    /// Remembers at most `capacity` keys.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            rungs: ExpiryMap::new(capacity),
        }
    }

    /// The level the next penalty of `key` gets at `now`, after decay.
    pub(crate) fn next_level(&self, key: &K, ladder: &Ladder, now: Instant) -> u32 {
        let Some((rung, _)) = self.rungs.get(key, now) else {
            return 0;
        };
        let forgiven = match now.checked_duration_since(rung.ends_at) {
            // Still serving the last penalty: a new one escalates fully.
            None => 0,
            Some(idle) => match ladder.decay.as_nanos() {
                0 => u128::from(MAX_LEVEL),
                decay => idle.as_nanos() / decay,
            },
        };
        let forgiven = u32::try_from(forgiven).unwrap_or(u32::MAX);
        (rung.level + 1).saturating_sub(forgiven).min(MAX_LEVEL)
    }

    /// Records a penalty for `key` at `now` and returns how long it lasts.
    pub(crate) fn escalate(&mut self, key: K, ladder: &Ladder, now: Instant) -> Duration {
        let level = self.next_level(&key, ladder, now);
        let duration = ladder.duration_at(level);
        let ends_at = deadline(now, duration);
        // Forgotten when every level has decayed: `level + 1` decay periods after the end.
        let memory = ladder.decay.saturating_mul(level.saturating_add(1));
        let forget_at = deadline(ends_at, memory);
        self.rungs
            .insert(key, Rung { level, ends_at }, forget_at, now);
        duration
    }

    /// Forgets `key`'s past penalties.
    pub(crate) fn reset(&mut self, key: &K) {
        self.rungs.remove(key);
    }

    /// Keys remembered (expired ones not yet purged included).
    pub(crate) fn len(&self) -> usize {
        self.rungs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn ladder() -> Ladder {
        Ladder {
            base: MIN,
            max: 8 * MIN,
            decay: 10 * MIN,
        }
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let t0 = Instant::now();
        let mut esc = Escalation::new(16);
        let waits: Vec<_> = (0..6).map(|_| esc.escalate("k", &ladder(), t0)).collect();
        assert_eq!(waits, [MIN, 2 * MIN, 4 * MIN, 8 * MIN, 8 * MIN, 8 * MIN]);
    }

    #[test]
    fn each_idle_decay_period_after_the_end_forgives_one_level() {
        let t0 = Instant::now();
        let mut esc = Escalation::new(16);
        esc.escalate("k", &ladder(), t0); // level 0, ends t0+1m
        esc.escalate("k", &ladder(), t0); // level 1, ends t0+2m
        esc.escalate("k", &ladder(), t0); // level 2, ends t0+4m
        let end = t0 + 4 * MIN;
        assert_eq!(esc.next_level(&"k", &ladder(), end), 3);
        assert_eq!(esc.next_level(&"k", &ladder(), end + 10 * MIN), 2);
        assert_eq!(esc.next_level(&"k", &ladder(), end + 25 * MIN), 1);
        // Forgotten entirely after level + 1 = 3 decay periods.
        assert_eq!(esc.next_level(&"k", &ladder(), end + 30 * MIN), 0);
    }

    #[test]
    fn huge_durations_do_not_overflow() {
        let t0 = Instant::now();
        let ladder = Ladder {
            base: Duration::MAX,
            max: Duration::MAX,
            decay: Duration::MAX,
        };
        let mut esc = Escalation::new(1);
        assert_eq!(esc.escalate(1, &ladder, t0), Duration::MAX);
        assert_eq!(esc.escalate(1, &ladder, t0), Duration::MAX);
    }
}
