//! `kadnode node`: two full nodes on loopback find each other as static peers, print their
//! peer events, and a SIGTERM ends the session with Disconnect 0x08 seen by the other side.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use std::time::Duration;

use cli_support::*;

fn start_node(extra: &[&str]) -> (Proc, String) {
    let (proc, enode, _) = start_node_identity(extra);
    (proc, enode)
}

fn start_node_identity(extra: &[&str]) -> (Proc, String, serde_json::Value) {
    let mut args = vec![
        "--json",
        "node",
        "--addr",
        "127.0.0.1:0",
        "--caps",
        "eth/68,snap/1",
    ];
    args.extend_from_slice(extra);
    let mut proc = Proc::spawn(KADNODE, &args);
    let identity = proc.wait_stdout(|l| l.contains("\"enode\""));
    let value: serde_json::Value = serde_json::from_str(&identity).unwrap();
    proc.wait_stdout(|l| l.contains("\"listening\""));
    let enode = value["enode"].as_str().unwrap().to_owned();
    (proc, enode, value)
}

#[test]
fn static_peer_session_and_clean_shutdown() {
    let (mut a, a_enode) = start_node(&[]);
    let (mut b, _) = start_node(&["--static", &a_enode, "--nodiscover"]);
    let added = b.wait_stdout(|l| l.contains("\"peer-added\""));
    let added: serde_json::Value = serde_json::from_str(&added).unwrap();
    assert_eq!(added["direction"], "outbound");
    assert_eq!(added["static"], true);
    assert_eq!(added["caps"], serde_json::json!(["eth/68", "snap/1"]));
    assert_eq!(added["id"].as_str().unwrap(), pubkey_of(&a_enode));
    let at_a = a.wait_stdout(|l| l.contains("\"peer-added\""));
    assert!(at_a.contains("\"inbound\""), "{at_a}");

    b.sigterm();
    assert!(b.wait_exit(Duration::from_secs(10)).success());
    let dropped = a.wait_stdout(|l| l.contains("\"peer-dropped\""));
    let dropped: serde_json::Value = serde_json::from_str(&dropped).unwrap();
    assert_eq!(dropped["reason"], 8, "{dropped}");
    assert_eq!(dropped["byRemote"], true);
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn admin_rpc_and_peer_metrics() {
    let (mut a, a_enode) = start_node(&[]);
    let (mut b, _, identity) = start_node_identity(&[
        "--nodiscover",
        "--rpc",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let rpc_url = identity["rpc"].as_str().unwrap().to_owned();
    let metrics_url = identity["metrics"].as_str().unwrap().to_owned();

    let added = rpc(&rpc_url, "admin_addPeer", serde_json::json!([a_enode]));
    assert_eq!(added["result"], true, "{added}");
    b.wait_stdout(|l| l.contains("\"peer-added\""));
    let peers = rpc(&rpc_url, "admin_peers", serde_json::json!([]));
    let peers = peers["result"].as_array().unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0]["network"]["static"], true);
    assert_eq!(peers[0]["network"]["inbound"], false);
    assert_eq!(peers[0]["caps"], serde_json::json!(["eth/68", "snap/1"]));
    let info = rpc(&rpc_url, "admin_nodeInfo", serde_json::json!([]));
    assert!(
        info["result"]["enr"].as_str().unwrap().starts_with("enr:"),
        "{info}"
    );

    let (status, text) = http(&metrics_url, "GET", None);
    assert_eq!(status, 200);
    assert!(
        text.contains("p2p_peers{direction=\"outbound\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("p2p_dials_total{outcome=\"connected\"} 1"),
        "{text}"
    );

    let removed = rpc(&rpc_url, "admin_removePeer", serde_json::json!([a_enode]));
    assert_eq!(removed["result"], true, "{removed}");
    let dropped = b.wait_stdout(|l| l.contains("\"peer-dropped\""));
    assert!(dropped.contains("\"reason\":0"), "{dropped}");
    let (_, text) = http(&metrics_url, "GET", None);
    assert!(
        text.contains("p2p_disconnects_total{reason=\"0x00\",side=\"local\"} 1"),
        "{text}"
    );
    b.sigterm();
    a.sigterm();
    assert!(b.wait_exit(Duration::from_secs(10)).success());
    assert!(a.wait_exit(Duration::from_secs(10)).success());
}
