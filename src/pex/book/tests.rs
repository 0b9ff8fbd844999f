//! Unit tests of the address book (property tests in `proptests.rs`).

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use enode::{build_enr, enr_peer_id, EndpointConfig, Enr, PeerId, SecretKey};
use rand::{rngs::StdRng, SeedableRng};
use rlpx::verdict::Verdict;
use tokio::time::Instant;

use super::*;
use crate::pex::api::{GossipSource, Misbehaviour, PexBook};

/// A valid key from a number (distinct numbers, distinct keys).
pub(super) fn key(n: u32) -> SecretKey {
    let mut bytes = [7u8; 32];
    bytes[28..].copy_from_slice(&n.to_be_bytes());
    SecretKey::from_slice(&bytes).unwrap()
}

/// Node `n`'s record at `ip`:30303 with sequence number `seq`.
pub(super) fn record_at(n: u32, ip: Ipv4Addr, seq: u64) -> Enr {
    let endpoints = EndpointConfig {
        ip4: Some(ip),
        tcp4: Some(30303),
        udp4: Some(30303),
        ..EndpointConfig::default()
    };
    build_enr(&key(n), seq, &endpoints).unwrap()
}

/// Node `n`'s record at a public address of its own (its own /16).
pub(super) fn record(n: u32) -> Enr {
    let [_, a, b, c] = n.to_be_bytes();
    record_at(n, Ipv4Addr::new(20 + a, b, c, 1), 1)
}

pub(super) fn id_of(record: &Enr) -> PeerId {
    enr_peer_id(record).unwrap()
}

pub(super) fn source(n: u8) -> GossipSource {
    GossipSource {
        id: PeerId([n; 64]),
        ip: IpAddr::from([90, n, 1, 1]),
        private: false,
    }
}

pub(super) fn context() -> BookContext<'static> {
    BookContext {
        datadir: None,
        local_id: Some(PeerId([0xaa; 64])),
        private_ids: &[],
        seed_mode: false,
    }
}

/// A book without the hourly per-source quota, for tests that fill it from few sources.
fn book_without_quota() -> AddressBook {
    AddressBook::with_secret(
        BookConfig {
            per_source_per_hour: usize::MAX,
            ..BookConfig::default()
        },
        &context(),
        [3; 32],
        StdRng::seed_from_u64(1),
    )
}

/// Ingests `records` in batches of `batch`, each from its own source.
fn ingest_in_batches(book: &mut AddressBook, records: &[Enr], batch: usize, now: Instant) {
    for (n, chunk) in records.chunks(batch).enumerate() {
        book.ingest(source(n as u8 + 1), chunk.to_vec(), now);
    }
}

pub(super) fn book() -> AddressBook {
    AddressBook::with_secret(
        BookConfig::default(),
        &context(),
        [3; 32],
        StdRng::seed_from_u64(1),
    )
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(9)
}

/// Drains every candidate offered now.
fn offered(book: &mut AddressBook, now: Instant) -> Vec<PeerId> {
    let mut rng = rng();
    std::iter::from_fn(|| book.next_candidate(now, &mut rng).map(|c| c.record.id)).collect()
}

#[test]
fn ingest_adds_once_and_counts_what_it_refused() {
    let mut b = book();
    let now = Instant::now();
    let report = b.ingest(source(1), vec![record(1), record(2), record(1)], now);
    assert_eq!((report.added, report.ignored), (2, 1));
    assert_eq!(b.len(), 2);
    // Our own record, a loopback address from a remote peer: ignored.
    let own = GossipSource {
        id: PeerId([0xaa; 64]),
        ..source(2)
    };
    let _ = own;
    let loopback = record_at(3, Ipv4Addr::LOCALHOST, 1);
    let report = b.ingest(source(2), vec![loopback.clone()], now);
    assert_eq!(report.ignored, 1);
    // The same loopback record from a loopback peer is believed.
    let local = GossipSource {
        ip: IpAddr::from([127, 0, 0, 1]),
        ..source(3)
    };
    assert_eq!(b.ingest(local, vec![loopback], now).added, 1);
}

#[test]
fn a_stale_or_equal_record_never_replaces_a_newer_one() {
    let mut b = book();
    let now = Instant::now();
    let newer = record_at(5, Ipv4Addr::new(30, 0, 0, 1), 7);
    b.ingest(source(1), vec![newer.clone()], now);
    for stale in [
        record_at(5, Ipv4Addr::new(31, 0, 0, 1), 6),
        record_at(5, Ipv4Addr::new(31, 0, 0, 1), 7),
    ] {
        assert_eq!(b.ingest(source(2), vec![stale], now).ignored, 1);
    }
    let entry = &b.entries[&id_of(&newer)];
    assert_eq!(entry.record.seq(), 7);
    assert_eq!(entry.node.address, IpAddr::from([30, 0, 0, 1]));
    // Only the owner's higher sequence number moves it.
    let moved = record_at(5, Ipv4Addr::new(32, 0, 0, 1), 8);
    assert_eq!(b.ingest(source(2), vec![moved], now).updated, 1);
    assert_eq!(
        b.entries[&id_of(&newer)].node.address,
        IpAddr::from([32, 0, 0, 1])
    );
}

#[test]
fn a_tampered_record_does_not_decode() {
    use alloy_rlp::{Decodable, Encodable};
    let mut bytes = Vec::new();
    record(1).encode(&mut bytes);
    // Flip a bit of the signed content (the end of the record: the port).
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert!(Enr::decode(&mut bytes.as_slice()).is_err());
}

#[test]
fn per_ip_and_per_subnet_caps_hold_in_the_new_table() {
    let mut b = book();
    let now = Instant::now();
    let same_ip: Vec<Enr> = (0..5)
        .map(|n| record_at(100 + n, Ipv4Addr::new(40, 1, 1, 1), 1))
        .collect();
    assert_eq!(b.ingest(source(1), same_ip, now).added, 2);
    let same_subnet: Vec<Enr> = (0..20)
        .map(|n| record_at(200 + n, Ipv4Addr::new(41, 1, 1, n as u8 + 1), 1))
        .collect();
    assert_eq!(b.ingest(source(1), same_subnet, now).added, 8);
}

#[test]
fn lan_and_loopback_addresses_are_exempt_from_the_caps() {
    let mut b = book();
    let now = Instant::now();
    let local = GossipSource {
        ip: IpAddr::from([127, 0, 0, 1]),
        ..source(1)
    };
    let same_ip: Vec<Enr> = (0..20)
        .map(|n| record_at(100 + n, Ipv4Addr::LOCALHOST, 1))
        .collect();
    assert_eq!(b.ingest(local, same_ip, now).added, 20);
}

#[test]
fn one_source_adds_at_most_its_hourly_quota() {
    let mut b = book();
    let mut now = Instant::now();
    let mut added = 0;
    for batch in 0..6u32 {
        let records = (0..64).map(|n| record(1000 + batch * 64 + n)).collect();
        added += b.ingest(source(1), records, now).added;
    }
    assert_eq!(added, 256);
    now += Duration::from_secs(3601);
    assert_eq!(b.ingest(source(1), vec![record(5000)], now).added, 1);
    // Another source is not limited by the first one's quota.
    assert_eq!(b.ingest(source(2), vec![record(5001)], now).added, 1);
}

#[test]
fn one_source_group_reaches_at_most_32_new_buckets() {
    let mut b = book_without_quota();
    let now = Instant::now();
    for chunk in (0..2000u32).collect::<Vec<_>>().chunks(64) {
        b.ingest(source(1), chunk.iter().map(|n| record(*n)).collect(), now);
    }
    assert!(
        b.tables.used_new_buckets() <= 32,
        "{}",
        b.tables.used_new_buckets()
    );
    // Bucket overflow evicted entries rather than growing past 32 × 64.
    assert!(b.len() <= 32 * 64);
}

#[test]
fn candidates_are_never_in_backoff_and_failures_back_off_exponentially() {
    let mut b = book();
    let now = Instant::now();
    b.ingest(source(1), vec![record(1)], now);
    let id = id_of(&record(1));
    assert_eq!(offered(&mut b, now), [id]);
    // Handed out: not offered again until reported (or the hand-out times out).
    assert!(offered(&mut b, now).is_empty());
    b.report(&id, Outcome::DialFailed(Verdict::Timeout), now);
    assert!(offered(&mut b, now + Duration::from_secs(1)).is_empty());
    assert_eq!(offered(&mut b, now + Duration::from_secs(3)), [id]);
    b.report(&id, Outcome::DialFailed(Verdict::Timeout), now);
    assert!(offered(&mut b, now + Duration::from_secs(3)).is_empty());
    assert_eq!(
        b.next_eligible_at(now)
            .map(|at| at >= now + Duration::from_secs(4)),
        Some(true)
    );
    assert_eq!(offered(&mut b, now + Duration::from_secs(5)), [id]);
}

#[test]
fn a_handed_out_entry_without_report_comes_back_after_the_timeout() {
    let mut b = book();
    let now = Instant::now();
    b.ingest(source(1), vec![record(1)], now);
    assert_eq!(offered(&mut b, now).len(), 1);
    assert!(offered(&mut b, now + Duration::from_secs(59)).is_empty());
    assert_eq!(offered(&mut b, now + Duration::from_secs(60)).len(), 1);
}

#[test]
fn busy_is_not_a_failure_and_unreachable_leaves_after_16() {
    let mut b = book();
    let now = Instant::now();
    b.ingest(source(1), vec![record(1), record(2)], now);
    let (busy, dead) = (id_of(&record(1)), id_of(&record(2)));
    for _ in 0..20 {
        b.report(&busy, Outcome::DialFailed(Verdict::Busy), now);
    }
    assert_eq!(b.entries[&busy].failures, 0);
    for n in 0..MAX_FAILURES {
        assert!(b.entries.contains_key(&dead), "dropped after {n}");
        b.report(&dead, Outcome::DialFailed(Verdict::Timeout), now);
    }
    assert!(!b.entries.contains_key(&dead));
    assert!(!b.is_banned(&dead, now), "unreachable is not banned");
}

#[test]
fn a_dialed_peer_that_proves_its_record_is_promoted_an_inbound_one_is_not() {
    let mut b = book();
    let now = Instant::now();
    let (dialed, inbound) = (record(1), record(2));
    b.ingest(source(1), vec![dialed.clone(), inbound.clone()], now);
    let status_of = |r: &Enr| GossipSource {
        id: id_of(r),
        ip: IpAddr::from([20, 0, 0, 1]),
        private: false,
    };
    // Connected first, Status second.
    b.report(&id_of(&dialed), Outcome::Connected, now);
    b.ingest(status_of(&dialed), vec![dialed.clone()], now);
    // An inbound session: Status only.
    b.ingest(status_of(&inbound), vec![inbound.clone()], now);
    assert_eq!(b.entries[&id_of(&dialed)].table, Table::Tried);
    assert_eq!(b.entries[&id_of(&inbound)].table, Table::New);
    // Status first, Connected second also promotes.
    let other = record(3);
    b.ingest(source(1), vec![other.clone()], now);
    b.ingest(status_of(&other), vec![other.clone()], now);
    b.report(&id_of(&other), Outcome::Connected, now);
    assert_eq!(b.entries[&id_of(&other)].table, Table::Tried);
    assert_eq!(b.stats(now).tried, 2);
    // A configured seed is dialed before the book knows it: its Status is the first the book
    // hears of it, after the Connected outcome. It is still a dialed, verified peer.
    let seed = record(4);
    b.report(&id_of(&seed), Outcome::Connected, now);
    b.ingest(status_of(&seed), vec![seed.clone()], now);
    let entry = &b.entries[&id_of(&seed)];
    assert_eq!(entry.table, Table::Tried);
    assert_eq!(entry.last_success, Some(now));
    assert_eq!(entry.verified_at, Some(now));
    // Heard first in an inbound session's Status: neither dialed nor promoted.
    let stranger = record(5);
    b.ingest(status_of(&stranger), vec![stranger.clone()], now);
    assert_eq!(b.entries[&id_of(&stranger)].table, Table::New);
    assert_eq!(b.entries[&id_of(&stranger)].last_attempt, None);
}

#[test]
fn tried_bias_follows_the_outbound_count() {
    // Many tried and many new entries; with no outbound peer most picks are tried.
    let mut b = book_without_quota();
    let now = Instant::now();
    let records: Vec<Enr> = (0..400).map(record).collect();
    ingest_in_batches(&mut b, &records, 64, now);
    for r in &records[..200] {
        b.promote(&id_of(r), now);
    }
    let tried: HashSet<PeerId> = records[..200].iter().map(id_of).collect();
    let mut rng = rng();
    let picks: Vec<PeerId> = (0..100)
        .filter_map(|_| b.next_candidate(now, &mut rng).map(|c| c.record.id))
        .collect();
    let share = picks.iter().filter(|id| tried.contains(id)).count();
    assert!(share >= 75, "{share} of 100 picks were tried entries");
}

#[test]
fn gossip_follows_the_selection_rules() {
    let private = [id_of(&record(3))];
    let ctx = BookContext {
        private_ids: &private,
        ..context()
    };
    let mut b = AddressBook::with_secret(
        BookConfig::default(),
        &ctx,
        [3; 32],
        StdRng::seed_from_u64(1),
    );
    let now = Instant::now();
    let requester = record(1);
    b.ingest(source(1), (1..=10).map(record).collect(), now);
    // From a private peer: never gossiped.
    let from_private = GossipSource {
        private: true,
        ..source(2)
    };
    b.ingest(from_private, vec![record(20)], now);
    // Incompatible and terrible entries are not gossiped either.
    b.report(&id_of(&record(4)), Outcome::Incompatible, now);
    for _ in 0..3 {
        b.report(
            &id_of(&record(5)),
            Outcome::DialFailed(Verdict::Timeout),
            now,
        );
    }
    let later = now + Duration::from_secs(61);
    let mut rng = rng();
    let picked: HashSet<PeerId> = b
        .select_for_gossip(&id_of(&requester), 64, later, &mut rng)
        .iter()
        .map(|r| id_of(&r.record))
        .collect();
    for excluded in [1, 3, 4, 5, 20] {
        assert!(
            !picked.contains(&id_of(&record(excluded))),
            "record {excluded} was gossiped"
        );
    }
    // Only unverified new entries are left: at most half of the answer.
    assert!(!picked.is_empty());
    assert!(picked.len() <= 3, "{}", picked.len());
}

#[test]
fn gossip_count_is_23_percent_at_least_32_at_most_64() {
    let mut b = book_without_quota();
    let now = Instant::now();
    let records: Vec<Enr> = (0..400).map(record).collect();
    ingest_in_batches(&mut b, &records, 64, now);
    let mut rng = rng();
    let mut promote_and_count = |b: &mut AddressBook, upto: usize| {
        for r in &records[..upto] {
            b.report(&id_of(r), Outcome::Connected, now);
            b.report(&id_of(r), Outcome::Useful, now);
            b.report(&id_of(r), Outcome::Disconnected(Verdict::Transient), now);
        }
        b.select_for_gossip(&PeerId([1; 64]), 64, now, &mut rng)
            .len()
    };
    // 400 eligible: 23 % is 92, capped at 64, of which unverified new entries may be 50 %
    // (32); only 20 tried entries exist, so the answer is 20 + 32.
    assert_eq!(promote_and_count(&mut b, 20), 52);
    // 300 tried: 23 % is 69, capped at 64.
    assert_eq!(promote_and_count(&mut b, 300), 64);
    // The requester's limit wins.
    assert_eq!(
        b.select_for_gossip(&PeerId([1; 64]), 5, now, &mut rng)
            .len(),
        5
    );
}

#[test]
fn bans_keep_a_peer_out_and_survive_save_and_load() {
    let mut b = book();
    let now = Instant::now();
    let bad = record(1);
    b.ingest(source(1), vec![bad.clone()], now);
    let ip = IpAddr::from([20, 0, 0, 1]);
    assert!(b.penalize(&id_of(&bad), ip, Misbehaviour::ProtocolViolation, now));
    assert!(b.is_empty());
    assert_eq!(b.ingest(source(2), vec![bad.clone()], now).ignored, 1);
    // Gossip from a banned peer is ignored as a whole.
    let banned_source = GossipSource {
        id: id_of(&bad),
        ip,
        private: false,
    };
    assert_eq!(b.ingest(banned_source, vec![record(2)], now).ignored, 1);

    let bytes = b.encoded(now);
    let loaded = AddressBook::decoded(BookConfig::default(), &context(), &bytes, now).unwrap();
    assert!(loaded.is_banned(&id_of(&bad), now));
    assert!(!loaded.is_banned(&id_of(&bad), now + FIRST_BAN));
}

#[test]
fn the_sweep_drops_terrible_entries_but_not_connected_ones() {
    let mut b = book();
    let now = Instant::now();
    b.ingest(source(1), vec![record(1), record(2), record(3)], now);
    for n in [1, 2] {
        for _ in 0..3 {
            b.report(
                &id_of(&record(n)),
                Outcome::DialFailed(Verdict::Timeout),
                now,
            );
        }
    }
    b.report(&id_of(&record(2)), Outcome::Connected, now);
    b.report(
        &id_of(&record(2)),
        Outcome::DialFailed(Verdict::Timeout),
        now,
    );
    let later = now + Duration::from_secs(601);
    b.sweep_if_due(later);
    assert!(!b.entries.contains_key(&id_of(&record(1))));
    assert!(b.entries.contains_key(&id_of(&record(2))));
    assert!(b.entries.contains_key(&id_of(&record(3))));
}

#[test]
fn placement_and_state_survive_save_and_load() {
    let mut b = book_without_quota();
    let now = Instant::now();
    let records: Vec<Enr> = (0..300).map(record).collect();
    ingest_in_batches(&mut b, &records, 50, now);
    for r in &records[..40] {
        b.report(&id_of(r), Outcome::Connected, now);
        b.report(&id_of(r), Outcome::Useful, now);
    }
    b.report(
        &id_of(&records[100]),
        Outcome::DialFailed(Verdict::Timeout),
        now,
    );
    let loaded =
        AddressBook::decoded(BookConfig::default(), &context(), &b.encoded(now), now).unwrap();
    assert_eq!(loaded.len(), b.len());
    assert_eq!(loaded.stats(now).tried, 40);
    for entry in b.entries.values() {
        let id = entry.id();
        let other = &loaded.entries[&id];
        assert_eq!(other.table, entry.table);
        match entry.table {
            Table::Tried => {
                let bucket = b.tables.tried_bucket(&id, entry.group);
                assert!(loaded.tables.tried_bucket_ids(bucket).contains(&id));
            }
            Table::New => {
                let bucket = b.tables.new_bucket(entry.group, entry.source_group);
                assert!(loaded.tables.in_new(bucket, &id), "new entry moved");
            }
        }
    }
    assert_eq!(loaded.entries[&id_of(&records[100])].failures, 1);
}

#[test]
fn a_damaged_file_is_set_aside_and_the_book_starts_empty() {
    let dir = std::env::temp_dir().join(format!("kadnode-book-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (mut b, damage) = AddressBook::open(BookConfig::default(), &context(), &dir).unwrap();
    assert!(damage.is_none());
    let now = Instant::now();
    b.ingest(source(1), vec![record(1), record(2)], now);
    b.persist(now).unwrap();
    let (again, damage) = AddressBook::open(BookConfig::default(), &context(), &dir).unwrap();
    assert!(damage.is_none());
    assert_eq!(again.len(), 2);

    let path = dir.join(BOOK_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let (empty, damage) = AddressBook::open(BookConfig::default(), &context(), &dir).unwrap();
    assert!(damage.is_some());
    assert!(empty.is_empty());
    assert!(dir.join(format!("{BOOK_FILE}.corrupt")).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn incompatible_entries_are_not_offered_for_a_week() {
    let mut b = book();
    let now = Instant::now();
    b.ingest(source(1), vec![record(1)], now);
    let id = id_of(&record(1));
    assert_eq!(offered(&mut b, now), [id]);
    b.report(&id, Outcome::Incompatible, now);
    assert!(offered(&mut b, now + Duration::from_secs(86_400)).is_empty());
    assert_eq!(offered(&mut b, now + INCOMPATIBLE_FOR), [id]);
}

#[test]
fn abandoned_dials_are_offered_again_at_once() {
    let mut b = book();
    let now = Instant::now();
    b.ingest(source(1), vec![record(1)], now);
    let id = id_of(&record(1));
    assert_eq!(offered(&mut b, now), [id]);
    b.report(&id, Outcome::Abandoned, now);
    assert_eq!(offered(&mut b, now), [id]);
}

#[test]
fn a_busy_node_reached_by_our_dial_is_gossiped_as_verified() {
    let mut b = book();
    let now = Instant::now();
    b.ingest(source(1), (1..=10).map(record).collect(), now);
    for n in 1..=10 {
        b.report(&id_of(&record(n)), Outcome::DialFailed(Verdict::Busy), now);
    }
    // Two hours later nothing is fresh any more; the ten busy nodes are verified.
    let later = now + Duration::from_secs(7200);
    let mut rng = rng();
    assert_eq!(
        b.select_for_gossip(&PeerId([1; 64]), 64, later, &mut rng)
            .len(),
        10
    );
    // A timeout proves nothing.
    b.ingest(source(2), vec![record(11)], later);
    b.report(
        &id_of(&record(11)),
        Outcome::DialFailed(Verdict::Timeout),
        later,
    );
    let much_later = later + Duration::from_secs(7200);
    let picked = b.select_for_gossip(&PeerId([1; 64]), 64, much_later, &mut rng);
    assert!(!picked
        .iter()
        .any(|r| id_of(&r.record) == id_of(&record(11))));
}

#[test]
fn huge_configured_waits_mean_never_not_a_panic() {
    let config = BookConfig {
        busy_backoff: Duration::MAX,
        hand_out_timeout: Duration::MAX,
        sweep_interval: Duration::MAX,
        ..BookConfig::default()
    };
    let mut b = AddressBook::with_secret(config, &context(), [3; 32], StdRng::seed_from_u64(1));
    let now = Instant::now();
    b.ingest(source(1), vec![record(1), record(2)], now);
    let mut rng = rng();
    let first = b.next_candidate(now, &mut rng).unwrap().record.id;
    b.report(&id_of(&record(1)), Outcome::DialFailed(Verdict::Busy), now);
    b.report(&id_of(&record(2)), Outcome::DialFailed(Verdict::Busy), now);
    assert!(b
        .next_candidate(now + Duration::from_secs(86_400), &mut rng)
        .is_none());
    assert!(b.next_eligible_at(now).is_some());
    let _ = first;
}

#[test]
fn a_book_on_a_lan_holds_more_than_one_bucket() {
    // A private network (a devnet, a data centre, the loopback simulation) of 600 nodes,
    // learned from 20 peers on it: every record fits in the tables.
    let mut b = book_without_quota();
    let now = Instant::now();
    let lan = |n: u32| Ipv4Addr::new(10, 0, (n / 250) as u8, (n % 250 + 1) as u8);
    let records: Vec<Enr> = (0..600).map(|n| record_at(n, lan(n), 1)).collect();
    for (s, chunk) in records.chunks(30).enumerate() {
        let peer = GossipSource {
            id: PeerId([s as u8 + 1; 64]),
            ip: IpAddr::V4(lan(1000 + s as u32)),
            private: false,
        };
        b.ingest(peer, chunk.to_vec(), now);
    }
    assert_eq!(b.len(), 600);
}

#[test]
fn a_small_book_asks_three_peers_a_grown_one_one_a_full_one_none() {
    let config = BookConfig {
        wanted: 40,
        per_source_per_hour: usize::MAX,
        ..BookConfig::default()
    };
    let mut b = AddressBook::with_secret(config, &context(), [3; 32], StdRng::seed_from_u64(1));
    let now = Instant::now();
    let mut asks = Vec::new();
    for n in 0..45 {
        asks.push((b.len(), b.peers_to_ask(now)));
        b.ingest(source(1), vec![record(n)], now);
    }
    let at = |len: usize| asks.iter().find(|(l, _)| *l == len).map(|(_, a)| *a);
    assert_eq!(at(0), Some(MAX_ASKS_PER_TICK));
    assert_eq!(at(9), Some(3));
    assert_eq!(at(10), Some(2));
    assert_eq!(at(19), Some(2));
    assert_eq!(at(20), Some(1));
    assert_eq!(at(39), Some(1));
    assert_eq!(at(40), Some(0));
    assert!(!b.needs_more(now));
}
