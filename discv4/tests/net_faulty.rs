//! discv4 on faulty simulated networks (virtual time): heavy loss with reordering and
//! jitter, and a partition that heals.
//!
//! Each test prints its figures (`--nocapture`); BENCHMARKS.md's reliability section quotes
//! them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{collections::HashSet, net::SocketAddr, time::Duration};

use enode::NodeId;
use support::{
    sim::{run, Sim, SimParams},
    table_ids,
};

/// Nodes in the loss test: enough for lookups of several hops, small enough for CI.
const LOSSY_NODES: usize = 300;

#[tokio::test(start_paused = true)]
async fn lookups_find_the_true_closest_with_20_percent_loss_reordering_and_jitter() {
    let wall = std::time::Instant::now();
    let report = run(SimParams {
        loss: 0.20,
        // Each datagram gets its own extra delay in [0, 200 ms): datagrams on a link
        // overtake each other, and round trips vary from 20 ms to about 500 ms.
        reorder: Duration::from_millis(200),
        lookups: 30,
        ..SimParams::new(LOSSY_NODES)
    })
    .await;
    eprintln!("{} [wall {:?}]", report.summary(), wall.elapsed());
    assert!(
        report.mean_recall() >= 0.90,
        "mean recall {:.3} < 0.90: {}",
        report.mean_recall(),
        report.summary()
    );
    assert!(report.net.dropped_loss > 0, "{}", report.summary());
}

/// Nodes in the partition test, split in two halves.
const PARTITION_NODES: usize = 128;
/// How long the halves are cut off from each other: long enough for revalidation to find
/// most nodes of the other half dead and drop them.
const PARTITION: Duration = Duration::from_secs(30 * 60);
/// The longest refresh interval (refreshes run every 15–30 min).
const REFRESH_PERIOD: Duration = Duration::from_secs(30 * 60);

/// The share of table entries that belong to the other half, averaged over the nodes, and
/// the fewest such entries any node holds.
async fn cross_share(sim: &Sim, half: &HashSet<NodeId>) -> (f64, usize) {
    let (mut total, mut fewest) = (0.0, usize::MAX);
    for node in &sim.nodes {
        let ids = table_ids(&node.handle).await;
        let mine = half.contains(&node.id());
        let cross = ids.iter().filter(|id| half.contains(id) != mine).count();
        total += cross as f64 / ids.len().max(1) as f64;
        fewest = fewest.min(cross);
    }
    (total / sim.nodes.len() as f64, fewest)
}

fn cut(sim: &Sim, left: &[SocketAddr], right: &[SocketAddr], loss: Option<f64>) {
    for a in left {
        for b in right {
            sim.net.set_link_loss(*a, *b, loss);
            sim.net.set_link_loss(*b, *a, loss);
        }
    }
}

fn mean_recall(lookups: &[support::sim::LookupStats]) -> f64 {
    lookups.iter().map(|l| l.recall).sum::<f64>() / lookups.len().max(1) as f64
}

#[tokio::test(start_paused = true)]
async fn a_healed_partition_recovers_within_one_refresh_period() {
    let wall = std::time::Instant::now();
    let sim = Sim::start(SimParams::new(PARTITION_NODES)).await;
    let everyone: Vec<usize> = (0..sim.nodes.len()).collect();
    let (left, right) = sim.nodes.split_at(PARTITION_NODES / 2);
    let left_ids: HashSet<NodeId> = left.iter().map(|n| n.id()).collect();
    let left_addrs: Vec<SocketAddr> = left.iter().map(|n| n.record.udp_addr()).collect();
    let right_addrs: Vec<SocketAddr> = right.iter().map(|n| n.record.udp_addr()).collect();

    let (before, _) = cross_share(&sim, &left_ids).await;
    let (table_before, _) = sim.table_sizes().await;
    let recall_before = mean_recall(&sim.lookups(20, 1, &everyone).await);

    cut(&sim, &left_addrs, &right_addrs, Some(1.0));
    tokio::time::sleep(PARTITION).await;
    let (during, _) = cross_share(&sim, &left_ids).await;

    cut(&sim, &left_addrs, &right_addrs, None);
    tokio::time::sleep(REFRESH_PERIOD).await;
    let (after, fewest_after) = cross_share(&sim, &left_ids).await;
    let lookups = sim.lookups(30, 2, &everyone).await;
    let recall_after = mean_recall(&lookups);
    let (mean_table, min_table) = sim.table_sizes().await;
    eprintln!(
        "partition of {PARTITION_NODES} nodes for {PARTITION:?}: other-half share of table \
         entries {before:.3} before, {during:.3} during, {after:.3} one refresh period after \
         healing (fewest on a node: {fewest_after}); lookup recall {recall_before:.3} before, \
         {recall_after:.3} after; table size mean {table_before:.1} before, {mean_table:.1} \
         after (min {min_table}) [wall {:?}]",
        wall.elapsed()
    );
    // The cut was real: most entries of the other half went dead and were dropped.
    assert!(during < before / 2.0, "{before:.3} -> {during:.3}");
    // And it healed: every node knows the other half again and lookups find the true
    // closest across it. (The share stays below its pre-partition value: buckets that the
    // partition refilled with live nodes of the same half keep them, as Kademlia prefers
    // long-lived entries; the other half waits in the replacement lists.)
    assert!(
        fewest_after >= 1,
        "a node still knows nobody of the other half"
    );
    assert!(
        mean_table >= table_before * 0.9,
        "tables {table_before:.1} before, {mean_table:.1} after"
    );
    assert!(
        recall_after >= 0.95,
        "recall after healing {recall_after:.3}"
    );
    sim.finish(lookups).await;
}
