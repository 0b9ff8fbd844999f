//! Property tests: random sequences of inputs against an independent model of the rules
//! that must always hold — above all, no dial ever starts to a banned node id or IP.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    time::Duration,
};

use enode::{NodeRecord, PeerId};
use proptest::prelude::*;
use rand::{rngs::StdRng, SeedableRng};
use rlpx::verdict::Verdict;
use tokio::time::Instant;

use super::*;
use crate::{
    discovery::{Candidate, CandidateHints, SourceId},
    peers::DEFAULT_BAN,
    Direction, VERDICTS,
};

#[derive(Debug, Clone)]
enum Event {
    Offer {
        node: u8,
        ip: u8,
        answered: bool,
        sessions: u8,
    },
    Poll,
    FinishDial {
        pick: u8,
        verdict: Option<u8>,
    },
    RemovePeer {
        pick: u8,
        verdict: u8,
    },
    InboundPending {
        node: u8,
    },
    InboundDone {
        node: u8,
    },
    InboundPeer {
        node: u8,
        ip: u8,
    },
    AddStatic {
        node: u8,
        ip: u8,
    },
    RemoveStatic {
        node: u8,
    },
    AddTrusted {
        node: u8,
    },
    RemoveTrusted {
        node: u8,
    },
    Ban {
        node: u8,
        ip: u8,
    },
    Advance {
        secs: u32,
    },
}

fn event() -> impl Strategy<Value = Event> {
    let node = 1u8..=40;
    let ip = 1u8..=12; // few IPs: many nodes share one
    prop_oneof![
        6 => (node.clone(), ip.clone(), any::<bool>(), 0u8..3).prop_map(|(node, ip, answered, sessions)| Event::Offer { node, ip, answered, sessions }),
        6 => Just(Event::Poll),
        6 => (any::<u8>(), proptest::option::weighted(0.8, 0u8..8)).prop_map(|(pick, verdict)| Event::FinishDial { pick, verdict }),
        2 => (any::<u8>(), 0u8..8).prop_map(|(pick, verdict)| Event::RemovePeer { pick, verdict }),
        1 => node.clone().prop_map(|node| Event::InboundPending { node }),
        1 => node.clone().prop_map(|node| Event::InboundDone { node }),
        1 => (node.clone(), ip.clone()).prop_map(|(node, ip)| Event::InboundPeer { node, ip }),
        1 => (node.clone(), ip.clone()).prop_map(|(node, ip)| Event::AddStatic { node, ip }),
        1 => node.clone().prop_map(|node| Event::RemoveStatic { node }),
        1 => node.clone().prop_map(|node| Event::AddTrusted { node }),
        1 => node.clone().prop_map(|node| Event::RemoveTrusted { node }),
        1 => (node, ip).prop_map(|(node, ip)| Event::Ban { node, ip }),
        4 => prop_oneof![0u32..40, 0u32..4000, 0u32..50_000].prop_map(|secs| Event::Advance { secs }),
    ]
}

fn peer(n: u8) -> PeerId {
    PeerId([n; 64])
}

fn address(ip: u8) -> IpAddr {
    IpAddr::from([1, 2, 3, ip])
}

fn record(node: u8, ip: u8) -> NodeRecord {
    NodeRecord {
        address: address(ip),
        udp_port: 30303,
        tcp_port: 30303,
        id: peer(node),
    }
}

/// What the rules say, kept apart from the scheduler.
#[derive(Default)]
struct Model {
    /// Attempts started and not ended: start time and IP.
    running: HashMap<PeerId, (Instant, IpAddr)>,
    /// Attempts whose lookup is being answered (the dial that follows is the same attempt).
    looking_up: HashSet<PeerId>,
    connected: HashMap<PeerId, (IpAddr, Direction)>,
    statics: HashSet<PeerId>,
    trusted: HashSet<PeerId>,
    /// Lower bounds of ban ends.
    banned_ids: HashMap<PeerId, Instant>,
    banned_ips: HashMap<IpAddr, Instant>,
    last_attempt: HashMap<PeerId, Instant>,
}

impl Model {
    fn banned(&self, now: Instant, id: &PeerId, ip: Option<IpAddr>) -> bool {
        self.banned_ids.get(id).is_some_and(|until| now < *until)
            || ip.is_some_and(|ip| self.banned_ips.get(&ip).is_some_and(|until| now < *until))
    }

    fn ban(&mut self, now: Instant, id: PeerId, ip: IpAddr) {
        let until = now + DEFAULT_BAN;
        let id_until = self.banned_ids.entry(id).or_insert(until);
        *id_until = (*id_until).max(until);
        let ip_until = self.banned_ips.entry(ip).or_insert(until);
        *ip_until = (*ip_until).max(until);
    }

    fn verdict_ban(&mut self, now: Instant, id: PeerId, ip: IpAddr, verdict: Verdict) {
        let privileged = self.statics.contains(&id) || self.trusted.contains(&id);
        if verdict.should_ban() && !privileged {
            self.ban(now, id, ip);
        }
    }

    fn dialed(&self) -> usize {
        self.connected
            .values()
            .filter(|(_, d)| *d == Direction::Outbound)
            .count()
    }
}

fn check_attempt_start(
    model: &Model,
    scheduler: &DialScheduler,
    now: Instant,
    id: &PeerId,
    ip: Option<IpAddr>,
) -> Result<(), TestCaseError> {
    prop_assert!(
        !model.banned(now, id, ip),
        "attempt to a banned node {id:?} at {ip:?}"
    );
    prop_assert!(
        !model.connected.contains_key(id),
        "attempt to a connected node"
    );
    prop_assert!(
        !model.running.contains_key(id),
        "second attempt to a node being dialed"
    );
    if let Some(last) = model.last_attempt.get(id) {
        prop_assert!(
            now.duration_since(*last) >= DEFAULT_DIAL_HISTORY,
            "attempt within the dial history"
        );
    }
    let config = scheduler.config();
    let bound = config
        .max_dialed()
        .saturating_sub(model.dialed())
        .saturating_mul(2)
        .min(config.max_active_dials);
    prop_assert!(
        model.running.len() < bound,
        "attempt beyond the slots: {} running, bound {bound}",
        model.running.len()
    );
    Ok(())
}

fn run(config: DialConfig, events: Vec<Event>) -> Result<(), TestCaseError> {
    let source = SourceId::from_raw(1);
    let mut scheduler = DialScheduler::new(PeerId([0; 64]), config.clone());
    let mut model = Model::default();
    let mut rng = StdRng::seed_from_u64(1);
    let mut now = Instant::now();
    for event in events {
        // Attempts past their deadline end as timeouts inside the scheduler at its next poll.
        model
            .running
            .retain(|_, (start, _)| now.duration_since(*start) < DEFAULT_DIAL_DEADLINE);
        match event {
            Event::Offer {
                node,
                ip,
                answered,
                sessions,
            } => {
                let hints = CandidateHints {
                    answered_at: answered.then_some(now),
                    past_sessions: u32::from(sessions),
                };
                let candidate = Candidate::new(record(node, ip)).with_hints(hints);
                let result = scheduler.offer(now, source, candidate);
                if model.banned(now, &peer(node), Some(address(ip))) {
                    // Refused (as banned, or as a static node, which is dialed as such).
                    prop_assert!(
                        matches!(result, Err(DialRefusal::Banned | DialRefusal::StaticNode)),
                        "banned candidate accepted: {result:?}"
                    );
                }
            }
            Event::Poll => {
                while let Some(action) = scheduler.poll(now, &mut rng) {
                    match action {
                        DialAction::Dial(task) => {
                            let id = task.record.id;
                            let ip = task.record.address;
                            if model.looking_up.remove(&id) {
                                // The dial of an attempt that started with a lookup.
                                prop_assert!(
                                    !model.banned(now, &id, Some(ip)),
                                    "dial to a banned node after lookup"
                                );
                                prop_assert!(!model.connected.contains_key(&id));
                                model.running.insert(id, (now, ip));
                            } else {
                                check_attempt_start(&model, &scheduler, now, &id, Some(ip))?;
                                model.running.insert(id, (now, ip));
                                model.last_attempt.insert(id, now);
                            }
                        }
                        DialAction::LookUp { id } => {
                            check_attempt_start(&model, &scheduler, now, &id, None)?;
                            model.last_attempt.insert(id, now);
                            model.looking_up.insert(id);
                            // Discovery answers at once: odd nodes are found at a new IP.
                            let found =
                                (id.0[0] % 2 == 1).then(|| record(id.0[0], id.0[0] % 12 + 1));
                            scheduler.node_looked_up(now, &id, found);
                            if !scheduler.is_dialing(&id) {
                                model.looking_up.remove(&id);
                            }
                        }
                        DialAction::ResolveDns { .. } => {
                            prop_assert!(false, "no DNS static nodes here")
                        }
                        DialAction::Report(report) => prop_assert_eq!(report.source, source),
                    }
                }
            }
            Event::FinishDial { pick, verdict } => {
                let mut running: Vec<_> = model.running.keys().copied().collect();
                running.sort();
                if running.is_empty() {
                    continue;
                }
                let id = running[usize::from(pick) % running.len()];
                let Some((_, ip)) = model.running.remove(&id) else {
                    continue;
                };
                match verdict.map(|v| VERDICTS[usize::from(v)]) {
                    None if !model.connected.contains_key(&id) => {
                        scheduler.dial_finished(now, &id, DialOutcome::Connected);
                        scheduler.peer_added(
                            now,
                            PeerConnection {
                                id,
                                remote: std::net::SocketAddr::new(ip, 30303),
                                slot: Direction::Outbound,
                            },
                        );
                        model.connected.insert(id, (ip, Direction::Outbound));
                    }
                    None => scheduler.dial_finished(now, &id, DialOutcome::Failed(Verdict::Busy)),
                    Some(verdict) => {
                        scheduler.dial_finished(now, &id, DialOutcome::Failed(verdict));
                        model.verdict_ban(now, id, ip, verdict);
                    }
                }
            }
            Event::RemovePeer { pick, verdict } => {
                let mut connected: Vec<_> = model.connected.keys().copied().collect();
                connected.sort();
                if connected.is_empty() {
                    continue;
                }
                let id = connected[usize::from(pick) % connected.len()];
                let Some((ip, _)) = model.connected.remove(&id) else {
                    continue;
                };
                let verdict = VERDICTS[usize::from(verdict)];
                scheduler.peer_removed(now, &id, verdict);
                model.verdict_ban(now, id, ip, verdict);
                model.last_attempt.insert(id, now); // the history starts again at a disconnect
            }
            Event::InboundPending { node } => scheduler.inbound_pending(now, peer(node)),
            Event::InboundDone { node } => scheduler.inbound_done(&peer(node)),
            Event::InboundPeer { node, ip } => {
                let id = peer(node);
                if let std::collections::hash_map::Entry::Vacant(slot) = model.connected.entry(id) {
                    scheduler.peer_added(
                        now,
                        PeerConnection {
                            id,
                            remote: std::net::SocketAddr::new(address(ip), 40000),
                            slot: Direction::Inbound,
                        },
                    );
                    slot.insert((address(ip), Direction::Inbound));
                }
            }
            Event::AddStatic { node, ip } => {
                if scheduler
                    .add_static(StaticNode::at(record(node, ip)))
                    .is_ok()
                {
                    model.statics.insert(peer(node));
                }
            }
            Event::RemoveStatic { node } => {
                scheduler.remove_static(&peer(node));
                model.statics.remove(&peer(node));
            }
            Event::AddTrusted { node } => {
                if scheduler.add_trusted(peer(node)).is_ok() {
                    model.trusted.insert(peer(node));
                }
            }
            Event::RemoveTrusted { node } => {
                scheduler.remove_trusted(&peer(node));
                model.trusted.remove(&peer(node));
            }
            Event::Ban { node, ip } => {
                scheduler.ban(now, peer(node), Some(address(ip)));
                model.ban(now, peer(node), address(ip));
            }
            Event::Advance { secs } => now += Duration::from_secs(u64::from(secs)),
        }
        prop_assert_eq!(scheduler.dialed_peers(), model.dialed());
        prop_assert!(scheduler.active_dials() <= config.max_active_dials);
        prop_assert!(scheduler.queued() <= config.queue_capacity);
        if let Some(wake) = scheduler.next_wakeup(now) {
            prop_assert!(wake >= now);
        }
    }
    Ok(())
}

fn config() -> impl Strategy<Value = DialConfig> {
    (
        prop_oneof![Just(3usize), Just(6), Just(50)],
        prop_oneof![Just(DialPolicy::Ranked), Just(DialPolicy::GethLike)],
        1usize..10,
    )
        .prop_map(|(max_peers, policy, queue_capacity)| DialConfig {
            max_peers,
            policy,
            queue_capacity,
            ..DialConfig::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// No dial or lookup ever starts to a banned id or IP, to a connected node, to a node
    /// being dialed, within the dial history, or beyond the slots; dialed-peer counts,
    /// attempts and the queue stay within bounds; wake-ups are never in the past.
    #[test]
    fn random_events_never_break_the_rules(config in config(), events in proptest::collection::vec(event(), 1..300)) {
        run(config, events)?;
    }
}
