//! The `eth/68` Status example (`examples/eth68`) running inside a kadnode node against
//! ethereumjs (`tests/js/rlpx.mjs --eth-hardfork shanghai`), in both directions: the node's
//! dialer dials ethereumjs, and ethereumjs dials the node's server. Each side validates the
//! other's network id, genesis and EIP-2124 fork id. A node running PEX keeps its `eth`
//! session with ethereumjs, which has no `pex/1`. Skips when node or
//! `tests/js/node_modules` is missing (fails instead with `KADNODE_REQUIRE_JS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
#[path = "../examples/eth68/status.rs"]
mod status;

use std::{net::Ipv4Addr, sync::Arc, time::Duration};

use common::js::{listening, JsPeer};
use enode::{NodeRecord, PeerId};
use kadnode::{pex::PexConfig, Direction, Node, NodeConfig, P2pConfig, PeerEvent, PeerInfo};
use serde_json::json;
use status::{Chain, EthStatus, Status};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);
/// Mainnet after Shanghai (block, time): the fork ethereumjs runs with `--eth-hardfork shanghai`.
const HEAD: (u64, u64) = (17_034_870, 1_681_338_479);

/// ethereumjs with eth/68 on Shanghai, listening on a free port; `None` when it cannot run.
fn spawn_ethereumjs() -> Option<JsPeer> {
    JsPeer::spawn(
        "rlpx.mjs",
        &[
            "0",
            "--capabilities",
            "eth/68",
            "--eth-hardfork",
            "shanghai",
        ],
    )
}

async fn start_node(
    static_nodes: Vec<NodeRecord>,
) -> (Node, mpsc::UnboundedReceiver<(PeerInfo, Status)>) {
    start_node_with(static_nodes, None).await
}

async fn start_node_with(
    static_nodes: Vec<NodeRecord>,
    pex: Option<PexConfig>,
) -> (Node, mpsc::UnboundedReceiver<(PeerInfo, Status)>) {
    let (statuses, accepted) = mpsc::unbounded_channel();
    let eth = EthStatus {
        chain: Chain::mainnet(),
        head: HEAD,
        statuses,
    };
    let node = Node::start(NodeConfig {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        discovery: None,
        p2p: Some(P2pConfig {
            protocols: vec![Arc::new(eth)],
            static_nodes: static_nodes.into_iter().map(Into::into).collect(),
            pex,
            ..P2pConfig::default()
        }),
        ..NodeConfig::default()
    })
    .await
    .unwrap();
    (node, accepted)
}

async fn check_both_statuses(
    js: &mut JsPeer,
    accepted: &mut mpsc::UnboundedReceiver<(PeerInfo, Status)>,
    js_id: &str,
    our_id: PeerId,
    direction: Direction,
) {
    let (peer, status) = tokio::time::timeout(WAIT, accepted.recv())
        .await
        .expect("no Status from ethereumjs")
        .unwrap();
    assert_eq!(peer.id.to_string(), js_id);
    assert_eq!(peer.direction, direction);
    assert_eq!(status.network_id, 1);
    assert_eq!(status.genesis, Chain::mainnet().genesis);
    assert_eq!(status.fork_id, Chain::mainnet().fork_id(HEAD.0, HEAD.1));
    let theirs = js.wait_event("eth:status", WAIT).await.unwrap();
    assert_eq!(theirs["id"], our_id.to_string());
    assert_eq!(theirs["forkHash"], "dce96c2d");
    assert_eq!(theirs["chainId"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_dialer_runs_eth_status_with_ethereumjs() {
    let Some(mut js) = spawn_ethereumjs() else {
        return;
    };
    let (port, js_id) = listening(&js.wait_event("listening", WAIT).await.unwrap());
    let target = NodeRecord {
        address: Ipv4Addr::LOCALHOST.into(),
        udp_port: 0,
        tcp_port: port,
        id: js_id.parse().unwrap(),
    };
    let (node, mut accepted) = start_node(vec![target]).await;
    check_both_statuses(
        &mut js,
        &mut accepted,
        &js_id,
        node.peer_id(),
        Direction::Outbound,
    )
    .await;
    node.shutdown().await;
    js.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereumjs_dials_our_server_and_runs_eth_status() {
    let Some(mut js) = spawn_ethereumjs() else {
        return;
    };
    let (_, js_id) = listening(&js.wait_event("listening", WAIT).await.unwrap());
    let (node, mut accepted) = start_node(Vec::new()).await;
    let tcp = node.tcp_addr().unwrap();
    js.send(json!({"cmd": "connect", "id": node.peer_id().to_string(), "address": "127.0.0.1", "tcpPort": tcp.port()}))
        .await
        .unwrap();
    check_both_statuses(
        &mut js,
        &mut accepted,
        &js_id,
        node.peer_id(),
        Direction::Inbound,
    )
    .await;
    node.shutdown().await;
    let removed = js.wait_event("peer:removed", WAIT).await.unwrap();
    assert_eq!(removed["reason"], 8, "{removed}");
    js.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pex_node_keeps_its_eth_session_with_ethereumjs_which_has_no_pex() {
    let Some(mut js) = spawn_ethereumjs() else {
        return;
    };
    let (port, js_id) = listening(&js.wait_event("listening", WAIT).await.unwrap());
    let target = NodeRecord {
        address: Ipv4Addr::LOCALHOST.into(),
        udp_port: 0,
        tcp_port: port,
        id: js_id.parse().unwrap(),
    };
    // PEX asks often, so that a PEX that talked to peers without pex/1 would show it.
    let pex = PexConfig {
        ensure_period: Duration::from_millis(50),
        max_ensure_period: Duration::from_millis(100),
        ..PexConfig::default()
    };
    let (node, mut accepted) = start_node_with(vec![target], Some(pex)).await;
    let mut events = node.p2p().unwrap().subscribe();
    check_both_statuses(
        &mut js,
        &mut accepted,
        &js_id,
        node.peer_id(),
        Direction::Outbound,
    )
    .await;
    let peers = node.p2p().unwrap().peers().await.unwrap();
    let peer = peers.iter().find(|p| p.id.to_string() == js_id).unwrap();
    assert_eq!(
        peer.shared
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["eth/68"]
    );
    // A second of PEX ask ticks (20 or more): the session stays, PEX never counts it.
    let dropped = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match events.recv().await {
                Ok(PeerEvent::Dropped { id, end }) if id.to_string() == js_id => return end,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert!(dropped.is_err(), "the eth session ended: {dropped:?}");
    let metrics = node.pex().unwrap().metrics();
    assert_eq!(metrics.sessions(), 0);
    assert_eq!(metrics.requests_sent(), 0);
    assert_eq!(node.p2p().unwrap().peers().await.unwrap().len(), 1);
    node.shutdown().await;
    js.exit().await;
}
