//! 1,000 discv4 services on a simulated network on virtual time, all bootstrapping from one
//! node: random lookups from random nodes must find the true 16 closest nodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::sim::{run, SimParams};

/// Mean recall the lookups must reach against the true closest nodes.
const MIN_RECALL: f64 = 0.95;

#[tokio::test(start_paused = true)]
async fn thousand_nodes_bootstrap_and_lookups_find_the_true_closest() {
    let wall = std::time::Instant::now();
    let report = run(SimParams::new(1_000)).await;
    eprintln!("{} [wall {:?}]", report.summary(), wall.elapsed());
    assert!(
        report.mean_recall() >= MIN_RECALL,
        "mean recall {:.3} < {MIN_RECALL}: {}",
        report.mean_recall(),
        report.summary()
    );
    assert!(report.min_table >= 16, "{}", report.summary());
}
