//! Helpers shared by the network-level tests (`net_*.rs`) and the `sim` bench: starting
//! nodes on the simulated network or on loopback UDP, the ground truth of a network (the true
//! closest nodes, what a table can hold), and reading a node's table.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod sim;

use std::{
    collections::{BTreeMap, HashSet},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use discv4::{
    db::NodeDb,
    proto::PacketKind,
    service::{self, Discv4Config, Discv4Handle, Metrics},
    table::{bucket_index, BUCKET_SIZE},
    transport::{DatagramTransport, SimNetwork},
};

use enode::{NodeId, NodeRecord, PeerId, SecretKey};

/// A running node and what the test knows about it.
#[derive(Debug, Clone)]
pub(crate) struct TestNode {
    /// The service handle.
    pub(crate) handle: Discv4Handle,
    /// The node's secret key (a restart reuses it).
    pub(crate) key: SecretKey,
    /// How other nodes reach it.
    pub(crate) record: NodeRecord,
}

impl TestNode {
    /// The node's id.
    pub(crate) fn id(&self) -> NodeId {
        self.record.id.node_id()
    }
}

/// The simulated address of node `index`: `10.a.b.c:30303`. The 10/8 range is a LAN range, so
/// the /24 IP-diversity limits do not apply (a real network spreads over many /24s; here the
/// address plan would otherwise decide what a table can hold).
pub(crate) fn sim_addr(index: usize) -> SocketAddr {
    // Host part 1..=250 so no address ends in .0 or .255.
    let host = (index % 250) as u8 + 1;
    let rest = index / 250;
    let ip = Ipv4Addr::new(10, (rest >> 8) as u8, rest as u8, host);
    SocketAddr::new(IpAddr::V4(ip), 30303)
}

/// Starts a node on `transport` with `config` and `db`.
pub(crate) fn spawn_node(
    config: Discv4Config,
    key: SecretKey,
    transport: Arc<dyn DatagramTransport>,
    db: NodeDb,
) -> TestNode {
    let addr = transport.local_addr().unwrap();
    let handle = service::spawn(config, key, transport, db).unwrap();
    let record = NodeRecord {
        address: addr.ip(),
        udp_port: addr.port(),
        tcp_port: 0,
        id: handle.local_id(),
    };
    TestNode {
        handle,
        key,
        record,
    }
}

/// Starts a node on a fresh UDP socket on 127.0.0.1 with a fresh key and an in-memory database.
pub(crate) async fn spawn_udp_node(config: Discv4Config) -> TestNode {
    let transport = service::bind_udp("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    spawn_node(
        config,
        SecretKey::new(&mut rand::thread_rng()),
        transport,
        NodeDb::in_memory().unwrap(),
    )
}

/// Starts a node at `addr` on the simulated network with a fresh key and an in-memory database.
pub(crate) fn spawn_sim_node(net: &SimNetwork, addr: SocketAddr, config: Discv4Config) -> TestNode {
    let socket: Arc<dyn DatagramTransport> = Arc::new(net.bind(addr).unwrap());
    spawn_node(
        config,
        SecretKey::new(&mut rand::thread_rng()),
        socket,
        NodeDb::in_memory().unwrap(),
    )
}

/// Ids of every node in `node`'s table (bucket entries, not replacements).
pub(crate) async fn table_ids(node: &Discv4Handle) -> HashSet<NodeId> {
    node.buckets()
        .await
        .unwrap()
        .iter()
        .flat_map(|b| b.entries.iter().map(|e| e.record.id.node_id()))
        .collect()
}

/// How many of `others` a table owned by `local` can hold: per bucket, the nodes that fall in
/// it, capped at the bucket size.
pub(crate) fn holdable(local: &NodeId, others: impl IntoIterator<Item = NodeId>) -> usize {
    let mut per_bucket: BTreeMap<usize, usize> = BTreeMap::new();
    for id in others {
        if id != *local {
            *per_bucket.entry(bucket_index(local, &id)).or_default() += 1;
        }
    }
    per_bucket.values().map(|n| (*n).min(BUCKET_SIZE)).sum()
}

/// The `k` ids in `all` closest to `target`, closest first, excluding `exclude` (the node
/// doing the lookup, which never returns itself).
pub(crate) fn true_closest(
    target: &NodeId,
    all: &[NodeId],
    exclude: &NodeId,
    k: usize,
) -> Vec<NodeId> {
    let mut sorted: Vec<NodeId> = all.iter().filter(|id| *id != exclude).copied().collect();
    sorted.sort_unstable_by(|a, b| target.cmp_distance(a, b));
    sorted.truncate(k);
    sorted
}

/// Share of `truth` found in `found`.
pub(crate) fn recall(found: &[NodeRecord], truth: &[NodeId]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let found: HashSet<NodeId> = found.iter().map(|r| r.id.node_id()).collect();
    truth.iter().filter(|id| found.contains(id)).count() as f64 / truth.len() as f64
}

/// A random 64-byte lookup target (only its hash matters).
pub(crate) fn random_target() -> PeerId {
    let mut bytes = [0u8; 64];
    rand::Rng::fill(&mut rand::thread_rng(), &mut bytes[..]);
    PeerId(bytes)
}

/// Packets a node has sent and received, all kinds together.
pub(crate) fn packets_total(metrics: &Metrics) -> u64 {
    [
        PacketKind::Ping,
        PacketKind::Pong,
        PacketKind::FindNode,
        PacketKind::Neighbors,
        PacketKind::EnrRequest,
        PacketKind::EnrResponse,
    ]
    .into_iter()
    .map(|k| metrics.packets_in_total(k) + metrics.packets_out_total(k))
    .sum()
}

/// Polls `check` every `every` until it returns true or `timeout` passes; returns whether it
/// did. With tokio's paused clock the waiting costs no wall time.
pub(crate) async fn wait_until<F, Fut>(timeout: Duration, every: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}

/// The process's peak resident set size in KiB (`VmHWM`), when /proc tells.
pub(crate) fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("kadnode-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
