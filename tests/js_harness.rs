//! Smoke tests of the ethereumjs interop harness: two JS discv4 nodes find each other and
//! two JS RLPx nodes complete a session, proving the scripts and `JsPeer` work.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::js::{listening, JsPeer};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);

async fn start(script: &str, args: &[&str]) -> Option<(JsPeer, u16, String)> {
    let mut peer = JsPeer::spawn(script, args)?;
    let event = peer.wait_event("listening", WAIT).await.unwrap();
    let (port, id) = listening(&event);
    assert_ne!(port, 0);
    assert_eq!(id.len(), 128, "node id must be 64 bytes of hex: {event}");
    Some((peer, port, id))
}

#[tokio::test]
async fn dpt_reports_port_and_key_derived_id() {
    // Secret key 1: its public key is the secp256k1 generator point G.
    let key = format!("{:064x}", 1);
    let Some((peer, _, id)) = start("dpt.mjs", &["0", &key]).await else {
        return;
    };
    assert_eq!(
        id,
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\
         483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
    );
    peer.exit().await;
}

#[tokio::test]
async fn dpt_nodes_bootstrap_from_each_other() {
    let Some((mut a, a_port, a_id)) = start("dpt.mjs", &["0"]).await else {
        return;
    };
    let Some((mut b, b_port, b_id)) = start("dpt.mjs", &["0"]).await else {
        return;
    };
    b.send(json!({"cmd": "bootstrap", "address": "127.0.0.1", "udpPort": a_port}))
        .await
        .unwrap();
    let ok = b.wait_event("bootstrap:ok", WAIT).await.unwrap();
    assert_eq!(ok["id"], a_id.as_str());
    let added = b
        .wait_for(
            |e| e["event"] == "peer:added" && e["id"] == a_id.as_str(),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(added["udpPort"], a_port);
    assert_eq!(added["address"], "127.0.0.1");
    // A pings B back at the `from` endpoint of B's PING and adds it.
    let added = a
        .wait_for(
            |e| e["event"] == "peer:added" && e["id"] == b_id.as_str(),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(added["udpPort"], b_port);

    // A third node asking B for neighbours hears about A (NEIGHBORS decoded by the harness).
    let Some((mut c, _, _)) = start("dpt.mjs", &["0", "--find-neighbours", "false"]).await else {
        return;
    };
    c.send(json!({"cmd": "ping", "address": "127.0.0.1", "udpPort": b_port}))
        .await
        .unwrap();
    let pong = c.wait_event("pong", WAIT).await.unwrap();
    assert_eq!(pong["id"], b_id.as_str());
    c.send(
        json!({"cmd": "findneighbours", "address": "127.0.0.1", "udpPort": b_port, "target": a_id}),
    )
    .await
    .unwrap();
    let neighbours = c.wait_event("neighbours", WAIT).await.unwrap();
    assert_eq!(neighbours["port"], b_port);
    let peers = neighbours["peers"].as_array().unwrap();
    assert!(
        peers
            .iter()
            .any(|p| p["id"] == a_id.as_str() && p["udpPort"] == a_port),
        "A missing from {neighbours}"
    );

    b.send(json!({"cmd": "peers"})).await.unwrap();
    let listed = b.wait_event("peers", WAIT).await.unwrap();
    assert!(listed["peers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == a_id.as_str()));
    for peer in [a, b, c] {
        peer.exit().await;
    }
}

#[tokio::test]
async fn rlpx_nodes_connect_exchange_hellos_ping_and_disconnect() {
    let Some((mut a, a_port, a_id)) = start("rlpx.mjs", &["0", "--client-id", "harness-a"]).await
    else {
        return;
    };
    let Some((mut b, _, b_id)) = start("rlpx.mjs", &["0", "--client-id", "harness-b"]).await else {
        return;
    };
    b.send(json!({"cmd": "connect", "id": a_id, "address": "127.0.0.1", "tcpPort": a_port}))
        .await
        .unwrap();

    let at_b = b.wait_event("peer:added", WAIT).await.unwrap();
    assert_eq!(at_b["id"], a_id.as_str());
    assert_eq!(at_b["helloId"], a_id.as_str());
    assert_eq!(at_b["clientId"], "harness-a");
    assert_eq!(at_b["protocolVersion"], 5);
    assert_eq!(
        at_b["capabilities"],
        json!([{"name": "snap", "version": 1}])
    );
    assert_eq!(at_b["protocols"], json!(["snap/1"]));
    let at_a = a.wait_event("peer:added", WAIT).await.unwrap();
    assert_eq!(at_a["id"], b_id.as_str());
    assert_eq!(at_a["clientId"], "harness-b");

    // p2p PING from B is answered by A's PONG.
    b.send(json!({"cmd": "ping", "id": a_id})).await.unwrap();
    a.wait_event("ping", WAIT).await.unwrap();
    let pong = b.wait_event("pong", WAIT).await.unwrap();
    assert_eq!(pong["id"], a_id.as_str());

    // A snap message travels and is reported with its RLP payload.
    // GetByteCodes: [reqID=1, [hash], bytes=100]
    let payload = format!("e401e1a0{}64", "11".repeat(32));
    b.send(json!({"cmd": "send", "id": a_id, "code": 4, "payload": payload}))
        .await
        .unwrap();
    b.wait_event("send:ok", WAIT).await.unwrap();
    let message = a.wait_event("message", WAIT).await.unwrap();
    assert_eq!(message["id"], b_id.as_str());
    assert_eq!(message["protocol"], "snap/1");
    assert_eq!(message["code"], 4);
    assert_eq!(message["payload"], payload.as_str());

    // CLIENT_QUITTING (0x08) from A.
    a.send(json!({"cmd": "disconnect", "id": b_id, "reason": 8}))
        .await
        .unwrap();
    let received = b.wait_event("disconnect:received", WAIT).await.unwrap();
    assert_eq!(received["payload"], "08", "reason as a bare RLP integer");
    let removed_b = b.wait_event("peer:removed", WAIT).await.unwrap();
    assert_eq!(removed_b["id"], a_id.as_str());
    assert_eq!(removed_b["reason"], 8);
    assert_eq!(removed_b["disconnectWe"], false);
    let removed_a = a.wait_event("peer:removed", WAIT).await.unwrap();
    assert_eq!(removed_a["reason"], 8);
    assert_eq!(removed_a["disconnectWe"], true);
    a.exit().await;
    b.exit().await;
}

#[tokio::test]
async fn bad_commands_are_reported_not_fatal() {
    let Some((mut a, _, _)) = start("rlpx.mjs", &["0"]).await else {
        return;
    };
    a.send(json!({"cmd": "no-such-command"})).await.unwrap();
    let err = a.wait_event("error", WAIT).await.unwrap();
    assert_eq!(err["source"], "command");
    a.send(json!({"cmd": "connect", "id": "zz", "address": "127.0.0.1", "tcpPort": 1}))
        .await
        .unwrap();
    let err = a.wait_event("error", WAIT).await.unwrap();
    assert_eq!(err["cmd"], "connect");
    a.send(json!({"cmd": "peers"})).await.unwrap();
    assert_eq!(
        a.wait_event("peers", WAIT).await.unwrap()["peers"],
        json!([])
    );
    a.exit().await;
}

#[tokio::test]
async fn rlpx_reports_sessions_that_end_before_they_are_established() {
    // No shared capability: both sides see the other's Hello and end with USELESS_PEER
    // (whichever DISCONNECT lands first), and neither reaches `peer:added`.
    let Some((mut a, a_port, a_id)) = start("rlpx.mjs", &["0"]).await else {
        return;
    };
    let Some((mut b, _, _)) = start("rlpx.mjs", &["0", "--capabilities", "eth/68"]).await else {
        return;
    };
    b.send(json!({"cmd": "connect", "id": a_id, "address": "127.0.0.1", "tcpPort": a_port}))
        .await
        .unwrap();
    for peer in [&mut a, &mut b] {
        let closed = peer.wait_event("connection:closed", WAIT).await.unwrap();
        assert_eq!(closed["reason"], 3, "USELESS_PEER: {closed}");
    }
    a.send(json!({"cmd": "peers"})).await.unwrap();
    let listed = a.wait_event("peers", WAIT).await.unwrap();
    assert_eq!(listed["peers"], json!([]));
    a.exit().await;
    b.exit().await;
}
