//! Issue 12: what a new user tripped on (one test per defect, each failing before its fix) and
//! what an operator expects from the daemon (/health, process metrics, SIGHUP, start-up line).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use std::{net::UdpSocket, time::Duration};

use cli_support::*;
use serde_json::{json, Value};

fn node_id_of_key(key: &std::path::Path) -> String {
    let out = run(KADNODE, &["key", "to-id", &key.display().to_string()]);
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout.trim().to_owned()
}

/// An enode URL whose UDP port is bound by a socket that never answers.
fn dead_node() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let key = "a".repeat(64);
    let dir = TempDir::new("dead-key");
    let path = dir.join("k");
    std::fs::write(&path, key).unwrap();
    let out = run(
        KADNODE,
        &[
            "key",
            "to-enode",
            &path.display().to_string(),
            "--ip",
            "127.0.0.1",
            "--udp",
            &port.to_string(),
            "--tcp",
            "0",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    (socket, out.stdout.trim().to_owned())
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

// #1
#[test]
fn genkey_never_overwrites_a_key() {
    let dir = TempDir::new("op-genkey");
    let path = dir.join("boot.key");
    let out = run(BOOTNODE, &["--genkey", &path.display().to_string()]);
    assert_eq!(out.code, 0, "{out:?}");
    let before = std::fs::read(&path).unwrap();
    let out = run(
        BOOTNODE,
        &["--genkey", &path.display().to_string(), "--writeaddress"],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("already exists"), "{out:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the key was replaced"
    );
}

// #2
#[test]
fn lookup_random_and_crawl_return_the_table_in_a_small_network() {
    let dir_a = TempDir::new("op-small-a");
    let dir_b = TempDir::new("op-small-b");
    let a = Bootnode::start(dir_a.path(), &[]);
    let a_id = node_id_of_key(&dir_a.join("nodekey"));
    let b = Bootnode::start(
        dir_b.path(),
        &["--bootnodes", &a.enode, "--rpc", "127.0.0.1:0"],
    );
    let found = rpc(b.rpc.as_deref().unwrap(), "discv4_lookupRandom", json!([4]));
    let found = found["result"].as_array().unwrap().clone();
    assert!(
        found
            .iter()
            .any(|n| n.as_str().unwrap().contains(&a.pubkey())),
        "lookupRandom should return the table's node A: {found:?}"
    );

    let out_dir = TempDir::new("op-small-crawl");
    let file = out_dir.join("nodes.json");
    let out = run(
        KADNODE,
        &[
            "--json",
            "discv4",
            "crawl",
            &file.display().to_string(),
            "--bootnodes",
            &a.enode,
            "--timeout",
            "8s",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let set: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(
        set.get(&a_id).is_some(),
        "the bootnode itself is missing from nodes.json: {set}"
    );
    // #12: the summary key says what it counts.
    let summary = json_of(&out);
    assert!(summary.get("neverAnswered").is_some(), "{summary}");
    assert!(summary.get("incompatible").is_none(), "{summary}");
}

// #3 and #5
#[test]
fn an_empty_neighbors_is_an_answer_and_netrestrict_is_what_usage_says() {
    let dir = TempDir::new("op-netrestrict");
    let boot = Bootnode::start(
        dir.path(),
        &["--netrestrict", "10.0.0.0/8", "--rpc", "127.0.0.1:0"],
    );
    // As in go-ethereum, requests from outside the networks are answered...
    let out = run(KADNODE, &["discv4", "ping", &boot.enode]);
    assert_eq!(out.code, 0, "{out:?}");
    // ... but the node outside them never enters the table, so NEIGHBORS comes back empty.
    let out = run(KADNODE, &["--json", "discv4", "findnode", &boot.enode]);
    assert_eq!(out.code, 0, "an empty NEIGHBORS is an answer: {out:?}");
    assert_eq!(json_of(&out), json!([]));
    let buckets = rpc(boot.rpc.as_deref().unwrap(), "discv4_buckets", json!([]));
    let entries: usize = buckets["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_array().unwrap().len())
        .sum();
    assert_eq!(
        entries, 0,
        "a node outside --netrestrict entered the table: {buckets}"
    );
    // The documentation says exactly that.
    let usage =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/USAGE.md")).unwrap();
    assert!(
        !usage.contains("only talk to nodes in these networks"),
        "USAGE.md still promises silence"
    );
    assert!(
        usage.contains("still answers"),
        "USAGE.md must say requests from elsewhere are answered"
    );
}

// #4
#[test]
fn the_printed_record_is_usable_or_says_why_not() {
    let dir = TempDir::new("op-record");
    let mut wildcard = Proc::spawn(BOOTNODE, &["--addr", "0.0.0.0:0", "--datadir", &dir.str()]);
    wildcard.wait_stdout(|l| l.starts_with("enr:"));
    let note = wildcard.wait_stdout(|l| l.starts_with("datadir:") || l.starts_with("note:"));
    assert!(
        note.starts_with("note:") && note.contains("--nat extip:"),
        "{}",
        wildcard.dump()
    );
    drop(wildcard);

    // The quick start's form: a record another node accepts as given.
    let dir = TempDir::new("op-record2");
    let boot = Bootnode::start(dir.path(), &[]);
    assert!(
        !boot.proc.stdout.iter().any(|l| l.starts_with("note:")),
        "{}",
        boot.proc.dump()
    );
    let mut listener = Proc::listen_node(&boot.enr, &[]);
    listener.wait_stdout(|l| l.starts_with("enr:"));
}

// #8
#[test]
fn every_probe_fails_the_same_way() {
    let (_socket, dead) = dead_node();
    for command in ["ping", "requestenr", "findnode", "resolve"] {
        let out = run(
            KADNODE,
            &["--json", "discv4", command, &dead, "--bootnodes", ""],
        );
        assert_eq!(out.code, 1, "{command}: {out:?}");
        let value = json_of(&out);
        assert_eq!(value["ok"], false, "{command}: {value}");
        assert!(
            value["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{command}: {value}"
        );
        assert!(
            !out.stderr.is_empty(),
            "{command}: the error goes to stderr too"
        );
    }
    // A usage error follows the same rule, with its own code.
    let out = run(KADNODE, &["--json", "discv4", "ping", "enode://nonsense"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(json_of(&out)["exitCode"], 2);
}

// #9
#[test]
fn crawl_with_nothing_to_crawl_fails_fast() {
    let dir = TempDir::new("op-crawl-empty");
    let file = dir.join("nodes.json").display().to_string();
    let out = run(
        KADNODE,
        &[
            "discv4",
            "crawl",
            &file,
            "--bootnodes",
            "",
            "--timeout",
            "20s",
        ],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("no input nodes"), "{out:?}");
    let (_socket, dead) = dead_node();
    let out = run(
        KADNODE,
        &[
            "discv4",
            "crawl",
            &file,
            "--bootnodes",
            &dead,
            "--timeout",
            "20s",
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no input nodes"), "{out:?}");
}

// #10
#[test]
fn usage_errors_name_the_argument_and_the_subcommand() {
    let out = run(KADNODE, &["discv4", "ping"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("<NODE>"), "{out:?}");
    assert!(
        out.stderr.contains("see kadnode discv4 ping --help"),
        "{out:?}"
    );
    let out = run(KADNODE, &["discv4", "pnig"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("'ping'"),
        "clap's suggestion is kept: {out:?}"
    );
}

fn base64url_decode(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    out
}

// #11, and `enr decode --file`
#[test]
fn enr_decode_shows_a_record_with_a_bad_signature() {
    let dir = TempDir::new("op-enr");
    let key = dir.join("k");
    assert_eq!(
        run(KADNODE, &["key", "generate", &key.display().to_string()]).code,
        0
    );
    let out = run(
        KADNODE,
        &[
            "key",
            "to-enr",
            &key.display().to_string(),
            "--ip",
            "10.1.2.3",
            "--udp",
            "30305",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let record = out.stdout.trim().to_owned();
    let file = dir.join("record.txt");
    std::fs::write(&file, format!("{record}\n")).unwrap();
    let out = run(
        KADNODE,
        &["enr", "decode", "--file", &file.display().to_string()],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Signature valid: yes"), "{out:?}");

    let mut bytes = base64url_decode(record.trim_start_matches("enr:"));
    bytes[5] ^= 0x01; // a signature byte
    let out = run(KADNODE, &["enr", "decode", &hex_encode(&bytes)]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("Signature valid: NO"), "{out:?}");
    assert!(out.stdout.contains("10.1.2.3"), "{out:?}");
    assert!(out.stdout.contains("30305"), "{out:?}");
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// #12: --datadir naming a file, an IPv6 target, a JSON-RPC notification, a 0644 key, listen's
// help, a relative data dir printed absolute.
#[test]
fn minor_items() {
    let dir = TempDir::new("op-minor");
    let file = dir.join("afile");
    std::fs::write(&file, "x").unwrap();
    let out = run(
        BOOTNODE,
        &[
            "--addr",
            "127.0.0.1:0",
            "--datadir",
            &file.display().to_string(),
        ],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("not a directory"), "{out:?}");

    let out = run(KADNODE, &["discv4", "listen", "--help"]);
    assert!(out.stdout.contains("mainnet"), "{out:?}");

    // IPv6 target from the default (IPv4) probe address.
    let six = TempDir::new("op-ipv6");
    let mut boot6 = Proc::spawn(BOOTNODE, &["--addr", "[::1]:0", "--datadir", &six.str()]);
    let enode6 = boot6.wait_stdout(|l| l.starts_with("enode://"));
    let out = run(KADNODE, &["discv4", "ping", &enode6]);
    assert_eq!(out.code, 0, "{out:?}");
    drop(boot6);

    // A 0644 key is named in a warning; the start-up line says it was loaded.
    let keydir = TempDir::new("op-keymode");
    let key = keydir.join("nodekey");
    std::fs::write(&key, "b".repeat(64)).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut boot = Bootnode::start(keydir.path(), &["--rpc", "127.0.0.1:0"]);
    boot.proc.wait_stderr(|l| l.contains("chmod 600"));
    boot.proc.wait_stderr(|l| l.contains("node key loaded"));
    let body = json!({"jsonrpc": "2.0", "method": "discv4_self"}).to_string();
    let (status, text) = http(boot.rpc.as_deref().unwrap(), "POST", Some(&body));
    assert_eq!(
        (status, text.as_str()),
        (204, ""),
        "a notification gets no reply"
    );

    // A relative data dir is printed absolute.
    let rel = format!("kadnode-rel-datadir-{}", std::process::id());
    let mut proc = Proc::spawn(BOOTNODE, &["--addr", "127.0.0.1:0", "--datadir", &rel]);
    let line = proc.wait_stdout(|l| l.starts_with("datadir:"));
    drop(proc);
    let _ = std::fs::remove_dir_all(&rel);
    let printed = line.trim_start_matches("datadir:").trim();
    assert!(std::path::Path::new(printed).is_absolute(), "{line}");
}

// #12 (SIGHUP) and the operator's signals.
#[test]
fn sighup_neither_kills_nor_reloads_and_sigterm_flushes() {
    let dir = TempDir::new("op-hup");
    let mut boot = Bootnode::start(dir.path(), &[]);
    boot.proc
        .wait_stderr(|l| l.contains("new node key generated"));
    boot.proc.sighup();
    boot.proc.wait_stderr(|l| l.contains("SIGHUP ignored"));
    boot.proc.sigterm();
    let status = boot.proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{}", boot.proc.dump());
    assert!(
        boot.proc.stderr.iter().any(|l| l.contains("flushed")),
        "{}",
        boot.proc.dump()
    );
}

#[test]
fn health_and_process_metrics() {
    let dir = TempDir::new("op-health");
    let boot = Bootnode::start(dir.path(), &["--metrics", "127.0.0.1:0"]);
    let base = boot
        .metrics
        .as_deref()
        .unwrap()
        .trim_end_matches("/metrics")
        .to_owned();
    let (status, body) = http(&format!("{base}/health"), "GET", None);
    assert_eq!(status, 200, "{body}");
    let value: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["status"], "bootstrapping", "{value}");
    let (status, text) = http(&format!("{base}/metrics"), "GET", None);
    assert_eq!(status, 200);
    for name in [
        "kadnode_build_info{version=",
        "kadnode_uptime_seconds ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_cpu_seconds_total ",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
    let _ = Duration::ZERO;
}

// geth's missing tool commands: nodeset info|filter and discv4 resolve-json over a crawl's file.
#[test]
fn nodeset_and_resolve_json() {
    let dir = TempDir::new("op-nodeset");
    let boot = Bootnode::start(dir.path(), &[]);
    let boot_id = node_id_of_key(&dir.join("nodekey"));
    let file = dir.join("nodes.json").display().to_string();
    let out = run(
        KADNODE,
        &[
            "discv4",
            "crawl",
            &file,
            "--bootnodes",
            &boot.enode,
            "--timeout",
            "5s",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");

    let out = run(KADNODE, &["--json", "nodeset", "info", &file]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(json_of(&out)["nodes"].as_u64().unwrap() >= 1, "{out:?}");
    let out = run(
        KADNODE,
        &[
            "nodeset",
            "filter",
            &file,
            "--ip",
            "127.0.0.0/8",
            "--limit",
            "1",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let kept = json_of(&out);
    assert_eq!(kept.as_object().unwrap().len(), 1, "{kept}");
    let out = run(KADNODE, &["nodeset", "filter", &file, "--ip", "10.0.0.0/8"]);
    assert_eq!(json_of(&out), json!({}));

    let out = run(
        KADNODE,
        &["--json", "discv4", "resolve-json", &file, "--bootnodes", ""],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let summary = json_of(&out);
    assert_eq!(summary["noAnswer"], 0, "{summary}");
    let set: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(set.get(&boot_id).is_some(), "{set}");
}

#[test]
fn json_logs() {
    let dir = TempDir::new("op-jsonlog");
    let mut boot = Bootnode::start(dir.path(), &["--log.format", "json"]);
    let line = boot
        .proc
        .wait_stderr(|l| l.contains("new node key generated"));
    let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(value["level"], "info", "{value}");
    assert_eq!(value["msg"], "new node key generated", "{value}");
    assert!(
        value["datadir"].as_str().unwrap().starts_with('/'),
        "{value}"
    );
    assert!(value["t"].as_str().unwrap().ends_with('Z'), "{value}");
}
