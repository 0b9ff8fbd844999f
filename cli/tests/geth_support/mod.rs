//! The go-ethereum interop tools built by `tests/geth/build.sh` (go-ethereum's `devp2p` and
//! our `kadpeer` harness), found in `target/geth-bin/` or `$KADNODE_GETH_BIN`.
//!
//! When they are missing, [`tools`] prints why and returns `None` so the test can skip; with
//! `KADNODE_REQUIRE_GETH=1` (as `.ci/run` sets) a missing tool fails the test instead.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli_support::Proc;

/// Paths of the built go-ethereum tools.
#[derive(Debug)]
pub struct GethTools {
    /// go-ethereum's `cmd/devp2p` at the pinned version.
    pub devp2p: String,
    /// The `kadpeer` harness (`tests/geth/kadpeer`).
    pub kadpeer: String,
}

/// `$KADNODE_GETH_BIN`, else `target/geth-bin` of the repository (the first ancestor of this
/// package holding `tests/geth/go.mod`), where `tests/geth/build.sh` puts the tools.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KADNODE_GETH_BIN") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .find(|dir| dir.join("tests/geth/go.mod").is_file())
        .unwrap_or(manifest);
    root.join("target").join("geth-bin")
}

/// The built tools, or `None` (after printing a skip message) when they are missing.
pub fn tools() -> Option<GethTools> {
    let dir = bin_dir();
    let devp2p = dir.join("devp2p");
    let kadpeer = dir.join("kadpeer");
    if devp2p.is_file() && kadpeer.is_file() {
        return Some(GethTools {
            devp2p: devp2p.display().to_string(),
            kadpeer: kadpeer.display().to_string(),
        });
    }
    let message = format!(
        "skipping: go-ethereum tools missing in {}; run tests/geth/build.sh (needs Go, see tests/geth/go.mod)",
        dir.display()
    );
    if std::env::var_os("KADNODE_REQUIRE_GETH").is_some_and(|v| v != "0") {
        panic!("KADNODE_REQUIRE_GETH is set but {message}");
    }
    eprintln!("{message}");
    None
}

/// A running `kadpeer`: a go-ethereum `p2p.Server` printing JSON events.
pub struct KadPeer {
    pub proc: Proc,
    /// Its `self` event.
    pub me: Value,
}

impl KadPeer {
    /// Starts `kadpeer` with `args` (on 127.0.0.1 port 0 unless `--addr` is given) and waits
    /// for its `self` event. Its stdin takes commands ([`KadPeer::command`]).
    pub fn start(tools: &GethTools, args: &[&str]) -> Self {
        let mut proc = Proc::spawn_with_stdin(&tools.kadpeer, args);
        let line = proc.wait_stdout(|l| event(l, "self").is_some());
        let me = event(&line, "self").unwrap();
        Self { proc, me }
    }

    /// Its enode URL.
    pub fn enode(&self) -> String {
        self.me["enode"].as_str().unwrap().to_owned()
    }

    /// Its ENR.
    pub fn enr(&self) -> String {
        self.me["enr"].as_str().unwrap().to_owned()
    }

    /// Its public key, 128 hex characters.
    pub fn pubkey(&self) -> String {
        self.me["pubkey"].as_str().unwrap().to_owned()
    }

    /// Its node id, 64 hex characters (what its events call `id`).
    pub fn id(&self) -> String {
        self.me["id"].as_str().unwrap().to_owned()
    }

    /// Sends one command line (`check-enr <enr>`, `drop <id>`, …).
    pub fn command(&mut self, line: &str) {
        self.proc.send_line(line);
    }

    /// Sends `check-enr <enr>` and returns its `enr` answer.
    pub fn check_enr(&mut self, enr: &str) -> Value {
        self.command(&format!("check-enr {enr}"));
        let input = enr.to_owned();
        self.wait_event("enr", move |e| e["input"] == input.as_str())
    }

    /// Waits for the first event named `name` that satisfies `pred`.
    pub fn wait_event(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let line = self
            .proc
            .wait_stdout(|l| event(l, name).is_some_and(|e| pred(&e)));
        event(&line, name).unwrap()
    }

    /// Waits until a printed `table` event (needs `--table-every`) holds the node with
    /// public key `pubkey`; returns that table entry.
    pub fn wait_in_table(&mut self, pubkey: &str) -> Value {
        let table = self.wait_event("table", |t| table_entry(t, pubkey).is_some());
        table_entry(&table, pubkey).unwrap()
    }
}

/// `line` parsed as a JSON event named `name`.
pub fn event(line: &str, name: &str) -> Option<Value> {
    let value: Value = serde_json::from_str(line).ok()?;
    (value["event"] == name).then_some(value)
}

fn table_entry(table: &Value, pubkey: &str) -> Option<Value> {
    table["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["pubkey"] == pubkey)
        .cloned()
}
