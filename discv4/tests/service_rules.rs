//! Service rules that depend on time, checked on the simulated network with tokio's paused
//! clock: endpoint-proof expiry and FINDNODE failure counting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{net::SocketAddr, time::Duration};

use discv4::{
    service::{Discv4Config, Discv4Handle, DropReason, RequestError},
    table::{bucket_index, NodeInfo},
    transport::{SimConfig, SimNetwork, SimSocket},
};

use enode::{NodeRecord, PeerId, SecretKey};

async fn start(net: &SimNetwork, addr: &str, config: Discv4Config) -> (Discv4Handle, NodeRecord) {
    let node = support::spawn_sim_node(net, addr.parse().unwrap(), config);
    (node.handle, node.record)
}

fn config() -> Discv4Config {
    Discv4Config {
        ingress_workers: 1,
        ..Default::default()
    }
}

/// No revalidation during the test: silent nodes must leave the table through FINDNODE
/// failure counting, not through failed liveness checks.
fn config_without_revalidation() -> Discv4Config {
    let mut config = config();
    config.table.fast_revalidation_interval = Duration::from_secs(24 * 3600);
    config.table.slow_revalidation_interval = Duration::from_secs(24 * 3600);
    config
}

/// Waits (on virtual time) until the node's initial refresh is done, so its own lookups do
/// not query the nodes a test adds afterwards.
async fn wait_initialised(handle: &Discv4Handle) {
    while !handle.table_state().await.unwrap().1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Binds `count` silent sockets whose node ids fall into bucket 16 of `local`.
fn silent_nodes(
    net: &SimNetwork,
    local: &NodeRecord,
    subnet: u8,
    count: usize,
) -> (Vec<NodeRecord>, Vec<SimSocket>) {
    let mut records = Vec::new();
    let mut sockets = Vec::new();
    while records.len() < count {
        let id = PeerId::from_secret_key(&SecretKey::new(&mut rand::thread_rng()));
        if bucket_index(&local.id.node_id(), &id.node_id()) != 16 {
            continue;
        }
        let addr: SocketAddr = format!("10.0.{subnet}.{}:30303", 10 + records.len())
            .parse()
            .unwrap();
        sockets.push(net.bind(addr).unwrap());
        records.push(NodeRecord {
            address: addr.ip(),
            udp_port: addr.port(),
            tcp_port: 0,
            id,
        });
    }
    (records, sockets)
}

#[tokio::test(start_paused = true)]
async fn findnode_from_an_expired_proof_is_dropped() {
    let net = SimNetwork::new(SimConfig::default());
    // A bonds with b; after 24 h, a raw FINDNODE (no re-bond) must be dropped silently. A's
    // refresh stays out of it: its lookup would re-bond with b at once, and b's answer to that
    // FINDNODE would also count for ours (a NEIGHBORS answers every FINDNODE outstanding to
    // its sender, as in geth).
    let a_config = Discv4Config {
        refresh_interval: (
            Duration::from_secs(48 * 3600),
            Duration::from_secs(48 * 3600),
        ),
        ..config()
    };
    let (a, _) = start(&net, "10.0.1.1:30303", a_config).await;
    let (b, b_record) = start(&net, "10.0.1.2:30303", config()).await;
    a.ping(b_record).await.unwrap();
    // Let b's ping-back complete.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let target = PeerId::from_secret_key(&SecretKey::new(&mut rand::thread_rng()));
    assert!(a.findnode(b_record, target).await.is_ok());
    assert_eq!(b.metrics().dropped_total(DropReason::NotBonded), 0);

    tokio::time::advance(Duration::from_secs(24 * 3600 + 1)).await;
    let result = a.findnode_unbonded(b_record, target).await;
    assert_eq!(
        result.unwrap_err(),
        RequestError::Timeout,
        "no NEIGHBORS for an expired proof"
    );
    assert_eq!(b.metrics().dropped_total(DropReason::NotBonded), 1);
}

#[tokio::test(start_paused = true)]
async fn node_failing_findnode_five_times_is_dropped_when_its_bucket_has_four() {
    let net = SimNetwork::new(SimConfig::default());
    let (a, a_record) = start(&net, "10.0.2.1:30303", config_without_revalidation()).await;
    // Five nodes in bucket 16 that never answer, so every request to them times out.
    wait_initialised(&a).await;
    let (silent, sockets) = silent_nodes(&net, &a_record, 2, 5);
    a.add_nodes(silent.iter().copied().map(NodeInfo::new).collect())
        .await
        .unwrap();
    let victim = silent[0];
    let target = PeerId::from_secret_key(&SecretKey::new(&mut rand::thread_rng()));

    for attempt in 1..=5 {
        assert!(
            a.buckets().await.unwrap()[16]
                .entries
                .iter()
                .any(|e| e.record.id == victim.id),
            "attempt {attempt}"
        );
        assert_eq!(
            a.findnode(victim, target).await.unwrap_err(),
            RequestError::Timeout
        );
    }
    let bucket = &a.buckets().await.unwrap()[16];
    assert!(
        !bucket.entries.iter().any(|e| e.record.id == victim.id),
        "dropped after 5 failures"
    );
    assert_eq!(bucket.entries.len(), 4);

    drop(sockets);
}

#[tokio::test(start_paused = true)]
async fn small_buckets_keep_failing_nodes() {
    let net = SimNetwork::new(SimConfig::default());
    let (a, a_record) = start(&net, "10.0.3.1:30303", config_without_revalidation()).await;
    wait_initialised(&a).await;
    let (silent, _sockets) = silent_nodes(&net, &a_record, 3, 3);
    a.add_nodes(silent.iter().copied().map(NodeInfo::new).collect())
        .await
        .unwrap();
    let target = PeerId::from_secret_key(&SecretKey::new(&mut rand::thread_rng()));
    for _ in 0..7 {
        assert_eq!(
            a.findnode(silent[0], target).await.unwrap_err(),
            RequestError::Timeout
        );
    }
    // Only three nodes in the bucket: the failing one stays (a small network keeps its
    // bootnode even when it misbehaves for a while).
    let bucket = &a.buckets().await.unwrap()[16];
    assert!(bucket.entries.iter().any(|e| e.record.id == silent[0].id));
    assert_eq!(bucket.entries.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn lookup_on_an_empty_table_without_bootnodes_returns_at_once() {
    let net = SimNetwork::new(SimConfig::default());
    let (a, _) = start(&net, "10.0.4.1:30303", config()).await;
    wait_initialised(&a).await;
    let started = tokio::time::Instant::now();
    let result = a.lookup_random().await.unwrap();
    assert!(result.is_empty());
    // Virtual time: the lookup stopped waiting when the refresh it triggered found nothing,
    // instead of sitting out the full minute geth's iterator allows.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_findnode_makes_the_next_request_rebond() {
    let net = SimNetwork::new(SimConfig::default());
    let (a, a_record) = start(&net, "10.0.5.1:30303", config()).await;
    let (b, b_record) = start(&net, "10.0.5.2:30303", config()).await;
    wait_initialised(&a).await;
    wait_initialised(&b).await;
    // b pings a, but everything a sends to b is lost: a saw b's PING (so a believes b has
    // proven a's endpoint), yet b never got a's PONG and holds no proof of a.
    net.set_link_loss(a_record.udp_addr(), b_record.udp_addr(), Some(1.0));
    assert_eq!(b.ping(a_record).await.unwrap_err(), RequestError::Timeout);
    net.set_link_loss(a_record.udp_addr(), b_record.udp_addr(), None);

    let target = PeerId::from_secret_key(&SecretKey::new(&mut rand::thread_rng()));
    // First FINDNODE: a does not re-bond (b pinged it recently), b drops it as unproven.
    assert_eq!(
        a.findnode(b_record, target).await.unwrap_err(),
        RequestError::Timeout
    );
    assert_eq!(b.metrics().dropped_total(DropReason::NotBonded), 1);
    // Second FINDNODE: the failure makes a PING first, b bonds, and answers.
    assert!(a.findnode(b_record, target).await.is_ok());
    assert_eq!(b.metrics().dropped_total(DropReason::NotBonded), 1);
}

#[tokio::test(start_paused = true)]
async fn ping_backs_to_unknown_pingers_are_capped_but_every_ping_gets_a_pong() {
    use discv4::proto::{decode, encode, expiration_after, Endpoint, Packet, Ping};
    use discv4::transport::DatagramTransport;

    let net = SimNetwork::new(SimConfig::default());
    let config = Discv4Config {
        max_ping_backs_per_second: 5,
        ..config()
    };
    let (a, a_record) = start(&net, "10.0.6.1:30303", config).await;
    wait_initialised(&a).await;

    // Twenty fresh keys ping at once, each from its own address.
    let mut pingers = Vec::new();
    for i in 0..20u8 {
        let key = SecretKey::new(&mut rand::thread_rng());
        let addr: SocketAddr = format!("10.0.6.{}:30303", 10 + i).parse().unwrap();
        let socket = net.bind(addr).unwrap();
        let ping = Packet::Ping(Ping {
            version: Ping::VERSION,
            from: Endpoint::from_udp(addr, 0),
            to: Endpoint::from_udp(a_record.udp_addr(), 0),
            expiration: expiration_after(Duration::from_secs(20)),
            enr_seq: None,
        });
        let (bytes, _) = encode(&ping, &key).unwrap();
        socket.send_to(&bytes, a_record.udp_addr()).await.unwrap();
        pingers.push(socket);
    }
    let (mut pongs, mut ping_backs) = (0, 0);
    for socket in &pingers {
        let mut buf = [0u8; 1500];
        // Within 400 ms of virtual time every pinger hears back what it is going to.
        while let Ok(Ok((len, _))) =
            tokio::time::timeout(Duration::from_millis(400), socket.recv_from(&mut buf)).await
        {
            match decode(&buf[..len]).unwrap().packet {
                Packet::Pong(_) => pongs += 1,
                Packet::Ping(_) => ping_backs += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(pongs, 20, "every PING is answered");
    assert_eq!(ping_backs, 5, "ping-backs are capped at the burst of 5");
    assert_eq!(a.metrics().dropped_total(DropReason::PingBackLimited), 15);
}

/// Receives the next datagram at `socket` and returns its kind and arrival time.
async fn next_kind(socket: &SimSocket) -> (discv4::proto::PacketKind, tokio::time::Instant) {
    use discv4::transport::DatagramTransport;
    let mut buf = [0u8; 1500];
    let (len, _) = socket.recv_from(&mut buf).await.unwrap();
    let decoded = discv4::proto::decode(&buf[..len]).unwrap();
    (decoded.packet.kind(), tokio::time::Instant::now())
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_liveness_ping_is_sent_once_more_before_the_node_counts_as_dead() {
    use discv4::proto::PacketKind;
    let net = SimNetwork::new(SimConfig::default());
    let mut revalidating = config();
    revalidating.table.fast_revalidation_interval = Duration::from_secs(1);
    let (a, a_record) = start(&net, "10.0.6.1:30303", revalidating).await;
    wait_initialised(&a).await;
    let (silent, sockets) = silent_nodes(&net, &a_record, 6, 1);
    a.add_nodes(vec![NodeInfo::new(silent[0])]).await.unwrap();

    let (first, at_first) = next_kind(&sockets[0]).await;
    let (second, at_second) = next_kind(&sockets[0]).await;
    assert_eq!((first, second), (PacketKind::Ping, PacketKind::Ping));
    // The second PING is the retransmission, one request timeout after the first, not the
    // next liveness check.
    let gap = at_second - at_first;
    let timeout = Discv4Config::default().request_timeout;
    assert!(
        gap >= timeout && gap < timeout + Duration::from_millis(100),
        "gap {gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lookup_sends_an_unanswered_findnode_once_more() {
    use discv4::proto::PacketKind;
    let net = SimNetwork::new(SimConfig::default());
    let (a, a_record) = start(&net, "10.0.7.1:30303", config_without_revalidation()).await;
    wait_initialised(&a).await;
    let (silent, sockets) = silent_nodes(&net, &a_record, 7, 1);
    a.add_nodes(vec![NodeInfo::new(silent[0])]).await.unwrap();
    let lookup = tokio::spawn({
        let a = a.clone();
        async move { a.lookup_random().await }
    });
    let mut findnodes = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while findnodes < 2 {
        tokio::select! {
            (kind, _) = next_kind(&sockets[0]) => {
                findnodes += usize::from(kind == PacketKind::FindNode);
            }
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    assert_eq!(findnodes, 2, "one FINDNODE and its retransmission");
    // ... and no third: the lookup ends.
    let found = tokio::time::timeout(Duration::from_secs(30), lookup)
        .await
        .expect("the lookup ends")
        .unwrap()
        .unwrap();
    assert_eq!(
        found.len(),
        1,
        "an unresponsive node stays in the result, as in geth"
    );
}
