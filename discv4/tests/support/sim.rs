//! The many-node simulation shared by `net_sim.rs` and the `sim` bench: N discv4 services on a
//! [`SimNetwork`] on tokio's paused clock, all bootstrapping from node 0, then random lookups
//! from random nodes compared with the true closest nodes.
//!
//! Must run inside a current-thread runtime with paused time
//! (`#[tokio::test(start_paused = true)]`).

use std::time::Duration;

use discv4::{
    lookup::RESULT_SIZE,
    proto::PacketKind,
    service::{metrics::PACKET_KINDS, Discv4Config, DropReason},
    transport::{SimConfig, SimNetwork, SimStats},
};

use enode::NodeId;
use futures::future::join_all;
use rand::{rngs::StdRng, Rng, SeedableRng};
use tokio::time::Instant;

use super::{
    packets_total, random_target, recall, sim_addr, spawn_sim_node, true_closest, TestNode,
};

/// What to simulate.
#[derive(Debug, Clone)]
pub(crate) struct SimParams {
    /// Nodes, including the bootnode.
    pub(crate) nodes: usize,
    /// Base one-way latency; each link adds a stable jitter drawn from `[0, jitter)`.
    pub(crate) latency: Duration,
    /// See `latency`.
    pub(crate) jitter: Duration,
    /// Extra per-datagram delay drawn from `[0, reorder)`: reorders datagrams on a link.
    pub(crate) reorder: Duration,
    /// Datagram loss probability.
    pub(crate) loss: f64,
    /// Virtual time between two node starts.
    pub(crate) start_spacing: Duration,
    /// Virtual time to let the network settle after every node finished its first refresh.
    pub(crate) settle: Duration,
    /// Window over which the post-bootstrap self-lookup round is spread.
    pub(crate) refresh_spread: Duration,
    /// Random lookups to measure.
    pub(crate) lookups: usize,
    /// Seed for the network and for picking lookup nodes.
    pub(crate) seed: u64,
}

impl SimParams {
    /// 10–50 ms links, no loss.
    pub(crate) fn new(nodes: usize) -> Self {
        Self {
            nodes,
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(40),
            reorder: Duration::ZERO,
            loss: 0.0,
            start_spacing: Duration::from_millis(20),
            settle: Duration::from_secs(60),
            refresh_spread: Duration::from_secs(10),
            lookups: 30,
            seed: 1,
        }
    }
}

/// One measured lookup.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LookupStats {
    /// Share of the true 16 closest nodes returned.
    pub(crate) recall: f64,
    /// FINDNODE queries the looking node sent.
    pub(crate) findnodes: u64,
    /// Packets the looking node sent and received during the lookup (all kinds, so a
    /// revalidation PING or two that happen to fall inside the lookup count too).
    pub(crate) messages: u64,
    /// PINGs the looking node sent during the lookup (bonding, plus any revalidation PING
    /// that happens to fall inside it).
    pub(crate) pings: u64,
    /// Virtual time the lookup took.
    pub(crate) duration: Duration,
}

/// The outcome of a simulation.
#[derive(Debug, Clone)]
pub(crate) struct SimReport {
    /// The parameters.
    pub(crate) params: SimParams,
    /// Virtual time from the first start until every node finished its first refresh.
    pub(crate) bootstrap_virtual: Duration,
    /// Mean / min table size after settling.
    pub(crate) mean_table: f64,
    /// See `mean_table`.
    pub(crate) min_table: usize,
    /// Per-lookup figures.
    pub(crate) lookups: Vec<LookupStats>,
    /// Network counters at the end.
    pub(crate) net: SimStats,
    /// Packets sent by all nodes together, per kind.
    pub(crate) sent_by_kind: Vec<(&'static str, u64)>,
    /// Datagrams the services dropped, per reason (only reasons that occurred).
    pub(crate) drops: Vec<(&'static str, u64)>,
}

impl SimReport {
    pub(crate) fn mean_recall(&self) -> f64 {
        mean(self.lookups.iter().map(|l| l.recall))
    }

    pub(crate) fn mean_findnodes(&self) -> f64 {
        mean(self.lookups.iter().map(|l| l.findnodes as f64))
    }

    pub(crate) fn median_findnodes(&self) -> f64 {
        let mut v: Vec<u64> = self.lookups.iter().map(|l| l.findnodes).collect();
        v.sort_unstable();
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2] as f64,
            n => (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0,
        }
    }

    pub(crate) fn mean_messages(&self) -> f64 {
        mean(self.lookups.iter().map(|l| l.messages as f64))
    }

    pub(crate) fn mean_pings(&self) -> f64 {
        mean(self.lookups.iter().map(|l| l.pings as f64))
    }

    pub(crate) fn mean_duration(&self) -> Duration {
        Duration::from_secs_f64(mean(self.lookups.iter().map(|l| l.duration.as_secs_f64())))
    }

    /// The `q`-quantile (0.0–1.0, nearest rank) of the lookup durations.
    pub(crate) fn duration_quantile(&self, q: f64) -> Duration {
        let mut v: Vec<Duration> = self.lookups.iter().map(|l| l.duration).collect();
        v.sort_unstable();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }

    /// A human-readable summary.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{} nodes (latency {:?}+[0,{:?}), loss {:.1}%): bootstrap {:.1}s virtual; table size \
             mean {:.1} min {}; {} lookups: recall mean {:.3} (min {:.3}), FINDNODE queries \
             mean {:.1} median {:.1}, messages mean {:.1}, PINGs sent mean {:.2}, lookup time \
             mean {:?} median {:?} p90 {:?} virtual; datagrams sent {} dropped {}; sent by \
             kind {:?}; dropped by services {:?}",
            self.params.nodes,
            self.params.latency,
            self.params.jitter,
            self.params.loss * 100.0,
            self.bootstrap_virtual.as_secs_f64(),
            self.mean_table,
            self.min_table,
            self.lookups.len(),
            self.mean_recall(),
            self.lookups
                .iter()
                .map(|l| l.recall)
                .fold(f64::INFINITY, f64::min),
            self.mean_findnodes(),
            self.median_findnodes(),
            self.mean_messages(),
            self.mean_pings(),
            self.mean_duration(),
            self.duration_quantile(0.5),
            self.duration_quantile(0.9),
            self.net.sent,
            self.net.dropped(),
            self.sent_by_kind,
            self.drops,
        )
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// Prints, for each true-closest node a lookup missed, how many of the other true-closest
/// nodes hold it in their tables (and how many of those marked it live).
async fn diagnose(nodes: &[TestNode], found: &[enode::NodeRecord], truth: &[NodeId]) {
    let found: std::collections::HashSet<NodeId> = found.iter().map(|r| r.id.node_id()).collect();
    for missed in truth.iter().filter(|id| !found.contains(id)) {
        let (mut held, mut live) = (0, 0);
        for holder in nodes
            .iter()
            .filter(|n| truth.contains(&n.id()) && n.id() != *missed)
        {
            for bucket in holder.handle.buckets().await.unwrap() {
                for entry in bucket.entries {
                    if entry.record.id.node_id() == *missed {
                        held += 1;
                        live += usize::from(entry.is_live);
                    }
                }
            }
        }
        let rank = truth.iter().position(|id| id == missed).unwrap_or(0);
        eprintln!("missed rank {rank}: held by {held} of the other true closest ({live} live)");
    }
}

/// The per-node configuration: geth's defaults, one ingress worker (all nodes share one
/// thread anyway), and the bootnode. Nobody subscribes to a simulated node's table events,
/// and tokio allocates a broadcast channel's slots up front: the default 1,024 slots cost
/// ~100 KiB per node, ~1 GiB at 10,000 nodes.
fn node_config(bootnodes: Vec<enode::NodeRecord>) -> Discv4Config {
    Discv4Config {
        bootnodes,
        ingress_workers: 1,
        event_capacity: 16,
        ..Default::default()
    }
}

/// A bootstrapped simulated network.
pub(crate) struct Sim {
    pub(crate) params: SimParams,
    pub(crate) net: SimNetwork,
    pub(crate) nodes: Vec<TestNode>,
    /// Virtual time from the first start until every node finished its first refresh.
    pub(crate) bootstrap_virtual: Duration,
}

impl Sim {
    /// Starts `params.nodes` nodes bootstrapping from node 0, waits until every node has
    /// finished its first refresh, runs one spread self-lookup round and lets the network
    /// settle. Panics when the network does not bootstrap within a generous virtual bound.
    pub(crate) async fn start(params: SimParams) -> Self {
        let net = SimNetwork::new(SimConfig {
            latency: params.latency,
            jitter: params.jitter,
            reorder: params.reorder,
            loss: params.loss,
            seed: params.seed,
            per_socket_queue: 1024,
        });
        let started = Instant::now();
        let boot = spawn_sim_node(&net, sim_addr(0), node_config(Vec::new()));
        let config = node_config(vec![boot.record]);
        let mut nodes: Vec<TestNode> = vec![boot];
        for i in 1..params.nodes {
            tokio::time::sleep(params.start_spacing).await;
            nodes.push(spawn_sim_node(&net, sim_addr(i), config.clone()));
        }

        // Every node finishes its first refresh (self-lookup and three random lookups).
        let bound = Duration::from_secs(600) + params.start_spacing * params.nodes as u32;
        loop {
            let mut pending = 0;
            for node in &nodes {
                if !node.handle.table_state().await.unwrap().1 {
                    pending += 1;
                }
            }
            if pending == 0 {
                break;
            }
            assert!(
                started.elapsed() < bound,
                "{pending} of {} nodes still in their first refresh after {:?} virtual",
                params.nodes,
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let bootstrap_virtual = started.elapsed();

        // Every node runs one more self-lookup, at a random moment within `refresh_spread`,
        // as its refresh timer would make it do 15–30 minutes later. Why it is needed: during
        // the join wave most nodes are still in their first refresh, and a node in its first
        // refresh refuses inbound additions (geth's rule against table poisoning at
        // startup), so many early contacts between close neighbours were not recorded; and
        // NEIGHBORS answers carry only validated-live nodes, so a node that joined late was
        // invisible to lookups until its neighbours had checked it. Without this round a few
        // percent of nodes stay unknown to their own neighbourhood until their next refresh
        // (measured: mean recall ~0.95–0.97 with misses held by 0–2 of their true
        // neighbours).
        let mut rng = StdRng::seed_from_u64(params.seed ^ 0x5e1f);
        let round = nodes.iter().map(|node| {
            let delay = params.refresh_spread.mul_f64(rng.gen::<f64>());
            let handle = node.handle.clone();
            async move {
                tokio::time::sleep(delay).await;
                handle.lookup_self().await.unwrap();
            }
        });
        join_all(round).await;
        // FINDNODE answers carry only validated-live nodes; revalidation checks one node of
        // the fast list every 1.5 s on average, so the entries just learned need a while.
        tokio::time::sleep(params.settle).await;
        Self {
            params,
            net,
            nodes,
            bootstrap_virtual,
        }
    }

    /// Mean and smallest table size now.
    pub(crate) async fn table_sizes(&self) -> (f64, usize) {
        let mut sizes = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            sizes.push(node.handle.table_state().await.unwrap().0);
        }
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64;
        (mean, sizes.iter().copied().min().unwrap_or(0))
    }

    /// `count` random lookups from random nodes among `from` (indices), one at a time, each
    /// compared with the true closest nodes among all nodes.
    pub(crate) async fn lookups(
        &self,
        count: usize,
        seed: u64,
        from: &[usize],
    ) -> Vec<LookupStats> {
        let nodes = &self.nodes;
        let all: Vec<NodeId> = nodes.iter().map(TestNode::id).collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut lookups = Vec::with_capacity(count);
        // One lookup at a time, so each node's counters belong to its own lookup.
        for _ in 0..count {
            let node = &nodes[from[rng.gen_range(0..from.len())]];
            let target = random_target();
            let metrics = node.handle.metrics();
            let (findnodes_before, pings_before, messages_before) = (
                metrics.packets_out_total(PacketKind::FindNode),
                metrics.packets_out_total(PacketKind::Ping),
                packets_total(&metrics),
            );
            let at = Instant::now();
            let found = node.handle.lookup(target).await.unwrap();
            let duration = at.elapsed();
            let truth = true_closest(&target.node_id(), &all, &node.id(), RESULT_SIZE);
            if std::env::var_os("SIM_DIAG").is_some() {
                diagnose(nodes, &found, &truth).await;
            }
            lookups.push(LookupStats {
                recall: recall(&found, &truth),
                findnodes: metrics.packets_out_total(PacketKind::FindNode) - findnodes_before,
                messages: packets_total(&metrics) - messages_before,
                pings: metrics.packets_out_total(PacketKind::Ping) - pings_before,
                duration,
            });
        }
        lookups
    }

    /// Lookups, counters and drops as a report; shuts the nodes down.
    pub(crate) async fn finish(self, lookups: Vec<LookupStats>) -> SimReport {
        let (mean_table, min_table) = self.table_sizes().await;
        let nodes = &self.nodes;
        let sent_by_kind = PACKET_KINDS
            .iter()
            .map(|kind| {
                let total = nodes
                    .iter()
                    .map(|n| n.handle.metrics().packets_out_total(*kind))
                    .sum();
                (kind.name(), total)
            })
            .collect();
        let drops = DropReason::ALL
            .iter()
            .map(|reason| {
                let total = nodes
                    .iter()
                    .map(|n| n.handle.metrics().dropped_total(*reason))
                    .sum();
                (reason.label(), total)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        let report = SimReport {
            sent_by_kind,
            drops,
            params: self.params.clone(),
            bootstrap_virtual: self.bootstrap_virtual,
            mean_table,
            min_table,
            lookups,
            net: self.net.stats(),
        };
        join_all(nodes.iter().map(|n| n.handle.shutdown())).await;
        report
    }
}

/// Runs the whole simulation: bootstrap, `params.lookups` measured lookups from random
/// nodes, report.
pub(crate) async fn run(params: SimParams) -> SimReport {
    let sim = Sim::start(params).await;
    let everyone: Vec<usize> = (0..sim.nodes.len()).collect();
    let lookups = sim
        .lookups(sim.params.lookups, sim.params.seed, &everyone)
        .await;
    sim.finish(lookups).await
}
