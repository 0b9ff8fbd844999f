//! `kadnode node`: two full nodes on loopback find each other as static peers, print their
//! peer events, and a SIGTERM ends the session with Disconnect 0x08 seen by the other side.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use std::time::Duration;

use cli_support::*;

fn start_node(extra: &[&str]) -> (Proc, String) {
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
    (proc, value["enode"].as_str().unwrap().to_owned())
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
