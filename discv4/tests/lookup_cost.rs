//! What a lookup costs on the wire and on the clock, measured against scripted peers on the
//! simulated network (fixed 10 ms links, no jitter, no loss) with tokio's paused clock.
//!
//! The peers behave like go-ethereum: they answer every PING with a PONG, PING back a node
//! that has not proven its endpoint to them, and answer FINDNODE only from a node that has
//! (dropping it silently otherwise) with NEIGHBORS listing all sixteen peers — twelve and
//! then four entries, so each FINDNODE completes on its second packet rather than on the
//! request timeout. Every packet a peer receives is logged with its arrival time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use discv4::{
    lookup::{ALPHA, RESULT_SIZE},
    proto::{
        decode, encode, expiration_after, Endpoint, Neighbors, Packet, PacketKind, Ping, Pong,
    },
    service::{Discv4Config, Discv4Handle},
    table::{NodeInfo, TableEvent},
    transport::{DatagramTransport, SimConfig, SimNetwork, SimSocket},
};

use enode::{NodeRecord, PeerId, SecretKey};
use tokio::{task::JoinHandle, time::Instant};

/// One-way latency of every link.
const LATENCY: Duration = Duration::from_millis(10);

fn network() -> SimNetwork {
    SimNetwork::new(SimConfig {
        latency: LATENCY,
        jitter: Duration::ZERO,
        loss: 0.0,
        seed: 7,
        per_socket_queue: 1024,
        ..SimConfig::default()
    })
}

/// The node under test: no bootnodes, and no liveness checks or refreshes during the test, so
/// every packet it sends belongs to the lookup.
fn quiet_config() -> Discv4Config {
    let mut config = Discv4Config {
        ingress_workers: 1,
        refresh_interval: (
            Duration::from_secs(48 * 3600),
            Duration::from_secs(48 * 3600),
        ),
        ..Default::default()
    };
    config.table.fast_revalidation_interval = Duration::from_secs(48 * 3600);
    config.table.slow_revalidation_interval = Duration::from_secs(48 * 3600);
    config
}

/// A packet a scripted peer received, and when.
#[derive(Debug, Clone, Copy)]
struct Seen {
    kind: PacketKind,
    at: Instant,
    /// For FINDNODE: whether the sender had proven its endpoint (so it was answered).
    answered: bool,
}

/// A scripted peer.
struct Peer {
    record: NodeRecord,
    key: SecretKey,
    socket: Arc<SimSocket>,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Peer {
    fn bind(net: &SimNetwork, index: usize) -> Self {
        let addr: SocketAddr = format!("10.0.9.{}:30303", 10 + index).parse().unwrap();
        let key = SecretKey::new(&mut rand::thread_rng());
        Self {
            record: NodeRecord {
                address: addr.ip(),
                udp_port: addr.port(),
                tcp_port: 0,
                id: PeerId::from_secret_key(&key),
            },
            key,
            socket: Arc::new(net.bind(addr).unwrap()),
            log: Arc::default(),
        }
    }

    fn seen(&self, kind: PacketKind) -> Vec<Seen> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.kind == kind)
            .copied()
            .collect()
    }

    /// Runs the peer: answers as described in the module docs, with `answer` as NEIGHBORS.
    fn serve(&self, answer: Vec<NodeRecord>) -> JoinHandle<()> {
        let (socket, key, log) = (Arc::clone(&self.socket), self.key, Arc::clone(&self.log));
        tokio::spawn(async move {
            // Senders that proved their endpoint (answered our PING), and our PINGs in flight.
            let mut proven: Vec<PeerId> = Vec::new();
            let mut our_pings: Vec<[u8; 32]> = Vec::new();
            let mut buf = [0u8; 1500];
            loop {
                let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                let decoded = decode(&buf[..len]).unwrap();
                let kind = decoded.packet.kind();
                let mut answered = false;
                let mut out: Vec<Vec<u8>> = Vec::new();
                match decoded.packet {
                    Packet::Ping(_) => {
                        let pong = Packet::Pong(Pong {
                            to: Endpoint::from_udp(from, 0),
                            ping_hash: decoded.hash,
                            expiration: expiration_after(Duration::from_secs(20)),
                            enr_seq: None,
                        });
                        out.push(encode(&pong, &key).unwrap().0);
                        if !proven.contains(&decoded.sender) {
                            let ping = Packet::Ping(Ping {
                                version: Ping::VERSION,
                                from: Endpoint::from_udp(socket.local_addr().unwrap(), 0),
                                to: Endpoint::from_udp(from, 0),
                                expiration: expiration_after(Duration::from_secs(20)),
                                enr_seq: None,
                            });
                            let (bytes, hash) = encode(&ping, &key).unwrap();
                            our_pings.push(hash);
                            out.push(bytes);
                        }
                    }
                    Packet::Pong(pong) if our_pings.contains(&pong.ping_hash) => {
                        proven.push(decoded.sender);
                    }
                    Packet::FindNode(_) => {
                        answered = proven.contains(&decoded.sender);
                        if answered {
                            let expiration = expiration_after(Duration::from_secs(20));
                            for packet in Neighbors::split(&answer, expiration) {
                                out.push(encode(&Packet::Neighbors(packet), &key).unwrap().0);
                            }
                        }
                    }
                    _ => {}
                }
                log.lock().unwrap().push(Seen {
                    kind,
                    at: Instant::now(),
                    answered,
                });
                for bytes in out {
                    socket.send_to(&bytes, from).await.unwrap();
                }
            }
        })
    }

    /// PINGs `node`, as a peer that wants to be known does; the node PINGs back and our
    /// `serve` loop answers.
    async fn ping(&self, node: &NodeRecord) {
        let ping = Packet::Ping(Ping {
            version: Ping::VERSION,
            from: Endpoint::from_udp(self.socket.local_addr().unwrap(), 0),
            to: Endpoint::from_udp(node.udp_addr(), 0),
            expiration: expiration_after(Duration::from_secs(20)),
            enr_seq: None,
        });
        let (bytes, _) = encode(&ping, &self.key).unwrap();
        self.socket.send_to(&bytes, node.udp_addr()).await.unwrap();
    }
}

/// Sixteen scripted peers, each answering FINDNODE with all sixteen.
fn peers(net: &SimNetwork) -> (Vec<Peer>, Vec<JoinHandle<()>>) {
    let peers: Vec<Peer> = (0..RESULT_SIZE).map(|i| Peer::bind(net, i)).collect();
    let all: Vec<NodeRecord> = peers.iter().map(|p| p.record).collect();
    let tasks = peers.iter().map(|p| p.serve(all.clone())).collect();
    (peers, tasks)
}

/// Waits until the node's first refresh is done: with no bootnodes and no seeds it ends
/// without a packet, so this takes no virtual time.
async fn initialised(node: &Discv4Handle) {
    let started = Instant::now();
    while !node.table_state().await.unwrap().1 {
        tokio::task::yield_now().await;
    }
    assert_eq!(started.elapsed(), Duration::ZERO);
}

/// Waits for `count` NodeAdded events.
async fn added(events: &mut tokio::sync::broadcast::Receiver<TableEvent>, count: usize) {
    let mut seen = 0;
    while seen < count {
        if let TableEvent::NodeAdded(_) = events.recv().await.unwrap() {
            seen += 1;
        }
    }
}

struct Cost {
    pings_sent: u64,
    findnodes_sent: u64,
    elapsed: Duration,
    found: Vec<NodeRecord>,
}

async fn measured_lookup(node: &Discv4Handle) -> Cost {
    let metrics = node.metrics();
    let pings = metrics.packets_out_total(PacketKind::Ping);
    let findnodes = metrics.packets_out_total(PacketKind::FindNode);
    let started = Instant::now();
    let found = node.lookup(PeerId::random()).await.unwrap();
    Cost {
        pings_sent: metrics.packets_out_total(PacketKind::Ping) - pings,
        findnodes_sent: metrics.packets_out_total(PacketKind::FindNode) - findnodes,
        elapsed: started.elapsed(),
        found,
    }
}

/// The FINDNODE waves: with α queries in flight and every answer taking the same time, the
/// queries go out in waves of α (the last one smaller).
fn waves(queries: u64) -> u32 {
    u32::try_from(queries.div_ceil(ALPHA as u64)).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_lookup_over_bonded_nodes_sends_no_ping_and_waits_on_no_timer() {
    let net = network();
    let node = support::spawn_sim_node(&net, "10.0.9.1:30303".parse().unwrap(), quiet_config());
    initialised(&node.handle).await;
    let (peers, _tasks) = peers(&net);
    // Every peer PINGs the node; the node PINGs back and adds the peer when it answers. Both
    // sides now hold an endpoint proof of the other.
    let mut events = node.handle.subscribe();
    for peer in &peers {
        peer.ping(&node.record).await;
    }
    added(&mut events, peers.len()).await;

    let cost = measured_lookup(&node.handle).await;

    assert_eq!(cost.found.len(), RESULT_SIZE);
    assert_eq!(cost.pings_sent, 0, "no PING to a bonded node");
    assert_eq!(
        cost.findnodes_sent, RESULT_SIZE as u64,
        "every peer asked once"
    );
    // Each wave is exactly one round trip: a FINDNODE goes out the moment an answer arrives.
    let rtt = 2 * LATENCY;
    assert_eq!(cost.elapsed, rtt * waves(cost.findnodes_sent));
    let first = peers
        .iter()
        .flat_map(|p| p.seen(PacketKind::FindNode))
        .map(|s| s.at)
        .min()
        .unwrap();
    for peer in &peers {
        let findnodes = peer.seen(PacketKind::FindNode);
        assert_eq!(findnodes.len(), 1);
        assert!(findnodes[0].answered);
        let offset = findnodes[0].at - first;
        assert_eq!(offset.as_nanos() % rtt.as_nanos(), 0, "{offset:?}");
        // The only PING a peer ever got is the ping-back before the lookup.
        assert_eq!(peer.seen(PacketKind::Ping).len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_lookup_over_unbonded_nodes_asks_as_soon_as_they_ping_back() {
    let net = network();
    let node = support::spawn_sim_node(&net, "10.0.9.1:30303".parse().unwrap(), quiet_config());
    initialised(&node.handle).await;
    let (peers, _tasks) = peers(&net);
    // The peers are known (as found nodes) but have never exchanged a packet with the node.
    let infos = peers.iter().map(|p| NodeInfo::new(p.record)).collect();
    node.handle.add_nodes(infos).await.unwrap();

    let cost = measured_lookup(&node.handle).await;

    assert_eq!(cost.found.len(), RESULT_SIZE);
    assert_eq!(
        cost.pings_sent, RESULT_SIZE as u64,
        "one bonding PING per peer"
    );
    assert_eq!(cost.findnodes_sent, RESULT_SIZE as u64);
    // Per wave: our PING and the peer's PONG + PING-back (one round trip), then our PONG
    // followed by the FINDNODE, and its NEIGHBORS (another round trip). No settle sleep.
    assert_eq!(
        cost.elapsed,
        4 * LATENCY * waves(cost.findnodes_sent),
        "two round trips per wave"
    );
    for peer in &peers {
        let findnodes = peer.seen(PacketKind::FindNode);
        assert_eq!(findnodes.len(), 1);
        assert!(findnodes[0].answered, "the FINDNODE came after our PONG");
        let pong = peer.seen(PacketKind::Pong)[0];
        assert_eq!(
            findnodes[0].at, pong.at,
            "sent the moment the peer PINGed back"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_to_one_unbonded_node_share_its_bond() {
    let net = network();
    let node = support::spawn_sim_node(&net, "10.0.9.1:30303".parse().unwrap(), quiet_config());
    let peer = Peer::bind(&net, 0);
    let _task = peer.serve(vec![peer.record]);
    let target = PeerId::random();
    let (a, b, enr) = tokio::join!(
        node.handle.findnode(peer.record, target),
        node.handle.findnode(peer.record, target),
        node.handle.request_enr(peer.record),
    );
    // Both FINDNODEs are answered (the peer lists only itself, so they end on the request
    // timeout with what arrived); the scripted peer ignores ENRRequest.
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    assert!(enr.is_err());
    assert_eq!(
        peer.seen(PacketKind::Ping).len(),
        1,
        "one bond for three requests"
    );
    assert_eq!(peer.seen(PacketKind::FindNode).len(), 2);
    assert!(peer.seen(PacketKind::FindNode).iter().all(|s| s.answered));
}
