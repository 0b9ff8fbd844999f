//! Settings of the dial scheduler, with geth's numbers as defaults, and the slot arithmetic
//! derived from them.

use std::time::Duration;

use enode::NetRestrict;

use super::unreachable::UnreachableConfig;
use crate::peers::{BackoffConfig, BanConfig};

/// Default cap on concurrent dials (geth's `defaultMaxPendingPeers`): 50.
pub const DEFAULT_MAX_ACTIVE_DIALS: usize = 50;
/// Default dial history (geth's `dialHistoryExpiration`, the 30 s inbound throttle + 5 s):
/// a node is not dialed again within 35 s of the last attempt.
pub const DEFAULT_DIAL_HISTORY: Duration = Duration::from_secs(35);
/// Default number of ranked candidates waiting for a slot: 256.
pub const DEFAULT_QUEUE_CAPACITY: usize = 256;
/// Default time a candidate may wait in the queue before it is considered stale: 5 min.
pub const DEFAULT_CANDIDATE_TTL: Duration = Duration::from_secs(5 * 60);
/// Default window in which a discovery answer counts as recent for ranking: 10 min.
pub const DEFAULT_FRESH_ANSWER: Duration = Duration::from_secs(10 * 60);
/// Default number of nodes whose dial results are remembered: 4096.
pub const DEFAULT_MEMORY_CAPACITY: usize = 4096;
/// Default time a remembered dial result is kept after its last update: 7 days.
pub const DEFAULT_MEMORY_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Default number of nodes the dial history holds: 4096.
pub const DEFAULT_HISTORY_CAPACITY: usize = 4096;
/// Default first wait after a failed discovery lookup of a static node without an address
/// (geth's `initialResolveDelay`): 60 s, doubling.
pub const DEFAULT_RESOLVE_DELAY: Duration = Duration::from_secs(60);
/// Default longest wait between lookups of a static node (geth's `maxResolveDelay`): 1 h.
pub const DEFAULT_RESOLVE_DELAY_MAX: Duration = Duration::from_secs(60 * 60);
/// Default deadline of one dial attempt, resolution included, after which the scheduler
/// counts it as timed out even if the caller never reported it: 60 s.
pub const DEFAULT_DIAL_DEADLINE: Duration = Duration::from_secs(60);
/// Default cap on static nodes: 1024.
pub const DEFAULT_MAX_STATIC_NODES: usize = 1024;
/// Default cap on trusted nodes: 1024.
pub const DEFAULT_MAX_TRUSTED_NODES: usize = 1024;
/// Default time an inbound connection may stay "pending" (handshaking) in the scheduler's
/// view if the caller never reports its end: 30 s.
pub const DEFAULT_PENDING_INBOUND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on pending inbound ids tracked: 1024.
pub const DEFAULT_PENDING_INBOUND_CAPACITY: usize = 1024;
/// Default cap on reports queued for sources and not yet taken: 1024 (the oldest are
/// dropped, and counted, beyond it).
pub const DEFAULT_REPORT_CAPACITY: usize = 1024;

/// How discovered candidates are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DialPolicy {
    /// Candidates wait in a bounded queue and the best is dialed first: a node with a past
    /// session, then one that answered discovery recently, then a stranger, then one whose
    /// dials failed. Failures back the node and its address off by their verdict's class.
    #[default]
    Ranked,
    /// geth's behaviour, for comparison: candidates are dialed in arrival order as soon as
    /// a slot is free, and only the dial history (and bans) keep a node from being dialed
    /// again.
    GethLike,
}

/// Settings of [`super::DialScheduler`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialConfig {
    /// All peers, inbound and dialed (geth's `MaxPeers`). Default
    /// [`crate::DEFAULT_MAX_PEERS`] (50).
    pub max_peers: usize,
    /// One in `dial_ratio` peer slots is for peers we dial (geth's `DialRatio`; at least
    /// 1). Default [`crate::DEFAULT_DIAL_RATIO`] (3).
    pub dial_ratio: usize,
    /// Concurrent dials at most (geth's `MaxPendingPeers`). Default
    /// [`DEFAULT_MAX_ACTIVE_DIALS`].
    pub max_active_dials: usize,
    /// Never dial, static nodes included (geth's `--nodial`). Default false.
    pub no_dial: bool,
    /// Dial only addresses in these networks (geth's `--netrestrict`). Default `None`.
    pub netrestrict: Option<NetRestrict>,
    /// A node is not dialed again within this time of the last attempt. Default
    /// [`DEFAULT_DIAL_HISTORY`].
    pub history: Duration,
    /// Nodes the history holds (at least 1). Default [`DEFAULT_HISTORY_CAPACITY`].
    pub history_capacity: usize,
    /// How candidates are chosen. Default [`DialPolicy::Ranked`].
    pub policy: DialPolicy,
    /// Candidates waiting for a slot (ranked policy; at least 1). Default
    /// [`DEFAULT_QUEUE_CAPACITY`].
    pub queue_capacity: usize,
    /// A candidate waiting longer than this is dropped. Default [`DEFAULT_CANDIDATE_TTL`].
    pub candidate_ttl: Duration,
    /// A discovery answer younger than this ranks a candidate above strangers. Default
    /// [`DEFAULT_FRESH_ANSWER`].
    pub fresh_answer: Duration,
    /// Nodes whose dial results are remembered (at least 1). Default
    /// [`DEFAULT_MEMORY_CAPACITY`].
    pub memory_capacity: usize,
    /// How long a remembered result is kept after its last update. Default
    /// [`DEFAULT_MEMORY_RETENTION`].
    pub memory_retention: Duration,
    /// Static nodes without an address are looked up through discovery (the caller has a
    /// resolver, e.g. discv4's). When false they are never dialed. Default true.
    pub resolve_static: bool,
    /// First wait after a failed lookup of a static node; doubles per failure. Default
    /// [`DEFAULT_RESOLVE_DELAY`].
    pub resolve_delay: Duration,
    /// Longest wait between lookups of a static node. Default
    /// [`DEFAULT_RESOLVE_DELAY_MAX`].
    pub resolve_delay_max: Duration,
    /// A dial not reported finished after this long counts as timed out. Default
    /// [`DEFAULT_DIAL_DEADLINE`].
    pub dial_deadline: Duration,
    /// Most static nodes. Default [`DEFAULT_MAX_STATIC_NODES`].
    pub max_static_nodes: usize,
    /// Most trusted nodes. Default [`DEFAULT_MAX_TRUSTED_NODES`].
    pub max_trusted_nodes: usize,
    /// An inbound connection not reported done after this long stops blocking dials to its
    /// id. Default [`DEFAULT_PENDING_INBOUND_TIMEOUT`].
    pub pending_inbound_timeout: Duration,
    /// Pending inbound ids tracked (at least 1). Default
    /// [`DEFAULT_PENDING_INBOUND_CAPACITY`].
    pub pending_inbound_capacity: usize,
    /// Reports queued for sources (at least 1). Default [`DEFAULT_REPORT_CAPACITY`].
    pub report_capacity: usize,
    /// Backoff durations per verdict class (ranked policy only).
    pub backoff: BackoffConfig,
    /// When an address no dial ever reached is refused (ranked policy only).
    pub unreachable: UnreachableConfig,
    /// Ban durations (both policies).
    pub bans: BanConfig,
}

impl Default for DialConfig {
    fn default() -> Self {
        Self {
            max_peers: crate::DEFAULT_MAX_PEERS,
            dial_ratio: crate::DEFAULT_DIAL_RATIO,
            max_active_dials: DEFAULT_MAX_ACTIVE_DIALS,
            no_dial: false,
            netrestrict: None,
            history: DEFAULT_DIAL_HISTORY,
            history_capacity: DEFAULT_HISTORY_CAPACITY,
            policy: DialPolicy::Ranked,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            candidate_ttl: DEFAULT_CANDIDATE_TTL,
            fresh_answer: DEFAULT_FRESH_ANSWER,
            memory_capacity: DEFAULT_MEMORY_CAPACITY,
            memory_retention: DEFAULT_MEMORY_RETENTION,
            resolve_static: true,
            resolve_delay: DEFAULT_RESOLVE_DELAY,
            resolve_delay_max: DEFAULT_RESOLVE_DELAY_MAX,
            dial_deadline: DEFAULT_DIAL_DEADLINE,
            max_static_nodes: DEFAULT_MAX_STATIC_NODES,
            max_trusted_nodes: DEFAULT_MAX_TRUSTED_NODES,
            pending_inbound_timeout: DEFAULT_PENDING_INBOUND_TIMEOUT,
            pending_inbound_capacity: DEFAULT_PENDING_INBOUND_CAPACITY,
            report_capacity: DEFAULT_REPORT_CAPACITY,
            backoff: BackoffConfig::default(),
            unreachable: UnreachableConfig::default(),
            bans: BanConfig::default(),
        }
    }
}

impl DialConfig {
    /// Slots for peers we dial, geth's rule: 0 with `no_dial` or no peers at all, else
    /// `max_peers / dial_ratio` but at least 1.
    pub fn max_dialed(&self) -> usize {
        if self.no_dial || self.max_peers == 0 {
            return 0;
        }
        (self.max_peers / self.dial_ratio.max(1)).max(1)
    }

    /// How many dials may start now, geth's rule: twice the free dialed slots, at most
    /// `max_active_dials` in flight, minus the dials already running.
    pub fn dial_budget(&self, dialed_peers: usize, active_dials: usize) -> usize {
        let free_slots = self.max_dialed().saturating_sub(dialed_peers);
        free_slots
            .saturating_mul(2)
            .min(self.max_active_dials)
            .saturating_sub(active_dials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_peers: usize, dial_ratio: usize) -> DialConfig {
        DialConfig {
            max_peers,
            dial_ratio,
            ..DialConfig::default()
        }
    }

    #[test]
    fn dialed_slots_follow_geth() {
        assert_eq!(DialConfig::default().max_dialed(), 16, "50 / 3");
        assert_eq!(config(1, 3).max_dialed(), 1, "at least one slot");
        assert_eq!(config(0, 3).max_dialed(), 0);
        assert_eq!(config(50, 0).max_dialed(), 50, "ratio 0 is treated as 1");
        assert_eq!(config(100, 2).max_dialed(), 50);
        let no_dial = DialConfig {
            no_dial: true,
            ..DialConfig::default()
        };
        assert_eq!(no_dial.max_dialed(), 0);
    }

    #[test]
    fn concurrent_dials_are_twice_the_free_slots_capped_at_fifty() {
        let c = DialConfig::default(); // 16 dialed slots
        assert_eq!(c.dial_budget(0, 0), 32);
        assert_eq!(c.dial_budget(10, 0), 12);
        assert_eq!(c.dial_budget(10, 5), 7);
        assert_eq!(c.dial_budget(10, 20), 0, "never negative");
        assert_eq!(c.dial_budget(16, 0), 0);
        assert_eq!(c.dial_budget(20, 0), 0, "more dialed peers than slots");
        let big = config(300, 3); // 100 dialed slots
        assert_eq!(big.dial_budget(0, 0), 50);
        assert_eq!(big.dial_budget(0, 49), 1);
        assert_eq!(big.dial_budget(90, 0), 20);
    }
}
