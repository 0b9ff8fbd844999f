//! 25 whole nodes on loopback, each with discv4 and the test protocol, bootstrapping from the
//! first: every node fills its dialed slots from discovery, nobody exceeds its peer limit,
//! no pair holds two sessions, and the protocol runs both ways on every session.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod node_support;

use std::{collections::HashSet, time::Duration};

use discv4::service::Discv4Config;
use kadnode::Direction;
use node_support::*;

const NODES: usize = 25;
const MAX_PEERS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_five_nodes_fill_their_dialed_slots_through_discovery() {
    let tune = |c: &mut kadnode::P2pConfig| c.max_peers = MAX_PEERS;
    let first = start_with(tune, Some(Discv4Config::default())).await;
    let boot = first.record();
    let mut nodes = vec![first];
    for _ in 1..NODES {
        let discovery = Discv4Config {
            bootnodes: vec![boot],
            ..Discv4Config::default()
        };
        nodes.push(start_with(tune, Some(discovery)).await);
    }
    let dialed_target = kadnode::P2pConfig {
        max_peers: MAX_PEERS,
        ..kadnode::P2pConfig::default()
    }
    .max_dialed();

    // Wait, on peer events, until every node has its dialed slots filled.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    for (index, node) in nodes.iter().enumerate() {
        let mut events = node.handle().subscribe();
        loop {
            let peers = node.handle().peers().await.unwrap();
            let outbound = peers
                .iter()
                .filter(|p| p.slot == Direction::Outbound)
                .count();
            if outbound >= dialed_target {
                break;
            }
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Ok(_)) => {}
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(e)) => panic!("events closed: {e}"),
                Err(_) => {
                    panic!("node {index} has {outbound} dialed peers of {dialed_target} after 90 s")
                }
            }
        }
    }

    // Limits and uniqueness, then the protocol on every session.
    let ids: Vec<_> = nodes.iter().map(|n| n.id()).collect();
    let mut sessions = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        let peers = node.handle().peers().await.unwrap();
        assert!(
            peers.len() <= MAX_PEERS,
            "node {index} has {} peers",
            peers.len()
        );
        let unique: HashSet<_> = peers.iter().map(|p| p.id).collect();
        assert_eq!(
            unique.len(),
            peers.len(),
            "node {index} holds two sessions with one peer"
        );
        assert!(
            !unique.contains(&ids[index]),
            "node {index} is connected to itself"
        );
        for peer in peers {
            sessions.push((index, peer.id));
        }
    }
    // A session listed above may have ended since (a simultaneous-dial pair resolved, a
    // slot given up); every session still up must carry the protocol both ways, and the
    // ended ones are counted so that a wave of them shows.
    let mut ended = 0;
    for (index, peer) in sessions {
        let still_up = nodes[index]
            .handle()
            .peers()
            .await
            .unwrap()
            .iter()
            .any(|p| p.id == peer);
        if still_up {
            wait_both_ways(&mut nodes[index], peer).await;
        } else {
            ended += 1;
        }
    }
    assert!(
        ended <= 2,
        "{ended} sessions ended before their messages were checked"
    );
    for node in nodes {
        node.node.shutdown().await;
    }
}
