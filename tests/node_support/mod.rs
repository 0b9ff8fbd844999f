//! Helpers for the node tests: a test protocol whose messages flow both ways on every
//! session, and nodes on 127.0.0.1 port 0.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use enode::{NodeRecord, PeerId};
use kadnode::{
    Node, NodeConfig, P2pConfig, PeerEvent, PeerInfo, Protocol, ProtocolConn, ProtocolError,
    ProtocolFuture, ProtocolSpec,
};
use tokio::sync::mpsc;

/// Bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(30);

/// What the test protocol saw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seen {
    /// The remote's greeting arrived.
    Greeting(PeerId),
    /// Our greeting came back as an echo.
    Echo(PeerId),
}

/// `kadtest/1`: on start each side sends a greeting (code 0) carrying its id; a greeting is
/// answered with an echo (code 1). Both arrivals are reported.
pub struct KadTest {
    pub seen: mpsc::UnboundedSender<Seen>,
}

impl Protocol for KadTest {
    fn spec(&self) -> ProtocolSpec {
        ProtocolSpec::new("kadtest", 1, 2)
    }

    fn run(&self, peer: PeerInfo, mut conn: ProtocolConn) -> ProtocolFuture {
        let seen = self.seen.clone();
        Box::pin(async move {
            conn.send(0, Bytes::from_static(b"hello")).await?;
            loop {
                let (code, payload) = conn.recv().await?;
                match code {
                    0 => {
                        let _ = seen.send(Seen::Greeting(peer.id));
                        conn.send(1, payload).await?;
                    }
                    1 => {
                        let _ = seen.send(Seen::Echo(peer.id));
                    }
                    other => return Err(ProtocolError::BadMessage(format!("code {other}"))),
                }
            }
        })
    }
}

/// A started test node with its protocol observations.
pub struct TestNode {
    pub node: Node,
    pub seen: mpsc::UnboundedReceiver<Seen>,
    /// Everything received from `seen` so far.
    pub observed: std::collections::HashSet<Seen>,
}

impl TestNode {
    pub fn handle(&self) -> &kadnode::NodeHandle {
        self.node.p2p().unwrap()
    }

    pub fn id(&self) -> PeerId {
        self.node.peer_id()
    }

    /// Our contact record (TCP and UDP on 127.0.0.1).
    pub fn record(&self) -> NodeRecord {
        let tcp = self.node.tcp_addr().unwrap();
        NodeRecord {
            address: tcp.ip(),
            tcp_port: tcp.port(),
            udp_port: self.node.udp_addr().map_or(0, |a| a.port()),
            id: self.id(),
        }
    }
}

/// A node with the test protocol, no discovery, `tune` applied to its p2p config.
pub async fn start(tune: impl FnOnce(&mut P2pConfig)) -> TestNode {
    start_with(tune, None).await
}

/// Like [`start`], optionally with discovery.
pub async fn start_with(
    tune: impl FnOnce(&mut P2pConfig),
    discovery: Option<discv4::service::Discv4Config>,
) -> TestNode {
    let (tx, seen) = mpsc::unbounded_channel();
    let mut p2p = P2pConfig {
        protocols: vec![Arc::new(KadTest { seen: tx })],
        ..P2pConfig::default()
    };
    tune(&mut p2p);
    let config = NodeConfig {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        discovery,
        p2p: Some(p2p),
        ..NodeConfig::default()
    };
    TestNode {
        node: Node::start(config).await.unwrap(),
        seen,
        observed: std::collections::HashSet::new(),
    }
}

/// Waits for the next event matching `pick`.
pub async fn wait_event<T>(
    events: &mut tokio::sync::broadcast::Receiver<PeerEvent>,
    mut pick: impl FnMut(&PeerEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("event channel closed: {e}"),
            }
        }
    })
    .await
    .expect("event did not arrive in time")
}

/// Waits until `handle` has `peer` as a peer. Race-free: `events` must have been subscribed
/// before the call, and the peer list is read after it, so a session that came up before the
/// subscription is seen in the list and one that comes up after it arrives as an event.
pub async fn wait_peer(
    handle: &kadnode::NodeHandle,
    events: &mut tokio::sync::broadcast::Receiver<PeerEvent>,
    peer: PeerId,
) -> PeerInfo {
    if let Some(info) = handle
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.id == peer)
    {
        return info;
    }
    wait_event(events, |e| match e {
        PeerEvent::Added(info) if info.id == peer => Some(info.clone()),
        _ => None,
    })
    .await
}

/// Waits until `node`'s protocol saw both the greeting and the echo of `peer`.
pub async fn wait_both_ways(node: &mut TestNode, peer: PeerId) {
    let done = |observed: &std::collections::HashSet<Seen>| {
        observed.contains(&Seen::Greeting(peer)) && observed.contains(&Seen::Echo(peer))
    };
    tokio::time::timeout(WAIT, async {
        while !done(&node.observed) {
            match node.seen.recv().await {
                Some(seen) => {
                    node.observed.insert(seen);
                }
                None => panic!("protocol channel closed"),
            }
        }
    })
    .await
    .expect("test protocol messages did not flow both ways");
}
