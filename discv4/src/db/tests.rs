use std::collections::HashSet;

use rand::{rngs::StdRng, SeedableRng};

use super::*;
use enode::PeerId;

fn peer(n: u8) -> PeerId {
    PeerId([n; 64])
}

fn record(n: u8, ip: &str) -> NodeRecord {
    NodeRecord {
        address: ip.parse().unwrap(),
        udp_port: 30303,
        tcp_port: 30304,
        id: peer(n),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn db() -> NodeDb {
    NodeDb::in_memory().unwrap()
}

const NOW: u64 = 1_800_000_000;

#[test]
fn node_round_trip_with_and_without_enr() {
    let mut db = db();
    let r = record(1, "8.8.8.8");
    assert!(db.node(&r.id.node_id()).unwrap().is_none());
    assert!(db.update_node(&r, None).unwrap());
    let back = db.node(&r.id.node_id()).unwrap().unwrap();
    assert_eq!(back.record, r);
    assert_eq!(back.seq, 0);
    assert!(back.enr.is_none());

    let key = SecretKey::from_slice(&[5u8; 32]).unwrap();
    let enr = enr::Enr::builder().seq(77).build(&key).unwrap();
    let r2 = NodeRecord {
        id: PeerId::from_secret_key(&key),
        ..r
    };
    assert!(db.update_node(&r2, Some(&enr)).unwrap());
    db.flush().unwrap();
    let back = db.node(&r2.id.node_id()).unwrap().unwrap();
    assert_eq!(back.seq, 77);
    assert_eq!(back.enr.unwrap(), enr);
    // The ENR must belong to the record's key.
    assert!(matches!(
        db.update_node(&r, Some(&enr)),
        Err(DbError::EnrMismatch(_))
    ));
}

#[test]
fn only_newer_or_equal_seq_replaces_a_record() {
    let mut db = db();
    let key = SecretKey::from_slice(&[6u8; 32]).unwrap();
    let id = PeerId::from_secret_key(&key);
    let r = NodeRecord {
        id,
        ..record(0, "8.8.8.8")
    };
    let enr5 = enr::Enr::builder().seq(5).build(&key).unwrap();
    let enr4 = enr::Enr::builder().seq(4).build(&key).unwrap();
    let enr6 = enr::Enr::builder().seq(6).build(&key).unwrap();
    assert!(db.update_node(&r, Some(&enr5)).unwrap());
    // Lower seq: ignored, both while buffered and once committed.
    assert!(!db
        .update_node(&NodeRecord { udp_port: 1, ..r }, Some(&enr4))
        .unwrap());
    assert!(!db.update_node(&r, None).unwrap());
    db.flush().unwrap();
    assert!(!db.update_node(&r, Some(&enr4)).unwrap());
    assert_eq!(db.node(&id.node_id()).unwrap().unwrap().seq, 5);
    // Equal seq may update the endpoint; higher seq replaces.
    assert!(db
        .update_node(&NodeRecord { udp_port: 2, ..r }, Some(&enr5))
        .unwrap());
    assert_eq!(db.node(&id.node_id()).unwrap().unwrap().record.udp_port, 2);
    assert!(db.update_node(&r, Some(&enr6)).unwrap());
    assert_eq!(db.node(&id.node_id()).unwrap().unwrap().seq, 6);
}

#[test]
fn endpoint_fields_are_per_ip_and_independent() {
    let mut db = db();
    let id = peer(1).node_id();
    let other = peer(2).node_id();
    assert_eq!(db.last_ping(&id, ip("8.8.8.8")).unwrap(), None);
    db.set_last_ping(&id, ip("8.8.8.8"), 100).unwrap();
    db.set_last_pong(&id, ip("8.8.8.8"), 200).unwrap();
    db.set_findnode_failures(&id, ip("8.8.8.8"), 3).unwrap();
    db.set_last_pong(&id, ip("2001:4860::1"), 300).unwrap();
    assert_eq!(db.last_ping(&id, ip("8.8.8.8")).unwrap(), Some(100));
    assert_eq!(db.last_pong(&id, ip("8.8.8.8")).unwrap(), Some(200));
    assert_eq!(db.findnode_failures(&id, ip("8.8.8.8")).unwrap(), 3);
    // IPv4-mapped spelling is the same endpoint.
    assert_eq!(db.last_pong(&id, ip("::ffff:8.8.8.8")).unwrap(), Some(200));
    // Another IP of the same node, and the same IP of another node, are separate.
    assert_eq!(db.last_ping(&id, ip("2001:4860::1")).unwrap(), None);
    assert_eq!(db.last_pong(&id, ip("2001:4860::1")).unwrap(), Some(300));
    assert_eq!(db.findnode_failures(&id, ip("2001:4860::1")).unwrap(), 0);
    assert_eq!(db.last_pong(&other, ip("8.8.8.8")).unwrap(), None);
    // Updating one field keeps the others, also across a commit.
    db.flush().unwrap();
    db.set_last_ping(&id, ip("8.8.8.8"), 150).unwrap();
    db.flush().unwrap();
    assert_eq!(db.last_ping(&id, ip("8.8.8.8")).unwrap(), Some(150));
    assert_eq!(db.last_pong(&id, ip("8.8.8.8")).unwrap(), Some(200));
    assert_eq!(db.findnode_failures(&id, ip("8.8.8.8")).unwrap(), 3);
}

#[test]
fn writes_are_buffered_and_reads_see_them() {
    let mut db = db();
    db.set_flush_interval(Duration::from_secs(3600));
    let id = peer(1).node_id();
    for i in 0..10u8 {
        db.set_last_pong(&id, IpAddr::from([8, 8, 8, i]), u64::from(i) + 1)
            .unwrap();
    }
    db.update_node(&record(1, "8.8.8.1"), None).unwrap();
    assert_eq!(db.pending_writes(), 11, "nothing committed yet");
    assert!(!db.needs_flush());
    assert_eq!(db.last_pong(&id, ip("8.8.8.9")).unwrap(), Some(10));
    assert!(db.node(&id).unwrap().is_some());
    db.flush().unwrap();
    assert_eq!(db.pending_writes(), 0);
    assert_eq!(db.last_pong(&id, ip("8.8.8.9")).unwrap(), Some(10));
    assert!(db.stored_node(&id).unwrap().is_some());
    // With a zero interval every write commits.
    db.set_flush_interval(Duration::ZERO);
    db.pending_endpoint(&id, ip("8.8.8.1")).last_ping = Some(4);
    assert!(db.needs_flush());
    db.set_last_ping(&id, ip("8.8.8.1"), 5).unwrap();
    assert_eq!(db.pending_writes(), 0);
}

#[test]
fn local_seq_round_trip() {
    let mut db = db();
    let me = peer(9).node_id();
    assert_eq!(db.local_seq(&me).unwrap(), None);
    db.set_local_seq(&me, 1_700_000_000_123).unwrap();
    assert_eq!(db.local_seq(&me).unwrap(), Some(1_700_000_000_123));
    assert_eq!(db.local_seq(&peer(8).node_id()).unwrap(), None);
}

/// Stores node `n` with a PONG `age` seconds before `NOW`.
fn store_with_pong(db: &mut NodeDb, n: u8, age: u64) {
    let r = record(n, &format!("8.8.{n}.1"));
    db.update_node(&r, None).unwrap();
    db.set_last_pong(&r.id.node_id(), r.address, NOW - age)
        .unwrap();
}

#[test]
fn seeds_filter_by_age_and_are_random_without_duplicates() {
    let mut db = db();
    let day = 24 * 60 * 60;
    for n in 1..=40 {
        store_with_pong(&mut db, n, u64::from(n) * 60);
    }
    for n in 41..=50 {
        store_with_pong(&mut db, n, 6 * day);
    }
    // A fresh PONG without a stored record is not a seed.
    db.set_last_pong(&peer(99).node_id(), ip("8.8.99.1"), NOW)
        .unwrap();
    // A node with a stale PONG on one IP but a fresh one on another is a seed.
    db.set_last_pong(&peer(41).node_id(), ip("9.9.9.9"), NOW - 10)
        .unwrap();

    let mut rng = StdRng::seed_from_u64(1);
    let seeds = db.seeds(SEED_COUNT, SEED_MAX_AGE, NOW, &mut rng).unwrap();
    assert_eq!(seeds.len(), 30);
    let ids: HashSet<PeerId> = seeds.iter().map(|s| s.record.id).collect();
    assert_eq!(ids.len(), 30, "no duplicates");
    assert!(
        ids.iter().all(|id| id.0[0] <= 41),
        "only fresh nodes: {ids:?}"
    );

    let all = db.seeds(100, SEED_MAX_AGE, NOW, &mut rng).unwrap();
    assert_eq!(all.len(), 41);
    let other = db
        .seeds(SEED_COUNT, SEED_MAX_AGE, NOW, &mut StdRng::seed_from_u64(2))
        .unwrap();
    let other_ids: HashSet<PeerId> = other.iter().map(|s| s.record.id).collect();
    assert_ne!(ids, other_ids, "different randomness, different selection");
    // Same seed, same answer.
    let again = db
        .seeds(SEED_COUNT, SEED_MAX_AGE, NOW, &mut StdRng::seed_from_u64(1))
        .unwrap();
    assert_eq!(
        again.iter().map(|s| s.record.id).collect::<Vec<_>>(),
        seeds.iter().map(|s| s.record.id).collect::<Vec<_>>()
    );
    // A tight max age leaves only the freshest.
    let recent = db
        .seeds(100, Duration::from_secs(5 * 60), NOW, &mut rng)
        .unwrap();
    assert_eq!(recent.len(), 6, "nodes 1..=5 and 41 (via its second IP)");
}

#[test]
fn expire_deletes_stale_rows_and_nodes() {
    let mut db = db();
    let day = 24 * 60 * 60;
    store_with_pong(&mut db, 1, 60); // fresh
    store_with_pong(&mut db, 2, 2 * day); // stale
                                          // Node 3: stale PONG on one IP, fresh on another.
    store_with_pong(&mut db, 3, 2 * day);
    db.set_last_pong(&peer(3).node_id(), ip("9.9.9.9"), NOW - 10)
        .unwrap();
    // Node 4: record only, never answered.
    db.update_node(&record(4, "8.8.4.1"), None).unwrap();
    // Node 5: a recent PING but no PONG: the row stays, the record goes.
    db.update_node(&record(5, "8.8.5.1"), None).unwrap();
    db.set_last_ping(&peer(5).node_id(), ip("8.8.5.1"), NOW - 30)
        .unwrap();

    let stats = db.expire(NOW).unwrap();
    assert_eq!(
        stats,
        ExpireStats {
            nodes: 3,
            endpoints: 2
        }
    );
    assert!(db.node(&peer(1).node_id()).unwrap().is_some());
    assert!(db.node(&peer(2).node_id()).unwrap().is_none());
    assert_eq!(
        db.last_pong(&peer(2).node_id(), ip("8.8.2.1")).unwrap(),
        None
    );
    assert!(db.node(&peer(3).node_id()).unwrap().is_some());
    assert_eq!(
        db.last_pong(&peer(3).node_id(), ip("8.8.3.1")).unwrap(),
        None
    );
    assert_eq!(
        db.last_pong(&peer(3).node_id(), ip("9.9.9.9")).unwrap(),
        Some(NOW - 10)
    );
    assert!(db.node(&peer(4).node_id()).unwrap().is_none());
    assert!(db.node(&peer(5).node_id()).unwrap().is_none());
    assert_eq!(
        db.last_ping(&peer(5).node_id(), ip("8.8.5.1")).unwrap(),
        Some(NOW - 30)
    );
    // Nothing left to do.
    assert_eq!(db.expire(NOW).unwrap(), ExpireStats::default());
}

#[test]
fn remove_node_deletes_record_and_endpoints() {
    let mut db = db();
    store_with_pong(&mut db, 1, 10);
    store_with_pong(&mut db, 2, 10);
    db.set_findnode_failures(&peer(1).node_id(), ip("2001:4860::1"), 4)
        .unwrap();
    db.remove_node(&peer(1).node_id()).unwrap();
    assert!(db.node(&peer(1).node_id()).unwrap().is_none());
    assert_eq!(
        db.last_pong(&peer(1).node_id(), ip("8.8.1.1")).unwrap(),
        None
    );
    assert_eq!(
        db.findnode_failures(&peer(1).node_id(), ip("2001:4860::1"))
            .unwrap(),
        0
    );
    assert!(db.node(&peer(2).node_id()).unwrap().is_some());
    assert_eq!(
        db.last_pong(&peer(2).node_id(), ip("8.8.2.1")).unwrap(),
        Some(NOW - 10)
    );
}
