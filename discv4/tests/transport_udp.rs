//! The real UDP transport on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use discv4::transport::DatagramTransport;
use tokio::net::UdpSocket;
use tokio::time::timeout;

async fn bind() -> Arc<dyn DatagramTransport> {
    Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap())
}

#[tokio::test]
async fn udp_round_trip_through_the_trait() {
    let (a, b) = (bind().await, bind().await);
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    assert_ne!(a_addr.port(), 0);
    assert_eq!(a.send_to(b"ping", b_addr).await.unwrap(), 4);
    let mut buf = [0u8; 1500];
    let (len, from) = timeout(Duration::from_secs(5), b.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..len], from), (&b"ping"[..], a_addr));
    b.send_to(b"pong", from).await.unwrap();
    let (len, from) = timeout(Duration::from_secs(5), a.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..len], from), (&b"pong"[..], b_addr));
}

#[tokio::test]
async fn udp_poll_methods_work_directly() {
    let (a, b) = (bind().await, bind().await);
    let b_addr = b.local_addr().unwrap();
    let sent = std::future::poll_fn(|cx| a.poll_send_to(cx, b"direct", b_addr))
        .await
        .unwrap();
    assert_eq!(sent, 6);
    let mut storage = [0u8; 1500];
    let mut buf = tokio::io::ReadBuf::new(&mut storage);
    let from = timeout(
        Duration::from_secs(5),
        std::future::poll_fn(|cx| b.poll_recv_from(cx, &mut buf)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(from, a.local_addr().unwrap());
    assert_eq!(buf.filled(), b"direct");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_concurrent_receivers_each_get_distinct_datagrams() {
    let (a, b) = (bind().await, bind().await);
    let b_addr = b.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (b, tx) = (Arc::clone(&b), tx.clone());
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok((len, _)) = b.recv_from(&mut buf).await {
                let n = u32::from_be_bytes(buf[..len].try_into().unwrap());
                if tx.send(n).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    // Paced so the loopback receive buffer never overflows.
    const COUNT: u32 = 300;
    for i in 0..COUNT {
        a.send_to(&i.to_be_bytes(), b_addr).await.unwrap();
        if i.is_multiple_of(20) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let mut seen = HashSet::new();
    for _ in 0..COUNT {
        let n = timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(seen.insert(n), "datagram {n} delivered twice");
    }
    for task in tasks {
        task.abort();
    }
}

#[tokio::test]
async fn udp_long_datagram_is_truncated_to_the_buffer() {
    let (a, b) = (bind().await, bind().await);
    a.send_to(&[9u8; 1400], b.local_addr().unwrap())
        .await
        .unwrap();
    let mut small = [0u8; 100];
    let (len, _) = timeout(Duration::from_secs(5), b.recv_from(&mut small))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(len, 100);
    assert_eq!(small, [9u8; 100]);
}

#[tokio::test]
async fn batched_transport_receives_a_burst_in_order_with_few_calls() {
    use discv4::transport::{RecvBatch, UdpTransport};
    let receiver = UdpTransport::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // The kernel granted more than the usual 208 KiB default (it may cap at rmem_max).
    assert!(receiver.recv_buffer_size().unwrap() > 212_992);
    let to = receiver.local_addr().unwrap();
    let sender = bind().await;
    for i in 0..20u8 {
        sender.send_to(&[i; 100], to).await.unwrap();
    }
    let (mut got, mut calls) = (Vec::new(), 0);
    let mut batch = RecvBatch::new(32);
    while got.len() < 20 {
        timeout(Duration::from_secs(5), receiver.recv_batch(&mut batch))
            .await
            .unwrap()
            .unwrap();
        calls += 1;
        for (datagram, from) in batch.datagrams() {
            assert_eq!(from, sender.local_addr().unwrap());
            assert_eq!(datagram.len(), 100);
            got.push(datagram[0]);
        }
    }
    assert_eq!(got, (0..20).collect::<Vec<u8>>());
    // All 20 were queued before the first call: one recvmmsg takes them (Linux).
    if cfg!(target_os = "linux") {
        assert_eq!(calls, 1);
    }
}

/// One batched send reaches several destinations in order, and a datagram the kernel refuses
/// (port 0) costs only itself.
#[tokio::test]
async fn a_batched_send_reaches_every_destination_and_skips_a_refused_datagram() {
    use discv4::transport::{SendBatch, UdpTransport};
    let sender = UdpTransport::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (r1, r2) = (bind().await, bind().await);
    let mut batch = SendBatch::new();
    batch.push(b"first", r1.local_addr().unwrap());
    batch.push(b"refused", "127.0.0.1:0".parse().unwrap());
    batch.push(b"second", r2.local_addr().unwrap());
    for i in 0..100u32 {
        batch.push(&i.to_be_bytes(), r1.local_addr().unwrap());
    }
    let report = sender.send_batch(&batch).await;
    assert_eq!(report.sent, 102);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, 1);
    let recv = |socket: &Arc<dyn DatagramTransport>| {
        let socket = Arc::clone(socket);
        async move {
            let mut buf = [0u8; 64];
            let (len, from) = timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
                .await
                .unwrap()
                .unwrap();
            (buf[..len].to_vec(), from)
        }
    };
    let sender_addr = sender.local_addr().unwrap();
    assert_eq!(recv(&r1).await, (b"first".to_vec(), sender_addr));
    assert_eq!(recv(&r2).await, (b"second".to_vec(), sender_addr));
    for i in 0..100u32 {
        let (bytes, _) = recv(&r1).await;
        assert_eq!(bytes, i.to_be_bytes());
    }
}

/// An IPv6 (dual-stack) socket sends a batch to IPv4 and IPv6 destinations alike.
#[tokio::test]
async fn a_dual_stack_socket_sends_a_batch_to_ipv4_and_ipv6() {
    use discv4::transport::{SendBatch, UdpTransport};
    let Ok(sender) = UdpTransport::bind("[::]:0".parse().unwrap()).await else {
        eprintln!("no IPv6 on this machine; skipped");
        return;
    };
    let v4 = bind().await;
    let Ok(v6) = UdpSocket::bind("[::1]:0").await else {
        eprintln!("no IPv6 loopback on this machine; skipped");
        return;
    };
    let v6: Arc<dyn DatagramTransport> = Arc::new(v6);
    let port = sender.local_addr().unwrap().port();
    let mut batch = SendBatch::new();
    batch.push(b"to v4", v4.local_addr().unwrap());
    batch.push(b"to v6", v6.local_addr().unwrap());
    let report = sender.send_batch(&batch).await;
    assert_eq!(
        (report.sent, report.failed.len()),
        (2, 0),
        "{:?}",
        report.failed
    );
    let mut buf = [0u8; 64];
    let (len, from) = timeout(Duration::from_secs(5), v4.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..len], from.port()), (&b"to v4"[..], port));
    let (len, from) = timeout(Duration::from_secs(5), v6.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..len], from.port()), (&b"to v6"[..], port));
}
