//! How long not to dial a node, or an address, after a failure: one wait per
//! [`rlpx::verdict::Backoff`] class, doubling while failures repeat and forgiven over time.
//!
//! Backoffs are kept apart from any reputation score: they answer only "may we dial this
//! now?", keyed by node id and by IP, bounded in memory. The caller decides which keys a
//! failure touches (the dial scheduler backs off an IP only for failed dials of the
//! `Medium` class, the one that says "this host may be unreachable").

use std::{net::IpAddr, time::Duration};

use enode::{
    netutil::{is_lan, normalize_ip},
    PeerId,
};
use rlpx::verdict::Backoff;
use tokio::time::Instant;

use super::{
    escalation::{Escalation, Ladder},
    expiry::{deadline, ExpiryMap},
};

/// Default wait after a `Short` failure (a busy peer): 35 s, the dial history of geth.
pub const DEFAULT_SHORT_BACKOFF: Duration = Duration::from_secs(35);
/// Default first wait after a `Medium` failure (network error, timeout): 1 min, doubling.
pub const DEFAULT_MEDIUM_BACKOFF: Duration = Duration::from_secs(60);
/// Default longest `Medium` wait: 30 min.
pub const DEFAULT_MEDIUM_BACKOFF_MAX: Duration = Duration::from_secs(30 * 60);
/// Default first wait after a `Long` failure (protocol breach, incompatible): 30 min,
/// doubling.
pub const DEFAULT_LONG_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// Default longest `Long` wait: 24 h.
pub const DEFAULT_LONG_BACKOFF_MAX: Duration = Duration::from_secs(24 * 60 * 60);
/// Default longest wait of a static or trusted node, whatever the failure: 5 min.
pub const DEFAULT_PRIVILEGED_BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);
/// Default forgiveness: each hour after a backoff ended without a new failure undoes one
/// doubling.
pub const DEFAULT_BACKOFF_DECAY: Duration = Duration::from_secs(60 * 60);
/// Default number of node ids, and separately of IPs, remembered: 8192 each.
pub const DEFAULT_BACKOFF_CAPACITY: usize = 8192;

/// Durations of the three backoff classes, and the bounds of the tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Wait after a `Short` failure; it does not grow. Default [`DEFAULT_SHORT_BACKOFF`].
    pub short: Duration,
    /// First wait after a `Medium` failure; doubles while failures repeat. Default
    /// [`DEFAULT_MEDIUM_BACKOFF`].
    pub medium: Duration,
    /// Longest `Medium` wait. Default [`DEFAULT_MEDIUM_BACKOFF_MAX`].
    pub medium_max: Duration,
    /// First wait after a `Long` failure; doubles while failures repeat. Default
    /// [`DEFAULT_LONG_BACKOFF`].
    pub long: Duration,
    /// Longest `Long` wait. Default [`DEFAULT_LONG_BACKOFF_MAX`].
    pub long_max: Duration,
    /// Static and trusted nodes never wait longer than this. Default
    /// [`DEFAULT_PRIVILEGED_BACKOFF_MAX`].
    pub privileged_max: Duration,
    /// After a backoff ends, each such period without a new failure undoes one doubling.
    /// Default [`DEFAULT_BACKOFF_DECAY`].
    pub decay: Duration,
    /// Node ids remembered, and separately IPs (at least 1 each). When full, the entry whose
    /// backoff ends first is forgotten. Default [`DEFAULT_BACKOFF_CAPACITY`].
    pub capacity: usize,
    /// LAN and loopback addresses are never backed off by IP (many nodes share 127.0.0.1
    /// in tests and local networks); their node ids still are. Default true.
    pub exempt_lan: bool,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            short: DEFAULT_SHORT_BACKOFF,
            medium: DEFAULT_MEDIUM_BACKOFF,
            medium_max: DEFAULT_MEDIUM_BACKOFF_MAX,
            long: DEFAULT_LONG_BACKOFF,
            long_max: DEFAULT_LONG_BACKOFF_MAX,
            privileged_max: DEFAULT_PRIVILEGED_BACKOFF_MAX,
            decay: DEFAULT_BACKOFF_DECAY,
            capacity: DEFAULT_BACKOFF_CAPACITY,
            exempt_lan: true,
        }
    }
}

impl BackoffConfig {
    fn ladder(&self, class: Backoff, privileged: bool) -> Ladder {
        let (base, max) = match class {
            Backoff::Short => (self.short, self.short),
            Backoff::Medium => (self.medium, self.medium_max),
            Backoff::Long => (self.long, self.long_max),
        };
        let (base, max) = if privileged {
            (base.min(self.privileged_max), max.min(self.privileged_max))
        } else {
            (base, max)
        };
        Ladder {
            base,
            max,
            decay: self.decay,
        }
    }
}

/// Active backoffs by node id and by IP, with their doubling levels.
#[derive(Debug, Clone)]
pub struct Backoffs {
    config: BackoffConfig,
    ids: ExpiryMap<PeerId, ()>,
    ips: ExpiryMap<IpAddr, ()>,
    id_levels: Escalation<(PeerId, Backoff)>,
    ip_levels: Escalation<(IpAddr, Backoff)>,
}

impl Backoffs {
    /// Empty tables with these settings.
    pub fn new(config: BackoffConfig) -> Self {
        let capacity = config.capacity.max(1);
        Self {
            ids: ExpiryMap::new(capacity),
            ips: ExpiryMap::new(capacity),
            id_levels: Escalation::new(capacity),
            ip_levels: Escalation::new(capacity),
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// Backs node `id` off after a failure of `class` and returns the wait. A privileged
    /// (static or trusted) node waits at most [`BackoffConfig::privileged_max`]. A wait never
    /// shortens one already running.
    pub fn back_off_id(
        &mut self,
        now: Instant,
        id: PeerId,
        class: Backoff,
        privileged: bool,
    ) -> Duration {
        let ladder = self.config.ladder(class, privileged);
        let wait = self.id_levels.escalate((id, class), &ladder, now);
        extend(&mut self.ids, id, deadline(now, wait), now);
        wait
    }

    /// Backs address `ip` off after a failure of `class`; `None` (and nothing recorded) for
    /// an exempt LAN address.
    pub fn back_off_ip(&mut self, now: Instant, ip: IpAddr, class: Backoff) -> Option<Duration> {
        let ip = normalize_ip(ip);
        if self.config.exempt_lan && is_lan(ip) {
            return None;
        }
        let ladder = self.config.ladder(class, false);
        let wait = self.ip_levels.escalate((ip, class), &ladder, now);
        extend(&mut self.ips, ip, deadline(now, wait), now);
        Some(wait)
    }

    /// Until when node `id` is backed off, if it is.
    pub fn id_until(&self, now: Instant, id: &PeerId) -> Option<Instant> {
        self.ids.expiry_of(id, now)
    }

    /// Until when address `ip` is backed off, if it is.
    pub fn ip_until(&self, now: Instant, ip: IpAddr) -> Option<Instant> {
        self.ips.expiry_of(&normalize_ip(ip), now)
    }

    /// Until when a node at an address is backed off: the later of the two backoffs.
    pub fn until(&self, now: Instant, id: &PeerId, ip: Option<IpAddr>) -> Option<Instant> {
        let by_ip = ip.and_then(|ip| self.ip_until(now, ip));
        self.id_until(now, id).max(by_ip)
    }

    /// True while node `id`, or address `ip`, is backed off.
    pub fn is_backed_off(&self, now: Instant, id: &PeerId, ip: Option<IpAddr>) -> bool {
        self.until(now, id, ip).is_some()
    }

    /// A success: node `id` and address `ip` are no longer backed off and their doubling
    /// levels start again from the bottom.
    pub fn forgive(&mut self, id: &PeerId, ip: Option<IpAddr>) {
        self.ids.remove(id);
        for class in [Backoff::Short, Backoff::Medium, Backoff::Long] {
            self.id_levels.reset(&(*id, class));
        }
        if let Some(ip) = ip.map(normalize_ip) {
            self.ips.remove(&ip);
            for class in [Backoff::Short, Backoff::Medium, Backoff::Long] {
                self.ip_levels.reset(&(ip, class));
            }
        }
    }

    /// Entries held by the four tables (ids, IPs, and their levels); never more than four
    /// times [`BackoffConfig::capacity`].
    pub fn memory_entries(&self) -> usize {
        self.ids.len() + self.ips.len() + self.id_levels.len() + self.ip_levels.len()
    }
}

/// Sets `key`'s expiry to `until` unless it already runs longer.
fn extend<K: std::hash::Hash + Eq + Clone>(
    map: &mut ExpiryMap<K, ()>,
    key: K,
    until: Instant,
    now: Instant,
) {
    let until = map.expiry_of(&key, now).map_or(until, |old| old.max(until));
    map.insert(key, (), until, now);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);
    const MIN: Duration = Duration::from_secs(60);
    const PUBLIC: &str = "8.8.8.8";

    fn id(n: u8) -> PeerId {
        PeerId([n; 64])
    }

    #[test]
    fn defaults_per_class() {
        let t0 = Instant::now();
        let mut b = Backoffs::new(BackoffConfig::default());
        assert_eq!(b.back_off_id(t0, id(1), Backoff::Short, false), 35 * SEC);
        assert_eq!(b.back_off_id(t0, id(2), Backoff::Medium, false), MIN);
        assert_eq!(b.back_off_id(t0, id(3), Backoff::Long, false), 30 * MIN);
        assert_eq!(b.back_off_id(t0, id(4), Backoff::Long, true), 5 * MIN);
    }

    #[test]
    fn medium_doubles_caps_and_decays() {
        let t0 = Instant::now();
        let mut b = Backoffs::new(BackoffConfig::default());
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..7 {
            let wait = b.back_off_id(now, id(1), Backoff::Medium, false);
            waits.push(wait.as_secs() / 60);
            now += wait; // fail again right when the backoff ends
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);

        // Three failures in a row (1, 2, 4 min), then one idle hour after the last backoff
        // ended forgives one doubling: the next wait is 4 min again, not 8.
        let mut now = t0;
        for _ in 0..3 {
            now += b.back_off_id(now, id(2), Backoff::Medium, false);
        }
        now += 60 * MIN;
        assert_eq!(b.back_off_id(now, id(2), Backoff::Medium, false), 4 * MIN);
    }

    #[test]
    fn short_backoff_does_not_grow_and_never_shortens_a_longer_one() {
        let t0 = Instant::now();
        let mut b = Backoffs::new(BackoffConfig::default());
        b.back_off_id(t0, id(1), Backoff::Long, false);
        assert_eq!(b.back_off_id(t0, id(1), Backoff::Short, false), 35 * SEC);
        assert_eq!(b.back_off_id(t0, id(1), Backoff::Short, false), 35 * SEC);
        assert_eq!(b.id_until(t0, &id(1)), Some(t0 + 30 * MIN));
    }

    #[test]
    fn backoff_expires() {
        let t0 = Instant::now();
        let mut b = Backoffs::new(BackoffConfig::default());
        b.back_off_id(t0, id(1), Backoff::Medium, false);
        assert!(b.is_backed_off(t0 + 59 * SEC, &id(1), None));
        assert!(!b.is_backed_off(t0 + 60 * SEC, &id(1), None));
    }

    #[test]
    fn ip_backoff_is_separate_and_lan_is_exempt() {
        let t0 = Instant::now();
        let mut b = Backoffs::new(BackoffConfig::default());
        let public: IpAddr = PUBLIC.parse().unwrap();
        assert_eq!(b.back_off_ip(t0, public, Backoff::Medium), Some(MIN));
        assert!(
            b.is_backed_off(t0, &id(9), Some(public)),
            "any id at that IP"
        );
        assert!(!b.is_backed_off(t0, &id(9), None));
        let mapped: IpAddr = "::ffff:8.8.8.8".parse().unwrap();
        assert!(
            b.is_backed_off(t0, &id(9), Some(mapped)),
            "IPv4-mapped is the same IP"
        );
        let lan: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(b.back_off_ip(t0, lan, Backoff::Medium), None);
        assert!(!b.is_backed_off(t0, &id(9), Some(lan)));

        let mut strict = Backoffs::new(BackoffConfig {
            exempt_lan: false,
            ..BackoffConfig::default()
        });
        assert_eq!(strict.back_off_ip(t0, lan, Backoff::Medium), Some(MIN));
    }

    #[test]
    fn forgive_resets_the_levels() {
        let t0 = Instant::now();
        let mut b = Backoffs::new(BackoffConfig::default());
        b.back_off_id(t0, id(1), Backoff::Medium, false);
        b.back_off_id(t0, id(1), Backoff::Medium, false);
        b.forgive(&id(1), None);
        assert!(!b.is_backed_off(t0, &id(1), None));
        assert_eq!(b.back_off_id(t0, id(1), Backoff::Medium, false), MIN);
    }

    proptest::proptest! {
        /// Whatever the sequence of failures and pauses: each wait lies within its class's
        /// [base, max] (the privileged cap included), a running backoff is never shortened,
        /// and the node is backed off exactly until the latest end.
        #[test]
        fn waits_stay_within_bounds_and_never_shorten(
            steps in proptest::collection::vec((0u64..20_000, 0usize..3, proptest::bool::ANY), 1..60)
        ) {
            let config = BackoffConfig::default();
            let mut b = Backoffs::new(config.clone());
            let mut now = Instant::now();
            let mut until: Option<Instant> = None;
            for (pause, class, privileged) in steps {
                now += Duration::from_secs(pause);
                let class = [Backoff::Short, Backoff::Medium, Backoff::Long][class];
                let (base, max) = match class {
                    Backoff::Short => (config.short, config.short),
                    Backoff::Medium => (config.medium, config.medium_max),
                    Backoff::Long => (config.long, config.long_max),
                };
                let (base, max) = if privileged {
                    (base.min(config.privileged_max), max.min(config.privileged_max))
                } else {
                    (base, max)
                };
                let wait = b.back_off_id(now, id(1), class, privileged);
                proptest::prop_assert!(wait >= base && wait <= max, "{wait:?} not in [{base:?}, {max:?}]");
                let end = until.filter(|u| *u > now).map_or(now + wait, |u| u.max(now + wait));
                until = Some(end);
                proptest::prop_assert_eq!(b.id_until(now, &id(1)), Some(end));
            }
        }
    }

    #[test]
    fn memory_is_bounded() {
        let t0 = Instant::now();
        let mut b = Backoffs::new(BackoffConfig {
            capacity: 8,
            ..BackoffConfig::default()
        });
        for n in 0..=255u8 {
            b.back_off_id(t0, id(n), Backoff::Medium, false);
            let ip = IpAddr::from([9, 9, 9, n]);
            b.back_off_ip(t0, ip, Backoff::Medium);
        }
        assert!(b.memory_entries() <= 4 * 8, "{}", b.memory_entries());
    }
}
