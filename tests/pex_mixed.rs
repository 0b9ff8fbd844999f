//! discv4 and PEX in one network on loopback. A seed runs both (as `bootnode --pex` does);
//! five nodes run discv4 only, five PEX only, five both. Every node fills its dialed slots,
//! the PEX-only nodes reach nodes that discv4 found for others, the nodes running both that
//! have a `pex/1` peer learn every PEX-only node in their books, and a discv4-only node's
//! sessions with PEX nodes carry the shared protocol without `pex/1`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod node_support;

use std::{collections::HashSet, time::Duration};

use discv4::service::Discv4Config;
use enode::PeerId;
use kadnode::{
    pex::{AddressBook, BookConfig, PexConfig},
    Direction, P2pConfig,
};
use node_support::*;

const EACH: usize = 5;
const MAX_PEERS: usize = 9;
const WAIT: Duration = Duration::from_secs(180);

fn pex(seed_mode: bool, seeds: Vec<enode::NodeRecord>) -> PexConfig {
    let mut pex = PexConfig::new(AddressBook::factory(BookConfig {
        busy_backoff: Duration::from_millis(500),
        ..BookConfig::default()
    }));
    pex.seed_mode = seed_mode;
    pex.seeds = seeds;
    pex.ensure_period = Duration::from_millis(500);
    pex.max_ensure_period = Duration::from_secs(2);
    pex.crawl_period = Duration::from_secs(1);
    pex
}

fn tune(c: &mut P2pConfig) {
    c.max_peers = MAX_PEERS;
    c.dial_history = Duration::from_millis(300);
    c.backoff.short = Duration::from_millis(200);
    c.backoff.medium = Duration::from_millis(200);
    c.backoff.medium_max = Duration::from_secs(1);
    c.backoff.long = Duration::from_secs(1);
    c.backoff.long_max = Duration::from_secs(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv4_and_pex_nodes_share_one_network() {
    let seed = start_with(
        |c| {
            tune(c);
            c.dial_discovered = false;
            c.pex = Some(pex(true, Vec::new()));
        },
        Some(Discv4Config::default()),
    )
    .await;
    let boot = seed.record();
    let discv4 = || Discv4Config {
        bootnodes: vec![boot],
        ..Discv4Config::default()
    };
    let mut discv4_only = Vec::new();
    let mut pex_only = Vec::new();
    let mut both = Vec::new();
    for _ in 0..EACH {
        discv4_only.push(start_with(tune, Some(discv4())).await);
        pex_only.push(
            start_with(
                |c| {
                    tune(c);
                    c.pex = Some(pex(false, vec![boot]));
                },
                None,
            )
            .await,
        );
        both.push(
            start_with(
                |c| {
                    tune(c);
                    c.pex = Some(pex(false, vec![boot]));
                },
                Some(discv4()),
            )
            .await,
        );
    }
    let dialed_target = P2pConfig {
        max_peers: MAX_PEERS,
        ..P2pConfig::default()
    }
    .max_dialed();
    let pex_only_ids: HashSet<PeerId> = pex_only.iter().map(TestNode::id).collect();
    let discv4_only_ids: HashSet<PeerId> = discv4_only.iter().map(TestNode::id).collect();
    let all: Vec<&TestNode> = discv4_only.iter().chain(&pex_only).chain(&both).collect();

    fn shares_pex(peer: &kadnode::PeerInfo) -> bool {
        peer.shared.iter().any(|c| c.name == "pex")
    }
    async fn count_peers(node: &TestNode, which: impl Fn(&kadnode::PeerInfo) -> bool) -> usize {
        let peers = node.handle().peers().await.unwrap();
        peers.iter().filter(|p| which(p)).count()
    }
    let outbound = |node| count_peers(node, |p| p.slot == Direction::Outbound);
    let known_pex_only = |node: &TestNode| {
        let pex = node.node.pex().unwrap().clone();
        let ids = pex_only_ids.clone();
        async move {
            let dump = pex.book().await.unwrap();
            dump.entries
                .iter()
                .filter(|e| ids.contains(&enode::enr_peer_id(&e.record).unwrap()))
                .count()
        }
    };
    // A node running both whose dialed slots discv4 filled before it reached the seed, and
    // that nobody dials, has no pex/1 session: its book stays empty, and it has nobody to pass
    // PEX-only nodes to either. It must not hold the test; every node running both that has a
    // pex/1 peer must come to know every PEX-only node, and at least one does.
    let pex_peers = |node| count_peers(node, shares_pex);
    let settled = tokio::time::timeout(WAIT, async {
        loop {
            let mut done = true;
            for node in &all {
                done &= outbound(node).await >= dialed_target;
            }
            let mut bridges = 0;
            for node in &both {
                let knows_all = known_pex_only(node).await >= EACH;
                bridges += usize::from(knows_all);
                done &= knows_all || pex_peers(node).await == 0;
            }
            done &= bridges > 0;
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if settled.is_err() {
        for (kind, nodes) in [
            ("discv4", &discv4_only),
            ("pex", &pex_only),
            ("both", &both),
        ] {
            for node in nodes.iter() {
                eprintln!("{kind}: {} dialed", outbound(node).await);
            }
        }
        let kind_of = |id: &PeerId| {
            if pex_only_ids.contains(id) {
                "pex"
            } else if discv4_only_ids.contains(id) {
                "discv4"
            } else if *id == seed.id() {
                "seed"
            } else {
                "both"
            }
        };
        for node in &both {
            let known = known_pex_only(node).await;
            let book = node.node.pex().unwrap().book().await.unwrap();
            let peers: Vec<String> = node
                .handle()
                .peers()
                .await
                .unwrap()
                .iter()
                .map(|p| {
                    let pex = if shares_pex(p) { "+pex" } else { "" };
                    format!("{}/{:?}{pex}", kind_of(&p.id), p.slot)
                })
                .collect();
            let entries: Vec<&str> = book
                .entries
                .iter()
                .map(|e| kind_of(&enode::enr_peer_id(&e.record).unwrap()))
                .collect();
            eprintln!(
                "both: knows {known} pex-only nodes; book {:?} {entries:?}; peers {peers:?}; pex metrics {:?}",
                book.stats,
                node.node.pex().unwrap().metrics()
            );
        }
        panic!("the mixed network did not settle in {WAIT:?}");
    }

    // Sessions across the kinds carry the test protocol; pex/1 only where both run it.
    let mut crossed = false;
    for node in &discv4_only {
        for peer in node.handle().peers().await.unwrap() {
            let names: Vec<String> = peer.shared.iter().map(|c| c.name.to_string()).collect();
            assert!(!names.contains(&"pex".to_owned()), "{names:?}");
            assert!(names.contains(&"kadtest".to_owned()), "{names:?}");
            crossed |= !discv4_only_ids.contains(&peer.id);
        }
    }
    assert!(
        crossed,
        "no discv4-only node has a session with a node running PEX"
    );
    for node in &pex_only {
        assert_eq!(node.node.pex().unwrap().metrics().bans(), 0);
    }
    drop(all);
    for node in discv4_only.into_iter().chain(pex_only).chain(both) {
        node.node.shutdown().await;
    }
    seed.node.shutdown().await;
}
