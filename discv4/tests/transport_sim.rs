//! Behaviour of the simulated datagram network on tokio's paused clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use discv4::transport::{DatagramTransport, SimConfig, SimNetwork};
use tokio::time::{timeout, Instant};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn net(latency_ms: u64) -> SimNetwork {
    SimNetwork::new(SimConfig {
        latency: Duration::from_millis(latency_ms),
        jitter: Duration::ZERO,
        loss: 0.0,
        seed: 7,
        per_socket_queue: 1024,
        ..SimConfig::default()
    })
}

async fn recv(sock: &dyn DatagramTransport) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 1500];
    let (len, from) = sock.recv_from(&mut buf).await.unwrap();
    (buf[..len].to_vec(), from)
}

#[tokio::test(start_paused = true)]
async fn delivers_datagram_with_sender_address() {
    let net = net(10);
    let a = net.bind(addr("10.0.0.1:30303")).unwrap();
    let b = net.bind(addr("10.0.0.2:30303")).unwrap();
    assert_eq!(
        a.send_to(b"hello", b.local_addr().unwrap()).await.unwrap(),
        5
    );
    let (data, from) = recv(&b).await;
    assert_eq!(data, b"hello");
    assert_eq!(from, addr("10.0.0.1:30303"));
    let stats = net.stats();
    assert_eq!((stats.sent, stats.delivered, stats.dropped()), (1, 1, 0));
    assert_eq!(stats.bytes_sent, 5);
}

#[tokio::test(start_paused = true)]
async fn latency_is_honoured_on_virtual_time() {
    let net = net(50);
    let a = net.bind(addr("10.0.0.1:1")).unwrap();
    let b = net.bind(addr("10.0.0.2:1")).unwrap();
    let start = Instant::now();
    a.send_to(b"x", b.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 16];
    // Not a tick before the latency has passed.
    assert!(timeout(Duration::from_millis(49), b.recv_from(&mut buf))
        .await
        .is_err());
    assert_eq!(start.elapsed(), Duration::from_millis(49));
    let (len, _) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!(len, 1);
    assert_eq!(start.elapsed(), Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn receiver_waiting_before_send_wakes_at_arrival() {
    let net = net(30);
    let a = net.bind(addr("10.0.0.1:1")).unwrap();
    let b = Arc::new(net.bind(addr("10.0.0.2:1")).unwrap());
    let receiver = {
        let b = Arc::clone(&b);
        tokio::spawn(async move {
            let (data, _) = recv(&*b).await;
            (data, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent_at = Instant::now();
    a.send_to(b"late", addr("10.0.0.2:1")).await.unwrap();
    let (data, arrived) = receiver.await.unwrap();
    assert_eq!(data, b"late");
    assert_eq!(arrived - sent_at, Duration::from_millis(30));
}

#[tokio::test(start_paused = true)]
async fn earlier_datagram_rearms_the_timer() {
    // Links with different delays: a far sender's datagram may be queued first, but each
    // datagram must come out at its own arrival time, earliest first.
    let net = SimNetwork::new(SimConfig {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(500),
        seed: 3,
        ..SimConfig::default()
    });
    let dst = net.bind(addr("10.0.0.100:1")).unwrap();
    let dst_addr = dst.local_addr().unwrap();
    let mut senders = Vec::new();
    for i in 1..=20 {
        senders.push(net.bind(SocketAddr::new([10, 0, 1, i].into(), 1)).unwrap());
    }
    let start = Instant::now();
    for s in &senders {
        s.send_to(b"t", dst_addr).await.unwrap();
    }
    let mut expected: Vec<(Duration, SocketAddr)> = senders
        .iter()
        .map(|s| {
            let from = s.local_addr().unwrap();
            (net.link_latency(from, dst_addr), from)
        })
        .collect();
    expected.sort();
    assert!(expected.first().unwrap().0 < expected.last().unwrap().0);
    for (latency, from) in expected {
        let (_, got_from) = recv(&dst).await;
        assert_eq!(got_from, from);
        // Not before its latency; tokio timers fire on the next whole millisecond.
        let elapsed = start.elapsed();
        assert!(elapsed >= latency && elapsed < latency + Duration::from_millis(1));
        assert!(latency >= Duration::from_millis(10) && latency < Duration::from_millis(510));
    }
}

#[tokio::test(start_paused = true)]
async fn link_latency_is_symmetric_and_seeded() {
    let cfg = |seed| SimConfig {
        latency: Duration::from_millis(5),
        jitter: Duration::from_millis(100),
        seed,
        ..SimConfig::default()
    };
    let (a, b) = (addr("10.0.0.1:1"), addr("10.0.0.2:1"));
    let one = SimNetwork::new(cfg(1));
    assert_eq!(one.link_latency(a, b), one.link_latency(b, a));
    assert_eq!(
        one.link_latency(a, b),
        SimNetwork::new(cfg(1)).link_latency(a, b)
    );
    let differs =
        (2..10).any(|seed| SimNetwork::new(cfg(seed)).link_latency(a, b) != one.link_latency(a, b));
    assert!(differs);
}

#[tokio::test(start_paused = true)]
async fn same_link_keeps_order() {
    let net = net(20);
    let a = net.bind(addr("10.0.0.1:1")).unwrap();
    let b = net.bind(addr("10.0.0.2:1")).unwrap();
    for i in 0..100u8 {
        a.send_to(&[i], addr("10.0.0.2:1")).await.unwrap();
    }
    for i in 0..100u8 {
        assert_eq!(recv(&b).await.0, vec![i]);
    }
}

async fn dropped_by_loss(seed: u64, loss: f64, count: u32) -> u64 {
    let net = SimNetwork::new(SimConfig {
        latency: Duration::from_millis(1),
        loss,
        seed,
        per_socket_queue: 100_000,
        ..SimConfig::default()
    });
    let a = net.bind(addr("10.0.0.1:1")).unwrap();
    let b = net.bind(addr("10.0.0.2:1")).unwrap();
    for _ in 0..count {
        a.send_to(b"p", addr("10.0.0.2:1")).await.unwrap();
    }
    let stats = net.stats();
    assert_eq!(stats.sent, u64::from(count));
    assert_eq!(stats.dropped(), stats.dropped_loss);
    assert_eq!(b.queued() as u64, stats.sent - stats.dropped_loss);
    stats.dropped_loss
}

#[tokio::test(start_paused = true)]
async fn loss_rate_matches_config_and_repeats_with_seed() {
    let lost = dropped_by_loss(11, 0.3, 10_000).await;
    // 3 sigma of a binomial(10000, 0.3) is about 137.
    assert!((2_850..3_150).contains(&lost), "lost {lost}");
    assert_eq!(lost, dropped_by_loss(11, 0.3, 10_000).await);
    let mut differs = false;
    for seed in 12..16 {
        differs |= dropped_by_loss(seed, 0.3, 10_000).await != lost;
    }
    assert!(differs, "loss pattern ignores the seed");
    assert_eq!(dropped_by_loss(1, 0.0, 1_000).await, 0);
    assert_eq!(dropped_by_loss(1, 1.0, 1_000).await, 1_000);
}

#[tokio::test(start_paused = true)]
async fn set_loss_and_link_loss_change_at_runtime() {
    let net = net(1);
    let a = net.bind(addr("10.0.0.1:1")).unwrap();
    let b = net.bind(addr("10.0.0.2:1")).unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    net.set_loss(1.0);
    assert_eq!(net.loss(), 1.0);
    a.send_to(b"lost", b_addr).await.unwrap();
    assert_eq!(net.stats().dropped_loss, 1);
    // A per-link override beats the network-wide rate, in one direction only.
    net.set_link_loss(a_addr, b_addr, Some(0.0));
    a.send_to(b"kept", b_addr).await.unwrap();
    assert_eq!(recv(&b).await.0, b"kept");
    b.send_to(b"lost", a_addr).await.unwrap();
    assert_eq!(net.stats().dropped_loss, 2);
    net.set_link_loss(a_addr, b_addr, None);
    a.send_to(b"lost", b_addr).await.unwrap();
    assert_eq!(net.stats().dropped_loss, 3);
    net.set_loss(f64::NAN);
    assert_eq!(net.loss(), 0.0);
    net.set_loss(7.0);
    assert_eq!(net.loss(), 1.0);
}

#[tokio::test(start_paused = true)]
async fn blocked_address_is_partitioned_both_ways() {
    let net = net(1);
    let a = net.bind(addr("10.0.0.1:1")).unwrap();
    let b = net.bind(addr("10.0.0.2:1")).unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    net.block(b_addr);
    assert!(net.is_blocked(b_addr));
    a.send_to(b"1", b_addr).await.unwrap();
    b.send_to(b"2", a_addr).await.unwrap();
    assert_eq!(net.stats().dropped_blocked, 2);
    let mut buf = [0u8; 8];
    assert!(timeout(Duration::from_secs(5), a.recv_from(&mut buf))
        .await
        .is_err());
    net.unblock(b_addr);
    a.send_to(b"3", b_addr).await.unwrap();
    assert_eq!(recv(&b).await.0, b"3");
}

#[tokio::test(start_paused = true)]
async fn full_queue_drops_like_udp() {
    let net = SimNetwork::new(SimConfig {
        per_socket_queue: 8,
        ..SimConfig::default()
    });
    let a = net.bind(addr("10.0.0.1:1")).unwrap();
    let b = net.bind(addr("10.0.0.2:1")).unwrap();
    for i in 0..20u8 {
        a.send_to(&[i], addr("10.0.0.2:1")).await.unwrap();
    }
    let stats = net.stats();
    assert_eq!(stats.dropped_queue_full, 12);
    for i in 0..8u8 {
        assert_eq!(recv(&b).await.0, vec![i]);
    }
    let mut buf = [0u8; 8];
    assert!(timeout(Duration::from_secs(1), b.recv_from(&mut buf))
        .await
        .is_err());
    // Reading freed the queue.
    a.send_to(b"again", addr("10.0.0.2:1")).await.unwrap();
    assert_eq!(recv(&b).await.0, b"again");
}

#[tokio::test(start_paused = true)]
async fn unbound_destination_is_silently_dropped() {
    let net = net(1);
    let a = net.bind(addr("10.0.0.1:1")).unwrap();
    assert_eq!(a.send_to(b"void", addr("10.9.9.9:9")).await.unwrap(), 4);
    assert_eq!(net.stats().dropped_unbound, 1);
}

#[tokio::test(start_paused = true)]
async fn datagrams_in_flight_to_a_closed_socket_are_dropped() {
    let net = net(100);
    let a = net.bind(addr("10.0.0.1:1")).unwrap();
    let b = net.bind(addr("10.0.0.2:1")).unwrap();
    a.send_to(b"1", addr("10.0.0.2:1")).await.unwrap();
    drop(b);
    assert_eq!(net.stats().dropped_unbound, 1);
    assert_eq!(net.bound_sockets(), 1);
    // A new socket on the same address does not get the old socket's datagrams.
    let b = net.bind(addr("10.0.0.2:1")).unwrap();
    let mut buf = [0u8; 8];
    assert!(timeout(Duration::from_secs(1), b.recv_from(&mut buf))
        .await
        .is_err());
}

#[tokio::test(start_paused = true)]
async fn bind_conflicts_and_port_allocation() {
    let net = net(1);
    let a = net.bind(addr("10.0.0.1:30303")).unwrap();
    let err = net.bind(addr("10.0.0.1:30303")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    drop(a);
    let _a = net.bind(addr("10.0.0.1:30303")).unwrap();
    let p1 = net.bind(addr("10.0.0.1:0")).unwrap();
    let p2 = net.bind(addr("10.0.0.1:0")).unwrap();
    let (p1, p2) = (p1.local_addr().unwrap(), p2.local_addr().unwrap());
    assert_ne!(p1.port(), 0);
    assert_ne!(p1, p2);
    assert_eq!(net.bound_sockets(), 3);
    let err = net.bind(addr("0.0.0.0:1")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test(start_paused = true)]
async fn ipv6_addresses_work() {
    let net = net(1);
    let a = net.bind(addr("[fd00::1]:30303")).unwrap();
    let b = net.bind(addr("[fd00::2]:0")).unwrap();
    a.send_to(b"v6", b.local_addr().unwrap()).await.unwrap();
    assert_eq!(recv(&b).await, (b"v6".to_vec(), addr("[fd00::1]:30303")));
}

#[tokio::test(start_paused = true)]
async fn long_datagrams_are_truncated_and_huge_ones_refused() {
    let net = net(1);
    let a = net.bind(addr("10.0.0.1:1")).unwrap();
    let b = net.bind(addr("10.0.0.2:1")).unwrap();
    a.send_to(&[7u8; 100], addr("10.0.0.2:1")).await.unwrap();
    let mut small = [0u8; 10];
    let (len, _) = b.recv_from(&mut small).await.unwrap();
    assert_eq!((len, small), (10, [7u8; 10]));
    let err = a
        .send_to(&vec![0u8; 70_000], addr("10.0.0.2:1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

async fn concurrent_receivers(net: SimNetwork, receivers: usize, datagrams: u32) {
    let a = net.bind(addr("10.0.0.1:1")).unwrap();
    let b: Arc<dyn DatagramTransport> = Arc::new(net.bind(addr("10.0.0.2:1")).unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for _ in 0..receivers {
        let (b, tx) = (Arc::clone(&b), tx.clone());
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let mut got = 0u32;
            while let Ok((len, _)) = b.recv_from(&mut buf).await {
                let n = u32::from_be_bytes(buf[..len].try_into().unwrap());
                if tx.send(n).is_err() {
                    break;
                }
                got += 1;
                // Yield now and then so every receiver gets turns.
                if got.is_multiple_of(3) {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    drop(tx);
    for i in 0..datagrams {
        a.send_to(&i.to_be_bytes(), addr("10.0.0.2:1"))
            .await
            .unwrap();
        if i.is_multiple_of(50) {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    let mut seen = HashSet::new();
    for _ in 0..datagrams {
        let n = timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(seen.insert(n), "datagram {n} delivered twice");
    }
    assert_eq!(net.stats().delivered, u64::from(datagrams));
    for task in tasks {
        task.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_receivers_share_one_socket_on_virtual_time() {
    concurrent_receivers(net(5), 4, 2_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_receivers_share_one_socket_on_threads() {
    concurrent_receivers(net(1), 4, 2_000).await;
}

#[tokio::test(start_paused = true)]
async fn thousand_nodes_exchange_datagrams() {
    const NODES: usize = 1_000;
    const PER_NODE: usize = 50;
    let net = SimNetwork::new(SimConfig {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(80),
        loss: 0.05,
        seed: 99,
        per_socket_queue: 1024,
        ..SimConfig::default()
    });
    let sockets: Vec<Arc<dyn DatagramTransport>> = (0..NODES)
        .map(|i| {
            let ip = [10, 1, (i / 256) as u8, (i % 256) as u8];
            Arc::new(net.bind(SocketAddr::new(ip.into(), 30303)).unwrap()) as _
        })
        .collect();
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut receivers = Vec::new();
    for sock in &sockets {
        let sock = Arc::clone(sock);
        receivers.push(tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            let mut count = 0u64;
            while timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
                .await
                .is_ok()
            {
                count += 1;
            }
            count
        }));
    }
    let mut senders = Vec::new();
    for (i, sock) in sockets.iter().enumerate() {
        let (sock, addrs) = (Arc::clone(sock), addrs.clone());
        senders.push(tokio::spawn(async move {
            for k in 0..PER_NODE {
                let to = addrs[(i * 7 + k * 13 + 1) % NODES];
                sock.send_to(&[0u8; 100], to).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    let mut received = 0;
    for r in receivers {
        received += r.await.unwrap();
    }
    let stats = net.stats();
    assert_eq!(stats.sent, (NODES * PER_NODE) as u64);
    assert_eq!(received, stats.delivered);
    assert_eq!(stats.delivered + stats.dropped(), stats.sent);
    assert_eq!(stats.dropped(), stats.dropped_loss);
    let loss = stats.dropped_loss as f64 / stats.sent as f64;
    assert!((0.04..0.06).contains(&loss), "loss {loss}");
}

/// Scale check: 10,000 nodes, one million datagrams, on virtual time. Run with
/// `cargo test --release -p discv4 --test transport_sim -- --ignored --nocapture`.
#[tokio::test(start_paused = true)]
#[ignore = "scale run; prints figures"]
async fn ten_thousand_nodes_million_datagrams() {
    const NODES: usize = 10_000;
    const PER_NODE: usize = 100;
    let net = SimNetwork::new(SimConfig {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(100),
        loss: 0.01,
        seed: 5,
        per_socket_queue: 256,
        ..SimConfig::default()
    });
    let wall = std::time::Instant::now();
    let start = Instant::now();
    let sockets: Vec<Arc<dyn DatagramTransport>> = (0..NODES)
        .map(|i| {
            let ip = [10, 2, (i / 256) as u8, (i % 256) as u8];
            Arc::new(net.bind(SocketAddr::new(ip.into(), 30303)).unwrap()) as _
        })
        .collect();
    let addrs: Arc<Vec<SocketAddr>> =
        Arc::new(sockets.iter().map(|s| s.local_addr().unwrap()).collect());
    let mut tasks = Vec::new();
    for (i, sock) in sockets.iter().enumerate() {
        let receiver = Arc::clone(sock);
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            let mut count = 0u64;
            while timeout(Duration::from_secs(5), receiver.recv_from(&mut buf))
                .await
                .is_ok()
            {
                count += 1;
            }
            count
        }));
        let (sock, addrs) = (Arc::clone(sock), Arc::clone(&addrs));
        tokio::spawn(async move {
            for k in 0..PER_NODE {
                let to = addrs[(i * 31 + k * 97 + 1) % NODES];
                sock.send_to(&[0u8; 200], to).await.unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }
    let mut received = 0;
    for t in tasks {
        received += t.await.unwrap();
    }
    let stats = net.stats();
    println!(
        "{NODES} nodes, {} datagrams sent, {} delivered, {} dropped, virtual {:?}, wall {:?}",
        stats.sent,
        stats.delivered,
        stats.dropped(),
        start.elapsed(),
        wall.elapsed()
    );
    assert_eq!(stats.sent, (NODES * PER_NODE) as u64);
    assert_eq!(received, stats.delivered);
    assert_eq!(stats.delivered + stats.dropped(), stats.sent);
}

#[test]
fn busy_socket_yields_to_other_tasks() {
    // A node that always has a datagram due (zero latency, sending to itself) must still
    // let the rest of a single-threaded simulation run, as tokio's real sockets do.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let net = net(0);
            let sock = net.bind(addr("10.0.0.1:1")).unwrap();
            let me = sock.local_addr().unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 8];
                sock.send_to(b"x", me).await.unwrap();
                loop {
                    sock.recv_from(&mut buf).await.unwrap();
                    sock.send_to(b"x", me).await.unwrap();
                }
            });
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(net.stats().delivered > 0);
        });
        let _ = done_tx.send(());
    });
    assert!(
        done_rx.recv_timeout(Duration::from_secs(20)).is_ok(),
        "the busy socket starved the runtime"
    );
}
