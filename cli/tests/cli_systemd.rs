//! The documented systemd unit (`docs/bootnode.service`): its `ExecStart` command line parses
//! with the built binary and starts a bootnode (with the data dir and ports swapped for a temp
//! dir and loopback port 0), and it keeps its hardening options.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use cli_support::*;

const UNIT: &str = include_str!("../../docs/bootnode.service");

#[test]
fn exec_start_flags_run_with_the_binary() {
    let exec = UNIT
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("no ExecStart line");
    let mut words = exec.split_whitespace();
    assert!(words.next().unwrap().ends_with("/bootnode"));
    let dir = TempDir::new("systemd");
    let mut args: Vec<String> = Vec::new();
    let mut words = words.peekable();
    while let Some(flag) = words.next() {
        args.push(flag.to_owned());
        let replacement = match flag {
            "--datadir" => Some(dir.str()),
            "--addr" | "--metrics" | "--rpc" => Some("127.0.0.1:0".to_owned()),
            _ => None,
        };
        if let Some(value) = replacement {
            words.next().expect("flag without value");
            args.push(value);
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut proc = Proc::spawn(BOOTNODE, &args);
    proc.wait_stdout(|l| l.starts_with("enode://"));
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.dump());
}

#[test]
fn unit_keeps_its_hardening() {
    for option in [
        "DynamicUser=yes",
        "StateDirectory=kadnode-bootnode",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=",
        "CapabilityBoundingSet=",
        "KillSignal=SIGTERM",
    ] {
        assert!(
            UNIT.lines().any(|l| l.starts_with(option)),
            "{option} missing"
        );
    }
    let exec = UNIT.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(
        exec.contains("--datadir /var/lib/kadnode-bootnode"),
        "the data dir must be the StateDirectory"
    );
}
