//! FairMix on paused time: turns, waits that halve and reset, sources added, removed and
//! ended at run time, reports routed back.

use std::sync::{Arc, Mutex};

use enode::NodeRecord;
use futures::FutureExt;
use rlpx::verdict::Verdict;
use tokio::sync::mpsc;

use super::*;

const MS: Duration = Duration::from_millis(1);

type Reports = Arc<Mutex<Vec<(PeerId, Outcome)>>>;

fn candidate(tag: u8, n: u8) -> Candidate {
    Candidate::new(NodeRecord {
        address: std::net::IpAddr::from([10, 0, tag, n]),
        udp_port: 30303,
        tcp_port: 30303,
        id: PeerId([tag; 64]),
    })
}

/// A source that always has a candidate, tagged with its number.
struct Endless {
    tag: u8,
    reports: Reports,
}

impl CandidateSource for Endless {
    fn name(&self) -> &str {
        "endless"
    }
    fn poll_next_candidate(&mut self, _cx: &mut Context<'_>) -> Poll<Option<Candidate>> {
        Poll::Ready(Some(candidate(self.tag, 0)))
    }
    fn report(&mut self, id: &PeerId, outcome: Outcome) {
        self.reports.lock().unwrap().push((*id, outcome));
    }
}

/// A source fed by the test through a channel; ends when the sender is dropped.
struct Fed {
    rx: mpsc::UnboundedReceiver<Candidate>,
}

impl CandidateSource for Fed {
    fn name(&self) -> &str {
        "fed"
    }
    fn poll_next_candidate(&mut self, cx: &mut Context<'_>) -> Poll<Option<Candidate>> {
        self.rx.poll_recv(cx)
    }
    fn report(&mut self, _id: &PeerId, _outcome: Outcome) {}
}

fn endless(tag: u8) -> (Box<dyn CandidateSource + Send>, Reports) {
    let reports = Reports::default();
    let source = Endless {
        tag,
        reports: reports.clone(),
    };
    (Box::new(source), reports)
}

fn fed() -> (
    Box<dyn CandidateSource + Send>,
    mpsc::UnboundedSender<Candidate>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Box::new(Fed { rx }), tx)
}

/// The tag (first id byte) of the next candidate, and how much virtual time it took.
async fn next_tag(mix: &mut FairMix) -> (u8, Duration) {
    let start = Instant::now();
    let next = mix.next_candidate().await;
    (next.candidate.record.id.0[0], start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn sources_that_all_have_candidates_take_strict_turns() {
    let mut mix = FairMix::default();
    for tag in 1..=3 {
        mix.add_source(endless(tag).0).unwrap();
    }
    let mut tags = Vec::new();
    for _ in 0..9 {
        let (tag, waited) = next_tag(&mut mix).await;
        assert_eq!(waited, Duration::ZERO);
        tags.push(tag);
    }
    assert_eq!(tags, [1, 2, 3, 1, 2, 3, 1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_silent_source_costs_its_wait_which_halves_each_turn() {
    let mut mix = FairMix::default();
    mix.add_source(endless(1).0).unwrap();
    let (silent, _tx) = fed();
    let silent = mix.add_source(silent).unwrap();

    // Turn of source 1: immediate. Turn of the silent source: the mix waits its 100 ms,
    // then takes what any source has (source 1).
    assert_eq!(next_tag(&mut mix).await, (1, Duration::ZERO));
    assert_eq!(next_tag(&mut mix).await, (1, 100 * MS));
    assert_eq!(mix.wait_of(silent), Some(50 * MS));
    assert_eq!(next_tag(&mut mix).await, (1, Duration::ZERO));
    assert_eq!(next_tag(&mut mix).await, (1, 50 * MS));
    assert_eq!(next_tag(&mut mix).await, (1, Duration::ZERO));
    assert_eq!(next_tag(&mut mix).await, (1, 25 * MS));
    assert_eq!(mix.wait_of(silent), Some(12_500 * Duration::from_micros(1)));
}

#[tokio::test(start_paused = true)]
async fn a_slow_source_that_delivers_on_its_turn_gets_its_full_wait_back() {
    let mut mix = FairMix::default();
    mix.add_source(endless(1).0).unwrap();
    let (slow, tx) = fed();
    let slow = mix.add_source(slow).unwrap();

    next_tag(&mut mix).await; // source 1
    next_tag(&mut mix).await; // the slow one times out: 100 ms, halved to 50
    assert_eq!(mix.wait_of(slow), Some(50 * MS));
    next_tag(&mut mix).await; // source 1

    // On its turn the slow source delivers after 30 ms (within its 50 ms wait).
    let feeder = tokio::spawn(async move {
        tokio::time::sleep(30 * MS).await;
        tx.send(candidate(2, 0)).unwrap();
        tx
    });
    assert_eq!(next_tag(&mut mix).await, (2, 30 * MS));
    assert_eq!(mix.wait_of(slow), Some(100 * MS));
    drop(feeder.await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_candidate_from_the_late_source_is_taken_while_waiting_for_any() {
    let mut mix = FairMix::default();
    let (a, tx_a) = fed();
    let (b, tx_b) = fed();
    mix.add_source(a).unwrap();
    mix.add_source(b).unwrap();
    // Neither has anything; source a's turn times out after 100 ms, then the mix takes the
    // first candidate of any source: b's, sent at 150 ms.
    let feeder = tokio::spawn(async move {
        tokio::time::sleep(150 * MS).await;
        tx_b.send(candidate(2, 0)).unwrap();
        (tx_a, tx_b)
    });
    assert_eq!(next_tag(&mut mix).await, (2, 150 * MS));
    drop(feeder.await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn sources_added_and_removed_at_run_time_and_ended_sources_dropped() {
    let mut mix = FairMix::default();
    // Empty: pending, and adding a source wakes the waiting task.
    assert!(mix.next_candidate().now_or_never().is_none());
    let (source, tx) = fed();
    let fed_id = mix.add_source(source).unwrap();
    tx.send(candidate(7, 0)).unwrap();
    assert_eq!(next_tag(&mut mix).await.0, 7);

    let (one, _) = endless(1);
    let one = mix.add_source(one).unwrap();
    assert_eq!(mix.len(), 2);
    assert!(mix.remove_source(one).is_some());
    assert!(mix.remove_source(one).is_none());
    assert_eq!(
        mix.sources().map(|(id, _)| id).collect::<Vec<_>>(),
        [fed_id]
    );

    // The fed source ends: it is dropped, and the mix waits (pending) for new sources.
    drop(tx);
    assert!(mix.next_candidate().now_or_never().is_none());
    assert!(mix.is_empty());
}

struct WakeFlag(std::sync::atomic::AtomicBool);

impl futures::task::ArcWake for WakeFlag {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_waiting_on_an_empty_mix_is_woken_by_add_source() {
    let mut mix = FairMix::default();
    let flag = Arc::new(WakeFlag(false.into()));
    let waker = futures::task::waker(flag.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(mix.poll_next_candidate(&mut cx).is_pending());
    assert!(!flag.0.load(std::sync::atomic::Ordering::SeqCst));
    mix.add_source(endless(4).0).unwrap();
    assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst));
    assert!(
        matches!(mix.poll_next_candidate(&mut cx), Poll::Ready(c) if c.candidate.record.id.0[0] == 4)
    );
}

#[tokio::test(start_paused = true)]
async fn reports_go_to_the_source_the_candidate_came_from() {
    let mut mix = FairMix::default();
    let (one, reports_one) = endless(1);
    let (two, reports_two) = endless(2);
    mix.add_source(one).unwrap();
    mix.add_source(two).unwrap();
    let first = mix.next_candidate().await;
    let second = mix.next_candidate().await;
    assert!(mix.report(
        first.source,
        &first.candidate.record.id,
        Outcome::DialFailed(Verdict::Timeout)
    ));
    assert!(mix.report(
        second.source,
        &second.candidate.record.id,
        Outcome::Connected
    ));
    assert_eq!(
        *reports_one.lock().unwrap(),
        [(PeerId([1; 64]), Outcome::DialFailed(Verdict::Timeout))]
    );
    assert_eq!(
        *reports_two.lock().unwrap(),
        [(PeerId([2; 64]), Outcome::Connected)]
    );
    mix.remove_source(first.source);
    assert!(!mix.report(first.source, &first.candidate.record.id, Outcome::Useful));
}

#[tokio::test(start_paused = true)]
async fn the_mix_holds_a_bounded_number_of_sources() {
    let mut mix = FairMix::default();
    for _ in 0..MAX_MIX_SOURCES {
        mix.add_source(endless(1).0).unwrap();
    }
    assert_eq!(
        mix.add_source(endless(1).0),
        Err(MixError::TooManySources {
            limit: MAX_MIX_SOURCES
        })
    );
}
