//! A PEX-only network on loopback: 30 nodes without discv4 bootstrap from one seed, fill
//! their dialed slots, and their books converge to know every node.
//!
//! The books are the test double of `tests/pex_support` until the real address book is
//! merged; the protocol, the service, the seed and the node wiring are the real ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pex_support;

use std::{collections::HashSet, time::Duration};

use enode::{NodeKey, NodeRecord, PeerId};
use kadnode::{pex::PexConfig, KeySource, Node, NodeConfig, P2pConfig};

const NODES: usize = 30;
const MAX_PEERS: usize = 12;
const WAIT: Duration = Duration::from_secs(90);

fn config(key: NodeKey, pex: PexConfig) -> NodeConfig {
    let mut p2p = P2pConfig {
        max_peers: MAX_PEERS,
        dial_history: Duration::from_millis(300),
        pex: Some(pex),
        ..P2pConfig::default()
    };
    p2p.backoff.short = Duration::from_millis(200);
    p2p.backoff.medium = Duration::from_millis(200);
    p2p.backoff.medium_max = Duration::from_secs(1);
    p2p.backoff.long = Duration::from_secs(1);
    p2p.backoff.long_max = Duration::from_secs(2);
    NodeConfig {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        key: KeySource::Key(key),
        discovery: None,
        p2p: Some(p2p),
        ..NodeConfig::default()
    }
}

fn tuned(mut pex: PexConfig) -> PexConfig {
    pex.ensure_period = Duration::from_millis(500);
    pex.max_ensure_period = Duration::from_secs(2);
    pex.crawl_period = Duration::from_secs(1);
    pex.response_timeout = Duration::from_secs(5);
    pex
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pex_only_network_bootstraps_from_one_seed_and_converges() {
    let seed_key = NodeKey::generate();
    let seed_id = seed_key.peer_id();
    let (factory, _seed_probe) = pex_support::factory(seed_id, 10_000, Vec::new());
    let mut seed_pex = tuned(PexConfig::new(factory));
    seed_pex.seed_mode = true;
    let seed = Node::start(config(seed_key, seed_pex)).await.unwrap();
    let addr = seed.tcp_addr().unwrap();
    let seed_record = NodeRecord {
        address: addr.ip(),
        tcp_port: addr.port(),
        udp_port: addr.port(),
        id: seed_id,
    };

    let mut nodes = Vec::new();
    for _ in 0..NODES {
        let key = NodeKey::generate();
        let id = key.peer_id();
        let (factory, probe) = pex_support::factory(id, 10_000, Vec::new());
        let mut pex = tuned(PexConfig::new(factory));
        pex.seeds = vec![seed_record];
        nodes.push((id, Node::start(config(key, pex)).await.unwrap(), probe));
    }
    let everyone: HashSet<PeerId> = nodes
        .iter()
        .map(|(id, _, _)| *id)
        .chain([seed_id])
        .collect();

    let converged = tokio::time::timeout(WAIT, async {
        loop {
            let mut done = true;
            for (id, node, probe) in &nodes {
                let known: HashSet<PeerId> = probe.lock().unwrap().known.iter().copied().collect();
                let missing = everyone
                    .iter()
                    .filter(|p| *p != id && !known.contains(p))
                    .count();
                let (used, slots) = node.p2p().unwrap().metrics().dialed_slots();
                if missing > 0 || used < slots {
                    done = false;
                    break;
                }
            }
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if converged.is_err() {
        for (id, node, probe) in &nodes {
            let known = probe.lock().unwrap().known.len();
            let handle = node.p2p().unwrap();
            let slots = handle.metrics().dialed_slots();
            let peers = handle.peers().await.unwrap();
            let outbound = peers
                .iter()
                .filter(|p| p.direction == kadnode::Direction::Outbound)
                .count();
            eprintln!(
                "{id}: knows {known}, dialed slots {slots:?}, peers {} ({outbound} dialed)",
                peers.len()
            );
        }
        panic!("the network did not converge in {WAIT:?}");
    }
    for (_, node, _) in &nodes {
        let pex = node.pex().unwrap().metrics();
        assert!(
            pex.book_size() >= NODES as u64,
            "book size {}",
            pex.book_size()
        );
        assert_eq!(pex.bans(), 0, "nobody misbehaved");
    }
    for (_, node, _) in nodes {
        node.shutdown().await;
    }
    seed.shutdown().await;
}
