//! A PEX-only network on loopback: 30 nodes without discv4 bootstrap from one seed (a node
//! in seed mode that crawls its book), fill their dialed slots, and their address books
//! converge to know every node. Everything is the real thing: books, protocol, service, seed
//! and node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use enode::{NodeKey, NodeRecord};
use kadnode::{
    pex::{AddressBook, BookConfig, PexConfig},
    KeySource, Node, NodeConfig, P2pConfig,
};

const NODES: usize = 30;
const MAX_PEERS: usize = 12;
const WAIT: Duration = Duration::from_secs(180);

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

/// The real book, with the wait after a busy node shortened like the node's backoffs.
fn pex_config() -> PexConfig {
    PexConfig::new(AddressBook::factory(BookConfig {
        busy_backoff: Duration::from_millis(500),
        ..BookConfig::default()
    }))
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
    let mut seed_pex = tuned(pex_config());
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
        let mut pex = tuned(pex_config());
        pex.seeds = vec![seed_record];
        let key = NodeKey::generate();
        nodes.push((key.peer_id(), Node::start(config(key, pex)).await.unwrap()));
    }

    // Every node's book holds the 30 others and the seed, and its dialed slots are full.
    let converged = tokio::time::timeout(WAIT, async {
        loop {
            let done = nodes.iter().all(|(_, node)| {
                let known = node.pex().unwrap().metrics().book_size();
                let (used, slots) = node.p2p().unwrap().metrics().dialed_slots();
                known >= NODES as u64 && used >= slots
            });
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if converged.is_err() {
        for (id, node) in &nodes {
            let known = node.pex().unwrap().metrics().book_size();
            let handle = node.p2p().unwrap();
            let slots = handle.metrics().dialed_slots();
            let peers = handle.peers().await.unwrap();
            let outbound = peers
                .iter()
                .filter(|p| p.slot == kadnode::Direction::Outbound)
                .count();
            let dump = node.pex().unwrap().book().await.unwrap();
            let known_ids: std::collections::HashSet<enode::PeerId> = dump
                .entries
                .iter()
                .map(|e| enode::enr_peer_id(&e.record).unwrap())
                .collect();
            let missing: Vec<String> = nodes
                .iter()
                .map(|(other, _)| *other)
                .chain([seed_id])
                .filter(|other| other != id && !known_ids.contains(other))
                .map(|other| other.to_string()[..8].to_string())
                .collect();
            for (banned, ban, left) in &dump.bans {
                eprintln!(
                    "  banned {} ({:?}, {left:?} left)",
                    &banned.to_string()[..8],
                    ban.reason
                );
            }
            let m = node.pex().unwrap().metrics();
            eprintln!(
                "  pex: sessions {}, asked {}, gossip in {}, out {}, served {}, limited {}, timeouts {}",
                m.sessions(),
                m.requests_sent(),
                m.gossip_in(),
                m.gossip_out(),
                m.requests_served(),
                m.rate_limited(),
                m.request_timeouts()
            );
            eprintln!(
                "{}: knows {known} (new {}, tried {}), missing {missing:?}, dialed slots {slots:?}, peers {} ({outbound} dialed)",
                &id.to_string()[..8],
                dump.stats.new,
                dump.stats.tried,
                peers.len()
            );
        }
        // Where the missing entries stand in the books of the nodes' peers.
        for (id, node) in &nodes {
            let dump = node.pex().unwrap().book().await.unwrap();
            let known: std::collections::HashSet<enode::PeerId> = dump
                .entries
                .iter()
                .map(|e| enode::enr_peer_id(&e.record).unwrap())
                .collect();
            for (missing, _) in nodes.iter().filter(|(o, _)| o != id && !known.contains(o)) {
                for peer in node.p2p().unwrap().peers().await.unwrap() {
                    let Some((_, other)) = nodes.iter().find(|(o, _)| *o == peer.id) else {
                        continue;
                    };
                    let theirs = other.pex().unwrap().book().await.unwrap();
                    let entry = theirs
                        .entries
                        .iter()
                        .find(|e| enode::enr_peer_id(&e.record).unwrap() == *missing);
                    eprintln!(
                        "  {} misses {}; peer {} has {:?}",
                        &id.to_string()[..8],
                        &missing.to_string()[..8],
                        &peer.id.to_string()[..8],
                        entry.map(|e| (
                            e.table,
                            e.last_attempt_ago,
                            e.failures,
                            e.verified_ago,
                            e.first_seen_ago
                        ))
                    );
                }
            }
        }
        panic!("the network did not converge in {WAIT:?}");
    }
    for (_, node) in &nodes {
        let pex = node.pex().unwrap().metrics();
        assert!(
            pex.book_size() >= NODES as u64,
            "book size {}",
            pex.book_size()
        );
        assert_eq!(pex.bans(), 0, "nobody misbehaved");
        assert_eq!(
            pex.rate_limited(),
            0,
            "an honest node never asks faster than its peers answer"
        );
    }
    for (_, node) in nodes {
        node.shutdown().await;
    }
    seed.shutdown().await;
}
