//! Twenty discv4 services on real loopback UDP sockets, all bootstrapping from one of them:
//! every table must end up holding every other node it can hold.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use discv4::service::Discv4Config;

use enode::NodeId;
use futures::future::join_all;
use support::{holdable, spawn_udp_node, table_ids, TestNode};
use tokio::time::{timeout, Instant};

const NODES: usize = 20;
/// Bound on the whole test; each phase below waits on state, never on a fixed sleep.
const OVERALL: Duration = Duration::from_secs(90);

/// Nodes each node still misses, as (node index, missing count, holdable count).
async fn shortfalls(nodes: &[TestNode]) -> Vec<(usize, usize, usize)> {
    let ids: Vec<NodeId> = nodes.iter().map(TestNode::id).collect();
    let mut short = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let held = table_ids(&node.handle).await;
        let others = ids.iter().copied().filter(|id| *id != node.id());
        let can_hold = holdable(&node.id(), others.clone());
        let have = others.filter(|id| held.contains(id)).count();
        assert!(have <= can_hold, "node {i} holds {have} > {can_hold}");
        if have < can_hold {
            short.push((i, can_hold - have, can_hold));
        }
    }
    short
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_udp_nodes_bootstrapping_from_one_fill_their_tables() {
    let started = Instant::now();
    let deadline = started + OVERALL;
    let boot = spawn_udp_node(Discv4Config::default()).await;
    let config = Discv4Config {
        bootnodes: vec![boot.record],
        ..Default::default()
    };
    let mut nodes = vec![boot];
    for _ in 1..NODES {
        nodes.push(spawn_udp_node(config.clone()).await);
    }

    // Phase 1: every node finishes its initial refresh (self-lookup + 3 random lookups).
    let all_initialised = async {
        loop {
            let states = join_all(nodes.iter().map(|n| n.handle.table_state())).await;
            if states
                .iter()
                .all(|s| s.as_ref().is_ok_and(|(_, done)| *done))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    timeout(deadline - Instant::now(), all_initialised)
        .await
        .expect("every node finishes its initial refresh");

    // Phase 2: a node learns of another only when one of them contacts the other (inbound,
    // after the endpoint proof) or a third node names it in NEIGHBORS. The earliest nodes
    // refreshed while the network was nearly empty, and nothing before the next refresh
    // (15–30 min) makes them look again: revalidation only PINGs nodes already in the table.
    // So every node that still misses someone runs one more random lookup, explicitly, until
    // all tables are full. Lookups in a 20-node network ask nearly everyone and the bootnode
    // knows everyone, so one or two passes suffice.
    let mut passes = 0;
    loop {
        let short = shortfalls(&nodes).await;
        if short.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tables did not fill within {OVERALL:?} after {passes} lookup passes; \
             (node, missing, holdable): {short:?}"
        );
        passes += 1;
        let lookups = short
            .iter()
            .map(|(i, _, _)| nodes[*i].handle.clone())
            .map(|handle| async move { handle.lookup_random().await });
        let results = timeout(deadline - Instant::now(), join_all(lookups))
            .await
            .expect("lookups finish within the test bound");
        for result in results {
            result.expect("lookup runs");
        }
    }

    // With 20 random ids a bucket practically never overflows: everyone holds all 19 others.
    for node in &nodes {
        let (count, _) = node.handle.table_state().await.unwrap();
        let ids = nodes.iter().map(TestNode::id).filter(|id| *id != node.id());
        assert_eq!(count, holdable(&node.id(), ids));
    }
    eprintln!(
        "{NODES} UDP nodes converged in {:?} with {passes} extra lookup pass(es)",
        started.elapsed()
    );
    for node in &nodes {
        node.handle.shutdown().await;
    }
}
