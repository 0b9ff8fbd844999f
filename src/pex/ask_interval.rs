//! The interval between the PEX service's asks, stretched while answers bring nothing new
//! (tendermint v0.35's idea) and back to the configured period as soon as one does.
//!
//! It is judged once per tick over every answer since the previous tick. Judged per answer,
//! the burst of answers from a node's first sessions, where the last ones repeat what the
//! first brought, stretched a young book's interval to the maximum within seconds, and the
//! node stopped learning (a 200-node simulation had books stuck at a third of the network).

use std::time::Duration;

/// The ask interval and what the answers since the last tick brought.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AskInterval {
    base: Duration,
    max: Duration,
    current: Duration,
    answers: usize,
    added: usize,
}

impl AskInterval {
    /// Starts at `base`; never stretches beyond `max` (nor below `base`).
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            current: base,
            answers: 0,
            added: 0,
        }
    }

    /// An answer arrived that added `added` entries the book did not know.
    pub(crate) fn on_answer(&mut self, added: usize) {
        self.answers += 1;
        self.added += added;
    }

    /// A tick: judges the answers since the last one and returns the interval to the next.
    /// A tick without answers changes nothing (there is nothing to judge).
    pub(crate) fn on_tick(&mut self) -> Duration {
        if self.answers > 0 {
            self.current = if self.added > 0 {
                self.base
            } else {
                self.current.saturating_mul(2).min(self.max)
            };
        }
        self.answers = 0;
        self.added = 0;
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(30);
    const MAX: Duration = Duration::from_secs(600);

    #[test]
    fn a_burst_of_repeating_answers_does_not_stretch_the_interval() {
        let mut interval = AskInterval::new(BASE, MAX);
        // The first sessions' answers: the first brings 40 entries, fifteen repeat it.
        interval.on_answer(40);
        for _ in 0..15 {
            interval.on_answer(0);
        }
        assert_eq!(interval.on_tick(), BASE);
    }

    #[test]
    fn ticks_of_nothing_new_double_it_up_to_the_maximum_and_news_resets_it() {
        let mut interval = AskInterval::new(BASE, MAX);
        let mut seen = Vec::new();
        for _ in 0..7 {
            interval.on_answer(0);
            interval.on_answer(0);
            seen.push(interval.on_tick().as_secs());
        }
        assert_eq!(seen, [60, 120, 240, 480, 600, 600, 600]);
        // A tick without answers judges nothing.
        assert_eq!(interval.on_tick(), MAX);
        interval.on_answer(0);
        interval.on_answer(1);
        assert_eq!(interval.on_tick(), BASE);
    }

    #[test]
    fn a_maximum_below_the_base_is_the_base() {
        let mut interval = AskInterval::new(BASE, Duration::from_secs(1));
        interval.on_answer(0);
        assert_eq!(interval.on_tick(), BASE);
    }
}
