//! Scheduler unit tests on injected instants: slots, static first, history, backoff and
//! bans, every refusal rule, resolution backoff, ranking, reports, deadlines, bounds.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use enode::{NetRestrict, NodeRecord, PeerId};
use rand::{rngs::StdRng, SeedableRng};
use rlpx::verdict::Verdict;
use tokio::time::Instant;

use super::*;
use crate::{
    discovery::{Candidate, CandidateHints, Outcome, SourceId},
    Direction,
};

const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const SOURCE: SourceId = SourceId::from_raw(3);

fn id(n: u16) -> PeerId {
    let mut bytes = [0u8; 64];
    bytes[..2].copy_from_slice(&n.to_be_bytes());
    bytes[63] = 1;
    PeerId(bytes)
}

/// Node `n` at its own public address 100.64+.x.y (not LAN, not special).
fn node(n: u16) -> NodeRecord {
    let [hi, lo] = n.to_be_bytes();
    NodeRecord {
        address: IpAddr::from([1, 2, hi, lo]),
        udp_port: 30303,
        tcp_port: 30303,
        id: id(n),
    }
}

/// The number of a node made by [`id`].
fn num(id: &PeerId) -> u16 {
    u16::from_be_bytes([id.0[0], id.0[1]])
}

fn candidate(n: u16) -> Candidate {
    Candidate::new(node(n))
}

struct Harness {
    s: DialScheduler,
    rng: StdRng,
    now: Instant,
}

impl Harness {
    fn new(config: DialConfig) -> Self {
        Self {
            s: DialScheduler::new(id(0), config),
            rng: StdRng::seed_from_u64(7),
            now: Instant::now(),
        }
    }

    fn with_slots(max_peers: usize) -> Self {
        Self::new(DialConfig {
            max_peers,
            ..DialConfig::default()
        })
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn offer(&mut self, n: u16) -> Result<(), DialRefusal> {
        self.s.offer(self.now, SOURCE, candidate(n))
    }

    fn actions(&mut self) -> Vec<DialAction> {
        std::iter::from_fn(|| self.s.poll(self.now, &mut self.rng)).collect()
    }

    /// Ids dialed by the next round of actions (other actions are dropped).
    fn dials(&mut self) -> Vec<PeerId> {
        self.actions()
            .into_iter()
            .filter_map(|a| match a {
                DialAction::Dial(task) => Some(task.record.id),
                _ => None,
            })
            .collect()
    }

    fn reports(&mut self) -> Vec<(PeerId, Outcome)> {
        self.actions()
            .into_iter()
            .filter_map(|a| match a {
                DialAction::Report(r) => {
                    assert_eq!(r.source, SOURCE);
                    Some((r.id, r.outcome))
                }
                _ => None,
            })
            .collect()
    }

    /// A harness with `max_peers` slots that has just started dialing node `n`, offered
    /// by [`SOURCE`].
    fn dialing(max_peers: usize, n: u16) -> Self {
        let mut h = Harness::with_slots(max_peers);
        h.offer(n).unwrap();
        assert_eq!(h.dials(), [id(n)]);
        h
    }

    /// Node `n` joins the peer set holding a `slot`.
    fn connect(&mut self, n: u16, slot: Direction) -> PeerClass {
        self.s.peer_added(
            self.now,
            PeerConnection {
                id: id(n),
                remote: node(n).tcp_addr(),
                slot,
            },
        )
    }

    /// A scheduler restarted a minute later from this one's dial memory (saved at Unix
    /// second 5,000, restored at 5,060), and how many records it restored.
    fn restarted(&self) -> (Self, usize) {
        let bytes = self.s.memory_snapshot(self.now, 5_000).encode();
        let mut restarted = Harness::with_slots(50);
        let snapshot = DialMemorySnapshot::decode(&bytes).unwrap();
        let restored = restarted.s.restore_memory(restarted.now, 5_060, &snapshot);
        (restarted, restored)
    }

    fn fail(&mut self, n: u16, verdict: Verdict) {
        self.s
            .dial_finished(self.now, &id(n), DialOutcome::Failed(verdict));
    }
}

/// What a source hears of a node it offered that became a peer and then left with `verdict`.
fn connected_then_ended(n: u16, verdict: Verdict) -> [(PeerId, Outcome); 2] {
    [
        (id(n), Outcome::Connected),
        (id(n), Outcome::Disconnected(verdict)),
    ]
}

// ---- slots ------------------------------------------------------------------------------

#[test]
fn no_dynamic_dial_while_inbound_peers_fill_every_slot() {
    // 3 peers at most, 1 dialed slot; 3 inbound peers (one over the inbound share, as the
    // simultaneous-dial tie break can leave it) take every slot.
    let mut h = Harness::with_slots(3);
    for n in 1..=3 {
        h.connect(n, Direction::Inbound);
    }
    h.offer(10).unwrap();
    assert!(
        h.dials().is_empty(),
        "dialed while every peer slot is taken"
    );
    assert!(!h.s.wants_candidates());
    // A slot frees: the queued candidate is dialed.
    h.s.peer_removed(h.now, &id(3), Verdict::Transient);
    assert_eq!(h.dials(), vec![id(10)]);
}

#[test]
fn concurrent_dials_are_twice_the_free_dialed_slots() {
    let mut h = Harness::with_slots(6); // 2 dialed slots → 4 concurrent dials
    assert_eq!(h.s.max_dialed(), 2);
    for n in 1..=10 {
        h.offer(n).unwrap();
    }
    // The freshest candidates first.
    assert_eq!(h.dials(), [10, 9, 8, 7].map(id));
    assert_eq!(h.s.active_dials(), 4);
    // Two connect: both dialed slots are taken, nothing more starts.
    h.connect(10, Direction::Outbound);
    h.connect(9, Direction::Outbound);
    h.fail(8, Verdict::Timeout);
    h.fail(7, Verdict::Timeout);
    assert_eq!(h.s.dialed_peers(), 2);
    assert!(h.dials().is_empty());
    // One leaves: one free slot, two dials.
    h.s.peer_removed(h.now, &id(10), Verdict::Transient);
    assert_eq!(h.dials(), [6, 5].map(id));
    // Inbound peers take no dialed slot.
    h.connect(50, Direction::Inbound);
    assert_eq!(h.s.dialed_peers(), 1);
}

#[test]
fn the_concurrency_cap_is_fifty() {
    let mut h = Harness::with_slots(300); // 100 dialed slots
    for n in 1..=80 {
        h.offer(n).unwrap();
    }
    assert_eq!(h.dials().len(), DEFAULT_MAX_ACTIVE_DIALS);
}

// ---- static nodes -----------------------------------------------------------------------

#[test]
fn static_nodes_go_first_and_count_against_the_dialed_slots() {
    let mut h = Harness::with_slots(3); // 1 dialed slot → 2 concurrent dials
    for n in 1..=3 {
        h.offer(n).unwrap();
    }
    for n in 10..=12 {
        h.s.add_static(StaticNode::at(node(n))).unwrap();
    }
    let dials = h.dials();
    assert_eq!(dials.len(), 2);
    assert!(dials.iter().all(|d| h.s.is_static(d)), "{dials:?}");
    h.connect(num(&dials[0]), Direction::Outbound);
    assert_eq!(
        h.s.budget(),
        0,
        "the static peer fills the only dialed slot"
    );
}

#[test]
fn a_static_node_is_redialed_after_a_disconnect_once_history_and_backoff_allow() {
    let mut h = Harness::new(DialConfig {
        resolve_static: false, // no discovery lookups after network failures
        ..DialConfig::default()
    });
    h.s.add_static(StaticNode::at(node(1))).unwrap();
    assert_eq!(h.dials(), [id(1)]);
    assert!(h.connect(1, Direction::Outbound).is_static);
    h.advance(HOUR);
    h.s.peer_removed(h.now, &id(1), Verdict::Transient);
    // Transient: a 1 min backoff (longer than the 35 s history).
    assert!(h.dials().is_empty());
    assert_eq!(h.s.next_wakeup(h.now), Some(h.now + MIN));
    h.advance(59 * SEC);
    assert!(h.dials().is_empty());
    h.advance(SEC);
    assert_eq!(h.dials(), [id(1)]);
    // It keeps failing: waits double but never exceed the static cap (5 min).
    let mut waits = Vec::new();
    for _ in 0..6 {
        h.fail(1, Verdict::Timeout);
        let wake = h.s.next_wakeup(h.now).unwrap();
        waits.push((wake - h.now).as_secs());
        h.now = wake;
        assert_eq!(h.dials(), [id(1)]);
    }
    assert_eq!(waits, [120, 240, 300, 300, 300, 300]);
}

#[test]
fn a_removed_static_node_is_not_redialed() {
    let mut h = Harness::with_slots(50);
    h.s.add_static(StaticNode::at(node(1))).unwrap();
    assert_eq!(h.dials(), [id(1)]);
    h.fail(1, Verdict::Busy);
    assert!(h.s.remove_static(&id(1)));
    h.advance(HOUR);
    assert!(h.dials().is_empty());
    assert_eq!(h.s.next_wakeup(h.now), None);
}

#[test]
fn an_offered_static_node_is_refused_but_its_address_is_learned() {
    let mut h = Harness::new(DialConfig {
        resolve_static: false,
        ..DialConfig::default()
    });
    h.s.add_static(StaticNode::unresolved(id(1))).unwrap();
    assert!(
        h.actions().is_empty(),
        "no address and no lookups: nothing to do"
    );
    assert_eq!(h.offer(1), Err(DialRefusal::StaticNode));
    assert_eq!(h.dials(), [id(1)]);
}

// ---- static resolution ------------------------------------------------------------------

#[test]
fn a_static_node_without_address_is_looked_up_with_backoff_60_s_doubling_to_1_h() {
    let mut h = Harness::with_slots(50);
    h.s.add_static(StaticNode::unresolved(id(1))).unwrap();
    let mut waits = Vec::new();
    for _ in 0..8 {
        assert_eq!(h.actions(), [DialAction::LookUp { id: id(1) }]);
        h.s.node_looked_up(h.now, &id(1), None);
        assert!(h.actions().is_empty());
        let wake = h.s.next_wakeup(h.now).unwrap();
        waits.push((wake - h.now).as_secs());
        h.advance(wake - h.now - SEC);
        assert!(h.actions().is_empty(), "not a second early");
        h.advance(SEC);
    }
    assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600]);

    // Found: dialed at once, and the backoff is back to 60 s.
    assert_eq!(h.actions(), [DialAction::LookUp { id: id(1) }]);
    h.s.node_looked_up(h.now, &id(1), Some(node(1)));
    assert_eq!(h.dials(), [id(1)]);
    assert_eq!(h.s.lookup_delay(&id(1)), Some(MIN));

    // A network failure: it may have moved, so the next attempt looks it up again (after
    // the backoff), and a failed lookup falls back to the known address.
    h.fail(1, Verdict::Transient);
    h.advance(MIN);
    assert_eq!(h.actions(), [DialAction::LookUp { id: id(1) }]);
    h.s.node_looked_up(h.now, &id(1), None);
    assert_eq!(h.dials(), [id(1)]);
}

#[test]
fn a_lookup_result_for_another_id_is_not_taken() {
    let mut h = Harness::with_slots(50);
    h.s.add_static(StaticNode::unresolved(id(1))).unwrap();
    assert_eq!(h.actions(), [DialAction::LookUp { id: id(1) }]);
    h.s.node_looked_up(h.now, &id(1), Some(node(2)));
    assert!(h.dials().is_empty());
    assert!(!h.s.is_dialing(&id(1)));
}

#[test]
fn a_static_node_by_dns_name_is_resolved_before_each_dial() {
    let mut h = Harness::with_slots(50);
    h.s.add_static(StaticNode {
        id: id(1),
        address: StaticAddress::Dns {
            host: "peer.example".into(),
            tcp_port: 30303,
            udp_port: 30303,
        },
    })
    .unwrap();
    assert_eq!(
        h.actions(),
        [DialAction::ResolveDns {
            id: id(1),
            host: "peer.example".into()
        }]
    );
    assert_eq!(h.s.active_dials(), 1, "a resolution holds a dial slot");
    let v4: IpAddr = "1.2.3.4".parse().unwrap();
    h.s.dns_resolved(h.now, &id(1), &["2001:db8::1".parse().unwrap(), v4]);
    let actions = h.actions();
    let [DialAction::Dial(task)] = actions.as_slice() else {
        panic!("{actions:?}");
    };
    assert_eq!(task.record.tcp_addr(), SocketAddr::new(v4, 30303));
    assert!(task.is_static());
    // Next time the name is resolved again; when DNS fails, the old address is dialed.
    h.fail(1, Verdict::Busy);
    h.advance(35 * SEC);
    assert!(matches!(
        h.actions().as_slice(),
        [DialAction::ResolveDns { .. }]
    ));
    h.s.dns_resolved(h.now, &id(1), &[]);
    assert_eq!(h.dials(), [id(1)]);
}

#[test]
fn a_resolved_static_address_is_checked_before_the_dial() {
    let mut h = Harness::new(DialConfig {
        netrestrict: Some("10.0.0.0/8".parse().unwrap()),
        ..DialConfig::default()
    });
    h.s.add_static(StaticNode::unresolved(id(1))).unwrap();
    assert_eq!(h.actions(), [DialAction::LookUp { id: id(1) }]);
    h.s.node_looked_up(h.now, &id(1), Some(node(1))); // 1.2.0.1, outside 10/8
    assert!(h.dials().is_empty());
    assert_eq!(h.s.stats().refusals.get(DialRefusal::NetRestrict), 1);
    assert!(!h.s.is_dialing(&id(1)));
}

// ---- history, backoff, bans ------------------------------------------------------------

#[test]
fn a_node_is_not_dialed_again_within_the_dial_history() {
    let mut h = Harness::dialing(50, 1);
    h.fail(1, Verdict::Busy); // Short backoff: 35 s, the history's length
    h.advance(34 * SEC);
    assert_eq!(h.offer(1), Err(DialRefusal::RecentlyDialed));
    h.advance(SEC);
    assert_eq!(h.offer(1), Ok(()));
    assert_eq!(h.dials(), [id(1)]);
}

#[test]
fn geth_like_policy_only_has_the_history() {
    let mut h = Harness::new(DialConfig {
        policy: DialPolicy::GethLike,
        ..DialConfig::default()
    });
    h.offer(1).unwrap();
    assert_eq!(h.dials(), [id(1)]);
    h.fail(1, Verdict::Timeout);
    h.advance(35 * SEC);
    assert_eq!(h.offer(1), Ok(()), "no backoff beyond the history");

    let mut ranked = Harness::with_slots(50);
    ranked.offer(1).unwrap();
    assert_eq!(ranked.dials(), [id(1)]);
    ranked.fail(1, Verdict::Timeout);
    ranked.advance(35 * SEC);
    assert_eq!(ranked.offer(1), Err(DialRefusal::BackedOff));
    ranked.advance(25 * SEC);
    assert_eq!(ranked.offer(1), Ok(()));
}

#[test]
fn a_network_failure_backs_off_the_ip_for_other_ids_too() {
    let mut h = Harness::dialing(50, 1);
    h.fail(1, Verdict::Timeout);
    let same_ip = Candidate::new(NodeRecord {
        id: id(2),
        ..node(1)
    });
    assert_eq!(
        h.s.offer(h.now, SOURCE, same_ip),
        Err(DialRefusal::BackedOff)
    );
    // A protocol-level failure (long backoff) is about the node, not the host.
    h.offer(3).unwrap();
    assert_eq!(h.dials(), [id(3)]);
    h.fail(3, Verdict::RemoteComplaint);
    let same_ip = Candidate::new(NodeRecord {
        id: id(4),
        ..node(3)
    });
    assert_eq!(h.s.offer(h.now, SOURCE, same_ip), Ok(()));
}

#[test]
fn a_misbehaving_node_is_banned_by_id_and_ip_until_the_ban_decays() {
    let mut h = Harness::dialing(50, 1);
    h.fail(1, Verdict::Impostor);
    h.advance(2 * HOUR); // well past every backoff
    assert_eq!(h.offer(1), Err(DialRefusal::Banned));
    let same_ip = Candidate::new(NodeRecord {
        id: id(2),
        ..node(1)
    });
    assert_eq!(h.s.offer(h.now, SOURCE, same_ip), Err(DialRefusal::Banned));
    assert!(h.s.is_banned(h.now, &id(9), Some(node(1).address)));
    h.advance(10 * HOUR); // 12 h after the offence
    assert_eq!(h.offer(1), Ok(()));
}

#[test]
fn static_and_trusted_nodes_are_never_banned_by_a_verdict() {
    let mut h = Harness::with_slots(50);
    h.s.add_trusted(id(1)).unwrap();
    h.s.add_static(StaticNode::at(node(2))).unwrap();
    h.offer(1).unwrap();
    let mut dials = h.dials();
    dials.sort();
    assert_eq!(dials, [id(1), id(2)]);
    h.fail(1, Verdict::Misbehaved);
    h.fail(2, Verdict::Misbehaved);
    assert!(!h.s.is_banned(h.now, &id(1), Some(node(1).address)));
    assert!(!h.s.is_banned(h.now, &id(2), Some(node(2).address)));
}

#[test]
fn a_ban_that_comes_while_a_candidate_waits_is_checked_when_its_dial_is_due() {
    let mut h = Harness::with_slots(3); // 2 concurrent dials
    h.offer(1).unwrap();
    h.offer(2).unwrap();
    assert_eq!(h.dials(), [id(2), id(1)], "the later arrival first");
    // Node 3 waits in the queue (no slot); its IP gets banned through another node.
    h.offer(3).unwrap();
    assert_eq!(h.s.queued(), 1);
    h.s.ban(h.now, id(99), Some(node(3).address));
    h.fail(1, Verdict::Timeout);
    assert!(h.dials().is_empty(), "node 3's IP is banned");
    assert_eq!(h.s.stats().refusals.get(DialRefusal::Banned), 1);
}

#[test]
fn a_verdict_ban_through_a_session_end_covers_the_peer_ip() {
    let mut h = Harness::with_slots(50);
    h.connect(1, Direction::Inbound);
    h.s.peer_removed(h.now, &id(1), Verdict::Misbehaved);
    assert!(h.s.is_banned(h.now, &id(1), None));
    assert!(h.s.is_banned(h.now, &id(2), Some(node(1).address)));
}

// ---- every refusal rule -----------------------------------------------------------------

#[test]
fn every_refusal_rule() {
    let mut h = Harness::new(DialConfig {
        max_peers: 3, // 1 dialed slot, 2 concurrent dials
        queue_capacity: 2,
        netrestrict: Some(NetRestrict::new(["1.2.0.0/16".parse().unwrap()])),
        ..DialConfig::default()
    });
    let offer_record =
        |h: &mut Harness, record: NodeRecord| h.s.offer(h.now, SOURCE, Candidate::new(record));
    assert_eq!(
        h.s.offer(
            h.now,
            SOURCE,
            Candidate::new(NodeRecord {
                id: id(0),
                ..node(1)
            })
        ),
        Err(DialRefusal::IsSelf)
    );
    assert_eq!(
        offer_record(
            &mut h,
            NodeRecord {
                tcp_port: 0,
                ..node(1)
            }
        ),
        Err(DialRefusal::NoTcpPort)
    );
    assert_eq!(
        offer_record(
            &mut h,
            NodeRecord {
                address: "0.0.0.0".parse().unwrap(),
                ..node(1)
            }
        ),
        Err(DialRefusal::UnusableAddress)
    );
    assert_eq!(
        offer_record(
            &mut h,
            NodeRecord {
                address: "9.9.9.9".parse().unwrap(),
                ..node(1)
            }
        ),
        Err(DialRefusal::NetRestrict)
    );
    h.s.ban(h.now, id(2), None);
    assert_eq!(h.offer(2), Err(DialRefusal::Banned));

    h.offer(3).unwrap();
    assert_eq!(h.dials(), [id(3)]);
    assert_eq!(h.offer(3), Err(DialRefusal::AlreadyDialing));
    h.connect(3, Direction::Outbound);
    assert_eq!(h.offer(3), Err(DialRefusal::AlreadyConnected));

    h.s.inbound_pending(h.now, id(4));
    assert_eq!(h.offer(4), Err(DialRefusal::PendingInbound));
    h.s.inbound_done(&id(4));
    assert_eq!(h.offer(4), Ok(()));
    h.s.inbound_pending(h.now, id(5));
    h.advance(DEFAULT_PENDING_INBOUND_TIMEOUT);
    assert_eq!(
        h.offer(5),
        Ok(()),
        "a pending mark never reported done expires"
    );

    // The slot is taken (node 3): 4 and 5 wait; the queue (capacity 2) is full of
    // strangers, which rank above node 6, remembered (from an earlier run) as failing.
    let mut memory = DialMemory::new(16, 7 * 24 * HOUR);
    memory.record_failure(h.now, id(6), node(6).tcp_addr(), Verdict::Timeout);
    let snapshot = memory.snapshot(h.now, 1_000_000);
    assert_eq!(h.s.restore_memory(h.now, 1_000_000, &snapshot), 1);
    assert_eq!(h.offer(6), Err(DialRefusal::QueueFull));
    h.s.add_static(StaticNode::at(node(7))).unwrap();
    assert_eq!(h.offer(7), Err(DialRefusal::StaticNode));

    h.s.peer_removed(h.now, &id(3), Verdict::Busy); // slot free again
    assert_eq!(h.offer(3), Err(DialRefusal::RecentlyDialed));
    h.advance(DEFAULT_DIAL_HISTORY);
    let dials = h.dials();
    assert!(dials.contains(&id(7)), "{dials:?}");
    h.fail(7, Verdict::Timeout);

    h.advance(DEFAULT_CANDIDATE_TTL);
    h.dials();
    assert!(
        h.s.stats().refusals.get(DialRefusal::Stale) >= 1,
        "{:?}",
        h.s.stats()
    );

    h.offer(8).unwrap();
    let dialed = h.dials();
    for n in dialed.iter().map(num) {
        h.fail(n, Verdict::Timeout);
    }
    h.advance(DEFAULT_DIAL_HISTORY);
    assert_eq!(h.offer(8), Err(DialRefusal::BackedOff));

    // Three dials to node 9's address reached nothing (remembered from an earlier run).
    let mut memory = DialMemory::new(16, 7 * 24 * HOUR);
    for _ in 0..3 {
        memory.record_failure(h.now, id(9), node(9).tcp_addr(), Verdict::Timeout);
    }
    h.s.restore_memory(h.now, 0, &memory.snapshot(h.now, 0));
    assert_eq!(h.offer(9), Err(DialRefusal::Unreachable));

    let mut off = Harness::new(DialConfig {
        no_dial: true,
        ..DialConfig::default()
    });
    assert!(!off.s.wants_candidates());
    assert_eq!(off.offer(1), Err(DialRefusal::DialingDisabled));
    off.s.add_static(StaticNode::at(node(2))).unwrap();
    assert!(off.dials().is_empty());

    // Every refusal above was counted.
    for refusal in DialRefusal::ALL {
        let counted = h.s.stats().refusals.get(refusal) + off.s.stats().refusals.get(refusal);
        assert!(counted >= 1, "{refusal:?} never counted");
    }
}

// ---- ranking ----------------------------------------------------------------------------

#[test]
fn ranked_dials_known_good_and_recently_seen_nodes_before_strangers_and_failures() {
    let mut h = Harness::with_slots(3); // 2 concurrent dials
                                        // Memory from an earlier run: node 2 failed at its address, node 4 had a session.
    let mut memory = DialMemory::new(16, 7 * 24 * HOUR);
    let earlier = h.now;
    memory.record_failure(earlier, id(2), node(2).tcp_addr(), Verdict::Timeout);
    memory.record_success(earlier, id(4), node(4).tcp_addr());
    let snapshot = memory.snapshot(earlier, 1_000_000);
    h.advance(HOUR);
    assert_eq!(h.s.restore_memory(h.now, 1_000_000 + 3600, &snapshot), 2);

    // Occupy both dial slots so that the others queue up.
    h.offer(100).unwrap();
    h.offer(101).unwrap();
    assert_eq!(h.dials().len(), 2);
    h.offer(1).unwrap(); // stranger
    h.offer(2).unwrap(); // failed before
    h.s.offer(
        h.now,
        SOURCE,
        candidate(3).with_hints(CandidateHints {
            answered_at: Some(h.now - 30 * SEC),
            past_sessions: 0,
        }),
    )
    .unwrap(); // answered discovery recently
    h.offer(4).unwrap(); // had a session
    h.s.offer(
        h.now,
        SOURCE,
        candidate(5).with_hints(CandidateHints {
            answered_at: None,
            past_sessions: 3,
        }),
    )
    .unwrap(); // the node database says it had sessions
    assert_eq!(h.s.tier_of(h.now, &candidate(2)), CandidateTier::Failed);

    let mut order = Vec::new();
    for slot in [100, 101, 4, 5, 3, 1] {
        h.fail(slot, Verdict::Busy);
        order.extend(h.dials());
    }
    // Among equals (4 and 5 both proven), the later arrival goes first.
    assert_eq!(order, [5, 4, 3, 1, 2].map(id));
}

#[test]
fn geth_like_dials_in_arrival_order_and_takes_only_what_it_can_dial() {
    let mut h = Harness::new(DialConfig {
        max_peers: 3,
        policy: DialPolicy::GethLike,
        ..DialConfig::default()
    });
    h.s.add_static(StaticNode::at(node(9))).unwrap();
    h.s.offer(
        h.now,
        SOURCE,
        candidate(4).with_hints(CandidateHints {
            answered_at: Some(h.now),
            past_sessions: 9,
        }),
    )
    .unwrap();
    assert!(h.s.wants_candidates());
    h.offer(1).unwrap();
    assert!(!h.s.wants_candidates(), "two queued, two dials possible");
    assert_eq!(h.dials(), [id(9), id(4)]);
    h.fail(9, Verdict::Busy);
    assert_eq!(h.dials(), [id(1)]);
}

#[test]
fn a_ranked_queue_keeps_taking_candidates_until_full() {
    let mut h = Harness::new(DialConfig {
        max_peers: 3,
        queue_capacity: 4,
        ..DialConfig::default()
    });
    let mut taken = 0;
    while h.s.wants_candidates() {
        h.offer(taken + 1).unwrap();
        taken += 1;
    }
    assert_eq!(taken, 4);
    assert_eq!(h.dials().len(), 2);
    assert!(h.s.wants_candidates());
}

#[test]
fn a_ranked_node_with_every_dialed_slot_taken_takes_no_candidates() {
    let mut h = Harness::with_slots(6); // 2 dialed slots
    h.offer(1).unwrap();
    h.offer(2).unwrap();
    assert_eq!(h.dials(), [2, 1].map(id));
    h.connect(1, Direction::Outbound);
    h.connect(2, Direction::Outbound);
    // Full: pulling the discovery walk now would only cost lookups.
    assert!(!h.s.wants_candidates());
    // Inbound peers take no dialed slot: still full.
    h.connect(7, Direction::Inbound);
    assert!(!h.s.wants_candidates());
    h.s.peer_removed(h.now, &id(1), Verdict::Transient);
    assert!(h.s.wants_candidates());
}

// ---- reports ----------------------------------------------------------------------------

#[test]
fn every_outcome_is_reported_to_the_source_of_the_candidate() {
    let mut h = Harness::with_slots(50);
    for n in 1..=4 {
        h.offer(n).unwrap();
    }
    assert_eq!(h.dials().len(), 4);
    h.fail(1, Verdict::Timeout);
    h.connect(2, Direction::Outbound);
    h.s.dial_finished(h.now, &id(3), DialOutcome::Connected);
    h.connect(3, Direction::Outbound);
    h.connect(4, Direction::Outbound);
    h.s.peer_useful(&id(2));
    h.s.peer_removed(h.now, &id(2), Verdict::Timeout);
    h.s.peer_removed(h.now, &id(3), Verdict::Incompatible);
    h.s.peer_removed(h.now, &id(4), Verdict::Misbehaved);
    assert_eq!(
        h.reports(),
        [
            (id(1), Outcome::DialFailed(Verdict::Timeout)),
            (id(2), Outcome::Connected),
            (id(3), Outcome::Connected),
            (id(4), Outcome::Connected),
            (id(2), Outcome::Useful),
            (id(2), Outcome::Disconnected(Verdict::Timeout)),
            (id(3), Outcome::Incompatible),
            (id(4), Outcome::Misbehaved),
        ]
    );
    // Static nodes and inbound peers have no source: no reports.
    h.s.add_static(StaticNode::at(node(5))).unwrap();
    assert_eq!(h.dials(), [id(5)]);
    h.fail(5, Verdict::Timeout);
    h.connect(6, Direction::Inbound);
    h.s.peer_removed(h.now, &id(6), Verdict::Transient);
    assert!(h.reports().is_empty());
}

#[test]
fn an_abandoned_dial_blames_nobody() {
    let mut h = Harness::with_slots(50);
    h.offer(1).unwrap();
    h.offer(2).unwrap();
    assert_eq!(h.dials().len(), 2);
    h.s.dial_finished(h.now, &id(1), DialOutcome::Abandoned);
    h.fail(2, Verdict::Timeout);
    assert_eq!(
        h.reports(),
        [
            (id(1), Outcome::Abandoned),
            (id(2), Outcome::DialFailed(Verdict::Timeout))
        ]
    );
    assert_eq!(h.s.stats().dials_abandoned, 1);
    assert_eq!(h.s.stats().dials_failed, 1);
    // Once the dial history lets go, the abandoned node is dialed again; the failed one
    // is still backed off.
    h.advance(DialConfig::default().history + SEC);
    h.offer(1).unwrap();
    assert!(h.offer(2).is_err());
    assert_eq!(h.dials(), [id(1)]);
}

#[test]
fn reports_not_taken_are_bounded() {
    let mut h = Harness::new(DialConfig {
        report_capacity: 3,
        ..DialConfig::default()
    });
    for n in 1..=10 {
        h.offer(n).unwrap();
    }
    assert_eq!(h.dials().len(), 10);
    for n in 1..=10 {
        h.fail(n, Verdict::Busy);
    }
    assert_eq!(h.s.stats().reports_dropped, 7);
    let kept: Vec<_> = h.reports().into_iter().map(|(id, _)| id).collect();
    assert_eq!(kept, [8, 9, 10].map(id), "the newest are kept");
}

// ---- wedge-proofing ---------------------------------------------------------------------

#[test]
fn a_dial_never_reported_times_out_and_frees_its_slot() {
    let mut h = Harness::with_slots(3);
    h.offer(1).unwrap();
    h.offer(2).unwrap();
    assert_eq!(h.dials().len(), 2);
    h.offer(3).unwrap();
    assert!(h.dials().is_empty());
    assert_eq!(h.s.next_wakeup(h.now), Some(h.now + DEFAULT_DIAL_DEADLINE));
    h.advance(DEFAULT_DIAL_DEADLINE);
    let actions = h.actions();
    assert!(actions.contains(&DialAction::Dial(DialTask {
        record: node(3),
        kind: DialKind::Discovered(SOURCE)
    })));
    assert!(actions.contains(&DialAction::Report(SourceReport {
        source: SOURCE,
        id: id(1),
        outcome: Outcome::DialFailed(Verdict::Timeout)
    })));
    assert_eq!(h.s.stats().dials_expired, 2);
    // A late report is ignored.
    h.s.dial_finished(h.now, &id(1), DialOutcome::Connected);
    assert_eq!(h.s.stats().dials_connected, 0);
}

#[test]
fn a_connected_dial_keeps_its_slot_and_source_until_the_peer_is_added() {
    let mut h = Harness::dialing(3, 1);
    h.s.dial_finished(h.now, &id(1), DialOutcome::Connected);
    h.advance(DEFAULT_DIAL_HISTORY); // history over, yet not dialed twice
    assert_eq!(h.offer(1), Err(DialRefusal::AlreadyDialing));
    assert_eq!(h.s.active_dials(), 1);
    h.connect(1, Direction::Outbound);
    assert_eq!(h.s.active_dials(), 0);
    h.s.peer_removed(h.now, &id(1), Verdict::Timeout);
    assert_eq!(h.reports(), connected_then_ended(1, Verdict::Timeout));
}

#[test]
fn a_connected_dial_whose_peer_holds_an_inbound_slot_frees_its_dial_slot() {
    // The node kept the peer's own connection (a simultaneous dial), or our dial's connection
    // replaced an inbound one and inherited its inbound slot: either way the dial is over.
    let mut h = Harness::dialing(3, 1);
    h.s.dial_finished(h.now, &id(1), DialOutcome::Connected);
    assert_eq!(h.s.active_dials(), 1);
    h.connect(1, Direction::Inbound);
    assert_eq!(h.s.active_dials(), 0);
    assert_eq!(h.s.dialed_peers(), 0);
    // The source that heard "connected" hears how the session ended.
    h.s.peer_removed(h.now, &id(1), Verdict::Timeout);
    assert_eq!(h.reports(), connected_then_ended(1, Verdict::Timeout));
}

#[test]
fn a_swapped_connection_keeps_its_slot_and_its_source() {
    // Our dial made the peer; the peer's own connection then replaced ours (a simultaneous
    // dial), and the node re-adds the peer in the same dialed slot.
    let mut h = Harness::dialing(3, 1);
    h.connect(1, Direction::Outbound);
    h.connect(1, Direction::Outbound);
    assert_eq!(h.s.dialed_peers(), 1);
    h.s.peer_removed(h.now, &id(1), Verdict::Timeout);
    assert_eq!(h.s.dialed_peers(), 0);
    assert_eq!(h.reports(), connected_then_ended(1, Verdict::Timeout));
}

// ---- bounds and persistence -------------------------------------------------------------

#[test]
fn memory_stays_bounded_under_a_flood_of_candidates_and_failures() {
    let config = DialConfig {
        queue_capacity: 32,
        history_capacity: 64,
        memory_capacity: 64,
        backoff: crate::peers::BackoffConfig {
            capacity: 64,
            ..Default::default()
        },
        bans: crate::peers::BanConfig {
            capacity: 64,
            ..Default::default()
        },
        ..DialConfig::default()
    };
    let mut h = Harness::new(config);
    for n in 1..=5000u16 {
        let _ = h.offer(n);
        for dial in h.dials() {
            let n = num(&dial);
            let verdict = if n.is_multiple_of(3) {
                Verdict::Misbehaved
            } else {
                Verdict::Timeout
            };
            h.fail(n, verdict);
        }
        h.advance(SEC / 10);
    }
    assert!(h.s.queued() <= 32);
    assert!(h.s.history().len() <= 64);
    assert!(h.s.memory().len() <= 64);
    assert!(h.s.backoffs().memory_entries() <= 4 * 64);
    assert!(h.s.bans().memory_entries() <= 4 * 64);
    assert!(h.s.active_dials() <= DEFAULT_MAX_ACTIVE_DIALS);
}

#[test]
fn static_and_trusted_sets_are_bounded() {
    let mut h = Harness::new(DialConfig {
        max_static_nodes: 2,
        max_trusted_nodes: 1,
        ..DialConfig::default()
    });
    assert_eq!(h.s.add_static(StaticNode::at(node(1))), Ok(true));
    assert_eq!(h.s.add_static(StaticNode::at(node(1))), Ok(false));
    assert_eq!(h.s.add_static(StaticNode::at(node(2))), Ok(true));
    assert_eq!(
        h.s.add_static(StaticNode::at(node(3))),
        Err(DialError::TooManyStaticNodes { limit: 2 })
    );
    assert_eq!(
        h.s.add_static(StaticNode::at(NodeRecord {
            id: id(0),
            ..node(1)
        })),
        Err(DialError::SelfNode)
    );
    assert_eq!(h.s.add_trusted(id(1)), Ok(true));
    assert_eq!(
        h.s.add_trusted(id(2)),
        Err(DialError::TooManyTrustedNodes { limit: 1 })
    );
    assert!(h.s.remove_trusted(&id(1)));
    assert_eq!(h.s.add_trusted(id(2)), Ok(true));
    assert_eq!(h.s.static_count(), 2);
}

#[test]
fn the_memory_snapshot_survives_a_restart() {
    let mut h = Harness::with_slots(50);
    h.offer(1).unwrap();
    h.offer(2).unwrap();
    assert_eq!(h.dials().len(), 2);
    h.fail(1, Verdict::Timeout);
    h.connect(2, Direction::Outbound);
    let (restarted, restored) = h.restarted();
    assert_eq!(restored, 2);
    assert_eq!(
        restarted.s.tier_of(restarted.now, &candidate(1)),
        CandidateTier::Failed
    );
    assert_eq!(
        restarted.s.tier_of(restarted.now, &candidate(2)),
        CandidateTier::Proven
    );
    assert_eq!(
        restarted.s.tier_of(restarted.now, &candidate(3)),
        CandidateTier::Stranger
    );
}

// ---- addresses no dial ever reached -----------------------------------------------------

/// Candidate `n` with a discovery answer right now (a NATed node answers discovery).
fn answering(h: &Harness, n: u16) -> Candidate {
    candidate(n).with_hints(CandidateHints {
        answered_at: Some(h.now),
        past_sessions: 0,
    })
}

/// Offers node `n` (answering discovery), dials it, fails it with `verdict`, and waits out
/// its backoff and the history.
fn dial_and_fail(h: &mut Harness, n: u16, verdict: Verdict) {
    h.s.offer(h.now, SOURCE, answering(h, n)).unwrap();
    assert_eq!(h.dials(), [id(n)]);
    h.fail(n, verdict);
    h.reports();
    h.advance(10 * MIN);
}

#[test]
fn an_address_no_dial_reached_sinks_below_strangers_whatever_discovery_says() {
    let mut h = Harness::with_slots(50);
    dial_and_fail(&mut h, 2, Verdict::Timeout);
    // One timeout may be a node that was down: a discovery answer lifts it once the
    // failure is older than the fresh-answer window (10 min).
    assert_eq!(
        h.s.tier_of(h.now, &answering(&h, 2)),
        CandidateTier::Answered
    );
    assert_eq!(
        h.s.tier_of(h.now - SEC, &answering(&h, 2)),
        CandidateTier::Failed
    );
    dial_and_fail(&mut h, 2, Verdict::Timeout);
    // Two, while it kept answering discovery: its TCP port is not reachable.
    assert_eq!(
        h.s.tier_of(h.now, &answering(&h, 2)),
        CandidateTier::Unreachable
    );
    // Below a stranger (no hint at all), and below a node that failed for another reason.
    dial_and_fail(&mut h, 3, Verdict::Busy);
    h.s.offer(h.now, SOURCE, answering(&h, 2)).unwrap();
    h.s.offer(h.now, SOURCE, candidate(3)).unwrap();
    h.offer(1).unwrap();
    assert_eq!(h.dials(), [1, 3, 2].map(id));
}

#[test]
fn an_address_no_dial_reached_in_three_tries_is_set_aside_for_an_hour_doubling() {
    let mut h = Harness::with_slots(50);
    for _ in 0..3 {
        dial_and_fail(&mut h, 2, Verdict::Timeout);
    }
    let failed_at = h.now - 10 * MIN;
    assert_eq!(
        h.s.offer(h.now, SOURCE, answering(&h, 2)),
        Err(DialRefusal::Unreachable)
    );
    assert_eq!(h.s.stats().refusals.get(DialRefusal::Unreachable), 1);
    h.now = failed_at + HOUR - SEC;
    assert!(h.s.offer(h.now, SOURCE, answering(&h, 2)).is_err());
    // An hour after the last failure it is tried again (last among candidates)...
    h.now = failed_at + HOUR;
    h.s.offer(h.now, SOURCE, answering(&h, 2)).unwrap();
    assert_eq!(h.dials(), [id(2)]);
    h.fail(2, Verdict::Transient);
    // ...and a fourth failure sets it aside for two hours.
    let failed_at = h.now;
    h.now = failed_at + 2 * HOUR - SEC;
    assert_eq!(
        h.s.offer(h.now, SOURCE, answering(&h, 2)),
        Err(DialRefusal::Unreachable)
    );
    h.now = failed_at + 2 * HOUR;
    assert_eq!(h.s.offer(h.now, SOURCE, answering(&h, 2)), Ok(()));
}

#[test]
fn a_set_aside_node_that_became_reachable_is_found_again() {
    let mut h = Harness::with_slots(50);
    for _ in 0..3 {
        dial_and_fail(&mut h, 2, Verdict::Timeout);
    }
    assert!(h.s.offer(h.now, SOURCE, answering(&h, 2)).is_err());
    // Its port got forwarded meanwhile; the walk keeps offering it.
    h.advance(HOUR);
    h.s.offer(h.now, SOURCE, answering(&h, 2)).unwrap();
    assert_eq!(h.dials(), [id(2)]);
    h.connect(2, Direction::Outbound);
    assert_eq!(h.s.memory().get(h.now, &id(2)).unwrap().failures, 0);
    // After the session it ranks among the best again.
    h.s.peer_removed(h.now, &id(2), Verdict::Transient);
    h.advance(10 * MIN);
    h.offer(1).unwrap();
    h.s.offer(h.now, SOURCE, answering(&h, 2)).unwrap();
    assert_eq!(
        h.s.tier_of(h.now, &answering(&h, 2)),
        CandidateTier::ProvenAndAnswered
    );
    assert_eq!(h.dials(), [2, 1].map(id));
}

#[test]
fn a_dial_that_reached_the_node_or_a_past_session_keeps_it_out_of_the_rule() {
    let mut h = Harness::with_slots(50);
    // Node 2 answered "too many peers" once: reachable, whatever follows.
    dial_and_fail(&mut h, 2, Verdict::Busy);
    // Node 3 had a session once.
    h.offer(3).unwrap();
    assert_eq!(h.dials(), [id(3)]);
    h.connect(3, Direction::Outbound);
    h.s.peer_removed(h.now, &id(3), Verdict::Transient);
    h.advance(10 * MIN);
    for _ in 0..5 {
        dial_and_fail(&mut h, 2, Verdict::Timeout);
        dial_and_fail(&mut h, 3, Verdict::Timeout);
    }
    assert_eq!(h.s.stats().refusals.get(DialRefusal::Unreachable), 0);
    assert_eq!(h.s.tier_of(h.now, &candidate(2)), CandidateTier::Failed);
    assert_eq!(h.s.tier_of(h.now, &candidate(3)), CandidateTier::Failed);
}

#[test]
fn geth_like_has_no_unreachable_rule() {
    let mut h = Harness::new(DialConfig {
        policy: DialPolicy::GethLike,
        ..DialConfig::default()
    });
    for _ in 0..5 {
        dial_and_fail(&mut h, 2, Verdict::Timeout);
    }
    assert_eq!(h.s.stats().refusals.get(DialRefusal::Unreachable), 0);
}

#[test]
fn the_unreachable_count_survives_a_restart() {
    let mut h = Harness::with_slots(50);
    for _ in 0..3 {
        dial_and_fail(&mut h, 2, Verdict::Timeout);
    }
    let (mut restarted, restored) = h.restarted();
    assert_eq!(restored, 1);
    assert_eq!(
        restarted.s.offer(restarted.now, SOURCE, candidate(2)),
        Err(DialRefusal::Unreachable)
    );
}
