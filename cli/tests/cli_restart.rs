//! A bootnode stopped with SIGTERM and restarted from the same data directory keeps its
//! key, its ENR seq only grows, and its table is seeded from its database.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use cli_support::*;

fn enr_seq(enr: &str) -> u64 {
    let out = run(KADNODE, &["--json", "enr", "decode", enr]);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    value["seq"].as_u64().unwrap()
}

#[test]
fn restart_keeps_key_seq_and_table() {
    let dir = TempDir::new("restart");
    // Trace level shows each packet: the test waits for the one that gets the peer stored.
    let mut first = Bootnode::start(dir.path(), &["--verbosity", "5"]);
    let key = std::fs::read_to_string(dir.join("nodekey")).unwrap();

    // A long-lived node bonds with the bootnode and enters its table (and database).
    let mut peer = Proc::listen_node(&first.enode, &[]);
    let peer_enode = peer.wait_stdout(|l| l.starts_with("enode://"));
    let peer_id = run(
        KADNODE,
        &[
            "--json",
            "enr",
            "decode",
            &peer.wait_stdout(|l| l.starts_with("enr:")),
        ],
    )
    .stdout;
    let peer_id: serde_json::Value = serde_json::from_str(&peer_id).unwrap();
    let peer_id = peer_id["id"].as_str().unwrap().to_owned();
    first
        .proc
        .wait_stderr(|l| l.contains("table: node added") && l.contains(&peer_id));
    // Like geth, the table writes a node to the database once it has proven itself: here
    // when its first revalidation (about 8 s in) fetches its ENR.
    let peer_port = peer_enode.rsplit('=').next().unwrap().to_owned();
    let peer_src = format!("127.0.0.1:{peer_port}");
    first
        .proc
        .wait_stderr(|l| l.contains("ENRRESPONSE") && l.contains(&peer_src));

    first.proc.sigterm();
    assert!(
        first.proc.wait_exit(WAIT).success(),
        "{}",
        first.proc.dump()
    );
    // The peer goes away too: whatever the restarted bootnode knows of it comes from disk.
    peer.sigterm();
    assert!(peer.wait_exit(WAIT).success());
    drop(peer);

    let mut second = Bootnode::start(dir.path(), &["--verbosity", "4"]);
    assert_eq!(std::fs::read_to_string(dir.join("nodekey")).unwrap(), key);
    assert_eq!(
        second.pubkey(),
        first.pubkey(),
        "same identity after restart"
    );
    let (old_seq, new_seq) = (enr_seq(&first.enr), enr_seq(&second.enr));
    // The UDP port changed (port 0), so the record changed and its seq must have grown.
    assert_ne!(first.enode, second.enode);
    assert!(new_seq > old_seq, "seq went from {old_seq} to {new_seq}");
    second
        .proc
        .wait_stderr(|l| l.contains("table: node added") && l.contains(&peer_id));

    // Same port again: the record is unchanged and the seq must not go back.
    second.proc.sigterm();
    assert!(second.proc.wait_exit(WAIT).success());
    let port = second.enode.rsplit('=').next().unwrap().to_owned();
    let addr = format!("127.0.0.1:{port}");
    let d = dir.str();
    let mut third = Proc::spawn(BOOTNODE, &["--addr", &addr, "--datadir", &d]);
    let enr = third.wait_stdout(|l| l.starts_with("enr:"));
    assert!(enr_seq(&enr) >= new_seq);
}
