//! RLPx interop with go-ethereum v1.17.10 on loopback: `kadnode rlpx ping` reads a go-ethereum
//! node's Hello, go-ethereum's `devp2p rlpx ping` reads ours, and a go-ethereum `p2p.Server`
//! (`kadpeer`) runs a whole session with `kadnode rlpx listen`. Needs `tests/geth/build.sh`
//! (skips without it unless `KADNODE_REQUIRE_GETH=1`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;
mod geth_support;

use cli_support::*;
use geth_support::{tools, KadPeer};

#[test]
fn kadnode_rlpx_ping_prints_a_geth_nodes_hello() {
    let Some(geth) = tools() else { return };
    let peer = KadPeer::start(&geth, &["--nodial"]);
    let out = run(KADNODE, &["rlpx", "ping", &peer.enode()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("client id:    kadpeer/geth-v1.17.10"),
        "{out:?}"
    );
    assert!(out.stdout.contains("version:      5"), "{out:?}");
    assert!(out.stdout.contains("capabilities: kadtest/1"), "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("id:           {}", peer.pubkey())),
        "{out:?}"
    );
}

fn rlpx_listen() -> (Proc, String) {
    let mut listener = Proc::spawn(
        KADNODE,
        &[
            "rlpx",
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--caps",
            "kadtest/1/2",
            "--client-id",
            "kadnode-interop",
        ],
    );
    let enode = listener.wait_stdout(|l| l.starts_with("enode://"));
    listener.wait_stdout(|l| l.starts_with("listening on tcp"));
    (listener, enode)
}

#[test]
fn geth_devp2p_rlpx_ping_prints_our_hello() {
    let Some(geth) = tools() else { return };
    let (_listener, enode) = rlpx_listen();
    let out = run(&geth.devp2p, &["rlpx", "ping", &enode]);
    assert_eq!(out.code, 0, "{out:?}");
    // go-ethereum prints the decoded Hello with Go's %+v.
    let hello = out.stdout.trim();
    assert!(
        hello.starts_with("{Version:5 Name:kadnode-interop "),
        "{out:?}"
    );
    assert!(hello.contains(" Caps:[kadtest/1] "), "{out:?}");
    let port = enode.rsplit(':').next().unwrap();
    assert!(hello.contains(&format!(" ListenPort:{port} ")), "{out:?}");
}

#[test]
fn geth_node_runs_a_session_with_our_rlpx_listener() {
    let Some(geth) = tools() else { return };
    let (mut listener, enode) = rlpx_listen();
    let listener_key = pubkey_of(&enode);
    // go-ethereum dials us as a static peer and greets on kadtest/1 (code 0).
    let mut peer = KadPeer::start(
        &geth,
        &[
            "--nodiscover",
            "--static",
            &enode,
            "--greeting",
            "hi from geth",
        ],
    );
    let added = peer.wait_event("peer:added", |e| e["pubkey"] == listener_key.as_str());
    assert_eq!(added["name"], "kadnode-interop", "{added}");
    assert_eq!(added["caps"], serde_json::json!(["kadtest/1"]), "{added}");
    assert_eq!(added["inbound"], false, "{added}");

    listener.wait_stdout(|l| l.contains("client id:    kadpeer/geth-v1.17.10"));
    listener.wait_stdout(|l| l.contains("shared:       kadtest/1"));
    // "hi from geth" is a 12-byte string: 13 bytes of RLP.
    listener.wait_stdout(|l| l.contains("kadtest/1 message code 0x00, 13 bytes"));
}
