//! The "had a session" hint of Peers answers: the book sets it exactly for nodes it had a
//! session with in the last 24 hours, and a received hint only puts a stranger before
//! other strangers — it lifts no backoff or ban, promotes nothing, and is not passed on.

use std::time::Duration;

use enode::PeerId;
use rand::{rngs::StdRng, SeedableRng};
use rlpx::verdict::Verdict;
use tokio::time::Instant;

use super::{
    pick::GOSSIP_VERIFIED_WITHIN,
    tests::{book, id_of, record, source},
    AddressBook, Table,
};
use crate::{
    discovery::Outcome,
    pex::api::{GossipRecord, PexBook},
};

const DAY: Duration = GOSSIP_VERIFIED_WITHIN;
const REQUESTER: PeerId = PeerId([1; 64]);

fn vouched(n: u32) -> GossipRecord {
    GossipRecord {
        record: record(n),
        had_session: true,
    }
}

/// The hint of each record an answer at `at` carries: (node number, hint).
fn hints(b: &mut AddressBook, at: Instant, numbers: &[u32]) -> Vec<(u32, bool)> {
    let mut rng = StdRng::seed_from_u64(5);
    let answer = b.select_for_gossip(&REQUESTER, 64, at, &mut rng);
    let mut out: Vec<(u32, bool)> = answer
        .iter()
        .filter_map(|r| {
            let n = numbers
                .iter()
                .find(|n| id_of(&record(**n)) == id_of(&r.record))?;
            Some((*n, r.had_session))
        })
        .collect();
    out.sort_unstable();
    out
}

fn entry_of(b: &AddressBook, n: u32, now: Instant) -> super::BookEntry {
    let id = id_of(&record(n));
    b.entries(now)
        .into_iter()
        .find(|e| id_of(&e.record) == id)
        .expect("entry")
}

#[tokio::test(start_paused = true)]
async fn the_hint_marks_exactly_the_nodes_with_a_session_in_the_last_day() {
    let mut b = book();
    let t0 = Instant::now();
    b.ingest(source(1), (1..=3).map(record).collect(), t0);
    // Node 4 comes with another peer's hint: hearsay, never passed on as ours.
    b.ingest_answer(source(2), vec![vouched(4)], t0);
    // 1: a session that ended at once; 2: a session that stays up; 3: found busy (its
    // address works, but there was no session).
    let one = id_of(&record(1));
    let two = id_of(&record(2));
    b.report(&one, Outcome::Connected, t0);
    b.report(&one, Outcome::Useful, t0);
    b.report(&one, Outcome::Disconnected(Verdict::Transient), t0);
    b.report(&two, Outcome::Connected, t0);
    b.report(&two, Outcome::Useful, t0);
    b.report(&id_of(&record(3)), Outcome::DialFailed(Verdict::Busy), t0);
    let all = [1, 2, 3, 4];

    let soon = t0 + Duration::from_secs(600);
    assert_eq!(
        hints(&mut b, soon, &all),
        [(1, true), (2, true), (3, false), (4, false)]
    );
    let last_second = t0 + DAY - Duration::from_secs(1);
    assert_eq!(
        hints(&mut b, last_second, &all),
        [(1, true), (2, true), (3, false)]
    );
    // A day on: node 1's session is too old (and it is no longer gossiped); the session
    // with node 2 is still up.
    let after_a_day = t0 + DAY + Duration::from_secs(1);
    assert_eq!(hints(&mut b, after_a_day, &all), [(2, true)]);
}

/// How often the vouched stranger is the first pick among 20 strangers.
fn vouched_first_share(vouch: bool) -> f64 {
    let trials = 2000;
    let mut first = 0;
    let mut b = book();
    let now = Instant::now();
    let strangers: Vec<GossipRecord> = (1..=20)
        .map(|n| GossipRecord {
            record: record(n),
            had_session: vouch && n == 7,
        })
        .collect();
    b.ingest_answer(source(1), strangers, now);
    let seven = id_of(&record(7));
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..trials {
        let picked = b
            .next_candidate(now, &mut rng)
            .expect("a candidate")
            .record
            .id;
        if picked == seven {
            first += 1;
        }
        // Hand it back untouched: the next trial starts from the same book.
        b.report(&picked, Outcome::Abandoned, now);
    }
    f64::from(first) / f64::from(trials)
}

#[test]
fn a_vouched_stranger_is_picked_before_other_strangers() {
    let plain = vouched_first_share(false);
    let preferred = vouched_first_share(true);
    assert!((0.02..0.09).contains(&plain), "without a hint: {plain}");
    assert!(preferred > 2.0 * plain, "{preferred} against {plain}");
}

#[test]
fn a_seed_crawls_vouched_strangers_first() {
    let mut b = book();
    let now = Instant::now();
    b.ingest(source(1), (1..=6).map(record).collect(), now);
    b.ingest_answer(source(2), vec![vouched(4), vouched(9)], now);
    let crawled: Vec<PeerId> = b.crawl_candidates(2, now).iter().map(id_of).collect();
    let mut expected = vec![id_of(&record(4)), id_of(&record(9))];
    let mut got = crawled.clone();
    expected.sort_unstable_by_key(|id| id.0);
    got.sort_unstable_by_key(|id| id.0);
    assert_eq!(got, expected);
}

#[test]
fn a_hint_lifts_no_backoff_and_promotes_nothing() {
    let mut b = book();
    let now = Instant::now();
    b.ingest_answer(source(1), vec![vouched(1)], now);
    let id = id_of(&record(1));
    let mut rng = StdRng::seed_from_u64(3);
    assert_eq!(
        b.next_candidate(now, &mut rng).map(|c| c.record.id),
        Some(id)
    );
    b.report(&id, Outcome::DialFailed(Verdict::Timeout), now);
    // Vouched again while backing off: still backing off, still new.
    let soon = now + Duration::from_millis(500);
    b.ingest_answer(source(2), vec![vouched(1)], soon);
    assert!(b.next_candidate(soon, &mut rng).is_none());
    assert_eq!(entry_of(&b, 1, soon).table, Table::New);
    assert_eq!(entry_of(&b, 1, soon).failures, 1);
    // And it is not gossiped once it is no longer fresh, vouched or not.
    let later = now + Duration::from_secs(7200);
    b.ingest_answer(source(3), vec![vouched(1)], later);
    assert!(hints(&mut b, later, &[1]).is_empty());
}

#[test]
fn hints_from_a_banned_peer_or_about_the_sender_itself_count_for_nothing() {
    let mut b = book();
    let now = Instant::now();
    // A peer vouching for itself (its own record) says nothing.
    let own = record(1);
    let sender = crate::pex::api::GossipSource {
        id: id_of(&own),
        ..source(1)
    };
    b.ingest_answer(
        sender,
        vec![GossipRecord {
            record: own,
            had_session: true,
        }],
        now,
    );
    assert_eq!(entry_of(&b, 1, now).vouched_ago, None);
    // A banned peer's answer is not taken at all.
    let banned = source(2);
    for _ in 0..20 {
        b.penalize(
            &banned.id,
            banned.ip,
            crate::pex::api::Misbehaviour::InvalidRecords,
            now,
        );
    }
    assert!(b.is_banned(&banned.id, now));
    assert_eq!(b.ingest_answer(banned, vec![vouched(2)], now).added, 0);
    // An honest peer's hint is recorded.
    b.ingest_answer(source(3), vec![vouched(3)], now);
    assert_eq!(entry_of(&b, 3, now).vouched_ago, Some(Duration::ZERO));
}
