//! discv4 interop with go-ethereum v1.17.10 on loopback: go-ethereum's own conformance suite
//! and `devp2p` probes against our bootnode, and a go-ethereum `p2p.Server` (`kadpeer`)
//! bootstrapping from our nodes and they from it. Needs `tests/geth/build.sh` (skips
//! without it unless `KADNODE_REQUIRE_GETH=1`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;
mod geth_support;

use cli_support::*;
use geth_support::{tools, KadPeer};

/// go-ethereum's discv4 conformance cases (`cmd/devp2p/internal/v4test`), in its order.
const GETH_CASES: [&str; 15] = [
    "Ping/Basic",
    "Ping/WrongTo",
    "Ping/WrongFrom",
    "Ping/ExtraData",
    "Ping/ExtraDataWrongFrom",
    "Ping/PastExpiration",
    "Ping/WrongPacketType",
    "Ping/BondThenPingWithWrongFrom",
    "ENRRequest",
    "Findnode/WithoutEndpointProof",
    "Findnode/BasicFindnode",
    "Findnode/UnsolicitedNeighbors",
    "Findnode/PastExpiration",
    "Amplification/InvalidPongHash",
    "Amplification/WrongIP",
];

/// `(name, passed)` for each `-- OK name (…)` / `-- FAIL name (…)` line of devp2p's report.
fn geth_results(stdout: &str) -> Vec<(String, bool)> {
    stdout
        .lines()
        .filter_map(|line| {
            let (rest, ok) = if let Some(rest) = line.strip_prefix("-- OK ") {
                (rest, true)
            } else {
                (line.strip_prefix("-- FAIL ")?, false)
            };
            let name = rest.rsplit_once(" (").map_or(rest, |(name, _)| name);
            Some((name.to_owned(), ok))
        })
        .collect()
}

/// `devp2p discv4 <args>` with a loopback socket and no mainnet bootnodes (devp2p's default).
fn devp2p_discv4(devp2p: &str, command: &str, bootnodes: &str, node: &str) -> Output {
    run(
        devp2p,
        &[
            "discv4",
            command,
            "--addr",
            "127.0.0.1:0",
            "--bootnodes",
            bootnodes,
            node,
        ],
    )
}

#[test]
fn geth_conformance_suite_passes_all_15_cases_against_our_bootnode() {
    let Some(geth) = tools() else { return };
    let dir = TempDir::new("geth-v4test");
    let boot = Bootnode::start(dir.path(), &[]);
    let out = run(
        &geth.devp2p,
        &[
            "discv4",
            "test",
            "--remote",
            &boot.enode,
            "--listen1",
            "127.0.0.1",
            "--listen2",
            "127.0.0.2",
        ],
    );
    let report = format!("{}\n{}", out.stdout, out.stderr);
    let results = geth_results(&out.stdout);
    let names: Vec<&str> = results.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, GETH_CASES, "go-ethereum's suite changed?\n{report}");
    for (name, passed) in &results {
        assert!(passed, "go-ethereum case {name} failed:\n{report}");
    }
    assert!(out.stdout.contains("15/15 tests passed."), "{report}");
    assert_eq!(out.code, 0, "{report}");

    // Our reimplementation (`kadnode discv4 test`) runs the same cases under the same names.
    let ours = run(KADNODE, &["discv4", "test", &boot.enode]);
    let our_names: Vec<&str> = ours
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("-- PASS "))
        .map(|rest| rest.rsplit_once(" (").map_or(rest, |(name, _)| name))
        .collect();
    assert_eq!(our_names, GETH_CASES, "{ours:?}");
}

/// The cases that send FINDNODE right after the endpoint proof, many times: our ingress
/// workers once let the FINDNODE overtake the PONG before it and dropped it as unbonded
/// (~3% of runs). 50 runs caught that with probability ~75%.
#[test]
fn geth_findnode_right_after_bonding_is_always_answered() {
    let Some(geth) = tools() else { return };
    let dir = TempDir::new("geth-v4order");
    let boot = Bootnode::start(dir.path(), &[]);
    for round in 0..50 {
        let out = run(
            &geth.devp2p,
            &[
                "discv4",
                "test",
                "--remote",
                &boot.enode,
                "--run",
                "^Findnode/(BasicFindnode|UnsolicitedNeighbors)$",
            ],
        );
        assert!(
            out.code == 0 && out.stdout.contains("2/2 tests passed."),
            "round {round}:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}

#[test]
fn geth_devp2p_ping_requestenr_resolve_and_enrdump_on_our_bootnode() {
    let Some(geth) = tools() else { return };
    let dir = TempDir::new("geth-probes");
    let boot = Bootnode::start(dir.path(), &[]);

    let out = devp2p_discv4(&geth.devp2p, "ping", "", &boot.enode);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("node responded to ping (RTT"),
        "{out:?}"
    );

    // go-ethereum re-encodes the record it received and verified: byte for byte ours.
    let out = devp2p_discv4(&geth.devp2p, "requestenr", "", &boot.enode);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), boot.enr, "{out:?}");

    // resolve: ENRRequest to the node (looking it up through the DHT only if that fails).
    let out = devp2p_discv4(&geth.devp2p, "resolve", &boot.enode, &boot.enode);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), boot.enr, "{out:?}");

    let node_id = boot
        .proc
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("node id:"))
        .unwrap()
        .trim()
        .to_owned();
    let out = run(&geth.devp2p, &["enrdump", &boot.enr]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stdout.contains("INVALID"), "{out:?}");
    assert!(
        out.stdout.contains(&format!("Node ID: {node_id}")),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(&format!("URLv4:   {}", boot.enode)),
        "{out:?}"
    );
    for key in ["\"id\"", "\"ip\"", "\"secp256k1\"", "\"udp\""] {
        assert!(out.stdout.contains(key), "{key} missing: {out:?}");
    }
}

#[test]
fn geth_node_and_our_bootnode_bootstrap_from_each_other() {
    let Some(geth) = tools() else { return };
    let dir = TempDir::new("geth-boot");

    // go-ethereum bootstraps from our bootnode: it bonds, so each holds the other.
    let mut boot = Bootnode::start(dir.path(), &["--verbosity", "4", "--rpc", "127.0.0.1:0"]);
    let mut peer = KadPeer::start(
        &geth,
        &["--bootnodes", &boot.enode, "--table-every", "200ms"],
    );
    let peer_key = peer.pubkey();
    boot.proc
        .wait_stderr(|l| l.contains("table: node added") && l.contains(&peer_key));
    let buckets = rpc(
        boot.rpc.as_deref().unwrap(),
        "discv4_buckets",
        serde_json::json!([]),
    );
    assert!(
        buckets["result"].to_string().contains(&peer_key),
        "{buckets}"
    );
    let entry = peer.wait_in_table(&boot.pubkey());
    assert_eq!(entry["enode"], boot.enode.as_str(), "{entry}");

    // Our listen node finds the go-ethereum node through the bootnode's NEIGHBORS and bonds
    // with it; go-ethereum adds it after the endpoint proof.
    let mut listener = Proc::listen_node(&boot.enode, &["--verbosity", "4"]);
    let listener_enode = listener.wait_stdout(|l| l.starts_with("enode://"));
    let listener_key = pubkey_of(&listener_enode);
    listener.wait_stderr(|l| l.contains("table: node added") && l.contains(&peer_key));
    peer.wait_in_table(&listener_key);

    // And the other way round: our bootnode bootstraps from a go-ethereum node.
    let dir2 = TempDir::new("geth-boot2");
    let mut lone = KadPeer::start(&geth, &["--table-every", "200ms"]);
    let lone_key = lone.pubkey();
    let mut boot2 = Bootnode::start(
        dir2.path(),
        &["--verbosity", "4", "--bootnodes", &lone.enode()],
    );
    boot2
        .proc
        .wait_stderr(|l| l.contains("table: node added") && l.contains(&lone_key));
    lone.wait_in_table(&boot2.pubkey());
}

#[test]
fn kadnode_discv4_probes_a_geth_node() {
    let Some(geth) = tools() else { return };
    let dir = TempDir::new("geth-kprobes");
    let boot = Bootnode::start(dir.path(), &[]);
    let mut peer = KadPeer::start(
        &geth,
        &["--bootnodes", &boot.enode, "--table-every", "200ms"],
    );
    peer.wait_in_table(&boot.pubkey());

    let out = run(KADNODE, &["discv4", "ping", &peer.enode()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("node responded to ping (RTT"),
        "{out:?}"
    );

    let out = run(KADNODE, &["discv4", "requestenr", &peer.enode()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("enr:")),
        "{out:?}"
    );
    assert!(out.stdout.contains("Signature valid: yes"), "{out:?}");
    let node_id = peer.me["id"].as_str().unwrap();
    assert!(
        out.stdout.contains(&format!("Node ID: {node_id}")),
        "{out:?}"
    );

    // FINDNODE: the go-ethereum node answers with its table, which holds our bootnode.
    let out = run(
        KADNODE,
        &["discv4", "findnode", &peer.enode(), &boot.pubkey()],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains(&boot.pubkey()), "{out:?}");
}

#[test]
fn kadnode_decodes_and_verifies_a_geth_enr_with_an_eth_entry() {
    let Some(geth) = tools() else { return };
    let peer = KadPeer::start(&geth, &["--nodiscover", "--eth-forkid", "01020304:5"]);
    let out = run(KADNODE, &["enr", "decode", &peer.enr()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Signature valid: yes"), "{out:?}");
    let node_id = peer.me["id"].as_str().unwrap();
    assert!(
        out.stdout.contains(&format!("Node ID: {node_id}")),
        "{out:?}"
    );
    // eth = [[fork hash 0x01020304, fork next 5]]
    assert!(
        out.stdout.contains("\"eth\"      c7c6840102030405"),
        "{out:?}"
    );
}
