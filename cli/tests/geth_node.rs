//! Whole nodes with go-ethereum v1.17.10 on loopback: `kadnode node` and a go-ethereum
//! `p2p.Server` (`kadpeer`) find each other through discv4 and dial each other, run
//! `kadtest/1` both ways on the session, see each other's disconnect reasons (client
//! quitting, too many peers, useless peer, already connected), and go-ethereum's mainnet
//! fork-id filter judges the `eth` entry of our ENR. Needs `tests/geth/build.sh` (skips
//! without it unless `KADNODE_REQUIRE_GETH=1`).
//!
//! Connections refused before they become peers are reported by kadpeer as `conn:failed`
//! events and by our node in its debug log (`connection failed … detail=…`): the library has
//! no event for them.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;
mod geth_support;

use std::time::Duration;

use cli_support::*;
use geth_support::{tools, KadPeer};
use serde_json::{json, Value};

/// kadpeer's Hello name and greeting (its defaults).
const GETH_NAME: &str = "kadpeer/geth-v1.17.10";
const GETH_GREETING: &str = "hello from kadpeer";
/// Our node's Hello name in these tests, and the greeting `--echo` derives from it.
const OUR_NAME: &str = "kadnode-interop";
const OUR_GREETING: &str = "hello from kadnode-interop";

/// A running `kadnode --json node`.
struct OurNode {
    proc: Proc,
    enode: String,
    enr: String,
    /// 32-byte node id, hex (kadpeer's `id`).
    id: String,
}

impl OurNode {
    /// `kadnode --json node` on 127.0.0.1 port 0 holding `caps`, with the node service's
    /// debug log (refused and failed connections) on stderr.
    fn start(caps: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            "--json",
            "node",
            "--addr",
            "127.0.0.1:0",
            "--caps",
            caps,
            "--client-id",
            OUR_NAME,
        ];
        args.extend_from_slice(extra);
        let mut proc = Proc::spawn_env(KADNODE, &args, &[("RUST_LOG", "info,kadnode::node=debug")]);
        let identity = proc.wait_stdout(|l| l.contains("\"enode\""));
        let identity: Value = serde_json::from_str(&identity).unwrap();
        proc.wait_stdout(|l| event(l, "listening").is_some());
        Self {
            proc,
            enode: identity["enode"].as_str().unwrap().to_owned(),
            enr: identity["enr"].as_str().unwrap().to_owned(),
            id: identity["id"].as_str().unwrap().to_owned(),
        }
    }

    /// Its public key, 128 hex characters (our events' `id`, kadpeer's `pubkey`).
    fn pubkey(&self) -> String {
        pubkey_of(&self.enode)
    }

    /// Waits for our event `name` satisfying `pred`.
    fn wait_event(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let line = self
            .proc
            .wait_stdout(|l| event(l, name).is_some_and(|e| pred(&e)));
        event(&line, name).unwrap()
    }

    /// Waits for the debug line of a connection that failed before it became a peer, with
    /// the peer `pubkey` (logged as its first 8 bytes) and `detail` in it.
    fn wait_connection_failed(&mut self, pubkey: &str, detail: &str) -> String {
        let short = format!("PeerId({}…)", &pubkey[..16]);
        self.proc.wait_stderr(|l| {
            l.contains("connection failed") && l.contains(&short) && l.contains(detail)
        })
    }

    /// SIGTERM, then a clean exit.
    fn stop(&mut self) {
        self.proc.sigterm();
        assert!(self.proc.wait_exit(Duration::from_secs(10)).success());
    }
}

/// `line` parsed as our JSON event `name`.
fn event(line: &str, name: &str) -> Option<Value> {
    let value: Value = serde_json::from_str(line).ok()?;
    (value["event"] == name).then_some(value)
}

/// `kadtest/1` ran both ways on the session between `ours` and `peer`: each side's greeting
/// arrived at the other and came back as an echo.
fn assert_kadtest_both_ways(ours: &mut OurNode, peer: &mut KadPeer) {
    let (our_id, peer_key) = (ours.id.clone(), peer.pubkey());
    // At go-ethereum: our greeting arrived, and its own came back echoed by us.
    peer.wait_event("kadtest:hello", |e| {
        e["id"] == our_id.as_str() && e["text"] == OUR_GREETING
    });
    peer.wait_event("kadtest:echo", |e| {
        e["id"] == our_id.as_str() && e["text"] == GETH_GREETING
    });
    // At ours: go-ethereum's greeting (code 0), and ours echoed back (code 1).
    for (code, text) in [(0, GETH_GREETING), (1, OUR_GREETING)] {
        let message = ours.wait_event("message", |e| {
            e["id"] == peer_key.as_str() && e["code"] == code
        });
        assert_eq!(message["cap"], "kadtest/1", "{message}");
        assert_eq!(message["text"], text, "{message}");
    }
}

/// Our `peer-added` for `peer` and kadpeer's `peer:added` for us agree on who dialed; the
/// peer is one of our static nodes only when we dialed it as one (`is_static`).
fn assert_session(ours: &mut OurNode, peer: &mut KadPeer, we_dialed: bool, is_static: bool) {
    let peer_key = peer.pubkey();
    let added = ours.wait_event("peer-added", |e| e["id"] == peer_key.as_str());
    let direction = if we_dialed { "outbound" } else { "inbound" };
    assert_eq!(added["direction"], direction, "{added}");
    assert_eq!(added["static"], is_static, "{added}");
    assert_eq!(added["clientId"], GETH_NAME, "{added}");
    assert_eq!(added["caps"], json!(["kadtest/1"]), "{added}");

    let our_key = ours.pubkey();
    let added = peer.wait_event("peer:added", |e| e["pubkey"] == our_key.as_str());
    assert_eq!(added["inbound"], we_dialed, "{added}");
    assert_eq!(added["name"], OUR_NAME, "{added}");
    assert_eq!(added["caps"], json!(["kadtest/1"]), "{added}");
}

/// Our node learns the go-ethereum node's address only from our bootnode's NEIGHBORS (no
/// static entry), dials it (it does not dial: `--nodial`), and kadtest/1 runs both ways. Our
/// SIGTERM ends the session with Disconnect 0x08, which go-ethereum reports as "client
/// quitting".
#[test]
fn our_node_finds_a_geth_node_through_discv4_dials_it_and_quits() {
    let Some(geth) = tools() else { return };
    let dir = TempDir::new("geth-node-dial");
    let boot = Bootnode::start(dir.path(), &[]);
    let mut peer = KadPeer::start(&geth, &["--bootnodes", &boot.enode, "--nodial"]);
    let mut ours = OurNode::start("kadtest/1/2", &["--bootnodes", &boot.enode, "--echo"]);

    assert_session(&mut ours, &mut peer, true, false);
    assert_kadtest_both_ways(&mut ours, &mut peer);

    ours.stop();
    let our_id = ours.id.clone();
    let dropped = peer.wait_event("peer:dropped", |e| e["id"] == our_id.as_str());
    assert_eq!(dropped["reason"], "client quitting", "{dropped}");
}

/// The go-ethereum node learns our node's address only from our bootnode's NEIGHBORS and
/// dials it (ours does not dial: `--nodial`); kadtest/1 runs both ways. Its shutdown ends the
/// session with Disconnect 0x08, which our node reports as reason 8 sent by the remote.
#[test]
fn geth_node_finds_our_node_through_discv4_dials_it_and_quits() {
    let Some(geth) = tools() else { return };
    let dir = TempDir::new("geth-node-accept");
    let boot = Bootnode::start(dir.path(), &[]);
    let mut ours = OurNode::start(
        "kadtest/1/2",
        &["--bootnodes", &boot.enode, "--echo", "--nodial"],
    );
    let mut peer = KadPeer::start(&geth, &["--bootnodes", &boot.enode]);

    assert_session(&mut ours, &mut peer, false, false);
    assert_kadtest_both_ways(&mut ours, &mut peer);

    peer.command("exit");
    peer.wait_event("stopped", |_| true);
    let peer_key = peer.pubkey();
    let dropped = ours.wait_event("peer-dropped", |e| e["id"] == peer_key.as_str());
    assert_eq!(dropped["reason"], 8, "{dropped}");
    assert_eq!(dropped["byRemote"], true, "{dropped}");
    ours.stop();
}

/// A full go-ethereum node (`--maxpeers 1`, its one slot taken by our first node) refuses our
/// second node with Disconnect 0x04; a full node of ours refuses a second go-ethereum node
/// the same way. Each side reports the reason.
#[test]
fn full_nodes_refuse_with_too_many_peers_both_ways() {
    let Some(geth) = tools() else { return };

    // go-ethereum is full. With --nodial all of its one slot is for inbound peers.
    let mut peer = KadPeer::start(&geth, &["--nodiscover", "--nodial", "--maxpeers", "1"]);
    let mut first = OurNode::start("kadtest/1/2", &["--nodiscover", "--static", &peer.enode()]);
    let first_key = first.pubkey();
    peer.wait_event("peer:added", |e| e["pubkey"] == first_key.as_str());
    let mut second = OurNode::start("kadtest/1/2", &["--nodiscover", "--static", &peer.enode()]);
    let second_id = second.id.clone();
    let refused = peer.wait_event("conn:failed", |e| e["id"] == second_id.as_str());
    assert_eq!(refused["error"], "too many peers", "{refused}");
    assert_eq!(refused["inbound"], true, "{refused}");
    second.wait_connection_failed(&peer.pubkey(), "remote disconnected: too many peers (0x04)");
    second.stop();
    first.stop();

    // Ours is full: --nodial --maxpeers 1, its slot taken by a first go-ethereum node.
    let mut ours = OurNode::start(
        "kadtest/1/2",
        &["--nodiscover", "--nodial", "--maxpeers", "1"],
    );
    let mut first = KadPeer::start(&geth, &["--nodiscover", "--static", &ours.enode]);
    assert_session(&mut ours, &mut first, false, false);
    let mut second = KadPeer::start(&geth, &["--nodiscover", "--static", &ours.enode]);
    let our_id = ours.id.clone();
    let refused = second.wait_event("conn:failed", |e| e["id"] == our_id.as_str());
    assert_eq!(refused["error"], "too many peers", "{refused}");
    assert_eq!(refused["inbound"], false, "{refused}");
    ours.wait_connection_failed(&second.pubkey(), "refused: too many peers (0x04)");
    ours.stop();
}

/// Without a shared capability each side ends the connection as a useless peer (0x03),
/// whichever dialed: both read the other's Hello, so both decide before reading the
/// other's Disconnect.
#[test]
fn no_shared_capability_is_a_useless_peer_both_ways() {
    let Some(geth) = tools() else { return };

    // We dial go-ethereum.
    let mut peer = KadPeer::start(&geth, &["--nodiscover", "--nodial"]);
    let mut ours = OurNode::start("other/1/1", &["--nodiscover", "--static", &peer.enode()]);
    let our_id = ours.id.clone();
    let refused = peer.wait_event("conn:failed", |e| e["id"] == our_id.as_str());
    assert_eq!(refused["error"], "useless peer", "{refused}");
    assert_eq!(refused["inbound"], true, "{refused}");
    ours.wait_connection_failed(
        &peer.pubkey(),
        "no shared capability (remote offers: kadtest/1)",
    );
    ours.stop();

    // go-ethereum dials us.
    let mut ours = OurNode::start("other/1/1", &["--nodiscover", "--nodial"]);
    let mut peer = KadPeer::start(&geth, &["--nodiscover", "--static", &ours.enode]);
    let our_id = ours.id.clone();
    let refused = peer.wait_event("conn:failed", |e| e["id"] == our_id.as_str());
    assert_eq!(refused["error"], "useless peer", "{refused}");
    assert_eq!(refused["inbound"], false, "{refused}");
    ours.wait_connection_failed(
        &peer.pubkey(),
        "no shared capability (remote offers: kadtest/1)",
    );
    ours.stop();
}

/// A second connection from a node that is already a peer (a second process with the same
/// node key) is refused with Disconnect 0x05 and the first session stays, both ways.
#[test]
fn second_connection_of_a_peer_is_refused_as_already_connected_both_ways() {
    let Some(geth) = tools() else { return };
    const OUR_KEY: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const GETH_KEY: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    // go-ethereum refuses our second connection.
    let mut peer = KadPeer::start(&geth, &["--nodiscover", "--nodial"]);
    let peer_enode = peer.enode();
    let args = [
        "--nodiscover",
        "--nodekeyhex",
        OUR_KEY,
        "--static",
        &peer_enode,
    ];
    let mut first = OurNode::start("kadtest/1/2", &args);
    assert_session(&mut first, &mut peer, true, true);
    let mut second = OurNode::start("kadtest/1/2", &args);
    assert_eq!(second.id, first.id);
    let our_id = first.id.clone();
    let refused = peer.wait_event("conn:failed", |e| e["id"] == our_id.as_str());
    assert_eq!(refused["error"], "already connected", "{refused}");
    assert_eq!(refused["inbound"], true, "{refused}");
    second.wait_connection_failed(
        &peer.pubkey(),
        "remote disconnected: already connected (0x05)",
    );
    second.stop();
    peer.command("peers");
    let peers = peer.wait_event("peers", |_| true);
    assert_eq!(peers["peers"][0]["id"], our_id.as_str(), "{peers}");
    first.stop();

    // Ours refuses go-ethereum's second connection (both inbound: the older one stays).
    let mut ours = OurNode::start("kadtest/1/2", &["--nodiscover", "--nodial"]);
    let our_enode = ours.enode.clone();
    let args = [
        "--nodiscover",
        "--nodekeyhex",
        GETH_KEY,
        "--static",
        &our_enode,
    ];
    let mut first = KadPeer::start(&geth, &args);
    assert_session(&mut ours, &mut first, false, false);
    let mut second = KadPeer::start(&geth, &args);
    assert_eq!(second.pubkey(), first.pubkey());
    let our_id = ours.id.clone();
    let refused = second.wait_event("conn:failed", |e| e["id"] == our_id.as_str());
    assert_eq!(refused["error"], "already connected", "{refused}");
    assert_eq!(refused["inbound"], false, "{refused}");
    ours.wait_connection_failed(&first.pubkey(), "refused: already connected (0x05)");
    first.command("peers");
    let peers = first.wait_event("peers", |_| true);
    assert_eq!(peers["peers"][0]["id"], our_id.as_str(), "{peers}");
    assert!(
        !ours
            .proc
            .stdout
            .iter()
            .any(|l| event(l, "peer-dropped").is_some()),
        "{}",
        ours.proc.dump()
    );
    ours.stop();
}

/// The `eth` line of `kadnode enr decode` (key, then the value's RLP in hex).
fn eth_entry_line(enr: &str) -> String {
    let out = run(KADNODE, &["enr", "decode", enr]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Signature valid: yes"), "{out:?}");
    out.stdout
        .lines()
        .find(|l| l.trim_start().starts_with("\"eth\""))
        .unwrap_or_else(|| panic!("no eth entry: {out:?}"))
        .trim()
        .to_owned()
}

/// `--enr-eth-forkid` puts go-ethereum's `eth` entry in our ENR: byte for byte the entry
/// go-ethereum writes for the same fork id, accepted by go-ethereum's mainnet fork-id filter
/// when it is mainnet's id and rejected when it is another chain's; our bootnode serves it
/// over discv4 (go-ethereum's `devp2p discv4 requestenr`).
#[test]
fn geth_fork_id_filter_accepts_our_enr_only_with_a_matching_eth_entry() {
    let Some(geth) = tools() else { return };
    // go-ethereum's own record with mainnet's current fork id.
    let mut peer = KadPeer::start(&geth, &["--nodiscover", "--eth-forkid", "mainnet"]);
    let reference = peer.check_enr(&peer.enr());
    assert_eq!(reference["forkFilter"], "ok", "{reference}");
    let mainnet = format!(
        "{}:{}",
        reference["eth"]["forkHash"].as_str().unwrap(),
        reference["eth"]["forkNext"]
    );

    let mut ours = OurNode::start(
        "kadtest/1/2",
        &["--nodiscover", "--enr-eth-forkid", &mainnet],
    );
    let checked = peer.check_enr(&ours.enr);
    assert_eq!(checked["valid"], true, "{checked}");
    assert_eq!(checked["id"], ours.id.as_str(), "{checked}");
    assert_eq!(checked["eth"], reference["eth"], "{checked}");
    assert_eq!(checked["forkFilter"], "ok", "{checked}");
    assert_eq!(eth_entry_line(&ours.enr), eth_entry_line(&peer.enr()));
    ours.stop();

    let mut other = OurNode::start(
        "kadtest/1/2",
        &["--nodiscover", "--enr-eth-forkid", "deadbeef:0"],
    );
    let checked = peer.check_enr(&other.enr);
    assert_eq!(checked["valid"], true, "{checked}");
    assert_eq!(
        checked["eth"],
        json!({"forkHash": "deadbeef", "forkNext": 0}),
        "{checked}"
    );
    assert_eq!(
        checked["forkFilter"], "local incompatible or needs update",
        "{checked}"
    );
    other.stop();

    // The bootnode takes the flag too, and serves the record over discv4.
    let dir = TempDir::new("geth-node-forkid");
    let boot = Bootnode::start(dir.path(), &["--enr-eth-forkid", &mainnet]);
    let out = run(
        &geth.devp2p,
        &[
            "discv4",
            "requestenr",
            "--addr",
            "127.0.0.1:0",
            "--bootnodes",
            "",
            &boot.enode,
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let served = out.stdout.trim();
    assert_eq!(served, boot.enr, "{out:?}");
    let checked = peer.check_enr(served);
    assert_eq!(checked["eth"], reference["eth"], "{checked}");
    assert_eq!(checked["forkFilter"], "ok", "{checked}");
}
