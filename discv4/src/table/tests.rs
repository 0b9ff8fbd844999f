use std::{net::IpAddr, time::Duration};

use rand::{Rng, SeedableRng};

use super::*;
use enode::{NodeRecord, PeerId};

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn local() -> NodeId {
    NodeId([0x55; 32])
}

fn table() -> Table {
    Table::new(local(), no_grace(), rng(1))
}

fn record(id: PeerId, ip: &str) -> NodeRecord {
    NodeRecord {
        address: ip.parse().unwrap(),
        udp_port: 30303,
        tcp_port: 30303,
        id,
    }
}

/// A random peer id whose node id lands in `bucket` as seen from `local()`. Cheap for the
/// far buckets (16 takes half of all ids, 13 one in sixteen).
fn peer_in_bucket(bucket: usize, r: &mut StdRng) -> PeerId {
    assert!(bucket >= 12, "too slow to brute-force");
    loop {
        let mut id = [0u8; 64];
        r.fill(&mut id[..]);
        let id = PeerId(id);
        if bucket_index(&local(), &id.node_id()) == bucket {
            return id;
        }
    }
}

fn peers_in_bucket(bucket: usize, n: usize, seed: u64) -> Vec<PeerId> {
    let mut r = rng(seed);
    (0..n).map(|_| peer_in_bucket(bucket, &mut r)).collect()
}

/// A distinct public IP per index, each in its own /24 (8.x.y.1).
fn public_ip(i: usize) -> String {
    format!("8.{}.{}.1", i / 256, i % 256)
}

fn node(id: PeerId, ip: &str) -> NodeInfo {
    NodeInfo::new(record(id, ip))
}

#[test]
fn bucket_index_follows_log_distance() {
    let local = local();
    let at_distance = |d: u32| {
        // Flip bit (d - 1) counted from the least significant end.
        let mut id = local.0;
        if d > 0 {
            let bit = d - 1;
            id[31 - (bit / 8) as usize] ^= 1 << (bit % 8);
        }
        NodeId(id)
    };
    for (distance, bucket) in [
        (0, 0),
        (1, 0),
        (100, 0),
        (240, 0),
        (241, 1),
        (242, 2),
        (250, 10),
        (255, 15),
        (256, 16),
    ] {
        let id = at_distance(distance);
        assert_eq!(local.log_distance(&id), distance);
        assert_eq!(bucket_index(&local, &id), bucket, "distance {distance}");
    }
}

#[test]
fn self_and_bad_endpoints_are_refused() {
    let mut r = rng(2);
    let me = peer_in_bucket(16, &mut r);
    let mut t = Table::new(me.node_id(), no_grace(), rng(1));
    let now = Instant::now();
    assert_eq!(
        t.add_found(node(me, "8.8.8.8"), now),
        AddOutcome::Refused(RefuseReason::IsSelf)
    );
    let other = peer_in_bucket(16, &mut r);
    for bad in ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"] {
        assert_eq!(
            t.add_found(node(other, bad), now),
            AddOutcome::Refused(RefuseReason::InvalidEndpoint),
            "{bad}"
        );
    }
    let mut no_port = record(other, "8.8.8.8");
    no_port.udp_port = 0;
    assert_eq!(
        t.add_found(NodeInfo::new(no_port), now),
        AddOutcome::Refused(RefuseReason::InvalidEndpoint)
    );
    assert!(t.is_empty());
    // IPv4-mapped addresses are stored as IPv4.
    assert_eq!(
        t.add_found(node(other, "::ffff:8.8.8.8"), now),
        AddOutcome::Added
    );
    assert_eq!(
        t.get(&other.node_id()).unwrap().record.address,
        "8.8.8.8".parse::<IpAddr>().unwrap()
    );
    t.check_invariants().unwrap();
}

#[test]
fn full_bucket_fills_replacements_newest_first() {
    let mut t = table();
    let now = Instant::now();
    let peers = peers_in_bucket(16, 16 + 12, 3);
    for (i, p) in peers.iter().enumerate().take(16) {
        assert_eq!(t.add_found(node(*p, &public_ip(i)), now), AddOutcome::Added);
    }
    assert_eq!(t.len(), 16);
    for (i, p) in peers.iter().enumerate().skip(16) {
        assert_eq!(
            t.add_found(node(*p, &public_ip(i)), now),
            AddOutcome::AddedReplacement
        );
    }
    assert_eq!(t.len(), 16);
    let bucket = t.buckets().nth(16).unwrap();
    assert_eq!(bucket.replacements.len(), MAX_REPLACEMENTS);
    // Newest first: the last offered is at the front, the two oldest fell off.
    let order: Vec<PeerId> = bucket.replacements.iter().map(|e| e.record.id).collect();
    let expected: Vec<PeerId> = peers[18..].iter().rev().copied().collect();
    assert_eq!(order, expected);
    // The list never held an eleventh entry, so it never doubled to 16 slots.
    assert!(t.buckets[16].replacements.capacity() <= MAX_REPLACEMENTS);
    // A known replacement is not re-added.
    assert_eq!(
        t.add_found(node(peers[27], &public_ip(27)), now),
        AddOutcome::Unchanged
    );
    assert!(!t.contains(&peers[20].node_id()));
    t.check_invariants().unwrap();
}

#[test]
fn bucket_ip_limit_counts_replacements_and_exempts_lan() {
    let mut t = table();
    let now = Instant::now();
    let peers = peers_in_bucket(16, 40, 4);
    assert_eq!(
        t.add_found(node(peers[0], "8.8.4.1"), now),
        AddOutcome::Added
    );
    assert_eq!(
        t.add_found(node(peers[1], "8.8.4.2"), now),
        AddOutcome::Added
    );
    assert_eq!(
        t.add_found(node(peers[2], "8.8.4.3"), now),
        AddOutcome::Refused(RefuseReason::BucketIpLimit)
    );
    // Another /24 is fine.
    assert_eq!(
        t.add_found(node(peers[2], "8.8.5.3"), now),
        AddOutcome::Added
    );
    // LAN and loopback addresses are exempt.
    for (i, p) in peers[3..16].iter().enumerate() {
        let ip = if i % 2 == 0 {
            format!("192.168.1.{}", i + 1)
        } else {
            format!("127.0.0.{}", i + 1)
        };
        assert_eq!(t.add_found(node(*p, &ip), now), AddOutcome::Added);
    }
    assert_eq!(t.len(), 16);
    // Replacements take IP slots too: 8.8.5.0/24 has one entry, so one replacement fits.
    assert_eq!(
        t.add_found(node(peers[16], "8.8.5.9"), now),
        AddOutcome::AddedReplacement
    );
    assert_eq!(
        t.add_found(node(peers[17], "8.8.5.10"), now),
        AddOutcome::Refused(RefuseReason::BucketIpLimit)
    );
    t.check_invariants().unwrap();
}

#[test]
fn table_ip_limit_spans_buckets() {
    let mut t = table();
    let now = Instant::now();
    // Ten nodes of 8.8.8.0/24 spread over buckets 12..=16, two per bucket.
    let mut r = rng(5);
    let mut n = 0;
    for bucket in 12..=16 {
        for _ in 0..2 {
            let p = peer_in_bucket(bucket, &mut r);
            n += 1;
            assert_eq!(
                t.add_found(node(p, &format!("8.8.8.{n}")), now),
                AddOutcome::Added
            );
        }
    }
    // An eleventh node of the subnet is refused whatever its bucket.
    let p = peer_in_bucket(16, &mut r);
    assert_eq!(
        t.add_found(node(p, "8.8.8.99"), now),
        AddOutcome::Refused(RefuseReason::TableIpLimit)
    );
    // Free a table slot in bucket 16: bucket 12 is still at its own limit of two.
    let in_16 = t.buckets().nth(16).unwrap().entries[0].id;
    assert!(t.remove(&in_16, now).is_some());
    let p = peer_in_bucket(12, &mut r);
    assert_eq!(
        t.add_found(node(p, "8.8.8.100"), now),
        AddOutcome::Refused(RefuseReason::BucketIpLimit)
    );
    let p = peer_in_bucket(16, &mut r);
    assert_eq!(t.add_found(node(p, "8.8.8.101"), now), AddOutcome::Added);
    let p = peer_in_bucket(12, &mut r);
    assert_eq!(t.add_found(node(p, "8.8.9.1"), now), AddOutcome::Added);
    t.check_invariants().unwrap();
}

#[test]
fn table_ip_limit_is_configurable() {
    let config = TableConfig {
        table_ip_limit: 3,
        bucket_ip_limit: 3,
        ..no_grace()
    };
    let mut t = Table::new(local(), config, rng(1));
    let now = Instant::now();
    let peers = peers_in_bucket(16, 4, 6);
    for (i, p) in peers.iter().enumerate().take(3) {
        assert_eq!(
            t.add_found(node(*p, &format!("9.9.9.{i}")), now),
            AddOutcome::Added
        );
    }
    assert_eq!(
        t.add_found(node(peers[3], "9.9.9.200"), now),
        AddOutcome::Refused(RefuseReason::TableIpLimit)
    );
}

#[test]
fn ip_change_rechecks_limits() {
    let mut t = table();
    t.set_init_done();
    let now = Instant::now();
    let peers = peers_in_bucket(16, 3, 7);
    assert_eq!(
        t.add_found(node(peers[0], "8.8.4.1"), now),
        AddOutcome::Added
    );
    assert_eq!(
        t.add_found(node(peers[1], "8.8.4.2"), now),
        AddOutcome::Added
    );
    assert_eq!(
        t.add_found(node(peers[2], "8.8.7.1"), now),
        AddOutcome::Added
    );
    // Moving into the full subnet is refused and leaves the entry untouched.
    assert_eq!(
        t.add_inbound(node(peers[2], "8.8.4.3"), now),
        AddOutcome::Refused(RefuseReason::BucketIpLimit)
    );
    assert_eq!(
        t.get(&peers[2].node_id())
            .unwrap()
            .record
            .address
            .to_string(),
        "8.8.7.1"
    );
    t.check_invariants().unwrap();
    // Moving within its own subnet or to a free one works and frees the old slot.
    assert_eq!(
        t.add_inbound(node(peers[0], "8.8.6.1"), now),
        AddOutcome::Updated {
            endpoint_changed: true
        }
    );
    assert_eq!(
        t.add_inbound(node(peers[2], "8.8.4.3"), now),
        AddOutcome::Updated {
            endpoint_changed: true
        }
    );
    t.check_invariants().unwrap();
}

#[test]
fn inbound_refused_before_init() {
    let mut t = table();
    let now = Instant::now();
    let p = peers_in_bucket(16, 2, 8);
    assert_eq!(
        t.add_inbound(node(p[0], "8.8.8.8"), now),
        AddOutcome::Refused(RefuseReason::InitNotDone)
    );
    assert!(t.is_empty());
    assert_eq!(t.add_found(node(p[1], "8.8.9.9"), now), AddOutcome::Added);
    t.set_init_done();
    assert!(t.is_init_done());
    assert_eq!(t.add_inbound(node(p[0], "8.8.8.8"), now), AddOutcome::Added);
}

#[test]
fn seq_rules_for_found_and_inbound_updates() {
    let mut t = table();
    t.set_init_done();
    let now = Instant::now();
    let p = peers_in_bucket(16, 1, 9)[0];
    let with_seq = |ip: &str, seq: u64| NodeInfo { seq, ..node(p, ip) };
    assert_eq!(t.add_found(with_seq("8.8.8.8", 0), now), AddOutcome::Added);
    // discv4-found nodes (seq 0) never overwrite.
    assert_eq!(
        t.add_found(with_seq("8.8.1.1", 0), now),
        AddOutcome::Unchanged
    );
    assert_eq!(
        t.add_found(with_seq("8.8.8.8", 5), now),
        AddOutcome::Updated {
            endpoint_changed: false
        }
    );
    assert_eq!(t.get(&p.node_id()).unwrap().seq, 5);
    assert_eq!(
        t.add_found(with_seq("8.8.1.1", 5), now),
        AddOutcome::Unchanged
    );
    assert_eq!(
        t.add_found(with_seq("8.8.1.1", 4), now),
        AddOutcome::Unchanged
    );
    assert_eq!(
        t.get(&p.node_id()).unwrap().record.address.to_string(),
        "8.8.8.8"
    );
    // The node itself may set anything, even a lower seq.
    assert_eq!(
        t.add_inbound(with_seq("8.8.8.8", 2), now),
        AddOutcome::Updated {
            endpoint_changed: false
        }
    );
    assert_eq!(t.get(&p.node_id()).unwrap().seq, 2);
}

#[test]
fn enr_must_match_the_node() {
    let mut t = table();
    let now = Instant::now();
    let key = SecretKey::from_slice(&[7u8; 32]).unwrap();
    let other_key = SecretKey::from_slice(&[8u8; 32]).unwrap();
    let enr = enr::Enr::builder().seq(42).build(&key).unwrap();
    let id = PeerId::from_secret_key(&key);
    let info = NodeInfo::with_enr(record(id, "8.8.8.8"), enr.clone());
    assert_eq!(info.seq, 42);
    let wrong = NodeInfo::with_enr(record(PeerId::from_secret_key(&other_key), "8.8.8.8"), enr);
    assert_eq!(
        t.add_found(wrong, now),
        AddOutcome::Refused(RefuseReason::EnrMismatch)
    );
    assert_eq!(t.add_found(info, now), AddOutcome::Added);
    let e = t.iter().next().unwrap();
    assert_eq!(e.seq, 42);
    assert!(e.enr.is_some());
}

use secp256k1::SecretKey;

/// Polls until a check comes out, advancing time in small steps.
fn next_check(t: &mut Table, now: &mut Instant) -> RevalidationRequest {
    for _ in 0..1000 {
        if let Some(req) = t.poll_revalidation(*now) {
            return req;
        }
        *now = t.next_revalidation_at().expect("table not empty").max(*now);
        if let Some(req) = t.poll_revalidation(*now) {
            return req;
        }
        *now += Duration::from_millis(1);
    }
    panic!("no revalidation check came out");
}

#[test]
fn revalidation_schedule_and_in_flight() {
    let mut t = table();
    let start = Instant::now();
    assert_eq!(t.next_revalidation_at(), None);
    assert_eq!(t.poll_revalidation(start), None);
    let p = peers_in_bucket(16, 1, 10)[0];
    assert_eq!(t.add_found(node(p, "8.8.8.8"), start), AddOutcome::Added);
    let due = t.next_revalidation_at().unwrap();
    assert!(due >= start && due < start + Duration::from_secs(3));
    if due > start {
        assert_eq!(t.poll_revalidation(start), None, "not due yet");
    }
    let req = t.poll_revalidation(due).unwrap();
    assert_eq!(req.record.id, p);
    assert_eq!(req.id, p.node_id());
    assert!(t.get(&p.node_id()).unwrap().check_in_flight());
    // The only node is in flight: nothing more, but the list was rescheduled.
    let next = t.next_revalidation_at().unwrap();
    assert!(next >= due && next < due + Duration::from_secs(3));
    assert_eq!(t.poll_revalidation(due + Duration::from_secs(10)), None);
    // Result for an unknown node, then the real one, then a duplicate.
    assert_eq!(
        t.on_revalidation_result(&NodeId([1; 32]), CheckOutcome::Timeout, due),
        RevalidationResult::NotInFlight
    );
    let res =
        t.on_revalidation_result(&p.node_id(), CheckOutcome::Responded { enr_seq: None }, due);
    assert_eq!(
        res,
        RevalidationResult::Alive {
            record: req.record,
            liveness_checks: 1,
            fetch_enr: false,
            persist: false
        }
    );
    assert_eq!(
        t.on_revalidation_result(&p.node_id(), CheckOutcome::Responded { enr_seq: None }, due),
        RevalidationResult::NotInFlight
    );
    let e = t.get(&p.node_id()).unwrap();
    assert!(e.is_live);
    assert_eq!(e.revalidation_list(), Some(RevalidationList::Slow));
    // The slow list runs within 9 s.
    let next = t.next_revalidation_at().unwrap();
    assert!(next >= due && next < due + Duration::from_secs(9));
    t.check_invariants().unwrap();
}

#[test]
fn liveness_checks_arithmetic_persist_and_enr_fetch() {
    let mut t = table();
    let mut now = Instant::now();
    let p = peers_in_bucket(16, 2, 11);
    assert_eq!(t.add_found(node(p[0], "8.8.8.8"), now), AddOutcome::Added);
    assert_eq!(t.add_found(node(p[1], "8.8.9.9"), now), AddOutcome::Added);
    let id = p[0].node_id();
    let mut checks = 0;
    while checks < 8 {
        let req = next_check(&mut t, &mut now);
        let node_id = req.record.id.node_id();
        let res =
            t.on_revalidation_result(&node_id, CheckOutcome::Responded { enr_seq: Some(0) }, now);
        if node_id == id {
            checks += 1;
            let RevalidationResult::Alive {
                liveness_checks,
                persist,
                fetch_enr,
                ..
            } = res
            else {
                panic!("{res:?}")
            };
            assert_eq!(liveness_checks, checks);
            assert_eq!(persist, checks > 5);
            assert!(!fetch_enr);
        }
    }
    // A higher seq in the PONG asks for an ENR fetch.
    loop {
        let req = next_check(&mut t, &mut now);
        let node_id = req.record.id.node_id();
        let res =
            t.on_revalidation_result(&node_id, CheckOutcome::Responded { enr_seq: Some(3) }, now);
        if node_id == id {
            assert!(
                matches!(
                    res,
                    RevalidationResult::Alive {
                        fetch_enr: true,
                        liveness_checks: 9,
                        ..
                    }
                ),
                "{res:?}"
            );
            break;
        }
    }
    // 9 → 3 → 1 → 0 (removed; another node remains so the last-node rule does not apply).
    let expected = [3u32, 1];
    let mut i = 0;
    loop {
        let req = next_check(&mut t, &mut now);
        let node_id = req.record.id.node_id();
        if node_id != id {
            let _ =
                t.on_revalidation_result(&node_id, CheckOutcome::Responded { enr_seq: None }, now);
            continue;
        }
        let res = t.on_revalidation_result(&id, CheckOutcome::Timeout, now);
        if i < expected.len() {
            assert_eq!(
                res,
                RevalidationResult::Demoted {
                    record: req.record,
                    liveness_checks: expected[i]
                }
            );
            let e = t.get(&id).unwrap();
            assert_eq!(e.revalidation_list(), Some(RevalidationList::Fast));
            assert!(
                e.is_live,
                "a failure alone does not clear the live flag (geth)"
            );
            i += 1;
        } else {
            assert_eq!(
                res,
                RevalidationResult::Removed {
                    removed: req.record,
                    replacement: None
                }
            );
            break;
        }
    }
    assert!(!t.contains(&id));
    assert_eq!(t.len(), 1);
    t.check_invariants().unwrap();
}

#[test]
fn new_node_dropped_on_first_failure_but_never_the_last_node() {
    let mut t = table();
    let mut now = Instant::now();
    let p = peers_in_bucket(16, 2, 12);
    assert_eq!(t.add_found(node(p[0], "8.8.8.8"), now), AddOutcome::Added);
    let req = next_check(&mut t, &mut now);
    let res = t.on_revalidation_result(&p[0].node_id(), CheckOutcome::Timeout, now);
    assert_eq!(res, RevalidationResult::KeptLastNode { record: req.record });
    assert_eq!(t.len(), 1);
    assert_eq!(
        t.get(&p[0].node_id()).unwrap().revalidation_list(),
        Some(RevalidationList::Fast)
    );
    // With a second node around, a node that never answered goes on its first failure.
    assert_eq!(t.add_found(node(p[1], "8.8.9.9"), now), AddOutcome::Added);
    let req = next_check(&mut t, &mut now);
    let id = req.record.id.node_id();
    let res = t.on_revalidation_result(&id, CheckOutcome::Timeout, now);
    assert_eq!(
        res,
        RevalidationResult::Removed {
            removed: req.record,
            replacement: None
        }
    );
    assert_eq!(t.len(), 1);
    // The explicit remove() may empty the table.
    let last = t.iter().next().unwrap().id;
    assert!(t.remove(&last, now).is_some());
    assert!(t.is_empty());
    assert_eq!(t.next_revalidation_at(), None);
    t.check_invariants().unwrap();
}

#[test]
fn failed_node_is_replaced_by_a_random_replacement() {
    let mut promoted = std::collections::HashSet::new();
    for seed in 0..8 {
        let mut t = Table::new(local(), no_grace(), rng(seed));
        let mut now = Instant::now();
        let peers = peers_in_bucket(16, 20, 13);
        for (i, p) in peers.iter().enumerate() {
            let _ = t.add_found(node(*p, &public_ip(i)), now);
        }
        let replacements: Vec<PeerId> = peers[16..].to_vec();
        let _ = t.take_events();
        let req = next_check(&mut t, &mut now);
        let res = t.on_revalidation_result(&req.record.id.node_id(), CheckOutcome::Timeout, now);
        let RevalidationResult::Removed {
            removed,
            replacement: Some(rep),
        } = res
        else {
            panic!("{res:?}")
        };
        assert_eq!(removed, req.record);
        assert!(replacements.contains(&rep.id));
        promoted.insert(rep.id);
        let e = t.get(&rep.id.node_id()).unwrap();
        assert_eq!(e.revalidation_list(), Some(RevalidationList::Fast));
        assert!(!e.is_live);
        assert_eq!(t.len(), 16);
        assert_eq!(t.buckets().nth(16).unwrap().replacements.len(), 3);
        assert_eq!(
            t.take_events(),
            vec![TableEvent::NodeRemoved(removed), TableEvent::NodeAdded(rep)]
        );
        t.check_invariants().unwrap();
    }
    assert!(
        promoted.len() > 1,
        "the replacement is chosen at random, not always the newest"
    );
}

#[test]
fn endpoint_change_clears_live_and_returns_to_fast() {
    let mut t = table();
    t.set_init_done();
    let mut now = Instant::now();
    let p = peers_in_bucket(16, 1, 14)[0];
    assert_eq!(t.add_found(node(p, "8.8.8.8"), now), AddOutcome::Added);
    let _ = next_check(&mut t, &mut now);
    let _ = t.on_revalidation_result(&p.node_id(), CheckOutcome::Responded { enr_seq: None }, now);
    assert_eq!(
        t.get(&p.node_id()).unwrap().revalidation_list(),
        Some(RevalidationList::Slow)
    );
    // Same endpoint: stays live on the slow list.
    assert_eq!(
        t.add_inbound(node(p, "8.8.8.8"), now),
        AddOutcome::Updated {
            endpoint_changed: false
        }
    );
    assert!(t.get(&p.node_id()).unwrap().is_live);
    // New UDP port: not live, fast list; the check count is kept.
    let mut moved = record(p, "8.8.8.8");
    moved.udp_port = 30304;
    assert_eq!(
        t.add_inbound(NodeInfo::new(moved), now),
        AddOutcome::Updated {
            endpoint_changed: true
        }
    );
    let e = t.get(&p.node_id()).unwrap();
    assert!(!e.is_live);
    assert_eq!(e.liveness_checks, 1);
    assert_eq!(e.revalidation_list(), Some(RevalidationList::Fast));
    t.check_invariants().unwrap();
}

#[test]
fn node_removed_while_checked_is_not_resurrected() {
    let mut t = table();
    let mut now = Instant::now();
    let p = peers_in_bucket(16, 1, 15)[0];
    let _ = t.add_found(node(p, "8.8.8.8"), now);
    let _ = next_check(&mut t, &mut now);
    assert!(t.remove(&p.node_id(), now).is_some());
    let _ = t.add_found(node(p, "8.8.8.8"), now);
    // The re-added entry has no check in flight, so the stale answer is ignored.
    let res =
        t.on_revalidation_result(&p.node_id(), CheckOutcome::Responded { enr_seq: None }, now);
    assert_eq!(res, RevalidationResult::NotInFlight);
    assert!(!t.get(&p.node_id()).unwrap().is_live);
}

#[test]
fn closest_matches_brute_force_and_prefers_live() {
    let mut t = table();
    let mut now = Instant::now();
    let mut r = rng(16);
    let mut all = Vec::new();
    for i in 0..120 {
        let mut id = [0u8; 64];
        r.fill(&mut id[..]);
        let p = PeerId(id);
        if t.add_found(node(p, &public_ip(i)), now) == AddOutcome::Added {
            all.push(p.node_id());
        }
    }
    assert_eq!(t.len(), all.len());
    for _ in 0..20 {
        let target = NodeId(r.gen());
        let got: Vec<NodeId> = t.closest(&target, 16, false).iter().map(|e| e.id).collect();
        let mut expected = all.clone();
        expected.sort_by_key(|id| target.distance(id));
        expected.truncate(16);
        assert_eq!(got, expected);
        // No live node yet: prefer_live falls back to everything.
        let got_live: Vec<NodeId> = t.closest(&target, 16, true).iter().map(|e| e.id).collect();
        assert_eq!(got_live, expected);
    }
    // Make three nodes live; prefer_live returns only them.
    let mut live = Vec::new();
    while live.len() < 3 {
        let req = next_check(&mut t, &mut now);
        let id = req.record.id.node_id();
        let _ = t.on_revalidation_result(&id, CheckOutcome::Responded { enr_seq: None }, now);
        if !live.contains(&id) {
            live.push(id);
        }
    }
    let target = NodeId(r.gen());
    let mut got: Vec<NodeId> = t.closest(&target, 16, true).iter().map(|e| e.id).collect();
    got.sort();
    live.sort();
    assert_eq!(got, live);
    assert_eq!(t.closest(&target, 5, false).len(), 5);
}

#[test]
fn random_nodes_are_distinct_and_bounded() {
    let mut t = table();
    let now = Instant::now();
    let peers = peers_in_bucket(16, 10, 17);
    for (i, p) in peers.iter().enumerate() {
        let _ = t.add_found(node(*p, &public_ip(i)), now);
    }
    let some = t.random_nodes(4);
    assert_eq!(some.len(), 4);
    let all = t.random_nodes(100);
    assert_eq!(all.len(), 10);
    let unique: std::collections::HashSet<_> = all.iter().map(|r| r.id).collect();
    assert_eq!(unique.len(), 10);
}

#[test]
fn events_are_queued_and_bounded() {
    let config = TableConfig {
        max_pending_events: 3,
        ..no_grace()
    };
    let mut t = Table::new(local(), config, rng(1));
    let now = Instant::now();
    let peers = peers_in_bucket(16, 5, 18);
    for (i, p) in peers.iter().enumerate() {
        let _ = t.add_found(node(*p, &public_ip(i)), now);
    }
    let events = t.take_events();
    assert_eq!(events.len(), 3);
    assert_eq!(t.events_dropped(), 2);
    assert_eq!(
        events[2],
        TableEvent::NodeAdded(record(peers[4], &public_ip(4)))
    );
    assert!(t.take_events().is_empty());
    let removal = t.remove(&peers[0].node_id(), now).unwrap();
    assert_eq!(
        t.take_events(),
        vec![TableEvent::NodeRemoved(removal.removed.record)]
    );
}

#[test]
fn bucket_dump_reports_entries_and_replacements() {
    let mut t = table();
    let now = Instant::now();
    let peers = peers_in_bucket(16, 18, 19);
    for (i, p) in peers.iter().enumerate() {
        let _ = t.add_found(node(*p, &public_ip(i)), now);
    }
    let views: Vec<BucketView<'_>> = t.buckets().collect();
    assert_eq!(views.len(), N_BUCKETS);
    assert_eq!(views[16].entries.len(), 16);
    assert_eq!(views[16].replacements.len(), 2);
    assert!(views[..16].iter().all(|v| v.entries.is_empty()));
    assert!(views[16]
        .entries
        .iter()
        .all(|e| e.added_at == now && e.liveness_checks == 0 && !e.is_live));
    assert_eq!(t.bucket_len_for(&peers[0].node_id()), 16);
}

/// The default configuration without the revalidation grace period, so checks are due at
/// once (the grace has its own test).
fn no_grace() -> TableConfig {
    TableConfig {
        revalidation_grace: std::time::Duration::ZERO,
        ..TableConfig::default()
    }
}

#[test]
fn new_entries_are_not_checked_during_the_grace_period() {
    let config = TableConfig {
        revalidation_grace: Duration::from_secs(5),
        ..TableConfig::default()
    };
    let mut t = Table::new(local(), config, rng(3));
    let start = Instant::now();
    let p = peers_in_bucket(16, 1, 11)[0];
    assert_eq!(t.add_found(node(p, "8.8.8.8"), start), AddOutcome::Added);
    // The fast list is due within 3 s, but the node is younger than 5 s: nothing to check.
    assert_eq!(t.poll_revalidation(start + Duration::from_secs(3)), None);
    assert!(!t.get(&p.node_id()).unwrap().check_in_flight());
    // Once the grace has passed (and the list is due again) the node is checked.
    let later = start + Duration::from_secs(11);
    let req = t
        .poll_revalidation(later)
        .expect("checked after the grace period");
    assert_eq!(req.record.id, p);
}
