//! Property test: the table's invariants hold after any sequence of operations.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::{collections::HashSet, time::Duration};

use discv4::table::{AddOutcome, CheckOutcome, NodeInfo, RevalidationResult, Table, TableConfig};

use enode::{NodeId, NodeRecord, PeerId};
use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use tokio::time::Instant;

const POOL: usize = 80;

#[derive(Debug, Clone)]
enum Op {
    AddFound {
        peer: usize,
        ip: usize,
        seq: u64,
    },
    AddInbound {
        peer: usize,
        ip: usize,
        seq: u64,
    },
    InitDone,
    Remove {
        peer: usize,
    },
    Poll,
    Answer {
        nth: usize,
        responded: bool,
        enr_seq: Option<u64>,
    },
    Advance {
        millis: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..POOL, 0..40usize, 0..4u64).prop_map(|(peer, ip, seq)| Op::AddFound { peer, ip, seq }),
        3 => (0..POOL, 0..40usize, 0..4u64).prop_map(|(peer, ip, seq)| Op::AddInbound { peer, ip, seq }),
        1 => Just(Op::InitDone),
        1 => (0..POOL).prop_map(|peer| Op::Remove { peer }),
        3 => Just(Op::Poll),
        3 => (0..8usize, any::<bool>(), proptest::option::of(0..4u64))
            .prop_map(|(nth, responded, enr_seq)| Op::Answer { nth, responded, enr_seq }),
        2 => (0..5000u64).prop_map(|millis| Op::Advance { millis }),
    ]
}

/// Addresses from a few public /24s (to hit the limits), some LAN and loopback ones.
fn address(i: usize) -> std::net::IpAddr {
    let s = match i % 8 {
        0..=3 => format!("8.8.{}.{}", i % 3, i + 1),
        4 => format!("9.9.9.{}", i + 1),
        5 => format!("192.168.0.{}", i + 1),
        6 => format!("127.0.0.{}", i + 1),
        _ => format!("2001:4860:{:x}::{:x}", i % 2, i + 1),
    };
    s.parse().unwrap()
}

fn pool(seed: u64) -> Vec<PeerId> {
    let mut r = StdRng::seed_from_u64(seed);
    (0..POOL)
        .map(|_| {
            let mut id = [0u8; 64];
            r.fill(&mut id[..]);
            PeerId(id)
        })
        .collect()
}

fn info(peer: PeerId, ip: usize, seq: u64) -> NodeInfo {
    NodeInfo {
        record: NodeRecord {
            address: address(ip),
            udp_port: 30303,
            tcp_port: 30303,
            id: peer,
        },
        enr: None,
        seq,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold(seed in any::<u64>(), small in any::<bool>(), ops in proptest::collection::vec(op(), 1..300)) {
        let peers = pool(seed);
        // Make the local node one of the pool so "self never added" is exercised.
        let local: NodeId = peers[0].node_id();
        // Small buckets fill up and churn; the default exercises geth's real sizes.
        let config = if small {
            TableConfig { bucket_size: 4, max_replacements: 3, ..no_grace() }
        } else {
            no_grace()
        };
        let mut table = Table::new(local, config, StdRng::seed_from_u64(seed));
        let mut now = Instant::now();
        let mut in_flight: Vec<NodeId> = Vec::new();
        for op in ops {
            match op {
                Op::AddFound { peer, ip, seq } => {
                    let outcome = table.add_found(info(peers[peer], ip, seq), now);
                    if peer == 0 {
                        prop_assert!(matches!(outcome, AddOutcome::Refused(_)));
                    }
                }
                Op::AddInbound { peer, ip, seq } => {
                    let init = table.is_init_done();
                    let outcome = table.add_inbound(info(peers[peer], ip, seq), now);
                    if !init {
                        prop_assert!(matches!(outcome, AddOutcome::Refused(_)));
                    }
                }
                Op::InitDone => table.set_init_done(),
                Op::Remove { peer } => {
                    let _ = table.remove(&peers[peer].node_id(), now);
                }
                Op::Poll => {
                    while let Some(req) = table.poll_revalidation(now) {
                        let id = req.record.id.node_id();
                        prop_assert!(!in_flight.contains(&id), "a node was handed out twice");
                        in_flight.push(id);
                    }
                }
                Op::Answer { nth, responded, enr_seq } => {
                    if in_flight.is_empty() {
                        continue;
                    }
                    let id = in_flight.remove(nth % in_flight.len());
                    let before = table.len();
                    let outcome = if responded { CheckOutcome::Responded { enr_seq } } else { CheckOutcome::Timeout };
                    let result = table.on_revalidation_result(&id, outcome, now);
                    if before == 1 && !responded {
                        prop_assert!(!table.is_empty(), "revalidation emptied the table: {:?}", result);
                    }
                    if let RevalidationResult::Removed { replacement, .. } = result {
                        prop_assert_eq!(table.len(), before - usize::from(replacement.is_none()));
                    }
                }
                Op::Advance { millis } => now += Duration::from_millis(millis),
            }
            if let Err(e) = table.check_invariants() {
                return Err(TestCaseError::fail(e));
            }
            // Checks in flight are exactly those we were handed and did not answer, minus
            // nodes removed meanwhile.
            let flagged: HashSet<NodeId> = table.iter().filter(|e| e.check_in_flight()).map(|e| *e.id()).collect();
            for id in &flagged {
                prop_assert!(in_flight.contains(id));
            }
            prop_assert!(!table.contains(&local));
            prop_assert_eq!(table.next_revalidation_at().is_some(), !table.is_empty());
        }
    }
}

/// The default configuration without the revalidation grace period, so checks are due at
/// once (the grace has its own test).
fn no_grace() -> TableConfig {
    TableConfig {
        revalidation_grace: std::time::Duration::ZERO,
        ..TableConfig::default()
    }
}
