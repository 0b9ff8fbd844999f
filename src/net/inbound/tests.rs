//! Unit tests of each rule, and a randomized model check of whole admit/release sequences.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use rand::{rngs::StdRng, Rng, SeedableRng};

use super::*;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(text: &str) -> IpAddr {
    text.parse().unwrap()
}

const SECOND: Duration = Duration::from_secs(1);

/// Limits with generous caps and no throttle, so one rule can be tested at a time.
fn only(config: impl FnOnce(&mut InboundConfig)) -> InboundLimits {
    let mut c = InboundConfig {
        max_pending: 1000,
        max_pending_per_ip: 1000,
        max_pending_per_subnet: 1000,
        throttle: Duration::ZERO,
        ..InboundConfig::default()
    };
    config(&mut c);
    InboundLimits::new(c)
}

#[test]
fn defaults_are_gethlike() {
    let c = InboundConfig::default();
    assert_eq!(c.max_pending, 50);
    assert_eq!(c.throttle, Duration::from_secs(30));
    assert_eq!((c.max_pending_per_ip, c.max_pending_per_subnet), (4, 16));
    assert!(c.exempt_lan);
    assert_eq!(c.netrestrict, None);
}

#[test]
fn global_cap_refuses_and_a_dropped_permit_frees_the_slot() {
    let now = Instant::now();
    let mut limits = only(|c| c.max_pending = 3);
    let permits: Vec<_> = (1..=3)
        .map(|i| limits.try_admit(v4(8, 8, i, 1), now).unwrap())
        .collect();
    assert_eq!(limits.pending(), 3);
    assert_eq!(
        limits.try_admit(v4(8, 8, 9, 1), now).unwrap_err(),
        Refusal::TooManyPending { limit: 3 }
    );
    // The cap holds for LAN addresses too.
    assert_eq!(
        limits.try_admit(v4(127, 0, 0, 1), now).unwrap_err(),
        Refusal::TooManyPending { limit: 3 }
    );
    let mut permits = permits.into_iter();
    permits.next().unwrap().release();
    assert_eq!(limits.pending(), 2);
    let fourth = limits.try_admit(v4(8, 8, 9, 1), now).unwrap();
    assert_eq!(fourth.ip(), v4(8, 8, 9, 1));
    drop(permits);
    assert_eq!(limits.pending(), 1);
}

#[test]
fn zero_pending_refuses_everything() {
    let mut limits = only(|c| c.max_pending = 0);
    assert!(limits.try_admit(v4(8, 8, 8, 8), Instant::now()).is_err());
    assert!(limits.try_admit(v4(127, 0, 0, 1), Instant::now()).is_err());
}

#[test]
fn per_ip_cap() {
    let now = Instant::now();
    let mut limits = only(|c| c.max_pending_per_ip = 2);
    let ip = v4(8, 8, 8, 8);
    let a = limits.try_admit(ip, now).unwrap();
    let _b = limits.try_admit(ip, now).unwrap();
    assert_eq!(
        limits.try_admit(ip, now).unwrap_err(),
        Refusal::TooManyPendingFromIp { limit: 2 }
    );
    assert_eq!(limits.pending_from(ip), 2);
    // A neighbour in the same /24 is not affected.
    let _c = limits.try_admit(v4(8, 8, 8, 9), now).unwrap();
    drop(a);
    let _d = limits.try_admit(ip, now).unwrap();
}

#[test]
fn per_subnet_cap_ipv4_24_and_ipv6_64() {
    let now = Instant::now();
    let mut limits = only(|c| c.max_pending_per_subnet = 3);
    let held: Vec<_> = (1..=3)
        .map(|d| limits.try_admit(v4(9, 9, 9, d), now).unwrap())
        .collect();
    assert_eq!(limits.pending_in_subnet(v4(9, 9, 9, 200)), 3);
    assert_eq!(
        limits.try_admit(v4(9, 9, 9, 4), now).unwrap_err(),
        Refusal::TooManyPendingFromSubnet { limit: 3 }
    );
    let _other_24 = limits.try_admit(v4(9, 9, 10, 4), now).unwrap();

    let held6: Vec<_> = (1..=3)
        .map(|i| {
            limits
                .try_admit(v6(&format!("2a01:4f8:1:2::{i}")), now)
                .unwrap()
        })
        .collect();
    assert_eq!(
        limits
            .try_admit(v6("2a01:4f8:1:2:ffff::1"), now)
            .unwrap_err(),
        Refusal::TooManyPendingFromSubnet { limit: 3 }
    );
    let _other_64 = limits.try_admit(v6("2a01:4f8:1:3::1"), now).unwrap();
    drop((held, held6));
    assert_eq!(limits.pending_in_subnet(v4(9, 9, 9, 1)), 0);
    assert_eq!(limits.pending(), 2);
}

#[test]
fn throttle_refuses_for_30_seconds_then_admits() {
    let t0 = Instant::now();
    let mut limits = InboundLimits::new(InboundConfig::default());
    let ip = v4(8, 8, 8, 8);
    limits.try_admit(ip, t0).unwrap().release();
    assert_eq!(
        limits.try_admit(ip, t0 + 29 * SECOND).unwrap_err(),
        Refusal::Throttled {
            retry_after: SECOND
        }
    );
    // The same host spelled IPv4-mapped is the same host.
    assert!(matches!(
        limits.try_admit(v6("::ffff:8.8.8.8"), t0 + SECOND),
        Err(Refusal::Throttled { .. })
    ));
    // Others are not affected.
    let _other = limits.try_admit(v4(8, 8, 8, 9), t0 + SECOND).unwrap();
    // A refused attempt does not extend the period.
    let again = limits.try_admit(ip, t0 + 30 * SECOND).unwrap();
    assert_eq!(again.ip(), ip);
}

#[test]
fn refusals_by_a_cap_do_not_start_the_throttle() {
    let now = Instant::now();
    let mut limits = InboundLimits::new(InboundConfig {
        max_pending: 1,
        ..InboundConfig::default()
    });
    let held = limits.try_admit(v4(8, 8, 8, 8), now).unwrap();
    let late = v4(9, 9, 9, 9);
    assert_eq!(
        limits.try_admit(late, now).unwrap_err(),
        Refusal::TooManyPending { limit: 1 }
    );
    drop(held);
    // The busy node turned it away; it may come back at once.
    let _admitted = limits.try_admit(late, now).unwrap();
}

#[test]
fn lan_and_loopback_are_exempt_by_default() {
    let now = Instant::now();
    let mut limits = InboundLimits::new(InboundConfig::default());
    let mut held = Vec::new();
    for ip in [
        v4(127, 0, 0, 1),
        v4(10, 1, 2, 3),
        v4(192, 168, 1, 1),
        v6("::1"),
        v6("fe80::1"),
    ] {
        // Well past the per-IP cap of 4, at one instant, with no throttle.
        for _ in 0..8 {
            held.push(limits.try_admit(ip, now).unwrap());
        }
    }
    assert_eq!(limits.pending(), 40);
    assert_eq!(
        limits.throttled_addresses(),
        0,
        "exempt addresses are not remembered"
    );
    // A public address in the same run is still throttled.
    drop(held);
    limits.try_admit(v4(8, 8, 8, 8), now).unwrap().release();
    assert!(limits.try_admit(v4(8, 8, 8, 8), now).is_err());
}

#[test]
fn lan_exemption_can_be_turned_off() {
    let now = Instant::now();
    let mut limits = InboundLimits::new(InboundConfig {
        exempt_lan: false,
        ..InboundConfig::default()
    });
    let loopback = v4(127, 0, 0, 1);
    limits.try_admit(loopback, now).unwrap().release();
    assert_eq!(
        limits.try_admit(loopback, now + 10 * SECOND).unwrap_err(),
        Refusal::Throttled {
            retry_after: 20 * SECOND
        }
    );

    let mut caps = only(|c| {
        c.exempt_lan = false;
        c.max_pending_per_ip = 4;
        c.max_pending_per_subnet = 6;
    });
    let held: Vec<_> = (0..4)
        .map(|_| caps.try_admit(loopback, now).unwrap())
        .collect();
    assert_eq!(
        caps.try_admit(loopback, now).unwrap_err(),
        Refusal::TooManyPendingFromIp { limit: 4 }
    );
    let more: Vec<_> = (2..4)
        .map(|d| caps.try_admit(v4(127, 0, 0, d), now).unwrap())
        .collect();
    assert_eq!(
        caps.try_admit(v4(127, 0, 0, 9), now).unwrap_err(),
        Refusal::TooManyPendingFromSubnet { limit: 6 }
    );
    drop((held, more));
}

#[test]
fn netrestrict_admits_only_listed_networks() {
    let now = Instant::now();
    let mut limits = only(|c| c.netrestrict = Some("10.0.0.0/8, 9.9.0.0/16".parse().unwrap()));
    assert_eq!(
        limits.try_admit(v4(11, 0, 0, 1), now).unwrap_err(),
        Refusal::NetRestrict
    );
    // LAN addresses are not exempt from netrestrict.
    assert_eq!(
        limits.try_admit(v4(127, 0, 0, 1), now).unwrap_err(),
        Refusal::NetRestrict
    );
    let _a = limits.try_admit(v4(10, 1, 1, 1), now).unwrap();
    let _b = limits.try_admit(v4(9, 9, 200, 1), now).unwrap();
    let _c = limits.try_admit(v6("::ffff:9.9.1.2"), now).unwrap();
    assert_eq!(limits.pending(), 3);
    // An empty list admits nothing.
    let mut empty = only(|c| c.netrestrict = Some(NetRestrict::default()));
    assert_eq!(
        empty.try_admit(v4(10, 1, 1, 1), now).unwrap_err(),
        Refusal::NetRestrict
    );
}

#[test]
fn throttle_history_is_bounded_and_pruned() {
    let now = Instant::now();
    let mut limits = InboundLimits::new(InboundConfig {
        throttle_capacity: 16,
        ..InboundConfig::default()
    });
    for i in 0..1000u32 {
        let [_, b, c, d] = i.to_be_bytes();
        let ip = v4(8, b, c, d);
        limits.try_admit(ip, now).unwrap().release();
        assert!(limits.throttled_addresses() <= 16);
    }
    assert_eq!(limits.throttled_addresses(), 16);
    // The newest addresses are remembered, the oldest forgotten early.
    assert!(limits.try_admit(v4(8, 0, 3, 231), now).is_err()); // i = 999
    assert!(limits.try_admit(v4(8, 0, 0, 0), now).is_ok()); // i = 0
    limits.prune(now + 31 * SECOND);
    assert_eq!(limits.throttled_addresses(), 0);
}

#[test]
fn absurd_settings_do_not_panic() {
    let now = Instant::now();
    let mut limits = InboundLimits::new(InboundConfig {
        throttle: Duration::MAX,
        throttle_capacity: 0,
        ..InboundConfig::default()
    });
    assert_eq!(limits.config().throttle, MAX_INBOUND_THROTTLE);
    assert_eq!(limits.config().throttle_capacity, 1);
    limits.try_admit(v4(8, 8, 8, 8), now).unwrap().release();
    assert!(matches!(
        limits.try_admit(v4(8, 8, 8, 8), now + MAX_INBOUND_THROTTLE - SECOND),
        Err(Refusal::Throttled { .. })
    ));
    // Time going backwards is harmless.
    assert!(limits.try_admit(v4(8, 8, 8, 9), now).is_ok());
}

#[test]
fn refusal_labels_and_messages() {
    let all = [
        Refusal::NetRestrict,
        Refusal::Throttled {
            retry_after: SECOND,
        },
        Refusal::TooManyPending { limit: 50 },
        Refusal::TooManyPendingFromIp { limit: 4 },
        Refusal::TooManyPendingFromSubnet { limit: 16 },
    ];
    let labels: Vec<_> = all.iter().map(Refusal::label).collect();
    assert_eq!(labels, Refusal::LABELS);
    for refusal in all {
        assert!(!refusal.to_string().is_empty());
    }
    assert!(Refusal::TooManyPendingFromSubnet { limit: 16 }
        .to_string()
        .contains("16"));
}

#[test]
fn permits_move_into_tasks() {
    fn is_send_static<T: Send + 'static>(_: &T) {}
    let mut limits = InboundLimits::new(InboundConfig::default());
    let permit = limits.try_admit(v4(8, 8, 8, 8), Instant::now()).unwrap();
    is_send_static(&permit);
    let handle = std::thread::spawn(move || drop(permit));
    handle.join().unwrap();
    assert_eq!(limits.pending(), 0);
}

/// The rules restated as plainly as possible, with an unbounded history.
struct Model {
    config: InboundConfig,
    held: Vec<(usize, IpAddr)>,
    admitted_at: HashMap<IpAddr, Instant>,
}

impl Model {
    fn subnet(ip: IpAddr) -> Vec<u8> {
        match ip {
            IpAddr::V4(v4) => v4.octets()[..3].to_vec(),
            IpAddr::V6(v6) => v6.octets()[..8].to_vec(),
        }
    }

    fn decide(&mut self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        let c = &self.config;
        if let Some(nr) = &c.netrestrict {
            if !nr.contains(ip) {
                return Err(Refusal::NetRestrict);
            }
        }
        let exempt = c.exempt_lan && is_lan(ip);
        let throttled = !exempt && !c.throttle.is_zero();
        if throttled {
            if let Some(&at) = self.admitted_at.get(&ip) {
                if at + c.throttle > now {
                    return Err(Refusal::Throttled {
                        retry_after: at + c.throttle - now,
                    });
                }
            }
        }
        if self.held.len() >= c.max_pending {
            return Err(Refusal::TooManyPending {
                limit: c.max_pending,
            });
        }
        if !exempt {
            if self.held.iter().filter(|(_, h)| *h == ip).count() >= c.max_pending_per_ip {
                return Err(Refusal::TooManyPendingFromIp {
                    limit: c.max_pending_per_ip,
                });
            }
            let subnet = Self::subnet(ip);
            if self
                .held
                .iter()
                .filter(|(_, h)| Self::subnet(*h) == subnet)
                .count()
                >= c.max_pending_per_subnet
            {
                return Err(Refusal::TooManyPendingFromSubnet {
                    limit: c.max_pending_per_subnet,
                });
            }
        }
        if throttled {
            self.admitted_at.insert(ip, now);
        }
        Ok(())
    }
}

/// Addresses in a few subnets, public and LAN, IPv4 and IPv6.
fn pool() -> Vec<IpAddr> {
    let mut pool = Vec::new();
    for c in [1, 2] {
        for d in 1..=5 {
            pool.push(v4(8, 8, c, d));
        }
    }
    for d in 1..=3 {
        pool.push(v4(127, 0, 0, d));
        pool.push(v4(192, 168, 0, d));
        pool.push(IpAddr::V6(Ipv6Addr::new(
            0x2a01,
            0x4f8,
            0,
            1,
            0,
            0,
            0,
            d.into(),
        )));
    }
    pool.push(v6("2a01:4f8:0:2::1"));
    pool.push(v6("::ffff:8.8.1.1"));
    pool
}

#[test]
fn random_sequences_match_the_model_and_never_exceed_a_cap() {
    let start = Instant::now();
    let pool = pool();
    for seed in 0..300u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let config = InboundConfig {
            max_pending: rng.gen_range(0..12),
            max_pending_per_ip: rng.gen_range(0..4),
            max_pending_per_subnet: rng.gen_range(1..7),
            throttle: [Duration::ZERO, 5 * SECOND, 30 * SECOND][rng.gen_range(0..3)],
            exempt_lan: rng.gen_bool(0.5),
            netrestrict: rng
                .gen_bool(0.3)
                .then(|| "8.8.1.0/24, 127.0.0.0/8, 2a01:4f8::/32".parse().unwrap()),
            ..InboundConfig::default()
        };
        let mut limits = InboundLimits::new(config.clone());
        let mut model = Model {
            config: config.clone(),
            held: Vec::new(),
            admitted_at: HashMap::new(),
        };
        let mut permits: HashMap<usize, PendingPermit> = HashMap::new();
        let mut now = start;
        for step in 0..300usize {
            match rng.gen_range(0..10) {
                0..=5 => {
                    let raw = pool[rng.gen_range(0..pool.len())];
                    let ip = normalize_ip(raw);
                    let expected = model.decide(ip, now);
                    let got = limits.try_admit(raw, now);
                    assert_eq!(
                        got.as_ref().map(|_| ()).map_err(|r| *r),
                        expected,
                        "seed {seed} step {step}: {raw} at +{:?}",
                        now - start
                    );
                    if let Ok(permit) = got {
                        model.held.push((step, ip));
                        permits.insert(step, permit);
                    }
                }
                6..=8 => {
                    if !model.held.is_empty() {
                        let (id, _) = model.held.swap_remove(rng.gen_range(0..model.held.len()));
                        permits.remove(&id);
                    }
                }
                _ => now += Duration::from_millis(rng.gen_range(0..20_000)),
            }
            // The caps, checked against the limits' own counts.
            assert_eq!(limits.pending(), model.held.len(), "seed {seed}");
            assert!(limits.pending() <= config.max_pending, "seed {seed}");
            for &ip in &pool {
                let ip = normalize_ip(ip);
                if config.exempt_lan && is_lan(ip) {
                    continue;
                }
                assert!(
                    limits.pending_from(ip) <= config.max_pending_per_ip,
                    "seed {seed}"
                );
                assert!(
                    limits.pending_in_subnet(ip) <= config.max_pending_per_subnet,
                    "seed {seed}"
                );
            }
        }
        drop(permits);
        assert_eq!(limits.pending(), 0, "seed {seed}: every slot comes back");
    }
}
