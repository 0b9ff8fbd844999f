//! Every bad flag value gives one clear line on stderr and exit code 2, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use cli_support::*;

fn expect_usage_error(bin: &str, args: &[&str], needle: &str) {
    let out = run(bin, args);
    assert_eq!(out.code, 2, "{args:?}: want exit 2, got {out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: want one line, got {:?}",
        out.stderr
    );
    assert!(
        out.stderr.contains(needle),
        "{args:?}: {:?} does not mention {needle:?}",
        out.stderr
    );
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!out.stderr.contains(bad), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn bootnode_bad_flags() {
    let dir = TempDir::new("bad-boot");
    let d = dir.str();
    let missing = dir.join("missing.key").display().to_string();
    let garbage = dir.join("garbage.key");
    std::fs::write(&garbage, "not a key").unwrap();
    let garbage = garbage.display().to_string();
    let zeros = "0".repeat(64);
    let ones = "1".repeat(64);
    let base = ["--addr", "127.0.0.1:0", "--datadir", d.as_str()];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--nodekey", &missing], "missing.key"),
        (vec!["--nodekey", &garbage], "garbage.key"),
        (vec!["--nodekeyhex", "zz"], "--nodekeyhex"),
        (vec!["--nodekeyhex", &zeros], "not a valid secp256k1"),
        (
            vec!["--nodekeyhex", &ones, "--nodekey", &garbage],
            "cannot be used with",
        ),
        (vec!["--netrestrict", "10.0.0.0/33"], "10.0.0.0/33"),
        (vec!["--netrestrict", "banana"], "banana"),
        (
            vec!["--bootnodes", "enode://1234@1.2.3.4:30303"],
            "invalid bootnode",
        ),
        (vec!["--bootnodes", "enr:-garbage"], "invalid bootnode"),
        (vec!["--bootnodes", "foo"], "invalid bootnode"),
        (vec!["--nat", "upnp"], "not supported"),
        (vec!["--nat", "extip:1.2.3"], "invalid IP"),
        (vec!["--nat", "bogus"], "unknown NAT mode"),
        (vec!["--verbosity", "9"], "--verbosity"),
        (vec!["--tcp-port", "70000"], "--tcp-port"),
        (vec!["--metrics", "nonsense"], "--metrics"),
        (vec!["--rpc", "1.2.3.4:99999"], "--rpc"),
        (vec!["--pex-seed", "enode://x"], "--pex-seed"),
        (vec!["--no-such-flag"], "--no-such-flag"),
    ];
    for (extra, needle) in cases {
        let mut args = base.to_vec();
        args.extend(extra);
        expect_usage_error(BOOTNODE, &args, needle);
    }
    expect_usage_error(BOOTNODE, &["--addr", "nonsense", "--datadir", &d], "--addr");
    expect_usage_error(
        BOOTNODE,
        &[
            "--writeaddress",
            "--datadir",
            &dir.join("empty").display().to_string(),
        ],
        "--writeaddress needs a key",
    );
}

#[test]
fn ports_in_use() {
    let dir = TempDir::new("bad-ports");
    let d = dir.str();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_addr = udp.local_addr().unwrap().to_string();
    expect_usage_error(
        BOOTNODE,
        &["--addr", &udp_addr, "--datadir", &d],
        "address already in use",
    );
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap().to_string();
    expect_usage_error(
        BOOTNODE,
        &["--addr", "127.0.0.1:0", "--datadir", &d, "--rpc", &tcp_addr],
        "address already in use",
    );
    expect_usage_error(
        BOOTNODE,
        &[
            "--addr",
            "127.0.0.1:0",
            "--datadir",
            &d,
            "--metrics",
            &tcp_addr,
        ],
        "address already in use",
    );
    expect_usage_error(
        KADNODE,
        &["rlpx", "listen", "--addr", &tcp_addr],
        "address already in use",
    );
    expect_usage_error(
        KADNODE,
        &["discv4", "listen", "--addr", &udp_addr],
        "address already in use",
    );
}

#[test]
fn kadnode_bad_arguments() {
    let dir = TempDir::new("bad-tool");
    let missing = dir.join("missing").display().to_string();
    let key = "ab".repeat(64);
    let no_udp = format!("enode://{key}@127.0.0.1:0");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["discv4", "ping", "garbage"], "enode"),
        (
            vec!["discv4", "ping", "enode://abcd@127.0.0.1:30303"],
            "invalid node",
        ),
        (vec!["discv4", "ping", &no_udp], "invalid node"),
        (vec!["discv4", "requestenr", "enr:AAAA"], "invalid node"),
        (
            vec!["discv4", "findnode", "enode://x@1.2.3.4:1"],
            "invalid node",
        ),
        (vec!["discv4", "test"], "no node to test"),
        (
            vec!["discv4", "test", "enode://x@1.2.3.4:1"],
            "invalid node",
        ),
        (
            vec!["discv4", "crawl", "n.json", "--parallel", "0"],
            "--parallel",
        ),
        (
            vec!["discv4", "crawl", "n.json", "--timeout", "5 parsecs"],
            "--timeout",
        ),
        (
            vec!["discv4", "ping", "enode://x@1.2.3.4:1", "--addr", "bad"],
            "--addr",
        ),
        (vec!["enr", "decode", "enr:not-base64!"], "invalid ENR"),
        (vec!["enr", "decode", "zz"], "invalid ENR"),
        (vec!["key", "to-enode", &missing], "missing"),
        (vec!["key", "to-enr", &missing], "missing"),
        (vec!["key", "to-enode", "x", "--ip", "1.2.3"], "--ip"),
        (vec!["rlpx", "ping", "enode://x@1.2.3.4:1"], "invalid node"),
        (vec!["rlpx", "listen", "--caps", "foo"], "--caps"),
        (vec!["rlpx", "listen", "--caps", "foo/1"], "message count"),
        (vec!["rlpx", "listen", "--nodekeyhex", "12"], "64 hex"),
        (vec!["no-such-command"], "no-such-command"),
    ];
    for (args, needle) in cases {
        expect_usage_error(KADNODE, &args, needle);
    }
    // The test command checks its IPs.
    let boot_dir = TempDir::new("bad-tool-boot");
    let boot = Bootnode::start(boot_dir.path(), &[]);
    expect_usage_error(
        KADNODE,
        &[
            "discv4",
            "test",
            &boot.enode,
            "--listen1",
            "127.0.0.1",
            "--listen2",
            "127.0.0.1",
        ],
        "must be different",
    );
    expect_usage_error(
        KADNODE,
        &["discv4", "test", &boot.enode, "--run", "NoSuchCase"],
        "matches no case",
    );
    // A discovery-only node has no TCP port to dial.
    expect_usage_error(KADNODE, &["rlpx", "ping", &boot.enode], "no TCP port");
}
