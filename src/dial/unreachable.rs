//! Addresses no dial ever reached: when a candidate is set aside, and for how long.
//!
//! A node behind a NAT answers discovery perfectly well (UDP goes out first, so the NAT lets
//! the answers back in) and black-holes every TCP dial. geth redials such a node whenever
//! the walk offers it again and its 35 s history has passed; the backoff alone (60 s
//! doubling to 30 min, forgiven hourly) still spends a dial slot on it for 15 s every time
//! it ends. Here, as btcd's address manager and CometBFT's address book mark an address
//! bad after a few failed attempts without a success, an address where every dial timed
//! out or met a network error and that never had a session is:
//!
//! - after [`UNREACHABLE_TIER_AFTER`] such dials, ranked below every stranger and below a
//!   node that failed for other reasons, whatever discovery says of it (a discovery answer
//!   proves UDP, not TCP);
//! - after [`UnreachableConfig::after`] such dials, refused outright
//!   ([`super::DialRefusal::Unreachable`]) for [`UnreachableConfig::quarantine`], doubling
//!   with each further failed dial up to [`UnreachableConfig::quarantine_max`]. When that
//!   ends the node may be dialed again (last among candidates), so a node that became
//!   reachable (port forwarded, NAT gone) is found again; its first session clears it all.
//!
//! A dial that reached the node (too many peers, a protocol failure) or a session, ever,
//! takes the node out of this rule; so does a new address (counting restarts there).

use std::time::Duration;

use tokio::time::Instant;

use super::memory::Standing;

/// Failed dials of a never-reached address from which ranking ignores discovery answers
/// and puts the node below every stranger. One timeout may be a node that was down and
/// came back (its discovery answer then lifts it); a second one while it answers
/// discovery is a node whose TCP port is not reachable.
pub const UNREACHABLE_TIER_AFTER: u32 = 2;
/// Default number of failed dials to a never-reached address before it is refused: 3 (btcd's
/// address manager calls an address that failed `numRetries` = 3 times and never succeeded
/// bad).
pub const DEFAULT_UNREACHABLE_AFTER: u32 = 3;
/// Default first time an unreachable address is refused: 1 h.
pub const DEFAULT_UNREACHABLE_QUARANTINE: Duration = Duration::from_secs(60 * 60);
/// Default longest time an unreachable address is refused: 24 h.
pub const DEFAULT_UNREACHABLE_QUARANTINE_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// When a never-reached address is refused (ranked policy only; static and trusted nodes
/// are exempt, they have their own capped backoff).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnreachableConfig {
    /// Failed dials (timeouts, network errors) to an address no dial ever reached, with no
    /// session ever, from which the address is refused; 0 turns the rule off. Default
    /// [`DEFAULT_UNREACHABLE_AFTER`].
    pub after: u32,
    /// How long it is refused after the `after`-th failure; each further failure doubles
    /// it. Default [`DEFAULT_UNREACHABLE_QUARANTINE`].
    pub quarantine: Duration,
    /// The longest refusal. Keep it below the dial memory's retention, or the record
    /// (and with it the count) is forgotten first. Default
    /// [`DEFAULT_UNREACHABLE_QUARANTINE_MAX`].
    pub quarantine_max: Duration,
}

impl Default for UnreachableConfig {
    fn default() -> Self {
        Self {
            after: DEFAULT_UNREACHABLE_AFTER,
            quarantine: DEFAULT_UNREACHABLE_QUARANTINE,
            quarantine_max: DEFAULT_UNREACHABLE_QUARANTINE_MAX,
        }
    }
}

impl UnreachableConfig {
    /// How long an address is refused after `failures` failed dials that never reached it.
    pub fn quarantine_for(&self, failures: u32) -> Option<Duration> {
        if self.after == 0 || failures < self.after {
            return None;
        }
        let doublings = (failures - self.after).min(31);
        let length = self
            .quarantine
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.quarantine_max)
            .min(self.quarantine_max);
        Some(length)
    }

    /// Until when a candidate with this standing is refused, if it is now.
    pub(crate) fn refused_until(&self, now: Instant, standing: &Standing) -> Option<Instant> {
        let length = self.quarantine_for(standing.unreached_failures)?;
        let until = standing.last_failure?.checked_add(length)?;
        (until > now).then_some(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn quarantine_starts_at_the_threshold_and_doubles_to_the_cap() {
        let c = UnreachableConfig::default();
        assert_eq!(c.quarantine_for(0), None);
        assert_eq!(c.quarantine_for(2), None);
        assert_eq!(c.quarantine_for(3), Some(HOUR));
        assert_eq!(c.quarantine_for(4), Some(2 * HOUR));
        assert_eq!(c.quarantine_for(7), Some(16 * HOUR));
        assert_eq!(c.quarantine_for(8), Some(24 * HOUR));
        assert_eq!(c.quarantine_for(u32::MAX), Some(24 * HOUR));
        let off = UnreachableConfig {
            after: 0,
            ..UnreachableConfig::default()
        };
        assert_eq!(off.quarantine_for(100), None);
    }

    #[test]
    fn the_refusal_runs_from_the_last_failure() {
        let c = UnreachableConfig::default();
        let t0 = Instant::now();
        let standing = Standing {
            failures_here: 3,
            unreached_failures: 3,
            last_failure: Some(t0),
            ..Standing::default()
        };
        assert_eq!(c.refused_until(t0, &standing), Some(t0 + HOUR));
        assert_eq!(c.refused_until(t0 + HOUR, &standing), None);
        let reached = Standing {
            unreached_failures: 0,
            ..standing
        };
        assert_eq!(c.refused_until(t0, &reached), None);
    }
}

#[cfg(test)]
mod proptests {
    use std::net::{IpAddr, SocketAddr};

    use enode::PeerId;
    use proptest::prelude::*;
    use rlpx::verdict::Verdict;

    use super::*;
    use crate::{dial::memory::DialMemory, VERDICTS};

    #[derive(Debug, Clone)]
    enum Step {
        Fail { verdict: usize, port: u16 },
        Success { port: u16 },
    }

    fn step() -> impl Strategy<Value = (Step, u32)> {
        let step = prop_oneof![
            // Mostly timeouts and network errors, so that long unreached runs happen.
            8 => (prop_oneof![3 => 1usize..3, 1 => 0..VERDICTS.len()], 1u16..3)
                .prop_map(|(verdict, port)| Step::Fail { verdict, port }),
            1 => (1u16..3).prop_map(|port| Step::Success { port }),
        ];
        (step, 0u32..(48 * 3600))
    }

    proptest! {
        /// Against a model: an address is refused exactly when every dial there failed with
        /// a timeout or a network error, at least `after` of them, the node never had a
        /// session, and the quarantine since the last failure has not run out; and never
        /// longer than `quarantine_max` after the last failure.
        #[test]
        fn refusal_matches_the_model_and_always_ends(steps in proptest::collection::vec(step(), 1..40)) {
            let config = UnreachableConfig::default();
            let id = PeerId([1; 64]);
            let addr = |port: u16| SocketAddr::new(IpAddr::from([8, 8, 8, 8]), port);
            let mut memory = DialMemory::new(16, Duration::from_secs(30 * 24 * 3600));
            let mut now = Instant::now();
            // The model: (address, failures there in a row, none reached it, ever a session).
            let mut model: Option<(u16, u32, bool)> = None;
            let mut sessions = false;
            let mut last_failure = None;
            for (step, gap) in steps {
                now += Duration::from_secs(u64::from(gap));
                match step {
                    Step::Fail { verdict, port } => {
                        let verdict = VERDICTS[verdict];
                        memory.record_failure(now, id, addr(port), verdict);
                        let unreached = matches!(verdict, Verdict::Timeout | Verdict::Transient);
                        model = Some(match model {
                            Some((p, n, never)) if p == port => (p, n + 1, never && unreached),
                            _ => (port, 1, unreached),
                        });
                        last_failure = Some(now);
                    }
                    Step::Success { port } => {
                        memory.record_success(now, id, addr(port));
                        model = Some((port, 0, false));
                        sessions = true;
                    }
                }
                for port in 1u16..3 {
                    for later in [0u64, 59 * 60, 3600, 5 * 3600, 25 * 3600] {
                        let at = now + Duration::from_secs(later);
                        let standing = memory.standing(at, &id, addr(port).ip(), port);
                        let refused = config.refused_until(at, &standing);
                        let expected = match (model, last_failure) {
                            (Some((p, n, true)), Some(failed)) if p == port && !sessions => config
                                .quarantine_for(n)
                                .map(|length| failed + length)
                                .filter(|until| *until > at),
                            _ => None,
                        };
                        prop_assert_eq!(refused, expected);
                        if let (Some(until), Some(failed)) = (refused, last_failure) {
                            prop_assert!(until <= failed + config.quarantine_max);
                        }
                    }
                }
            }
        }
    }
}
