//! Whole-node load on loopback, with the figures beside their crypto floor from the same run.
//!
//! ```sh
//! cargo bench -p kadnode --bench node_load -- [--peers 1000] [--handshakes 2000]
//! ```
//!
//! - **Memory per idle peer**: a server node (this process) accepts `--peers` sessions from a
//!   client process (this binary re-run with `--client`); the server's resident set before
//!   and after, divided by the peers, is the cost of one connected idle peer (session task,
//!   buffers, peer task, protocol loop) beyond the kernel's socket buffers, which RSS does
//!   not count.
//! - **Handshakes accepted per second**: the client opens `--handshakes` sessions (32 in
//!   flight), each with a fresh key, and closes each once established; the server counts
//!   peers added. Both processes share the machine's cores, so the floor is the elliptic-curve
//!   work of both sides of one handshake (2 key generations, 4 ECDH, a signature or a
//!   recovery per side), measured here on one core and scaled by the cores available.

#![allow(clippy::expect_used, missing_docs)]

#[path = "support/hold_open.rs"]
mod hold_open;

use hold_open::HoldOpen;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use enode::{NodeKey, NodeRecord};
use kadnode::{Node, NodeConfig, P2pConfig, PeerEvent, ProtocolSpec};
use rlpx::session::SessionConfig;
use secp256k1::{ecdh::shared_secret_point, Message, PublicKey, SecretKey, SECP256K1};
use tokio::io::AsyncBufReadExt;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Seconds per "both sides of one handshake" of elliptic-curve work, on one core.
fn ec_floor_seconds() -> f64 {
    let peer = PublicKey::from_secret_key(
        SECP256K1,
        &SecretKey::from_slice(&[0x22; 32]).expect("valid key"),
    );
    let secret = SecretKey::from_slice(&[0x11; 32]).expect("valid key");
    let digest = Message::from_digest([0x5a; 32]);
    let signature = SECP256K1.sign_ecdsa_recoverable(&digest, &secret);
    let mut rng = rand::thread_rng();
    let rounds = 2000;
    let start = Instant::now();
    let mut acc = 0u8;
    for _ in 0..rounds {
        for _side in 0..2 {
            for _ in 0..2 {
                let s = SecretKey::new(&mut rng);
                acc ^= PublicKey::from_secret_key(SECP256K1, &s).serialize()[1];
            }
            for _ in 0..4 {
                acc ^= shared_secret_point(&peer, &secret)[0];
            }
        }
        let sig = SECP256K1.sign_ecdsa_recoverable(&digest, &secret);
        let recovered = SECP256K1.recover_ecdsa(&digest, &signature);
        std::hint::black_box((acc, sig, recovered.is_ok()));
    }
    start.elapsed().as_secs_f64() / f64::from(rounds)
}

async fn client(target: NodeRecord, count: usize, hold: bool) {
    let config = Arc::new(SessionConfig::new(
        "node-load-client",
        vec![ProtocolSpec::new("kadtest", 1, 2)],
    ));
    let remote = target.id.to_public_key().expect("valid id");
    let addr = std::net::SocketAddr::new(target.address, target.tcp_port);
    let limit = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let permit = Arc::clone(&limit).acquire_owned().await.expect("semaphore");
        let config = Arc::clone(&config);
        tasks.spawn(async move {
            let key = NodeKey::generate();
            let session = rlpx::session::dial(addr, &key, remote, &config).await;
            drop(permit);
            match session {
                Ok(mut session) if hold => {
                    let handles = session.connection.take_handles();
                    Some((session, handles))
                }
                Ok(_) => None,
                Err(e) => {
                    eprintln!("client: {e}");
                    None
                }
            }
        });
    }
    let mut held = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(Some(session)) = done {
            held.push(session);
        }
    }
    println!("client done {}", held.len());
    // Keep the sessions until the server closes stdin.
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = lines.next_line().await {}
    drop(held);
}

async fn server(peers: usize, handshakes: usize) {
    let floor = ec_floor_seconds();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "ec floor, both sides of one handshake: {:.1} µs on one core → {:.0} handshakes/s on {cores} cores",
        floor * 1e6,
        cores as f64 / floor
    );
    let rss_before = rss_kib();
    let node = Node::start(NodeConfig {
        listen_addr: "127.0.0.1:0".parse().expect("addr"),
        discovery: None,
        p2p: Some(P2pConfig {
            protocols: vec![Arc::new(HoldOpen)],
            max_peers: peers.max(handshakes) + 10,
            dial_ratio: usize::MAX,
            no_dial: true,
            ..P2pConfig::default()
        }),
        ..NodeConfig::default()
    })
    .await
    .expect("node starts");
    let tcp = node.tcp_addr().expect("listening");
    let target = NodeRecord {
        address: tcp.ip(),
        tcp_port: tcp.port(),
        udp_port: tcp.port(),
        id: node.peer_id(),
    };
    let handle = node.p2p().expect("p2p").clone();
    let exe = std::env::current_exe().expect("own path");
    let rss_started = rss_kib();

    if peers > 0 {
        let mut events = handle.subscribe();
        let mut child = tokio::process::Command::new(&exe)
            .args([
                "--client",
                &target.enode_url(),
                "--count",
                &peers.to_string(),
                "--hold",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("client starts");
        let mut added = 0;
        while added < peers {
            match tokio::time::timeout(Duration::from_secs(120), events.recv()).await {
                Ok(Ok(PeerEvent::Added(_))) => added += 1,
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                _ => break,
            }
        }
        // Let the sessions settle (first pings, buffers shrink) before measuring.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let connected = handle.peers().await.map_or(0, |p| p.len());
        let rss_peers = rss_kib();
        println!(
            "idle peers: {connected}; server RSS {rss_before} KiB before start, {rss_started} KiB started, {rss_peers} KiB with peers → {:.1} KiB per idle peer",
            (rss_peers.saturating_sub(rss_started)) as f64 / connected.max(1) as f64
        );
        drop(child.stdin.take());
        let _ = child.wait().await;
    }

    if handshakes > 0 {
        let mut events = handle.subscribe();
        let start = Instant::now();
        let mut child = tokio::process::Command::new(&exe)
            .args([
                "--client",
                &target.enode_url(),
                "--count",
                &handshakes.to_string(),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("client starts");
        let mut added = 0;
        while added < handshakes {
            match tokio::time::timeout(Duration::from_secs(120), events.recv()).await {
                Ok(Ok(PeerEvent::Added(_))) => added += 1,
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                _ => break,
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        let rate = added as f64 / elapsed;
        println!(
            "handshakes accepted: {added} in {elapsed:.2} s = {rate:.0}/s (both sides on this machine); {:.2} of the {cores}-core ec floor",
            rate / (cores as f64 / floor)
        );
        drop(child.stdin.take());
        let _ = child.wait().await;
    }
    node.shutdown().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(target) = arg("--client") {
        let target = enode::parse_node(&target).expect("enode").0;
        let count = arg("--count").and_then(|c| c.parse().ok()).unwrap_or(1);
        let hold = std::env::args().any(|a| a == "--hold");
        runtime.block_on(client(target, count, hold));
        return;
    }
    let peers = arg("--peers").and_then(|c| c.parse().ok()).unwrap_or(1000);
    let handshakes = arg("--handshakes")
        .and_then(|c| c.parse().ok())
        .unwrap_or(2000);
    runtime.block_on(server(peers, handshakes));
}
