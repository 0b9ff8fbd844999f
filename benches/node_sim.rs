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
//! NODE_SIM_DISCOVERY=discv4,pex,both cargo bench -p kadnode --bench node_sim   # one after the other
//! NODE_SIM_ECLIPSE=0.2 NODE_SIM_DISCOVERY=pex,both cargo bench -p kadnode --bench node_sim
//! ```
//!
//! With `pex`, no node runs discv4: node 0 is a PEX seed (seed mode) and every other node
//! bootstraps from it; with `both`, every node runs discv4 and PEX (node 0 is both bootnode
//! and seed). For PEX the report adds the share of the network each honest node's book
//! knows. A comma list of backends runs them one after the other in this process and ends
//! with one comparison table.
//!
//! `NODE_SIM_ECLIPSE=<share>` makes that share of the nodes (every fifth for 0.2, node 0
//! excepted, reachable and unreachable alike) eclipse attackers: they behave like everyone
//! else but answer every GetPeers with other attackers' records only (64, each hinted "had
//! a session"). The report then gives the share of honest peers among the peers of honest
//! nodes (mean, least, and how many honest nodes have only attackers as peers), against the
//! share of honest nodes a uniform choice would give.
//!
//! Prints, per dial policy: the virtual time until every reachable node has filled its
//! dialed slots, and dial attempts and failed dials per filled slot over the whole network;
//! then why: failed dials by verdict, the nodes left short, and the dial scheduler's own
//! events (refusals by label, backoffs by verdict, the tier of each candidate dialed, the
//! queue's occupancy) counted through a `tracing` subscriber.

#![allow(clippy::expect_used, missing_docs)]

#[path = "support/dial_counters.rs"]
mod dial_counters;
#[path = "support/eclipse.rs"]
mod eclipse;
#[path = "support/hold_open.rs"]
mod hold_open;

use dial_counters::{CountingSubscriber, DialCounters};
use eclipse::Attackers;
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
    verdict_label, Direction, KeySource, Node, NodeConfig, P2pConfig, VERDICTS,
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
    /// PEX: the mean and the smallest share of the network an honest node's book knows.
    book_share: Option<(f64, f64)>,
    /// PEX: the mean share at each 30 s of virtual time.
    book_progress: Vec<(u64, f64)>,
    /// With attackers: what honest nodes ended up with.
    eclipse: Option<Eclipse>,
    /// PEX, per honest node (node 0 excepted): GetPeers sent and records received on
    /// average; over all of them, requests answered empty for the rate limit and requests
    /// that timed out.
    pex_traffic: Option<(f64, f64, u64, u64)>,
}

/// The peers of the honest nodes (node 0 excepted) at the end of an eclipse run.
#[derive(Debug, Clone, Copy)]
struct Eclipse {
    attackers: usize,
    /// Share of honest nodes among all nodes but node 0: what a uniform choice gives.
    uniform: f64,
    /// Share of honest peers among all peers: mean over honest nodes with a peer, least.
    all_mean: f64,
    all_min: f64,
    /// The same among the peers they dialed.
    dialed_mean: f64,
    dialed_min: f64,
    /// Honest nodes whose peers are all attackers (at least one peer).
    all_attackers: usize,
    /// Honest nodes with no peer at all.
    isolated: usize,
}

fn mean_min(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (
        values.iter().sum::<f64>() / values.len() as f64,
        values.iter().copied().fold(f64::INFINITY, f64::min),
    )
}

/// Which discovery backends the simulated nodes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backends {
    Discv4,
    Pex,
    Both,
}

impl Backends {
    fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "discv4" => Some(Self::Discv4),
            "pex" => Some(Self::Pex),
            "both" => Some(Self::Both),
            _ => None,
        }
    }
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
    eclipse: f64,
) -> Report {
    // Attackers only make sense where PEX answers exist.
    let attackers = Attackers::new(nodes, if backends.pex() { eclipse } else { 0.0 }, ip);
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
        let attacker_key = attackers.key(index);
        let pex = backends.pex().then(|| {
            let mut pex = match &attacker_key {
                Some(_) => PexConfig::new(attackers.book()),
                None => PexConfig::default(),
            };
            pex.seed_mode = index == 0;
            pex.seeds = boot.into_iter().collect();
            pex
        });
        let config = NodeConfig {
            listen_addr: addr,
            key: attacker_key.map_or(KeySource::FromStorage, KeySource::Key),
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
    let mut book_progress = Vec::new();
    let honest_book_share = |running: &[(Node, bool)]| {
        let shares: Vec<f64> = honest_nodes(running, &attackers)
            .filter_map(|(_, node, _)| node.pex())
            .map(|pex| pex.metrics().book_size() as f64 / (nodes - 1) as f64)
            .collect();
        (!shares.is_empty()).then(|| mean_min(&shares))
    };
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
            let books = honest_book_share(&running);
            if let Some((mean, _)) = books {
                book_progress.push((secs, mean));
            }
            // Progress on stderr, so a run cut short still says where it was.
            eprintln!(
                "{backends:?} {policy:?} t={secs} s: {reachable_filled} of {reachable} reachable nodes full{}",
                books.map_or_else(String::new, |(mean, min)| format!(
                    "; books know {:.1} % (least {:.1} %)",
                    mean * 100.0,
                    min * 100.0
                ))
            );
        }
        if reachable_filled == reachable && filled_at.is_none() {
            filled_at = Some(started.elapsed());
            // PEX figures (books, eclipse) are taken at the end of the virtual time.
            if !backends.pex() {
                break;
            }
        }
    }
    let mut dials = 0;
    let mut failures = 0;
    let mut slots_filled = 0;
    let mut failures_by_verdict: Vec<(&'static str, u64)> =
        VERDICTS.iter().map(|v| (verdict_label(*v), 0)).collect();
    let mut short = Vec::new();
    let mut reachable_full = 0;
    let book_share = honest_book_share(&running);
    let honest_pex: Vec<_> = honest_nodes(&running, &attackers)
        .filter_map(|(_, node, _)| node.pex().map(|pex| pex.metrics().clone()))
        .collect();
    // The honest node whose book knows least, and why it might.
    if let Some((index, node, reachable)) = honest_nodes(&running, &attackers)
        .filter(|(_, node, _)| node.pex().is_some())
        .min_by_key(|(_, node, _)| node.pex().map_or(0, |p| p.metrics().book_size()))
    {
        if let (Some(pex), Some(p2p)) = (node.pex(), node.p2p()) {
            let m = pex.metrics();
            eprintln!(
                "least-knowing honest node {index} (reachable {reachable}): book {}, pex sessions {}, {} outbound / {} inbound peers, {} GetPeers sent, {} records received, {} timeouts",
                m.book_size(),
                m.sessions(),
                p2p.metrics().peers(Direction::Outbound),
                p2p.metrics().peers(Direction::Inbound),
                m.requests_sent(),
                m.gossip_in(),
                m.request_timeouts()
            );
            if let Some(dump) = pex.book().await {
                let mut sources = std::collections::HashMap::new();
                for e in &dump.entries {
                    *sources.entry(e.source).or_insert(0usize) += 1;
                }
                let mut counts: Vec<usize> = sources.values().copied().collect();
                counts.sort_unstable();
                eprintln!(
                    "  its book: {:?}; entries per first source: {counts:?}",
                    dump.stats
                );
            }
        }
    }
    let pex_traffic = (!honest_pex.is_empty()).then(|| {
        let n = honest_pex.len() as f64;
        (
            honest_pex.iter().map(|m| m.requests_sent()).sum::<u64>() as f64 / n,
            honest_pex.iter().map(|m| m.gossip_in()).sum::<u64>() as f64 / n,
            honest_pex.iter().map(|m| m.rate_limited()).sum::<u64>(),
            honest_pex.iter().map(|m| m.request_timeouts()).sum::<u64>(),
        )
    });
    let eclipse = if attackers.count() > 0 {
        Some(eclipse_share(&running, &attackers, nodes).await)
    } else {
        None
    };
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
        book_progress,
        eclipse,
        pex_traffic,
    }
}

/// The honest nodes (node 0, the seed and bootnode, excepted) with their index and
/// reachability.
fn honest_nodes<'a>(
    running: &'a [(Node, bool)],
    attackers: &'a Attackers,
) -> impl Iterator<Item = (usize, &'a Node, bool)> + 'a {
    running
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, (node, _))| !attackers.is_attacker(&node.peer_id()))
        .map(|(index, (node, reachable))| (index, node, *reachable))
}

/// The honest share of the honest nodes' peers (node 0 excepted on both sides: it is the
/// seed and bootnode, and its sessions are crawls).
async fn eclipse_share(running: &[(Node, bool)], attackers: &Attackers, nodes: usize) -> Eclipse {
    let seed = running[0].0.peer_id();
    let mut all = Vec::new();
    let mut dialed = Vec::new();
    let mut all_attackers = 0;
    let mut isolated = 0;
    for (_, node, _) in honest_nodes(running, attackers) {
        let Some(p2p) = node.p2p() else { continue };
        let peers = p2p.peers().await.unwrap_or_default();
        let peers: Vec<_> = peers.into_iter().filter(|p| p.id != seed).collect();
        if peers.is_empty() {
            isolated += 1;
            continue;
        }
        let honest = |p: &&kadnode::PeerInfo| !attackers.is_attacker(&p.id);
        let good = peers.iter().filter(honest).count();
        all.push(good as f64 / peers.len() as f64);
        if good == 0 {
            all_attackers += 1;
        }
        let out: Vec<_> = peers
            .iter()
            .filter(|p| p.slot == Direction::Outbound)
            .collect();
        if !out.is_empty() {
            let good = out.iter().filter(|p| honest(p)).count();
            dialed.push(good as f64 / out.len() as f64);
        }
    }
    let (all_mean, all_min) = mean_min(&all);
    let (dialed_mean, dialed_min) = mean_min(&dialed);
    Eclipse {
        attackers: attackers.count(),
        uniform: 1.0 - attackers.count() as f64 / (nodes - 1) as f64,
        all_mean,
        all_min,
        dialed_mean,
        dialed_min,
        all_attackers,
        isolated,
    }
}

/// One line of the closing comparison table.
struct Row {
    backends: Backends,
    policy: &'static str,
    report: Report,
    wall: f64,
}

impl Row {
    /// Share of the reachable nodes full at `secs` (all of them once filled).
    fn full_at(&self, secs: u64) -> f64 {
        let r = &self.report;
        let full = match r.filled_at {
            Some(at) if at.as_secs() <= secs => r.reachable,
            _ => r
                .progress
                .iter()
                .find(|(at, _)| *at == secs)
                .map_or(r.reachable_filled, |(_, n)| *n),
        };
        100.0 * full as f64 / r.reachable.max(1) as f64
    }

    fn book_at(&self, secs: u64) -> String {
        self.report
            .book_progress
            .iter()
            .find(|(at, _)| *at == secs)
            .map_or_else(|| "—".to_owned(), |(_, m)| format!("{:.1} %", m * 100.0))
    }

    fn print_details(&self, nodes: usize, unreachable: f64, max_peers: usize) {
        let r = &self.report;
        let filled = r.slots_filled.max(1) as f64;
        println!(
            "policy={} discovery={:?} nodes={nodes} unreachable={unreachable} max_peers={max_peers}: {} of {} reachable nodes filled their dialed slots in {} (virtual; {:.0} % at 30 s, {:.0} % at 60 s, {:.0} % at 90 s); dials per filled slot {:.2}, failed dials per filled slot {:.2}; wall {:.1} s",
            self.policy,
            self.backends,
            r.reachable_filled,
            r.reachable,
            r.filled_at.map_or_else(|| "never".to_owned(), |d| format!("{:.1} s", d.as_secs_f64())),
            self.full_at(30),
            self.full_at(60),
            self.full_at(90),
            r.dials as f64 / filled,
            r.failures as f64 / filled,
            self.wall
        );
        println!(
            "  failed dials by verdict: {:?}; reachable nodes with every peer slot taken: {}; reachable nodes short (outbound, inbound, dials, failures): {:?}",
            r.failures_by_verdict, r.reachable_full, r.short
        );
        if let Some((mean, min)) = r.book_share {
            println!(
                "  PEX books know {:.1} % of the network on average, {:.1} % at least",
                mean * 100.0,
                min * 100.0
            );
        }
        if let Some((asked, got, limited, timeouts)) = r.pex_traffic {
            println!(
                "  PEX per honest node: {asked:.1} GetPeers sent, {got:.0} records received; in all {limited} requests rate-limited, {timeouts} timed out"
            );
        }
        if let Some(e) = r.eclipse {
            println!(
                "  eclipse: {} attackers; honest peers of honest nodes {:.1} % on average, {:.1} % at least (dialed peers {:.1} % / {:.1} %); {} honest nodes with only attackers as peers, {} with no peer; a uniform choice gives {:.1} % honest",
                e.attackers,
                e.all_mean * 100.0,
                e.all_min * 100.0,
                e.dialed_mean * 100.0,
                e.dialed_min * 100.0,
                e.all_attackers,
                e.isolated,
                e.uniform * 100.0
            );
        }
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!("| discovery | policy | reachable full | time to all full | full at 30 / 60 / 90 s | dials / failed per filled slot | books know at 300 s / end (mean, least) | honest share of honest nodes' peers: all (mean / least) / dialed (mean) / nodes eclipsed | wall |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let r = &row.report;
        let filled = r.slots_filled.max(1) as f64;
        let books = r.book_share.map_or_else(
            || "—".to_owned(),
            |(mean, min)| {
                format!(
                    "{} / {:.1} % ({:.1} % least)",
                    row.book_at(300),
                    mean * 100.0,
                    min * 100.0
                )
            },
        );
        let eclipse = r.eclipse.map_or_else(
            || "—".to_owned(),
            |e| {
                format!(
                    "{:.1} % / {:.1} % / {:.1} % / {} (uniform {:.1} %)",
                    e.all_mean * 100.0,
                    e.all_min * 100.0,
                    e.dialed_mean * 100.0,
                    e.all_attackers,
                    e.uniform * 100.0
                )
            },
        );
        println!(
            "| {:?} | {} | {} of {} | {} | {:.0} / {:.0} / {:.0} % | {:.2} / {:.2} | {} | {} | {:.0} s |",
            row.backends,
            row.policy,
            r.reachable_filled,
            r.reachable,
            r.filled_at
                .map_or_else(|| "not yet".to_owned(), |d| format!("{:.0} s", d.as_secs_f64())),
            row.full_at(30),
            row.full_at(60),
            row.full_at(90),
            r.dials as f64 / filled,
            r.failures as f64 / filled,
            books,
            eclipse,
            row.wall
        );
    }
}

fn main() {
    let nodes: usize = env("NODE_SIM_NODES", 1000);
    let unreachable: f64 = env("NODE_SIM_UNREACHABLE", 0.3);
    let max_peers: usize = env("NODE_SIM_MAX_PEERS", 50);
    let eclipse: f64 = env("NODE_SIM_ECLIPSE", 0.0);
    let counters = Arc::new(DialCounters::default());
    tracing::subscriber::set_global_default(CountingSubscriber(counters.clone()))
        .expect("one subscriber");
    // NODE_SIM_POLICY=ranked or geth-like runs one policy only (two processes side by side
    // finish sooner on a shared machine; the figures are on virtual time either way).
    let only = std::env::var("NODE_SIM_POLICY").ok();
    let discovery = std::env::var("NODE_SIM_DISCOVERY").unwrap_or_else(|_| "discv4".to_owned());
    let all_backends: Vec<Backends> = discovery
        .split(',')
        .map(|name| {
            Backends::parse(name).unwrap_or_else(|| {
                panic!("NODE_SIM_DISCOVERY: {name:?} is not discv4, pex or both")
            })
        })
        .collect();
    let mut rows = Vec::new();
    for backends in all_backends {
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
            let report = runtime.block_on(run(
                nodes,
                unreachable,
                max_peers,
                policy,
                backends,
                eclipse,
            ));
            let row = Row {
                backends,
                policy: name,
                report,
                wall: wall.elapsed().as_secs_f64(),
            };
            row.print_details(nodes, unreachable, max_peers);
            print!("{}", counters.report());
            rows.push(row);
        }
    }
    print_table(&rows);
}
