//! discv4 interop with ethereumjs (`@ethereumjs/devp2p` 10.0.0, driven through
//! `tests/js/dpt.mjs`): each side bootstraps from the other and finds nodes through it.
//! Skipped (with a message) when `tests/js/node_modules` is missing; see tests/js/README.md.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::{net::SocketAddr, time::Duration};

use common::js::{listening, JsPeer};
use discv4::{
    db::NodeDb,
    service::{self, Discv4Config, Discv4Handle},
    table::TableEvent,
};
use enode::{NodeRecord, PeerId, SecretKey};
use serde_json::{json, Value};
use tokio::sync::broadcast::{self, error::RecvError};

/// Bound on every single wait; ethereumjs pings time out after 4 s, our requests after 500 ms.
const WAIT: Duration = Duration::from_secs(15);

/// An ethereumjs DPT on loopback, with its record as our side sees it.
async fn start_dpt(extra: &[&str]) -> Option<(JsPeer, NodeRecord)> {
    let mut args = vec!["0"];
    args.extend_from_slice(extra);
    let mut peer = JsPeer::spawn("dpt.mjs", &args)?;
    let event = peer.wait_event("listening", WAIT).await.unwrap();
    let (port, id) = listening(&event);
    let record = NodeRecord {
        address: "127.0.0.1".parse().unwrap(),
        udp_port: port,
        tcp_port: 0,
        id: id.parse().unwrap(),
    };
    Some((peer, record))
}

/// Our node on loopback with the given configuration.
async fn start_node(config: Discv4Config) -> (Discv4Handle, NodeRecord) {
    let key = SecretKey::new(&mut rand::thread_rng());
    let transport = service::bind_udp("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr: SocketAddr = transport.local_addr().unwrap();
    let tcp_port = config.tcp_port;
    let handle = service::spawn(config, key, transport, NodeDb::in_memory().unwrap()).unwrap();
    let record = NodeRecord {
        address: addr.ip(),
        udp_port: addr.port(),
        tcp_port,
        id: handle.local_id(),
    };
    (handle, record)
}

/// Waits for `NodeAdded` of `id`; returns the record the table took.
async fn wait_added(events: &mut broadcast::Receiver<TableEvent>, id: PeerId) -> NodeRecord {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(TableEvent::NodeAdded(record)) if record.id == id => return record,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("our service stopped"),
            }
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("{id} never entered our table within {WAIT:?}"))
}

/// Every node in our table.
async fn table_nodes(handle: &Discv4Handle) -> Vec<NodeRecord> {
    handle
        .buckets()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|b| b.entries.into_iter().map(|e| e.record))
        .collect()
}

/// The peers a DPT holds (its `peers` command).
async fn dpt_peers(dpt: &mut JsPeer) -> Vec<Value> {
    dpt.send(json!({"cmd": "peers"})).await.unwrap();
    let event = dpt.wait_event("peers", WAIT).await.unwrap();
    event["peers"].as_array().cloned().unwrap_or_default()
}

fn bootstrap_cmd(to: &NodeRecord) -> Value {
    json!({"cmd": "bootstrap", "address": to.address.to_string(), "udpPort": to.udp_port})
}

/// Waits for the DPT's `peer:added` of `id` and returns the peer it reports.
async fn dpt_added(dpt: &mut JsPeer, id: &PeerId) -> Value {
    let id = id.to_string();
    dpt.wait_for(
        |e| e["event"] == "peer:added" && e["id"] == id.as_str(),
        WAIT,
    )
    .await
    .unwrap()
}

/// The ethereumjs side of "bootstraps from our node": PING → our PONG, our ping-back → its
/// PONG, both tables hold the other, and its FINDNODE gets a NEIGHBORS it can decode.
async fn dpt_bootstraps_from_us(dpt: &mut JsPeer, dpt_record: &NodeRecord, tcp_port: u16) {
    let (node, record) = start_node(Discv4Config {
        tcp_port: 30_333,
        ..Default::default()
    })
    .await;
    let mut events = node.subscribe();

    dpt.send(bootstrap_cmd(&record)).await.unwrap();
    let ok = dpt.wait_event("bootstrap:ok", WAIT).await.unwrap();
    assert_eq!(ok["id"], record.id.to_string().as_str(), "{ok}");

    // We answered its PING, pinged it back at the packet's source, got its PONG: bonded.
    let added = wait_added(&mut events, dpt_record.id).await;
    assert_eq!(
        (added.address, added.udp_port, added.tcp_port),
        (dpt_record.address, dpt_record.udp_port, tcp_port),
        "the table holds its UDP source and the TCP port of its PING"
    );
    assert!(table_nodes(&node).await.contains(&added));

    // It added us: the endpoint it learnt is the one our PONG/PING carried.
    let peer = dpt_added(dpt, &record.id).await;
    assert_eq!(peer["address"], "127.0.0.1", "{peer}");
    assert_eq!(peer["udpPort"], record.udp_port, "{peer}");
    let peers = dpt_peers(dpt).await;
    assert!(
        peers
            .iter()
            .any(|p| p["id"] == record.id.to_string().as_str()),
        "our node is missing from its peers: {peers:?}"
    );

    // Bonded both ways, so its FINDNODE is answered and our NEIGHBORS decodes on its side
    // (a decode failure would show as an `error` event instead).
    dpt.send(json!({"cmd": "findneighbours", "address": "127.0.0.1", "udpPort": record.udp_port}))
        .await
        .unwrap();
    let neighbours = dpt
        .wait_for(
            |e| e["event"] == "neighbours" && e["port"] == record.udp_port,
            WAIT,
        )
        .await
        .unwrap();
    assert!(neighbours["peers"].is_array(), "{neighbours}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereumjs_bootstraps_from_our_node() {
    let Some((mut dpt, dpt_record)) = start_dpt(&["--tcp-port", "30304"]).await else {
        return;
    };
    dpt_bootstraps_from_us(&mut dpt, &dpt_record, 30304).await;
    dpt.exit().await;
}

/// ethereumjs writes every port as two bytes, so a TCP port of 0 arrives as `82 00 00`, a
/// non-canonical RLP integer; strict decoding would drop all its packets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereumjs_with_tcp_port_zero_bootstraps_from_our_node() {
    let Some((mut dpt, dpt_record)) = start_dpt(&["--tcp-port", "0"]).await else {
        return;
    };
    dpt_bootstraps_from_us(&mut dpt, &dpt_record, 0).await;
    dpt.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_node_bootstraps_from_ethereumjs_and_finds_a_third_node() {
    let Some((mut boot, boot_record)) = start_dpt(&[]).await else {
        return;
    };
    let Some((mut third, third_record)) = start_dpt(&[]).await else {
        return;
    };
    // The third DPT joins through the second first, so the second can tell us about it.
    third.send(bootstrap_cmd(&boot_record)).await.unwrap();
    third.wait_event("bootstrap:ok", WAIT).await.unwrap();
    dpt_added(&mut boot, &third_record.id).await;

    let (node, record) = start_node(Discv4Config {
        bootnodes: vec![boot_record],
        ..Default::default()
    })
    .await;
    let mut events = node.subscribe();
    // The refresh's self-lookup bonds with the bootnode (ethereumjs pings us back at the
    // `from` of our PING, so it adds us too) and asks it for nodes: the third DPT is among
    // them and we bond with it in turn.
    let found = wait_added(&mut events, third_record.id).await;
    assert_eq!(
        (found.address, found.udp_port),
        (third_record.address, third_record.udp_port)
    );
    dpt_added(&mut boot, &record.id).await;

    // A lookup for the third node's id finds it (through the bootnode or itself).
    let result = tokio::time::timeout(WAIT, node.lookup(third_record.id))
        .await
        .expect("lookup did not finish in time")
        .unwrap();
    assert!(
        result.iter().any(|r| r.id == third_record.id
            && r.udp_port == third_record.udp_port
            && r.address == third_record.address),
        "lookup result lacks the third node: {result:?}"
    );
    let table = table_nodes(&node).await;
    for expected in [boot_record.id, third_record.id] {
        assert!(
            table.iter().any(|r| r.id == expected),
            "{expected} missing from our table: {table:?}"
        );
    }
    node.shutdown().await;
    boot.exit().await;
    third.exit().await;
}
