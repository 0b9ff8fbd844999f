//! Where the node's dials come from, end to end on loopback: static nodes by DNS name and by
//! id alone, sources added at run time (and the reports they hear), the ENR filter over
//! discv4, connection failures as events, and the dial memory written to the data directory.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod node_support;

use std::{
    collections::HashSet,
    path::PathBuf,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use discv4::service::Discv4Config;
use enode::{PeerId, RESOLVE_TIMEOUT};
use kadnode::{
    dial::{DialMemorySnapshot, StaticAddress, StaticNode},
    discovery::{Candidate, CandidateSource, Outcome},
    Direction, Node, NodeConfig, P2pConfig, PeerEvent, Storage,
};
use node_support::*;

fn added(event: &PeerEvent) -> Option<kadnode::PeerInfo> {
    match event {
        PeerEvent::Added(info) => Some(info.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_node_by_dns_name_is_resolved_and_dialed() {
    let a = start(|_| {}).await;
    let b = start(|_| {}).await;
    let mut events = a.handle().subscribe();
    let port = b.record().tcp_port;
    a.handle()
        .add_static(StaticNode {
            id: b.id(),
            address: StaticAddress::Dns {
                host: "localhost".into(),
                tcp_port: port,
                udp_port: port,
            },
        })
        .await
        .unwrap();
    let info = wait_event(&mut events, added).await;
    assert_eq!(info.id, b.id());
    assert!(info.is_static);
    assert_eq!(info.remote_addr.port(), port);
    assert!(RESOLVE_TIMEOUT.as_secs() <= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_node_without_address_is_found_through_discovery() {
    let b = start_with(|_| {}, Some(Discv4Config::default())).await;
    let discovery = Discv4Config {
        bootnodes: vec![b.record()],
        ..Discv4Config::default()
    };
    // a dials nothing it discovers: only the static node, whose address it must look up.
    let a = start_with(|c| c.dial_discovered = false, Some(discovery)).await;
    let mut events = a.handle().subscribe();
    a.handle()
        .add_static(StaticNode::unresolved(b.id()))
        .await
        .unwrap();
    let info = wait_event(&mut events, added).await;
    assert_eq!(info.id, b.id());
    assert_eq!(info.direction, Direction::Outbound);
    assert_eq!(info.remote_addr.port(), b.record().tcp_port);
}

/// A source that offers its nodes once and records every report.
struct Recording {
    nodes: Vec<enode::NodeRecord>,
    reports: Arc<Mutex<Vec<(PeerId, Outcome)>>>,
    changed: Arc<tokio::sync::Notify>,
}

impl CandidateSource for Recording {
    fn name(&self) -> &str {
        "recording"
    }

    fn poll_next_candidate(&mut self, _cx: &mut Context<'_>) -> Poll<Option<Candidate>> {
        match self.nodes.pop() {
            Some(node) => Poll::Ready(Some(Candidate::new(node))),
            // Offered everything: stay (a source that ended would be dropped with its
            // reports).
            None => Poll::Pending,
        }
    }

    fn report(&mut self, id: &PeerId, outcome: Outcome) {
        self.reports.lock().unwrap().push((*id, outcome));
        self.changed.notify_one();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_added_at_run_time_is_dialed_and_hears_the_outcome() {
    let a = start(|_| {}).await;
    let b = start(|_| {}).await;
    let dead = {
        let c = start(|_| {}).await;
        let record = c.record();
        c.node.shutdown().await;
        record
    };
    let reports = Arc::new(Mutex::new(Vec::new()));
    let changed = Arc::new(tokio::sync::Notify::new());
    let mut events = a.handle().subscribe();
    a.handle()
        .add_source(Box::new(Recording {
            nodes: vec![dead, b.record()],
            reports: Arc::clone(&reports),
            changed: Arc::clone(&changed),
        }))
        .await
        .unwrap()
        .unwrap();

    // b becomes a peer; the dead node fails as a connection, reported as an event (in
    // either order) and to the source.
    let (mut added_b, mut failed) = (false, None);
    while !added_b || failed.is_none() {
        wait_event(&mut events, |e| {
            match e {
                PeerEvent::Added(info) if info.id == b.id() => added_b = true,
                PeerEvent::ConnectionFailed {
                    id,
                    direction: Direction::Outbound,
                    verdict,
                    ..
                } => failed = Some((*id, *verdict)),
                _ => return None,
            }
            Some(())
        })
        .await;
    }
    let (id, verdict) = failed.unwrap();
    assert_eq!(id, Some(dead.id));
    assert!(!verdict.should_ban(), "{verdict:?}");
    let expect = |reports: &[(PeerId, Outcome)]| {
        reports.contains(&(b.id(), Outcome::Connected))
            && reports
                .iter()
                .any(|(id, o)| *id == dead.id && matches!(o, Outcome::DialFailed(_)))
    };
    tokio::time::timeout(WAIT, async {
        while !expect(&reports.lock().unwrap()) {
            changed.notified().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("reports: {:?}", reports.lock().unwrap()));

    // Useful peers are reported too.
    a.handle().mark_useful(b.id()).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while !reports.lock().unwrap().contains(&(b.id(), Outcome::Useful)) {
            changed.notified().await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enr_filter_decides_which_discovered_nodes_are_dialed() {
    // b, c and d only answer (they dial nobody); a discovers c and d through the bootnode
    // b and asks each for its record: the filter accepts c and refuses d.
    let b = start_with(|c| c.no_dial = true, Some(Discv4Config::default())).await;
    let with_boot = || Discv4Config {
        bootnodes: vec![b.record()],
        ..Discv4Config::default()
    };
    let c = start_with(|c| c.no_dial = true, Some(with_boot())).await;
    let d = start_with(|c| c.no_dial = true, Some(with_boot())).await;
    let (d_id, c_id) = (d.id(), c.id());
    let judged = Arc::new(Mutex::new(HashSet::new()));
    let judging = Arc::new(tokio::sync::Notify::new());
    let (judged_in_filter, judging_in_filter) = (Arc::clone(&judged), Arc::clone(&judging));
    let filter: kadnode::discovery::EnrFilter = Arc::new(move |enr: &enode::Enr| {
        let id = enode::enr_peer_id(enr).unwrap();
        judged_in_filter.lock().unwrap().insert(id);
        judging_in_filter.notify_one();
        id == c_id
    });
    let a = start_with(
        move |conf| conf.enr_filter = Some(filter),
        Some(with_boot()),
    )
    .await;
    let mut events = a.handle().subscribe();
    let info = wait_event(&mut events, added).await;
    assert_eq!(info.id, c_id, "only the accepted node is dialed");
    // Wait until d was judged too, then check it was never dialed.
    tokio::time::timeout(WAIT, async {
        while !judged.lock().unwrap().contains(&d_id) {
            judging.notified().await;
        }
    })
    .await
    .expect("the filter never saw the refused node's record");
    let peers = a.handle().peers().await.unwrap();
    assert!(peers.iter().all(|p| p.id != d_id), "{peers:?}");
    assert_eq!(a.node.p2p().unwrap().metrics().dials_started(), 1);
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "kadnode-sources-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dial_memory_is_written_to_the_data_directory_at_shutdown() {
    let dir = TempDir::new("memory");
    let b = start(|_| {}).await;
    let b_record = b.record();
    let config = || NodeConfig {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        storage: Storage::Dir(dir.0.clone()),
        discovery: None,
        p2p: Some(P2pConfig {
            protocols: vec![Arc::new(KadTest {
                seen: tokio::sync::mpsc::unbounded_channel().0,
            })],
            static_nodes: vec![b_record.into()],
            ..P2pConfig::default()
        }),
        ..NodeConfig::default()
    };
    let a = Node::start(config()).await.unwrap();
    let a_id = a.peer_id();
    let mut events = a.p2p().unwrap().subscribe();
    let mut b_events = b.handle().subscribe();
    wait_peer(a.p2p().unwrap(), &mut events, b_record.id).await;
    a.shutdown().await;
    // b must have let go of a before a comes back, or it refuses a as already connected.
    wait_event(&mut b_events, |e| match e {
        PeerEvent::Dropped { id, .. } if *id == a_id => Some(()),
        _ => None,
    })
    .await;

    let bytes = std::fs::read(dir.0.join("dial-memory.bin")).unwrap();
    let snapshot = DialMemorySnapshot::decode(&bytes[..bytes.len() - 32]).unwrap();
    let entry = snapshot
        .entries()
        .iter()
        .find(|e| e.id == b_record.id)
        .expect("the peer is remembered");
    assert!(entry.successes >= 1, "{entry:?}");
    assert_eq!(entry.addr, b_record.tcp_addr());

    // A damaged file is set aside and the node still starts.
    let mut damaged = bytes.clone();
    damaged[5] ^= 0xff;
    std::fs::write(dir.0.join("dial-memory.bin"), damaged).unwrap();
    let again = Node::start(config()).await.unwrap();
    let mut events = again.p2p().unwrap().subscribe();
    wait_peer(again.p2p().unwrap(), &mut events, b_record.id).await;
    again.shutdown().await;
    assert!(dir.0.join("dial-memory.bin.corrupt").exists());
}
