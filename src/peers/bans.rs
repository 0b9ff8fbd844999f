//! Bans by node id and by IP, for peers whose verdict says they misbehaved
//! ([`rlpx::verdict::Verdict::should_ban`]): nobody dials them and (through the node's
//! admission) nobody accepts them until the ban ends. Bans are kept apart from any
//! reputation score, double while offences repeat and are forgiven over time, and are
//! bounded in memory.

use std::{net::IpAddr, time::Duration};

use enode::{
    netutil::{is_lan, normalize_ip},
    PeerId,
};
use tokio::time::Instant;

use super::{
    escalation::{Escalation, Ladder},
    expiry::{deadline, ExpiryMap},
};

/// Default length of a first ban: 12 h.
pub const DEFAULT_BAN: Duration = Duration::from_secs(12 * 60 * 60);
/// Default longest ban: 7 days.
pub const DEFAULT_BAN_MAX: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Default forgiveness: each day after a ban ended without a new offence undoes one doubling.
pub const DEFAULT_BAN_DECAY: Duration = Duration::from_secs(24 * 60 * 60);
/// Default number of banned node ids, and separately of banned IPs: 4096 each.
pub const DEFAULT_BAN_CAPACITY: usize = 4096;

/// How long bans last, and the bounds of the tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanConfig {
    /// A first offence. Default [`DEFAULT_BAN`].
    pub duration: Duration,
    /// The longest ban; repeated offences double up to it. Default [`DEFAULT_BAN_MAX`].
    pub max: Duration,
    /// After a ban ends, each such period without a new offence undoes one doubling.
    /// Default [`DEFAULT_BAN_DECAY`].
    pub decay: Duration,
    /// Banned node ids held, and separately IPs (at least 1 each). When more are banned at
    /// once, the ban that ends first is dropped early (the IP ban of the same offence
    /// usually remains). Default [`DEFAULT_BAN_CAPACITY`].
    pub capacity: usize,
    /// LAN and loopback addresses are never banned by IP (one misbehaving local process
    /// must not cut off every other node on 127.0.0.1); their node ids still are.
    /// Default true.
    pub exempt_lan: bool,
}

impl Default for BanConfig {
    fn default() -> Self {
        Self {
            duration: DEFAULT_BAN,
            max: DEFAULT_BAN_MAX,
            decay: DEFAULT_BAN_DECAY,
            capacity: DEFAULT_BAN_CAPACITY,
            exempt_lan: true,
        }
    }
}

impl BanConfig {
    fn ladder(&self) -> Ladder {
        Ladder {
            base: self.duration,
            max: self.max.max(self.duration),
            decay: self.decay,
        }
    }
}

/// Banned node ids and IPs, each until an instant.
#[derive(Debug, Clone)]
pub struct BanList {
    config: BanConfig,
    ids: ExpiryMap<PeerId, ()>,
    ips: ExpiryMap<IpAddr, ()>,
    id_offences: Escalation<PeerId>,
    ip_offences: Escalation<IpAddr>,
}

impl BanList {
    /// An empty list with these settings.
    pub fn new(config: BanConfig) -> Self {
        let capacity = config.capacity.max(1);
        Self {
            ids: ExpiryMap::new(capacity),
            ips: ExpiryMap::new(capacity),
            id_offences: Escalation::new(capacity),
            ip_offences: Escalation::new(capacity),
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &BanConfig {
        &self.config
    }

    /// Bans node `id`, and its address `ip` unless that is an exempt LAN address, for a
    /// time that doubles with repeated offences. Returns the id's ban length.
    pub fn ban(&mut self, now: Instant, id: PeerId, ip: Option<IpAddr>) -> Duration {
        if let Some(ip) = ip {
            self.ban_ip(now, ip);
        }
        self.ban_id(now, id)
    }

    /// Bans node `id` (escalating); returns the ban length.
    pub fn ban_id(&mut self, now: Instant, id: PeerId) -> Duration {
        let length = self.id_offences.escalate(id, &self.config.ladder(), now);
        self.ban_id_until(now, id, deadline(now, length));
        length
    }

    /// Bans address `ip` (escalating); `None` for an exempt LAN address.
    pub fn ban_ip(&mut self, now: Instant, ip: IpAddr) -> Option<Duration> {
        let ip = normalize_ip(ip);
        if self.config.exempt_lan && is_lan(ip) {
            return None;
        }
        let length = self.ip_offences.escalate(ip, &self.config.ladder(), now);
        self.ban_ip_until(now, ip, deadline(now, length));
        Some(length)
    }

    /// Bans node `id` until `until` (an operator's decision: no escalation, no exemption);
    /// a ban already running longer is kept.
    pub fn ban_id_until(&mut self, now: Instant, id: PeerId, until: Instant) {
        let until = self
            .ids
            .expiry_of(&id, now)
            .map_or(until, |old| old.max(until));
        self.ids.insert(id, (), until, now);
    }

    /// Bans address `ip` until `until` (no escalation, no LAN exemption); a ban already
    /// running longer is kept.
    pub fn ban_ip_until(&mut self, now: Instant, ip: IpAddr, until: Instant) {
        let ip = normalize_ip(ip);
        let until = self
            .ips
            .expiry_of(&ip, now)
            .map_or(until, |old| old.max(until));
        self.ips.insert(ip, (), until, now);
    }

    /// Until when node `id` is banned, if it is.
    pub fn id_until(&self, now: Instant, id: &PeerId) -> Option<Instant> {
        self.ids.expiry_of(id, now)
    }

    /// Until when address `ip` is banned, if it is.
    pub fn ip_until(&self, now: Instant, ip: IpAddr) -> Option<Instant> {
        self.ips.expiry_of(&normalize_ip(ip), now)
    }

    /// True while node `id`, or its address `ip`, is banned.
    pub fn is_banned(&self, now: Instant, id: &PeerId, ip: Option<IpAddr>) -> bool {
        self.ids.contains(id, now) || ip.is_some_and(|ip| self.ip_until(now, ip).is_some())
    }

    /// Lifts the ban of node `id` and forgets its offences; true if it was banned.
    pub fn unban_id(&mut self, now: Instant, id: &PeerId) -> bool {
        self.id_offences.reset(id);
        let was = self.ids.contains(id, now);
        self.ids.remove(id);
        was
    }

    /// Lifts the ban of address `ip` and forgets its offences; true if it was banned.
    pub fn unban_ip(&mut self, now: Instant, ip: IpAddr) -> bool {
        let ip = normalize_ip(ip);
        self.ip_offences.reset(&ip);
        let was = self.ips.contains(&ip, now);
        self.ips.remove(&ip);
        was
    }

    /// Node ids banned at `now`.
    pub fn banned_ids(&self, now: Instant) -> impl Iterator<Item = (&PeerId, Instant)> {
        self.ids.iter_live(now).map(|(id, _, until)| (id, until))
    }

    /// Addresses banned at `now`.
    pub fn banned_ips(&self, now: Instant) -> impl Iterator<Item = (&IpAddr, Instant)> {
        self.ips.iter_live(now).map(|(ip, _, until)| (ip, until))
    }

    /// Entries held by the four tables (ids, IPs, and their offence counts); never more
    /// than four times [`BanConfig::capacity`].
    pub fn memory_entries(&self) -> usize {
        self.ids.len() + self.ips.len() + self.id_offences.len() + self.ip_offences.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(60 * 60);

    fn id(n: u8) -> PeerId {
        PeerId([n; 64])
    }

    fn public(n: u8) -> IpAddr {
        IpAddr::from([8, 8, 4, n])
    }

    #[test]
    fn ban_covers_id_and_ip_and_ends() {
        let t0 = Instant::now();
        let mut bans = BanList::new(BanConfig::default());
        assert_eq!(bans.ban(t0, id(1), Some(public(1))), 12 * HOUR);
        assert!(bans.is_banned(t0, &id(1), None));
        assert!(
            bans.is_banned(t0, &id(2), Some(public(1))),
            "another id at the IP"
        );
        assert!(!bans.is_banned(t0, &id(2), Some(public(2))));
        let end = t0 + 12 * HOUR;
        assert!(bans.is_banned(end - Duration::from_secs(1), &id(1), None));
        assert!(!bans.is_banned(end, &id(1), Some(public(1))));
    }

    #[test]
    fn repeated_offences_double_and_are_forgiven_by_decay() {
        let t0 = Instant::now();
        let mut bans = BanList::new(BanConfig::default());
        let mut now = t0;
        let mut lengths = Vec::new();
        for _ in 0..6 {
            let length = bans.ban_id(now, id(1));
            lengths.push(length.as_secs() / 3600);
            now += length;
        }
        assert_eq!(lengths, [12, 24, 48, 96, 168, 168]);
        // A week after the last ban ended (6 levels to forgive, 1 per day): a first offence.
        now += 7 * 24 * HOUR;
        assert_eq!(bans.ban_id(now, id(1)), 12 * HOUR);
    }

    #[test]
    fn lan_ips_are_exempt_unless_configured() {
        let t0 = Instant::now();
        let lan: IpAddr = "127.0.0.1".parse().unwrap();
        let mut bans = BanList::new(BanConfig::default());
        bans.ban(t0, id(1), Some(lan));
        assert!(bans.is_banned(t0, &id(1), Some(lan)));
        assert!(!bans.is_banned(t0, &id(2), Some(lan)));
        let mut strict = BanList::new(BanConfig {
            exempt_lan: false,
            ..BanConfig::default()
        });
        strict.ban(t0, id(1), Some(lan));
        assert!(strict.is_banned(t0, &id(2), Some(lan)));
    }

    #[test]
    fn unban_and_explicit_bans() {
        let t0 = Instant::now();
        let mut bans = BanList::new(BanConfig::default());
        bans.ban(t0, id(1), Some(public(1)));
        assert!(bans.unban_id(t0, &id(1)));
        assert!(
            bans.is_banned(t0, &id(1), Some(public(1))),
            "the IP ban stays"
        );
        assert!(bans.unban_ip(t0, public(1)));
        assert!(!bans.is_banned(t0, &id(1), Some(public(1))));
        bans.ban_id_until(t0, id(3), t0 + HOUR);
        bans.ban_id_until(t0, id(3), t0 + Duration::from_secs(1));
        assert_eq!(
            bans.id_until(t0, &id(3)),
            Some(t0 + HOUR),
            "never shortened"
        );
    }

    proptest::proptest! {
        /// Whatever the sequence of offences and pauses, a node stays banned for at least
        /// the first-offence length after each offence, at most the maximum, and is free
        /// once the last ban ended.
        #[test]
        fn every_offence_bans_between_base_and_max(
            pauses in proptest::collection::vec(0u64..(10 * 24 * 3600), 1..40)
        ) {
            let config = BanConfig::default();
            let mut bans = BanList::new(config.clone());
            let mut now = Instant::now();
            let mut end = now;
            for pause in pauses {
                now += Duration::from_secs(pause);
                let length = bans.ban(now, id(1), Some(public(1)));
                proptest::prop_assert!(length >= config.duration && length <= config.max);
                end = end.max(now + length);
                proptest::prop_assert!(bans.is_banned(now + config.duration - Duration::from_secs(1), &id(1), None));
                proptest::prop_assert!(bans.is_banned(now, &id(2), Some(public(1))));
            }
            proptest::prop_assert!(bans.is_banned(end - Duration::from_secs(1), &id(1), None));
            proptest::prop_assert!(!bans.is_banned(end, &id(1), Some(public(1))));
        }
    }

    #[test]
    fn memory_is_bounded() {
        let t0 = Instant::now();
        let mut bans = BanList::new(BanConfig {
            capacity: 16,
            ..BanConfig::default()
        });
        for n in 0..=255u8 {
            bans.ban(t0, id(n), Some(public(n)));
        }
        assert!(bans.memory_entries() <= 4 * 16);
        // The newest offences are the ones kept.
        assert!(bans.is_banned(t0, &id(255), None));
        assert!(bans.is_banned(t0, &id(0), Some(public(255))));
    }
}
