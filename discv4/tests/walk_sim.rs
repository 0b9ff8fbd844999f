//! The random walk on the simulated network with tokio's paused clock: the lookups run in the
//! service and the nodes they discover stream out as they arrive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{collections::HashSet, time::Duration};

use discv4::{
    service::Discv4Config,
    transport::{SimConfig, SimNetwork},
};

use enode::NodeId;
use futures::StreamExt;

#[tokio::test(start_paused = true)]
async fn a_random_walk_streams_nodes_of_the_network() {
    let net = SimNetwork::new(SimConfig::default());
    let config = Discv4Config {
        ingress_workers: 1,
        ..Default::default()
    };
    let boot = support::spawn_sim_node(&net, support::sim_addr(0), config.clone());
    let config = Discv4Config {
        bootnodes: vec![boot.record],
        ..config
    };
    let mut members: HashSet<NodeId> = HashSet::from([boot.id()]);
    let mut nodes = vec![boot];
    for i in 1..40 {
        let node = support::spawn_sim_node(&net, support::sim_addr(i), config.clone());
        members.insert(node.id());
        nodes.push(node);
    }
    // The walk starts while the node is still joining: its first lookup starts once the table
    // has the bootnode, which the node's start-up refresh put in.
    let walker = &nodes[39];
    let mut walk = walker.handle.random_walk();
    let mut found = HashSet::new();
    let collect = async {
        while found.len() < 20 {
            let node = walk.next().await.unwrap();
            assert!(
                members.contains(&node.id.node_id()),
                "{node} is not in the network"
            );
            assert_ne!(node.id.node_id(), walker.id(), "never ourselves");
            found.insert(node.id.node_id());
        }
    };
    tokio::time::timeout(Duration::from_secs(120), collect)
        .await
        .expect("20 distinct nodes within two minutes of virtual time");
    assert!(walker.handle.metrics().lookups_total() >= 1);
    drop(walk);
    futures::future::join_all(nodes.iter().map(|n| n.handle.shutdown())).await;
}
