//! `bootnode` end to end: identity output, HTTP endpoints, key flags, clean shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use cli_support::*;
use serde_json::json;

#[test]
fn prints_identity_and_serves_rpc_and_metrics() {
    let dir = TempDir::new("boot-http");
    let mut boot = Bootnode::start(
        dir.path(),
        &["--rpc", "127.0.0.1:0", "--metrics", "127.0.0.1:0"],
    );
    assert!(
        boot.enode.contains("@127.0.0.1:0?discport="),
        "{}",
        boot.enode
    );
    assert!(dir.join("nodekey").exists());
    assert!(dir.join("nodes.sqlite").exists());
    let rpc_url = boot.rpc.clone().unwrap();

    // discv4_self matches the printed record.
    let me = rpc(&rpc_url, "discv4_self", json!([]));
    assert_eq!(me["result"]["enr"], boot.enr.as_str(), "{me}");
    assert_eq!(me["result"]["enode"], boot.enode.as_str(), "{me}");

    // A ping from the tool is counted and the pinger lands in the table dump.
    let out = run(KADNODE, &["discv4", "findnode", &boot.enode]);
    assert_eq!(out.code, 0, "{out:?}");
    let buckets = rpc(&rpc_url, "discv4_buckets", json!([]));
    let buckets = buckets["result"].as_array().unwrap();
    assert_eq!(buckets.len(), 17);
    let entries: Vec<_> = buckets.iter().flat_map(|b| b.as_array().unwrap()).collect();
    assert!(
        !entries.is_empty(),
        "the bonded tool node should be in the table"
    );
    for entry in &entries {
        for field in ["id", "enode", "addedToBucket", "checks", "live", "seq"] {
            assert!(entry.get(field).is_some(), "{field} missing in {entry}");
        }
    }

    // A node using this bootnode finds the tool node through it with discv4_lookupRandom.
    let mut listener = Proc::listen_node(&boot.enode, &["--rpc", "127.0.0.1:0"]);
    let listener_rpc = listener.wait_stdout(|l| l.starts_with("rpc:"));
    let listener_rpc = listener_rpc.trim_start_matches("rpc:").trim().to_owned();
    let found = rpc(&listener_rpc, "discv4_lookupRandom", json!([1]));
    let found = found["result"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].as_str().unwrap().starts_with("enode://"));
    drop(listener);

    let (status, text) = http(boot.metrics.as_deref().unwrap(), "GET", None);
    assert_eq!(status, 200);
    let ping_in = text
        .lines()
        .find(|l| l.starts_with("discv4_packets_in_total{type=\"ping\"}"))
        .unwrap();
    assert_ne!(ping_in.split(' ').nth(1), Some("0"), "{text}");
    for series in [
        "discv4_packets_out_total{type=\"pong\"}",
        "discv4_dropped_packets_total{reason=\"not_bonded\"}",
        "discv4_table_nodes{bucket=\"16\"}",
        "discv4_lookups_total",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }

    // JSON-RPC errors.
    let bad = rpc(&rpc_url, "discv4_lookupRandom", json!([0]));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let bad = rpc(&rpc_url, "nope", json!([]));
    assert_eq!(bad["error"]["code"], -32601, "{bad}");
    let (status, body) = http(&rpc_url, "POST", Some("{not json"));
    assert_eq!(status, 200);
    assert!(body.contains("-32700"), "{body}");
    let (status, _) = http(&rpc_url, "GET", None);
    assert_eq!(status, 405);
    let batch = format!(
        "[{},{}]",
        json!({"jsonrpc":"2.0","id":1,"method":"discv4_self"}),
        json!({"jsonrpc":"2.0","id":2,"method":"discv4_buckets"})
    );
    let (_, body) = http(&rpc_url, "POST", Some(&batch));
    let answers: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answers.as_array().unwrap().len(), 2);

    boot.proc.sigterm();
    let status = boot.proc.wait_exit(WAIT);
    assert!(status.success(), "{}", boot.proc.dump());
    assert!(boot.proc.stderr.iter().any(|l| l.contains("flushed")));
}

#[test]
fn sigint_stops_cleanly_and_json_output() {
    let dir = TempDir::new("boot-json");
    let d = dir.str();
    let mut proc = Proc::spawn(
        BOOTNODE,
        &[
            "--addr",
            "127.0.0.1:0",
            "--datadir",
            &d,
            "--json",
            "--verbosity",
            "0",
        ],
    );
    let line = proc.wait_stdout(|l| l.starts_with('{'));
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(value["enode"].as_str().unwrap().starts_with("enode://"));
    assert!(value["enr"].as_str().unwrap().starts_with("enr:"));
    proc.sigint();
    assert!(proc.wait_exit(WAIT).success());
    assert!(
        proc.stderr.is_empty(),
        "verbosity 0 is silent: {:?}",
        proc.stderr
    );
}

#[test]
fn default_datadir_follows_xdg() {
    let home = TempDir::new("boot-xdg");
    let xdg = home.join("data");
    let xdg = xdg.display().to_string();
    let mut proc = Proc::spawn_env(
        BOOTNODE,
        &["--addr", "127.0.0.1:0"],
        &[("XDG_DATA_HOME", &xdg), ("HOME", &home.str())],
    );
    let line = proc.wait_stdout(|l| l.starts_with("datadir:"));
    assert!(line.ends_with("data/kadnode"), "{line}");
    assert!(home.join("data/kadnode/nodekey").exists());
    proc.sigterm();
    assert!(proc.wait_exit(WAIT).success());
}

#[test]
fn genkey_and_writeaddress() {
    let dir = TempDir::new("boot-genkey");
    let key = dir.join("boot.key");
    let key = key.display().to_string();
    let out = run(BOOTNODE, &["--genkey", &key, "--writeaddress"]);
    assert_eq!(out.code, 0, "{out:?}");
    let address = out.stdout.trim().to_owned();
    assert_eq!(address.len(), 128);
    let out = run(BOOTNODE, &["--nodekey", &key, "--writeaddress"]);
    assert_eq!(out.stdout.trim(), address);
    // geth's single-dash spelling works too.
    let out = run(BOOTNODE, &["-nodekey", &key, "-writeaddress"]);
    assert_eq!(out.stdout.trim(), address, "{out:?}");
    let hex = std::fs::read_to_string(&key).unwrap();
    let out = run(BOOTNODE, &["--nodekeyhex", hex.trim(), "--writeaddress"]);
    assert_eq!(out.stdout.trim(), address);

    // The bootnode started with that key announces it.
    let d = dir.str();
    let mut proc = Proc::spawn(
        BOOTNODE,
        &[
            "--addr",
            "127.0.0.1:0",
            "--datadir",
            &d,
            "--nodekey",
            &key,
            "--nat",
            "extip:10.1.2.3",
        ],
    );
    let enode = proc.wait_stdout(|l| l.starts_with("enode://"));
    assert!(
        enode.starts_with(&format!("enode://{address}@10.1.2.3:")),
        "{enode}"
    );
    drop(proc);
}
