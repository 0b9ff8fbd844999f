//! Admission of inbound connections before any handshake work: netrestrict, geth's per-IP
//! throttle, and caps on pending (accepted, still handshaking) connections globally, per IP
//! and per subnet, so that a few addresses cannot hold every handshake slot.
//!
//! [`InboundLimits`] is a plain struct with no clock and no I/O: the accept loop owns it,
//! passes `tokio::time::Instant::now()` to [`InboundLimits::try_admit`], and moves the
//! returned [`PendingPermit`] into the connection's task. The permit frees its slots when
//! dropped, so a handshake that fails, times out or panics cannot leak a slot.
//!
//! Order of the checks (the first failing one is the [`Refusal`]): netrestrict, the
//! throttle, the global cap, the per-IP cap, the per-subnet cap. Only an admitted attempt
//! starts the throttle period, so a peer turned away because the node was busy may come back
//! at once. LAN and loopback addresses (`enode::netutil::is_lan`) are exempt from the throttle
//! and from the per-IP and per-subnet caps unless [`InboundConfig::exempt_lan`] is off;
//! netrestrict and the global cap apply to every address.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use enode::{
    netutil::{is_lan, normalize_ip, subnet_key},
    NetRestrict,
};
use tokio::time::Instant;

/// How long an address waits after an admitted attempt before its next one is admitted
/// (geth's `inboundThrottleTime`): 30 s.
pub const DEFAULT_INBOUND_THROTTLE: Duration = Duration::from_secs(30);
/// The longest throttle period accepted; longer configured periods are cut to it: 1 day.
pub const MAX_INBOUND_THROTTLE: Duration = Duration::from_secs(24 * 60 * 60);
/// Default cap on pending connections from one IP: 4.
pub const DEFAULT_MAX_PENDING_PER_IP: usize = 4;
/// Default cap on pending connections from one /24 (IPv4) or /64 (IPv6): 16.
pub const DEFAULT_MAX_PENDING_PER_SUBNET: usize = 16;
/// Default number of addresses the throttle remembers: 8192. When more addresses were
/// admitted within one throttle period, the ones whose period ends first are forgotten early.
pub const DEFAULT_THROTTLE_CAPACITY: usize = 8192;
/// The prefix length of an IPv4 subnet for [`InboundConfig::max_pending_per_subnet`].
pub const SUBNET_PREFIX_V4: u8 = 24;
/// The prefix length of an IPv6 subnet for [`InboundConfig::max_pending_per_subnet`].
pub const SUBNET_PREFIX_V6: u8 = 64;

/// Settings of [`InboundLimits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundConfig {
    /// Pending connections in all (geth's `MaxPendingPeers`); 0 refuses everything.
    /// Default [`crate::DEFAULT_MAX_PENDING`] (50).
    pub max_pending: usize,
    /// Pending connections from one IP. Default [`DEFAULT_MAX_PENDING_PER_IP`].
    pub max_pending_per_ip: usize,
    /// Pending connections from one /24 (IPv4) or /64 (IPv6). Default
    /// [`DEFAULT_MAX_PENDING_PER_SUBNET`].
    pub max_pending_per_subnet: usize,
    /// After an admitted attempt, further attempts from the same IP are refused for this
    /// long; zero turns the throttle off. Default [`DEFAULT_INBOUND_THROTTLE`], at most
    /// [`MAX_INBOUND_THROTTLE`].
    pub throttle: Duration,
    /// Addresses the throttle remembers (at least 1). Default [`DEFAULT_THROTTLE_CAPACITY`].
    pub throttle_capacity: usize,
    /// LAN and loopback addresses skip the throttle and the per-IP and per-subnet caps, as
    /// geth exempts them from its throttle. Turn off to give local peers (tests, a local
    /// proxy) the production treatment. Default true.
    pub exempt_lan: bool,
    /// Accept only these networks (geth's `--netrestrict`); `None` accepts every address.
    /// Default `None`.
    pub netrestrict: Option<NetRestrict>,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            max_pending: crate::DEFAULT_MAX_PENDING,
            max_pending_per_ip: DEFAULT_MAX_PENDING_PER_IP,
            max_pending_per_subnet: DEFAULT_MAX_PENDING_PER_SUBNET,
            throttle: DEFAULT_INBOUND_THROTTLE,
            throttle_capacity: DEFAULT_THROTTLE_CAPACITY,
            exempt_lan: true,
            netrestrict: None,
        }
    }
}

/// Why an inbound connection was refused (close it without a handshake).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The address is outside the netrestrict networks.
    #[error("address not in the netrestrict list")]
    NetRestrict,
    /// The address was admitted less than the throttle period ago.
    #[error(
        "too many attempts: admitted less than the throttle period ago, retry in {retry_after:?}"
    )]
    Throttled {
        /// When the address will be admitted again.
        retry_after: Duration,
    },
    /// All pending slots are taken.
    #[error("too many pending inbound connections (limit {limit})")]
    TooManyPending {
        /// The cap.
        limit: usize,
    },
    /// The address holds its share of pending slots.
    #[error("too many pending inbound connections from this IP (limit {limit})")]
    TooManyPendingFromIp {
        /// The cap.
        limit: usize,
    },
    /// The address's /24 (IPv4) or /64 (IPv6) holds its share of pending slots.
    #[error("too many pending inbound connections from this subnet (limit {limit})")]
    TooManyPendingFromSubnet {
        /// The cap.
        limit: usize,
    },
}

impl Refusal {
    /// Every [`Refusal::label`], for registering metrics up front.
    pub const LABELS: [&'static str; 5] = [
        "netrestrict",
        "throttled",
        "pending",
        "pending_ip",
        "pending_subnet",
    ];

    /// A short stable name of the reason, for metric labels and structured logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::NetRestrict => "netrestrict",
            Self::Throttled { .. } => "throttled",
            Self::TooManyPending { .. } => "pending",
            Self::TooManyPendingFromIp { .. } => "pending_ip",
            Self::TooManyPendingFromSubnet { .. } => "pending_subnet",
        }
    }
}

/// Pending connections by address, shared with the permits.
#[derive(Debug, Default)]
struct Pending {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// Keyed by the subnet's network address (IPv4 /24 or IPv6 /64).
    per_subnet: HashMap<IpAddr, usize>,
}

impl Pending {
    fn add(&mut self, ip: IpAddr, subnet: IpAddr) {
        self.total += 1;
        *self.per_ip.entry(ip).or_default() += 1;
        *self.per_subnet.entry(subnet).or_default() += 1;
    }

    fn remove(&mut self, ip: IpAddr, subnet: IpAddr) {
        self.total = self.total.saturating_sub(1);
        decrement(&mut self.per_ip, ip);
        decrement(&mut self.per_subnet, subnet);
    }
}

/// Decrements a count, dropping the entry at zero so the maps only hold pending addresses.
fn decrement(counts: &mut HashMap<IpAddr, usize>, key: IpAddr) {
    if let Some(count) = counts.get_mut(&key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(&key);
        }
    }
}

fn lock(pending: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    // Every critical section leaves the counts consistent, so a poisoned lock is usable.
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The subnet `ip` is counted in: the network address of its /24 (IPv4) or /64 (IPv6).
fn subnet_of(ip: IpAddr) -> IpAddr {
    let prefix = match ip {
        IpAddr::V4(_) => SUBNET_PREFIX_V4,
        IpAddr::V6(_) => SUBNET_PREFIX_V6,
    };
    subnet_key(ip, prefix).network()
}

/// The addresses admitted within the last throttle period, with the instant each may come
/// back; bounded by its capacity.
#[derive(Debug)]
struct ThrottleHistory {
    until: HashMap<IpAddr, Instant>,
    /// Entries in insertion order, which is expiry order as long as time does not go back.
    order: VecDeque<(Instant, IpAddr)>,
    capacity: usize,
}

impl ThrottleHistory {
    fn new(capacity: usize) -> Self {
        Self {
            until: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Forgets the addresses whose period ended by `now`.
    fn prune(&mut self, now: Instant) {
        while let Some(&(until, _)) = self.order.front() {
            if until > now {
                break;
            }
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some((until, ip)) = self.order.pop_front() {
            if self.until.get(&ip) == Some(&until) {
                self.until.remove(&ip);
            }
        }
    }

    /// How long `ip` must still wait, if at all.
    fn remaining(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = *self.until.get(&ip)?;
        (until > now).then(|| until - now)
    }

    fn insert(&mut self, ip: IpAddr, until: Instant) {
        while self.order.len() >= self.capacity {
            self.pop_front();
        }
        self.order.push_back((until, ip));
        self.until.insert(ip, until);
    }

    fn len(&self) -> usize {
        self.until.len()
    }
}

/// The inbound admission state of one listener (see [`crate::net`] for an accept loop that
/// uses it).
///
/// A plain struct with no clock and no I/O: the accept loop owns it, passes
/// `tokio::time::Instant::now()` to [`try_admit`](Self::try_admit), and moves the returned
/// [`PendingPermit`] into the connection's task; the permit frees its slots when dropped, so
/// a handshake that fails, times out or panics cannot leak a slot.
///
/// The checks, in order (the first failing one is the [`Refusal`]): netrestrict, the
/// throttle, the global cap, the per-IP cap, the per-subnet cap. Only an admitted attempt
/// starts the throttle period, so a peer turned away because the node was busy may come back
/// at once. LAN and loopback addresses are exempt from the throttle and the per-IP and
/// per-subnet caps unless [`InboundConfig::exempt_lan`] is off; netrestrict and the global
/// cap apply to every address. Memory is bounded: pending counts exist only for pending
/// connections, and the throttle remembers at most [`InboundConfig::throttle_capacity`]
/// addresses.
#[derive(Debug)]
pub struct InboundLimits {
    config: InboundConfig,
    history: ThrottleHistory,
    pending: Arc<Mutex<Pending>>,
}

impl InboundLimits {
    /// Limits with `config` (a throttle above [`MAX_INBOUND_THROTTLE`] is cut to it).
    pub fn new(mut config: InboundConfig) -> Self {
        config.throttle = config.throttle.min(MAX_INBOUND_THROTTLE);
        config.throttle_capacity = config.throttle_capacity.max(1);
        Self {
            history: ThrottleHistory::new(config.throttle_capacity),
            config,
            pending: Arc::default(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &InboundConfig {
        &self.config
    }

    /// Decides on a connection from `remote` accepted at `now`. On success the connection
    /// holds pending slots until the permit is dropped; drop it when the handshake ends,
    /// whether the peer was added or not. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn try_admit(&mut self, remote: IpAddr, now: Instant) -> Result<PendingPermit, Refusal> {
        let ip = normalize_ip(remote);
        if let Some(netrestrict) = &self.config.netrestrict {
            if !netrestrict.contains(ip) {
                return Err(Refusal::NetRestrict);
            }
        }
        let exempt = self.config.exempt_lan && is_lan(ip);
        let throttled = !exempt && !self.config.throttle.is_zero();
        self.history.prune(now);
        if throttled {
            if let Some(retry_after) = self.history.remaining(ip, now) {
                return Err(Refusal::Throttled { retry_after });
            }
        }
        let subnet = subnet_of(ip);
        {
            let mut pending = lock(&self.pending);
            let config = &self.config;
            if pending.total >= config.max_pending {
                return Err(Refusal::TooManyPending {
                    limit: config.max_pending,
                });
            }
            if !exempt {
                let from_ip = pending.per_ip.get(&ip).copied().unwrap_or(0);
                if from_ip >= config.max_pending_per_ip {
                    return Err(Refusal::TooManyPendingFromIp {
                        limit: config.max_pending_per_ip,
                    });
                }
                let from_subnet = pending.per_subnet.get(&subnet).copied().unwrap_or(0);
                if from_subnet >= config.max_pending_per_subnet {
                    return Err(Refusal::TooManyPendingFromSubnet {
                        limit: config.max_pending_per_subnet,
                    });
                }
            }
            pending.add(ip, subnet);
        }
        if throttled {
            // The throttle is at most a day, so this only fails on a clock at its very end.
            if let Some(until) = now.checked_add(self.config.throttle) {
                self.history.insert(ip, until);
            }
        }
        Ok(PendingPermit {
            ip,
            subnet,
            pending: Arc::clone(&self.pending),
        })
    }

    /// Pending connections (permits not yet dropped).
    pub fn pending(&self) -> usize {
        lock(&self.pending).total
    }

    /// Pending connections from `ip`.
    pub fn pending_from(&self, ip: IpAddr) -> usize {
        let ip = normalize_ip(ip);
        lock(&self.pending).per_ip.get(&ip).copied().unwrap_or(0)
    }

    /// Pending connections from the /24 (IPv4) or /64 (IPv6) of `ip`.
    pub fn pending_in_subnet(&self, ip: IpAddr) -> usize {
        let subnet = subnet_of(normalize_ip(ip));
        lock(&self.pending)
            .per_subnet
            .get(&subnet)
            .copied()
            .unwrap_or(0)
    }

    /// Addresses the throttle remembers now (at most the throttle capacity).
    pub fn throttled_addresses(&self) -> usize {
        self.history.len()
    }

    /// Forgets throttle entries that ended by `now` ([`try_admit`](Self::try_admit) does
    /// this too; call it from a timer to release memory on an idle listener).
    pub fn prune(&mut self, now: Instant) {
        self.history.prune(now);
    }
}

/// The pending slots of one admitted connection; dropping it (or [`release`](Self::release))
/// gives them back. `Send`, so it travels with the connection's task.
#[must_use = "dropping the permit frees the pending slot at once"]
pub struct PendingPermit {
    ip: IpAddr,
    subnet: IpAddr,
    pending: Arc<Mutex<Pending>>,
}

impl PendingPermit {
    /// The admitted address (IPv4-mapped addresses as IPv4).
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Gives the slots back now (the same as dropping the permit).
    pub fn release(self) {}
}

impl fmt::Debug for PendingPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingPermit")
            .field("ip", &self.ip)
            .finish()
    }
}

impl Drop for PendingPermit {
    fn drop(&mut self) {
        lock(&self.pending).remove(self.ip, self.subnet);
    }
}

#[cfg(test)]
mod tests;
