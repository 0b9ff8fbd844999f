//! Whole nodes in one process on tokio's paused clock: discv4 on discv4's simulated datagram
//! network, RLPx sessions on kadnode's in-memory stream network, real crypto throughout.
//! A share of the nodes is unreachable by TCP (their listeners black-hole every dial, as
//! behind a NAT) while their discovery works, as on the real network.
//!
//! ```sh
//! cargo bench -p kadnode --bench node_sim            # 1,000 nodes, 30% unreachable
//! NODE_SIM_NODES=300 NODE_SIM_UNREACHABLE=0.3 cargo bench -p kadnode --bench node_sim
//! NODE_SIM_POLICY=geth-like cargo bench -p kadnode --bench node_sim   # one policy only
//! NODE_SIM_DISCOVERY=pex cargo bench -p kadnode --bench node_sim       # discv4 (default), pex or both
//! ```
//!
//! With `pex`, no node runs discv4: node 0 is a PEX seed (seed mode) and every other node
//! bootstraps from it; with `both`, every node runs discv4 and PEX (node 0 is both bootnode
//! and seed). For PEX the report adds the share of the network each node's book knows.
//!
//! Prints, per dial policy: the virtual time until every reachable node has filled its
//! dialed slots, and dial attempts and failed dials per filled slot over the whole network;
//! then why: failed dials by verdict, the nodes left short, and the dial scheduler's own
//! events (refusals by label, backoffs by verdict, the tier of each candidate dialed, the
//! queue's occupancy) counted through a `tracing` subscriber.

#![allow(clippy::expect_used, missing_docs)]

#[path = "support/dial_counters.rs"]
mod dial_counters;
#[path = "support/hold_open.rs"]
mod hold_open;

use dial_counters::{CountingSubscriber, DialCounters};
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
use kadnode::{dial::DialPolicy, pex::PexConfig};
use kadnode::{
    net::{MemoryConfig, MemoryNetwork, Reachability},
    verdict_label, Direction, Node, NodeConfig, P2pConfig, VERDICTS,
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
    /// Reachable nodes with full dialed slots at each 30 s of virtual time.
    progress: Vec<(u64, usize)>,
    reachable_filled: usize,
    reachable: usize,
    dials: u64,
    failures: u64,
    slots_filled: u64,
    failures_by_verdict: Vec<(&'static str, u64)>,
    /// Reachable nodes short of their dialed slots at the end: (outbound, inbound, dials,
    /// failures).
    short: Vec<(u64, u64, u64, u64)>,
    /// Reachable nodes with every peer slot taken at the end.
    reachable_full: usize,
    /// PEX: the mean and the smallest share of the network a node's book knows.
    book_share: Option<(f64, f64)>,
}

/// Which discovery backends the simulated nodes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backends {
    Discv4,
    Pex,
    Both,
}

impl Backends {
    fn discv4(self) -> bool {
        self != Self::Pex
    }
    fn pex(self) -> bool {
        self != Self::Discv4
    }
}

async fn run(
    nodes: usize,
    unreachable: f64,
    max_peers: usize,
    policy: DialPolicy,
    backends: Backends,
) -> Report {
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
        let pex = backends.pex().then(|| PexConfig {
            seed_mode: index == 0,
            seeds: boot.into_iter().collect(),
            ..PexConfig::default()
        });
        let config = NodeConfig {
            listen_addr: addr,
            discovery: backends.discv4().then(|| Discv4Config {
                bootnodes: boot.into_iter().collect(),
                tcp_port: 30303,
                ..Discv4Config::default()
            }),
            discovery_transport: backends
                .discv4()
                .then(|| Arc::new(udp.bind(addr).expect("sim socket")) as _),
            p2p: Some(P2pConfig {
                protocols: vec![Arc::new(HoldOpen)],
                max_peers,
                dial_policy: policy,
                transport: Arc::new(tcp.host(addr.ip())),
                // The seed dials only to crawl.
                dial_discovered: !(index == 0 && backends.pex()),
                pex,
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
    // A PEX seed dials only to crawl: it is not expected to fill its dialed slots.
    let seeds = usize::from(backends.pex());
    let reachable = nodes - unreachable_count - seeds;
    let limit = Duration::from_secs(env("NODE_SIM_VIRTUAL_SECS", 900));
    let mut filled_at = None;
    let mut reachable_filled = 0;
    let mut progress = Vec::new();
    while started.elapsed() < limit {
        tokio::time::sleep(Duration::from_secs(1)).await;
        reachable_filled = running
            .iter()
            .skip(seeds)
            .filter(|(node, reachable)| {
                *reachable
                    && node
                        .p2p()
                        .is_some_and(|p| p.metrics().peers(Direction::Outbound) >= target)
            })
            .count();
        let secs = started.elapsed().as_secs();
        if secs.is_multiple_of(30) {
            progress.push((secs, reachable_filled));
            // Progress on stderr, so a run cut short still says where it was.
            eprintln!(
                "{policy:?} t={secs} s: {reachable_filled} of {reachable} reachable nodes full"
            );
        }
        if reachable_filled == reachable {
            filled_at = Some(started.elapsed());
            break;
        }
    }
    let mut dials = 0;
    let mut failures = 0;
    let mut slots_filled = 0;
    let mut failures_by_verdict: Vec<(&'static str, u64)> =
        VERDICTS.iter().map(|v| (verdict_label(*v), 0)).collect();
    let mut short = Vec::new();
    let mut reachable_full = 0;
    let shares: Vec<f64> = running
        .iter()
        .skip(1)
        .filter_map(|(node, _)| node.pex())
        .map(|pex| pex.metrics().book_size() as f64 / (nodes - 1) as f64)
        .collect();
    let book_share = (!shares.is_empty()).then(|| {
        (
            shares.iter().sum::<f64>() / shares.len() as f64,
            shares.iter().copied().fold(f64::INFINITY, f64::min),
        )
    });
    for (node, reachable) in &running {
        if let Some(p2p) = node.p2p() {
            let m = p2p.metrics();
            dials += m.dials_started();
            let node_failures = VERDICTS.iter().map(|v| m.dial_failures(*v)).sum::<u64>();
            failures += node_failures;
            for (slot, verdict) in failures_by_verdict.iter_mut().zip(VERDICTS) {
                slot.1 += m.dial_failures(verdict);
            }
            let outbound = m.peers(Direction::Outbound);
            let inbound = m.peers(Direction::Inbound);
            slots_filled += outbound;
            if *reachable && outbound < target && node.peer_id() != running[0].0.peer_id() {
                short.push((outbound, inbound, m.dials_started(), node_failures));
            }
            if *reachable && (outbound + inbound) as usize >= max_peers {
                reachable_full += 1;
            }
        }
    }
    for (node, _) in running {
        node.shutdown().await;
    }
    Report {
        filled_at,
        progress,
        reachable_filled,
        reachable,
        dials,
        failures,
        slots_filled,
        failures_by_verdict,
        short,
        reachable_full,
        book_share,
    }
}

fn main() {
    let nodes: usize = env("NODE_SIM_NODES", 1000);
    let unreachable: f64 = env("NODE_SIM_UNREACHABLE", 0.3);
    let max_peers: usize = env("NODE_SIM_MAX_PEERS", 50);
    let counters = Arc::new(DialCounters::default());
    tracing::subscriber::set_global_default(CountingSubscriber(counters.clone()))
        .expect("one subscriber");
    // NODE_SIM_POLICY=ranked or geth-like runs one policy only (two processes side by side
    // finish sooner on a shared machine; the figures are on virtual time either way).
    let only = std::env::var("NODE_SIM_POLICY").ok();
    let backends = match std::env::var("NODE_SIM_DISCOVERY").as_deref() {
        Ok("pex") => Backends::Pex,
        Ok("both") => Backends::Both,
        _ => Backends::Discv4,
    };
    for (name, policy) in [
        ("ranked", DialPolicy::Ranked),
        ("geth-like", DialPolicy::GethLike),
    ] {
        if only.as_deref().is_some_and(|only| only != name) {
            continue;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let wall = std::time::Instant::now();
        counters.reset();
        let report = runtime.block_on(run(nodes, unreachable, max_peers, policy, backends));
        let filled = report.slots_filled.max(1) as f64;
        // Share of the reachable nodes full at 30, 60 and 90 s (all of them once filled).
        let share_at = |secs: u64| {
            let full = match report.filled_at {
                Some(at) if at.as_secs() <= secs => report.reachable,
                _ => report
                    .progress
                    .iter()
                    .find(|(at, _)| *at == secs)
                    .map_or(report.reachable_filled, |(_, n)| *n),
            };
            100.0 * full as f64 / report.reachable.max(1) as f64
        };
        println!(
            "policy={name} discovery={backends:?} nodes={nodes} unreachable={unreachable} max_peers={max_peers}: {} of {} reachable nodes filled their dialed slots in {} (virtual; {:.0} % at 30 s, {:.0} % at 60 s, {:.0} % at 90 s); dials per filled slot {:.2}, failed dials per filled slot {:.2}; wall {:.1} s",
            report.reachable_filled,
            report.reachable,
            report.filled_at.map_or_else(|| "never".to_owned(), |d| format!("{:.1} s", d.as_secs_f64())),
            share_at(30),
            share_at(60),
            share_at(90),
            report.dials as f64 / filled,
            report.failures as f64 / filled,
            wall.elapsed().as_secs_f64()
        );
        println!(
            "  failed dials by verdict: {:?}; reachable nodes with every peer slot taken: {}; reachable nodes short (outbound, inbound, dials, failures): {:?}",
            report.failures_by_verdict, report.reachable_full, report.short
        );
        if let Some((mean, min)) = report.book_share {
            println!(
                "  PEX books know {:.1} % of the network on average, {:.1} % at least",
                mean * 100.0,
                min * 100.0
            );
        }
        print!("{}", counters.report());
    }
}
