//! Misbehaviour scores and bans. A score has a persistent part and a transient part that
//! halves every minute (btcd's `DynamicBanScore`), so an honest peer that trips a limit now
//! and then never reaches the ban threshold, while sustained abuse does. A ban lasts 10 min
//! the first time and doubles with every repeat up to a day; bans are persisted with the
//! book, so a restart does not forgive them.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    time::Duration,
};

use enode::{netutil::normalize_ip, PeerId};
use tokio::time::Instant;

use crate::pex::Misbehaviour;

/// The score at which a peer is banned.
pub const BAN_THRESHOLD: u32 = 100;
/// Half-life of the transient part of a score.
pub const TRANSIENT_HALF_LIFE: Duration = Duration::from_secs(60);
/// The first ban's length; each repeat doubles it.
pub const FIRST_BAN: Duration = Duration::from_secs(600);
/// The longest ban.
pub const MAX_BAN: Duration = Duration::from_secs(24 * 3600);
/// Scores and bans kept at most (the oldest are forgotten first).
pub(crate) const MAX_TRACKED: usize = 4096;

/// The persistent and transient weight of a misbehaviour.
pub(crate) fn weight(what: Misbehaviour) -> (u32, u32) {
    match what {
        // Cheap to cause by accident (a reply that crossed a reconnect): transient only.
        Misbehaviour::UnsolicitedPeers => (0, 10),
        // Asking too often is answered empty; only a sustained flood adds up to a ban.
        Misbehaviour::RequestFlood => (0, 25),
        // Only a broken or malicious peer relays records that do not verify.
        Misbehaviour::InvalidRecords => (50, 0),
        Misbehaviour::ProtocolViolation => (BAN_THRESHOLD, 0),
    }
}

/// Why a peer is banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanReason {
    /// Its misbehaviour score reached the threshold.
    Score,
    /// The dial scheduler's verdict on a session said so (a protocol breach).
    Misbehaved,
}

impl BanReason {
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Score => 0,
            Self::Misbehaved => 1,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Score),
            1 => Some(Self::Misbehaved),
            _ => None,
        }
    }
}

impl std::fmt::Display for BanReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Score => "misbehaviour score",
            Self::Misbehaved => "protocol breach",
        })
    }
}

/// One ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ban {
    /// When it ends.
    pub until: Instant,
    /// Why.
    pub reason: BanReason,
    /// Bans of this peer so far (the length doubles with each).
    pub count: u32,
    /// The peer's IP, banned along with it for severe cases.
    pub ip: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy)]
struct Score {
    persistent: u32,
    transient: f64,
    updated: Instant,
}

impl Score {
    fn value(&self, now: Instant) -> u32 {
        let halves = now.saturating_duration_since(self.updated).as_secs_f64()
            / TRANSIENT_HALF_LIFE.as_secs_f64();
        let transient = self.transient * 0.5f64.powf(halves);
        self.persistent.saturating_add(transient as u32)
    }
}

/// Scores and bans of peers.
#[derive(Debug, Default)]
pub(crate) struct Bans {
    scores: HashMap<PeerId, Score>,
    bans: HashMap<PeerId, Ban>,
    /// The peers whose ban carries each IP: every record ingested is checked against it.
    by_ip: HashMap<IpAddr, HashSet<PeerId>>,
}

impl Bans {
    /// Adds `what` to `id`'s score; bans it when the score reaches the threshold. Returns
    /// true when the peer is banned now (newly or still).
    pub(crate) fn penalize(
        &mut self,
        id: PeerId,
        ip: IpAddr,
        what: Misbehaviour,
        now: Instant,
    ) -> bool {
        if self.is_banned(&id, now) {
            return true;
        }
        let (persistent, transient) = weight(what);
        let score = self.scores.entry(id).or_insert(Score {
            persistent: 0,
            transient: 0.0,
            updated: now,
        });
        let decayed = score.value(now).saturating_sub(score.persistent);
        score.transient = f64::from(decayed) + f64::from(transient);
        score.persistent = score.persistent.saturating_add(persistent);
        score.updated = now;
        let total = score.value(now);
        if total < BAN_THRESHOLD {
            self.bound(now);
            return false;
        }
        self.scores.remove(&id);
        let severe = what == Misbehaviour::ProtocolViolation;
        self.ban(id, severe.then_some(ip), BanReason::Score, now);
        true
    }

    /// Bans `id` (and `ip`, when given) for the next ban length.
    pub(crate) fn ban(&mut self, id: PeerId, ip: Option<IpAddr>, reason: BanReason, now: Instant) {
        let count = self.bans.get(&id).map_or(0, |b| b.count) + 1;
        let length = ban_length(count);
        self.insert(
            id,
            Ban {
                until: now + length,
                reason,
                count,
                ip: ip.map(normalize_ip),
            },
        );
        self.bound(now);
    }

    /// Restores a persisted ban.
    pub(crate) fn restore(&mut self, id: PeerId, ban: Ban) {
        self.insert(id, ban);
    }

    fn insert(&mut self, id: PeerId, ban: Ban) {
        self.remove(&id);
        if let Some(ip) = ban.ip {
            self.by_ip.entry(ip).or_default().insert(id);
        }
        self.bans.insert(id, ban);
    }

    fn remove(&mut self, id: &PeerId) {
        let Some(ip) = self.bans.remove(id).and_then(|ban| ban.ip) else {
            return;
        };
        if let Some(ids) = self.by_ip.get_mut(&ip) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_ip.remove(&ip);
            }
        }
    }

    pub(crate) fn is_banned(&self, id: &PeerId, now: Instant) -> bool {
        self.bans.get(id).is_some_and(|b| b.until > now)
    }

    /// True when `ip` belongs to a peer banned for a severe breach.
    pub(crate) fn is_ip_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.by_ip.get(&normalize_ip(ip)).is_some_and(|ids| {
            ids.iter()
                .any(|id| self.bans.get(id).is_some_and(|b| b.until > now))
        })
    }

    /// Bans in force (expired ones keep their repeat count until forgotten).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&PeerId, &Ban)> {
        self.bans.iter()
    }

    pub(crate) fn active(&self, now: Instant) -> usize {
        self.bans.values().filter(|b| b.until > now).count()
    }

    /// Forgets what no longer matters: scores decayed to nothing, bans expired for a day,
    /// and the oldest beyond [`MAX_TRACKED`].
    fn bound(&mut self, now: Instant) {
        if self.scores.len() > MAX_TRACKED {
            self.scores.retain(|_, s| s.value(now) > 0);
            while self.scores.len() > MAX_TRACKED {
                let Some(oldest) = self
                    .scores
                    .iter()
                    .min_by_key(|(_, s)| s.updated)
                    .map(|(id, _)| *id)
                else {
                    break;
                };
                self.scores.remove(&oldest);
            }
        }
        if self.bans.len() > MAX_TRACKED {
            let forgotten: Vec<PeerId> = self
                .bans
                .iter()
                .filter(|(_, b)| now.saturating_duration_since(b.until) >= MAX_BAN)
                .map(|(id, _)| *id)
                .collect();
            for id in &forgotten {
                self.remove(id);
            }
            while self.bans.len() > MAX_TRACKED {
                let Some(first) = self
                    .bans
                    .iter()
                    .min_by_key(|(_, b)| b.until)
                    .map(|(id, _)| *id)
                else {
                    break;
                };
                self.remove(&first);
            }
        }
    }
}

/// The length of a peer's `count`th ban: 10 min doubling, at most a day.
pub(crate) fn ban_length(count: u32) -> Duration {
    let doublings = count.saturating_sub(1).min(16);
    FIRST_BAN.saturating_mul(1 << doublings).min(MAX_BAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> IpAddr {
        "1.2.3.4".parse().unwrap()
    }

    #[test]
    fn occasional_floods_never_ban_a_sustained_flood_does() {
        let mut bans = Bans::default();
        let id = PeerId([1; 64]);
        let mut now = Instant::now();
        // One over-limit request a minute, for an hour: the score stays below the threshold.
        for _ in 0..60 {
            assert!(!bans.penalize(id, ip(), Misbehaviour::RequestFlood, now));
            now += Duration::from_secs(60);
        }
        // Four in a few seconds: banned.
        let banned = (0..4).any(|_| bans.penalize(id, ip(), Misbehaviour::RequestFlood, now));
        assert!(banned);
        assert!(bans.is_banned(&id, now));
        assert!(!bans.is_banned(&id, now + FIRST_BAN));
        assert!(
            !bans.is_ip_banned(ip(), now),
            "a flood bans the id, not the IP"
        );
    }

    #[test]
    fn invalid_records_twice_ban_and_a_breach_bans_the_ip_too() {
        let mut bans = Bans::default();
        let now = Instant::now();
        let a = PeerId([1; 64]);
        assert!(!bans.penalize(a, ip(), Misbehaviour::InvalidRecords, now));
        // Persistent: a day later it still counts.
        let later = now + Duration::from_secs(86_400);
        assert!(bans.penalize(a, ip(), Misbehaviour::InvalidRecords, later));
        let b = PeerId([2; 64]);
        let other: IpAddr = "5.6.7.8".parse().unwrap();
        assert!(bans.penalize(b, other, Misbehaviour::ProtocolViolation, now));
        assert!(bans.is_ip_banned(other, now));
    }

    #[test]
    fn bans_double_up_to_a_day() {
        assert_eq!(ban_length(1), FIRST_BAN);
        assert_eq!(ban_length(2), FIRST_BAN * 2);
        assert_eq!(ban_length(40), MAX_BAN);
        let mut bans = Bans::default();
        let now = Instant::now();
        let id = PeerId([3; 64]);
        bans.ban(id, None, BanReason::Misbehaved, now);
        let later = now + FIRST_BAN;
        bans.ban(id, None, BanReason::Misbehaved, later);
        assert!(bans.is_banned(&id, later + FIRST_BAN * 2 - Duration::from_secs(1)));
        assert!(!bans.is_banned(&id, later + FIRST_BAN * 2));
    }

    #[test]
    fn the_ip_index_follows_rebans_restores_and_forgetting() {
        let mut bans = Bans::default();
        let now = Instant::now();
        let a = PeerId([1; 64]);
        let (first, second): (IpAddr, IpAddr) =
            ("1.1.1.1".parse().unwrap(), "2.2.2.2".parse().unwrap());
        bans.ban(a, Some(first), BanReason::Misbehaved, now);
        assert!(bans.is_ip_banned(first, now));
        // Banned again from another IP: the old IP is free, the new one banned.
        bans.ban(a, Some(second), BanReason::Misbehaved, now);
        assert!(!bans.is_ip_banned(first, now));
        assert!(bans.is_ip_banned(second, now));
        // An IPv4-mapped IPv6 address is the same IP.
        assert!(bans.is_ip_banned("::ffff:2.2.2.2".parse().unwrap(), now));
        // A restored ban is indexed like a new one.
        let b = PeerId([2; 64]);
        let restored = Ban {
            until: now + FIRST_BAN,
            reason: BanReason::Score,
            count: 1,
            ip: Some(first),
        };
        bans.restore(b, restored);
        assert!(bans.is_ip_banned(first, now));
        assert!(!bans.is_ip_banned(first, now + FIRST_BAN));
        // Past the bound, bans expired for a day are forgotten, with their IPs.
        let late = now + FIRST_BAN * 4 + MAX_BAN;
        for i in 0..=MAX_TRACKED as u32 {
            let mut id = [0u8; 64];
            id[..4].copy_from_slice(&i.to_be_bytes());
            id[63] = 9;
            bans.ban(PeerId(id), None, BanReason::Misbehaved, late);
        }
        assert!(!bans.bans.contains_key(&b));
        assert!(bans.by_ip.is_empty(), "{:?}", bans.by_ip);
    }
}
