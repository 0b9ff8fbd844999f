//! Peer exchange from the command line: `bootnode --pex` is a PEX seed on its key and port,
//! `kadnode node --pex-seeds` bootstraps from it, `kadnode pex getpeers` asks the seed for
//! its addresses, and `kadnode pex book` dumps the book a node saved at shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use std::time::{Duration, Instant};

use cli_support::*;

#[test]
fn a_bootnode_seed_serves_pex_and_a_node_saves_its_book() {
    let seed_dir = TempDir::new("pex-seed");
    let mut seed = Bootnode::start(
        seed_dir.path(),
        &["--pex", "--rpc", "127.0.0.1:0", "--metrics", "127.0.0.1:0"],
    );
    let node_dir = TempDir::new("pex-node");
    let node_datadir = node_dir.str();
    let mut node = Proc::spawn(
        KADNODE,
        &[
            "--json",
            "node",
            "--addr",
            "127.0.0.1:0",
            "--datadir",
            &node_datadir,
            "--caps",
            "eth/68",
            "--pex-seeds",
            &seed.enode,
        ],
    );
    let identity = node.wait_stdout(|l| l.contains("\"enode\""));
    let identity: serde_json::Value = serde_json::from_str(&identity).unwrap();
    let node_id = pubkey_of(identity["enode"].as_str().unwrap());

    // The seed learns the node from its Status and hands it out.
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let out = run(KADNODE, &["--json", "pex", "getpeers", &seed.enode]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let answer: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
        let listed = answer["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == node_id.as_str());
        if listed {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "the seed never listed the node: {answer}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(answer["status"]["seed"], true, "{answer}");
    assert_eq!(answer["invalid"], 0);

    // The seed's book over JSON-RPC, and its PEX metrics.
    let book = rpc(
        seed.rpc.as_deref().unwrap(),
        "pex_book",
        serde_json::json!([]),
    );
    let entries = book["result"]["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["id"] == node_id.as_str()),
        "{book}"
    );
    let (status, text) = http(seed.metrics.as_deref().unwrap(), "GET", None);
    assert_eq!(status, 200);
    assert!(text.contains("pex_book_entries{table="), "{text}");
    assert!(
        text.contains("pex_requests_total{kind=\"served\"}"),
        "{text}"
    );

    // The node saves its book at shutdown; the dump shows the seed it met.
    node.sigterm();
    assert!(node.wait_exit(Duration::from_secs(20)).success());
    let out = run(
        KADNODE,
        &["--json", "pex", "book", "--datadir", &node_datadir],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let book: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let seed_id = seed.pubkey();
    let seed_entry = book["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == seed_id.as_str())
        .unwrap_or_else(|| panic!("the seed is not in the book: {book}"));
    // The node dialed the seed and saw its key: both saved with the book.
    assert!(seed_entry["lastAttemptSecondsAgo"].is_u64(), "{seed_entry}");
    assert!(seed_entry["verifiedSecondsAgo"].is_u64(), "{seed_entry}");
    // Vouches are advisory and not saved.
    assert!(seed_entry["vouchedSecondsAgo"].is_null(), "{seed_entry}");
    let human = run(KADNODE, &["pex", "book", "--datadir", &node_datadir]);
    let seed_line = human
        .stdout
        .lines()
        .find(|line| line.contains(&seed_id))
        .unwrap_or_else(|| panic!("{}", human.stdout));
    assert!(seed_line.contains("address verified"), "{seed_line}");

    // A damaged book is reported and left alone.
    let path = node_dir.join("pex-book.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let out = run(KADNODE, &["pex", "book", "--datadir", &node_datadir]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("damaged"), "{}", out.stderr);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    seed.proc.sigterm();
    assert!(seed.proc.wait_exit(Duration::from_secs(20)).success());
    assert!(
        seed_dir.join("pex-book.bin").exists(),
        "the seed saves its book"
    );
}

#[test]
fn pex_usage_errors_are_plain() {
    let dir = TempDir::new("pex-usage");
    let out = run(KADNODE, &["pex", "book", "--datadir", &dir.str()]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("holds no PEX address book"),
        "{}",
        out.stderr
    );
    let out = run(
        KADNODE,
        &[
            "node",
            "--addr",
            "127.0.0.1:0",
            "--pex-seeds",
            "enode://nonsense",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--pex-seeds"), "{}", out.stderr);
    // A node that does not speak pex/1 is named as such.
    let mut plain = Proc::spawn(
        KADNODE,
        &[
            "--json",
            "node",
            "--addr",
            "127.0.0.1:0",
            "--caps",
            "eth/68",
        ],
    );
    let identity = plain.wait_stdout(|l| l.contains("\"enode\""));
    let identity: serde_json::Value = serde_json::from_str(&identity).unwrap();
    let out = run(
        KADNODE,
        &["pex", "getpeers", identity["enode"].as_str().unwrap()],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("pex/1"), "{}", out.stderr);
    plain.sigterm();
    assert!(plain.wait_exit(Duration::from_secs(20)).success());
}
