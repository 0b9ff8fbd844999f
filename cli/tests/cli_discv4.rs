//! `kadnode discv4 …` against a bootnode started on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use cli_support::*;

#[test]
fn ping_requestenr_findnode_resolve() {
    let dir = TempDir::new("d4-probes");
    let boot = Bootnode::start(dir.path(), &[]);

    let out = run(KADNODE, &["discv4", "ping", &boot.enode]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("node responded to ping (RTT"),
        "{out:?}"
    );

    let out = run(KADNODE, &["--json", "discv4", "ping", &boot.enr]);
    assert_eq!(out.code, 0, "{out:?}");
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value["answered"], true);

    let out = run(KADNODE, &["discv4", "requestenr", &boot.enode]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout.lines().next(),
        Some(boot.enr.as_str()),
        "{out:?}"
    );
    assert!(out.stdout.contains("Signature valid: yes"));

    // A second node in the bootnode's table shows up in its NEIGHBORS.
    let helper = run(KADNODE, &["discv4", "ping", &boot.enode]);
    assert_eq!(helper.code, 0);
    let mut listener = Proc::listen_node(&boot.enode, &[]);
    let listener_enode = listener.wait_stdout(|l| l.starts_with("enode://"));
    let listener_key = pubkey_of(&listener_enode);
    let mut found = false;
    for _ in 0..20 {
        let out = run(KADNODE, &["discv4", "findnode", &boot.enode, &listener_key]);
        assert_eq!(out.code, 0, "{out:?}");
        if out.stdout.contains(&listener_key) {
            found = true;
            break;
        }
    }
    assert!(
        found,
        "listen node never appeared in the bootnode's NEIGHBORS"
    );

    let out = run(
        KADNODE,
        &[
            "--json",
            "discv4",
            "resolve",
            &boot.enode,
            "--bootnodes",
            "",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value["enr"], boot.enr.as_str());
    assert_eq!(value["signatureValid"], true);
}

#[test]
fn ping_without_answer_exits_1() {
    // A bound UDP socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let key = "1".repeat(63) + "2";
    let dir = TempDir::new("d4-silent");
    let keyfile = dir.join("k");
    std::fs::write(&keyfile, &key).unwrap();
    let keyfile = keyfile.display().to_string();
    let enode = run(
        KADNODE,
        &[
            "key",
            "to-enode",
            &keyfile,
            "--udp",
            &port.to_string(),
            "--tcp",
            "0",
        ],
    )
    .stdout;
    let out = run(KADNODE, &["discv4", "ping", enode.trim()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no answer"), "{out:?}");
}

#[test]
fn conformance_suite_passes_against_our_bootnode() {
    let dir = TempDir::new("d4-test");
    let boot = Bootnode::start(dir.path(), &[]);
    let out = run(KADNODE, &["discv4", "test", &boot.enode]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for name in ["Ping/Basic", "ENRRequest", "Amplification/WrongIP"] {
        assert!(
            out.stdout.contains(&format!("-- PASS {name}")),
            "{}",
            out.stdout
        );
    }
    assert!(
        out.stdout.contains("15 of 15 cases passed, 0 failed"),
        "{}",
        out.stdout
    );

    let out = run(
        KADNODE,
        &[
            "discv4",
            "test",
            "--remote",
            &boot.enode,
            "--run",
            "^Ping/Basic$",
            "--tap",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("1..1"), "{}", out.stdout);
    assert!(out.stdout.contains("ok 1 - Ping/Basic"), "{}", out.stdout);

    // A node that never answers fails every case, with exit 1.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let fake = format!("{}@127.0.0.1:{port}", boot.enode.split('@').next().unwrap());
    let out = run(KADNODE, &["discv4", "test", &fake, "--run", "Ping/Basic"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("-- FAIL Ping/Basic"), "{}", out.stdout);
}

#[test]
fn crawl_merges_into_nodes_json() {
    let dir = TempDir::new("d4-crawl");
    let boot = Bootnode::start(dir.path(), &[]);
    let mut listener = Proc::listen_node(&boot.enode, &[]);
    let listener_enode = listener.wait_stdout(|l| l.starts_with("enode://"));

    // Seed the file with the bootnode (as geth's nodes.json holds it) plus a node that will
    // not answer and has a score to lose.
    let boot_id = run(KADNODE, &["--json", "enr", "decode", &boot.enr]).stdout;
    let boot_id: serde_json::Value = serde_json::from_str(&boot_id).unwrap();
    let boot_id = boot_id["id"].as_str().unwrap().to_owned();
    let nodes = dir.join("nodes.json");
    let seed = serde_json::json!({
        boot_id.clone(): {"seq": 1, "record": boot.enr, "score": 3,
                          "lastCheck": "0001-01-01T00:00:00Z"}
    });
    std::fs::write(&nodes, seed.to_string()).unwrap();
    let nodes_arg = nodes.display().to_string();
    let out = run(
        KADNODE,
        &[
            "discv4",
            "crawl",
            &nodes_arg,
            "--timeout",
            "6s",
            "--parallel",
            "4",
            "--bootnodes",
            &boot.enode,
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("crawl done"), "{out:?}");
    let set: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&nodes).unwrap()).unwrap();
    let entry = &set[&boot_id];
    assert_eq!(entry["score"], 4, "{set}");
    assert_eq!(entry["record"], boot.enr.as_str());
    for field in ["firstResponse", "lastResponse", "lastCheck"] {
        assert!(entry[field].as_str().unwrap().ends_with('Z'), "{entry}");
    }
    // The listen node was found by the random walk through the bootnode.
    let listener_key = pubkey_of(&listener_enode);
    let found = set.as_object().unwrap().values().any(|e| {
        let record = e["record"].as_str().unwrap();
        let decoded = run(KADNODE, &["--json", "enr", "decode", record]).stdout;
        decoded.contains(&listener_key)
    });
    assert!(found, "listen node missing from {set}");

    // A second crawl right away skips the freshly checked nodes.
    let out = run(
        KADNODE,
        &[
            "--json",
            "discv4",
            "crawl",
            &nodes_arg,
            "--timeout",
            "2s",
            "--bootnodes",
            "",
        ],
    );
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(summary["skipped"].as_u64().unwrap() >= 1, "{summary}");
}
