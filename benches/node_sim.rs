//! Whole nodes in one process on tokio's paused clock: discv4 on discv4's simulated datagram
//! network, RLPx sessions on kadnode's in-memory stream network, real crypto throughout.
//! A share of the nodes is unreachable by TCP (their listeners black-hole every dial, as
//! behind a NAT) while their discovery works, as on the real network.
//!
//! ```sh
//! cargo bench -p kadnode --bench node_sim            # 1,000 nodes, 30% unreachable
//! NODE_SIM_NODES=300 NODE_SIM_UNREACHABLE=0.3 cargo bench -p kadnode --bench node_sim
//! ```
//!
//! Prints, per dial policy: the virtual time until every reachable node has filled its
//! dialed slots, and dial attempts and failed dials per filled slot over the whole network.

#![allow(clippy::expect_used, missing_docs)]

#[path = "support/hold_open.rs"]
mod hold_open;

use hold_open::HoldOpen;
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use discv4::{
    service::Discv4Config,
    transport::{SimConfig, SimNetwork},
};
use enode::NodeRecord;
use kadnode::dial::DialPolicy;
use kadnode::{
    net::{MemoryConfig, MemoryNetwork, Reachability},
    Direction, Node, NodeConfig, P2pConfig, VERDICTS,
};
use tokio::time::Instant;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ip(index: usize) -> IpAddr {
    // 127.0.0.0/8: loopback counts as LAN, so no IP-diversity limit skews the comparison.
    IpAddr::V4(Ipv4Addr::new(
        127,
        1 + (index / 65_025) as u8,
        (index / 255 % 255) as u8,
        (index % 255 + 1) as u8,
    ))
}

struct Report {
    filled_at: Option<Duration>,
    reachable_filled: usize,
    reachable: usize,
    dials: u64,
    failures: u64,
    slots_filled: u64,
}

async fn run(nodes: usize, unreachable: f64, max_peers: usize, policy: DialPolicy) -> Report {
    let udp = SimNetwork::new(SimConfig::default());
    let tcp = MemoryNetwork::new(MemoryConfig::default());
    let unreachable_count = (nodes as f64 * unreachable).round() as usize;
    let mut running = Vec::with_capacity(nodes);
    let mut boot: Option<NodeRecord> = None;
    let started = Instant::now();
    for index in 0..nodes {
        let addr = SocketAddr::new(ip(index), 30303);
        // The last nodes are the unreachable ones; node 0, the bootnode, is reachable.
        let reachable = index < nodes - unreachable_count;
        if !reachable {
            tcp.set_reachability(addr.ip(), Reachability::BlackHole);
        }
        let socket = udp.bind(addr).expect("sim socket");
        let config = NodeConfig {
            listen_addr: addr,
            discovery: Some(Discv4Config {
                bootnodes: boot.into_iter().collect(),
                tcp_port: 30303,
                ..Discv4Config::default()
            }),
            discovery_transport: Some(Arc::new(socket)),
            p2p: Some(P2pConfig {
                protocols: vec![Arc::new(HoldOpen)],
                max_peers,
                dial_policy: policy,
                transport: Arc::new(tcp.host(addr.ip())),
                ..P2pConfig::default()
            }),
            ..NodeConfig::default()
        };
        let node = Node::start(config).await.expect("node starts");
        if index == 0 {
            boot = Some(NodeRecord {
                address: addr.ip(),
                udp_port: 30303,
                tcp_port: 30303,
                id: node.peer_id(),
            });
        }
        running.push((node, reachable));
    }
    let target = P2pConfig {
        max_peers,
        ..P2pConfig::default()
    }
    .max_dialed() as u64;
    let reachable = nodes - unreachable_count;
    let limit = Duration::from_secs(env("NODE_SIM_VIRTUAL_SECS", 900));
    let mut filled_at = None;
    let mut reachable_filled = 0;
    while started.elapsed() < limit {
        tokio::time::sleep(Duration::from_secs(1)).await;
        reachable_filled = running
            .iter()
            .filter(|(node, reachable)| {
                *reachable
                    && node
                        .p2p()
                        .is_some_and(|p| p.metrics().peers(Direction::Outbound) >= target)
            })
            .count();
        if reachable_filled == reachable {
            filled_at = Some(started.elapsed());
            break;
        }
    }
    let mut dials = 0;
    let mut failures = 0;
    let mut slots_filled = 0;
    for (node, _) in &running {
        if let Some(p2p) = node.p2p() {
            let m = p2p.metrics();
            dials += m.dials_started();
            failures += VERDICTS.iter().map(|v| m.dial_failures(*v)).sum::<u64>();
            slots_filled += m.peers(Direction::Outbound);
        }
    }
    for (node, _) in running {
        node.shutdown().await;
    }
    Report {
        filled_at,
        reachable_filled,
        reachable,
        dials,
        failures,
        slots_filled,
    }
}

fn main() {
    let nodes: usize = env("NODE_SIM_NODES", 1000);
    let unreachable: f64 = env("NODE_SIM_UNREACHABLE", 0.3);
    let max_peers: usize = env("NODE_SIM_MAX_PEERS", 50);
    for (name, policy) in [
        ("ranked", DialPolicy::Ranked),
        ("geth-like", DialPolicy::GethLike),
    ] {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let wall = std::time::Instant::now();
        let report = runtime.block_on(run(nodes, unreachable, max_peers, policy));
        let filled = report.slots_filled.max(1) as f64;
        println!(
            "policy={name} nodes={nodes} unreachable={unreachable} max_peers={max_peers}: {} of {} reachable nodes filled their dialed slots in {} (virtual); dials per filled slot {:.2}, failed dials per filled slot {:.2}; wall {:.1} s",
            report.reachable_filled,
            report.reachable,
            report.filled_at.map_or_else(|| "never".to_owned(), |d| format!("{:.1} s", d.as_secs_f64())),
            report.dials as f64 / filled,
            report.failures as f64 / filled,
            wall.elapsed().as_secs_f64()
        );
    }
}
