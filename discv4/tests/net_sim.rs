//! 1,000 discv4 services on a simulated network on virtual time, all bootstrapping from one
//! node: random lookups from random nodes must find the true 16 closest nodes (computed from
//! the full node list).
//!
//! Cost: the protocol volume is the cost. About a million signed datagrams are exchanged
//! (bonding, FINDNODE/NEIGHBORS, the fixed-rate revalidation PINGs and the ENR fetches they
//! trigger), and ECDSA signing and recovery take about two thirds of the CPU time. Roughly two
//! CPU minutes in release on the 2-core CI machine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::sim::{run, SimParams};

/// Mean recall the lookups must reach against the true closest nodes (no loss).
const MIN_RECALL: f64 = 0.95;

#[tokio::test(start_paused = true)]
async fn thousand_nodes_bootstrap_and_lookups_find_the_true_closest() {
    let wall = std::time::Instant::now();
    let report = run(SimParams {
        lookups: 30,
        ..SimParams::new(1_000)
    })
    .await;
    eprintln!("{} [wall {:?}]", report.summary(), wall.elapsed());
    assert!(
        report.mean_recall() >= MIN_RECALL,
        "mean recall {:.3} < {MIN_RECALL}: {}",
        report.mean_recall(),
        report.summary()
    );
    // Every node knows a good part of the network: a 1,000-node network gives a table room
    // for about 110 nodes; far below that means bootstrap failed somewhere.
    assert!(report.min_table >= 32, "{}", report.summary());
    assert!(report.mean_table >= 80.0, "{}", report.summary());
    assert!(report.drops.is_empty(), "{}", report.summary());
}

/// The same with 3 % datagram loss. A lost datagram must cost almost nothing: a node whose
/// FINDNODE went unanswered stays in the lookup result (not asked again), and the next request
/// to a node that left a FINDNODE unanswered re-bonds first, so a lost PONG no longer strands a
/// node with a nearly empty table. Measured: mean recall 0.998 (min 0.938), smallest table 71.
/// Ignored by default (another two CPU minutes): run with `--ignored`.
#[tokio::test(start_paused = true)]
#[ignore = "two CPU minutes; run with --ignored"]
async fn thousand_nodes_with_three_percent_loss() {
    let wall = std::time::Instant::now();
    let report = run(SimParams {
        loss: 0.03,
        lookups: 30,
        ..SimParams::new(1_000)
    })
    .await;
    eprintln!("{} [wall {:?}]", report.summary(), wall.elapsed());
    assert!(
        report.mean_recall() >= 0.95,
        "mean recall {:.3} < 0.95: {}",
        report.mean_recall(),
        report.summary()
    );
}
