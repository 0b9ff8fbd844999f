//! Property tests of the address book's invariants under arbitrary sequences of ingests,
//! reports and saves.

use std::{net::Ipv4Addr, sync::OnceLock, time::Duration};

use enode::{Enr, PeerId};
use proptest::prelude::*;
use rand::{rngs::StdRng, SeedableRng};
use rlpx::verdict::Verdict;
use tokio::time::Instant;

use super::{tests::*, *};
use crate::pex::api::PexBook;

/// 96 nodes crowded into few networks, so the caps and the buckets are exercised.
fn pool() -> &'static Vec<Enr> {
    static POOL: OnceLock<Vec<Enr>> = OnceLock::new();
    POOL.get_or_init(|| {
        (0..96u32)
            .map(|n| {
                record_at(
                    n,
                    Ipv4Addr::new(50 + (n % 3) as u8, 1, (n % 5) as u8, (n % 7) as u8 + 1),
                    1,
                )
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Op {
    Ingest { source: u8, records: Vec<usize> },
    Report { record: usize, outcome: u8 },
    Pick,
    Advance(u64),
    SaveLoad,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, proptest::collection::vec(0usize..96, 0..20))
            .prop_map(|(source, records)| Op::Ingest { source, records }),
        (0usize..96, 0u8..7).prop_map(|(record, outcome)| Op::Report { record, outcome }),
        Just(Op::Pick),
        (0u64..4000).prop_map(Op::Advance),
        Just(Op::SaveLoad),
    ]
}

fn outcome(n: u8) -> Outcome {
    match n {
        0 => Outcome::Connected,
        1 => Outcome::Useful,
        2 => Outcome::DialFailed(Verdict::Timeout),
        3 => Outcome::DialFailed(Verdict::Busy),
        4 => Outcome::Disconnected(Verdict::Transient),
        5 => Outcome::Incompatible,
        _ => Outcome::Abandoned,
    }
}

fn small_config() -> BookConfig {
    BookConfig {
        tables: TableSizes {
            new_buckets: 8,
            tried_buckets: 4,
            bucket_size: 4,
        },
        ..BookConfig::default()
    }
}

fn check_invariants(b: &AddressBook, now: Instant) {
    let sizes = b.tables.sizes();
    let mut new_refs: std::collections::HashMap<PeerId, u8> = Default::default();
    for bucket in 0..sizes.new_buckets {
        let ids = b.tables.new_bucket_ids(bucket);
        assert!(ids.len() <= sizes.bucket_size);
        for id in ids {
            *new_refs.entry(*id).or_default() += 1;
        }
    }
    let mut tried = 0;
    for bucket in 0..sizes.tried_buckets {
        let ids = b.tables.tried_bucket_ids(bucket);
        assert!(ids.len() <= sizes.bucket_size);
        tried += ids.len();
        for id in ids {
            assert_eq!(b.entries[id].table, Table::Tried);
        }
    }
    for (id, entry) in &b.entries {
        match entry.table {
            Table::New => {
                let refs = new_refs.get(id).copied().unwrap_or(0);
                assert!(refs >= 1 && refs <= b.config.max_new_refs, "refs {refs}");
                assert_eq!(refs, entry.new_refs);
            }
            Table::Tried => assert!(!new_refs.contains_key(id)),
        }
        assert!(!b.is_banned(id, now));
    }
    assert_eq!(
        tried,
        b.entries
            .values()
            .filter(|e| e.table == Table::Tried)
            .count()
    );
    assert_eq!(new_refs.len(), b.entries.len() - tried);
    // The caps, recounted from scratch.
    let mut per_ip: std::collections::HashMap<std::net::IpAddr, usize> = Default::default();
    for entry in b.entries.values().filter(|e| e.table == Table::New) {
        *per_ip.entry(entry.node.address).or_default() += 1;
    }
    assert_eq!(per_ip, b.per_ip, "per-IP counts drifted");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_book_keeps_its_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let mut b = AddressBook::with_secret(small_config(), &context(), [5; 32], StdRng::seed_from_u64(2));
        let mut rng = StdRng::seed_from_u64(3);
        let mut now = Instant::now();
        for op in ops {
            match op {
                Op::Ingest { source: s, records } => {
                    let records = records.into_iter().map(|n| pool()[n].clone()).collect();
                    b.ingest(source(s), records, now);
                }
                Op::Report { record, outcome: o } => {
                    b.report(&id_of(&pool()[record]), outcome(o), now);
                }
                Op::Pick => {
                    if let Some(candidate) = b.next_candidate(now, &mut rng) {
                        // Never an ineligible entry.
                        let entry = &b.entries[&candidate.record.id];
                        prop_assert!(entry.eligible_at <= now);
                        prop_assert!(!entry.is_incompatible(now));
                    } else if let Some(at) = b.next_eligible_at(now) {
                        // Nothing now means nothing until the announced time.
                        prop_assert!(at > now || b.connected.len() == b.entries.len());
                    }
                }
                Op::Advance(secs) => now += Duration::from_secs(secs),
                Op::SaveLoad => {
                    let len = b.len();
                    let tried = b.stats(now).tried;
                    b = AddressBook::decoded(small_config(), &context(), &b.encoded(now), now).unwrap();
                    prop_assert_eq!(b.len(), len);
                    prop_assert_eq!(b.stats(now).tried, tried);
                }
            }
            check_invariants(&b, now);
            let per_ip_max = b.per_ip.values().copied().max().unwrap_or(0);
            prop_assert!(per_ip_max <= b.config.per_ip);
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = AddressBook::decoded(BookConfig::default(), &context(), &bytes, Instant::now());
    }
}
