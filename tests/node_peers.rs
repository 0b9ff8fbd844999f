//! The node end to end on loopback: static and trusted peers, the protocol API, peer events,
//! disconnect reasons, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod node_support;

use std::time::Duration;

use kadnode::{Direction, PeerEvent};
use node_support::*;
use rlpx::{p2p::DisconnectReason, verdict::Verdict};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_peer_connects_and_protocol_runs_both_ways() {
    let mut a = start(|_| {}).await;
    let b_record = {
        let b = start(|_| {}).await;
        let record = b.record();
        (b, record)
    };
    let (mut b, b_record) = b_record;
    let mut a_events = a.handle().subscribe();
    let mut b_events = b.handle().subscribe();
    a.handle().add_static(b_record).await.unwrap();

    let added_at_a = wait_event(&mut a_events, |e| match e {
        PeerEvent::Added(info) => Some(info.clone()),
        _ => None,
    })
    .await;
    assert_eq!(added_at_a.id, b.id());
    assert_eq!(added_at_a.direction, Direction::Outbound);
    assert!(added_at_a.is_static);
    let added_at_b = wait_event(&mut b_events, |e| match e {
        PeerEvent::Added(info) => Some(info.clone()),
        _ => None,
    })
    .await;
    assert_eq!(added_at_b.id, a.id());
    assert_eq!(added_at_b.direction, Direction::Inbound);

    let b_id = b.id();
    let a_id = a.id();
    wait_both_ways(&mut a, b_id).await;
    wait_both_ways(&mut b, a_id).await;

    let peers = a.handle().peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].shared[0].to_string(), "kadtest/1");
    assert!(peers[0].bytes_in() > 0 && peers[0].bytes_out() > 0);

    // Shutdown: the remote sees Disconnect 0x08 (client quitting) before the socket closes.
    a.node.shutdown().await;
    let end = wait_event(&mut b_events, |e| match e {
        PeerEvent::Dropped { id, end } if *id == a_id => Some(end.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        end.reason,
        Some(DisconnectReason::ClientQuitting),
        "{end:?}"
    );
    assert!(end.by_remote);
    b.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_static_peer_is_redialed_and_removed_one_is_not() {
    let a = start(|c| {
        c.dial_history = Duration::from_millis(300);
        c.backoff.short = Duration::from_millis(300);
        c.backoff.medium = Duration::from_millis(300);
    })
    .await;
    let b = start(|_| {}).await;
    let b_record = b.record();
    let b_id = b.id();
    let mut a_events = a.handle().subscribe();
    a.handle().add_static(b_record).await.unwrap();
    wait_event(&mut a_events, |e| {
        matches!(e, PeerEvent::Added(i) if i.id == b_id).then_some(())
    })
    .await;

    // Kill b: a sees it go, then a new b on the same key and port comes back and is redialed.
    let key = b.node.key().clone();
    let port = b_record.tcp_port;
    drop(b);
    wait_event(&mut a_events, |e| {
        matches!(e, PeerEvent::Dropped { id, .. } if *id == b_id).then_some(())
    })
    .await;
    let restarted = kadnode::Node::start(kadnode::NodeConfig {
        listen_addr: format!("127.0.0.1:{port}").parse().unwrap(),
        key: kadnode::KeySource::Key(key),
        discovery: None,
        p2p: Some(kadnode::P2pConfig {
            protocols: vec![std::sync::Arc::new(KadTest {
                seen: tokio::sync::mpsc::unbounded_channel().0,
            })],
            ..kadnode::P2pConfig::default()
        }),
        ..kadnode::NodeConfig::default()
    })
    .await
    .unwrap();
    wait_event(&mut a_events, |e| {
        matches!(e, PeerEvent::Added(i) if i.id == b_id).then_some(())
    })
    .await;

    // Removed: disconnected with 0x00 and never dialed again.
    assert!(a.handle().remove_static(b_id).await.unwrap());
    let end = wait_event(&mut a_events, |e| match e {
        PeerEvent::Dropped { id, end } if *id == b_id => Some(end.clone()),
        _ => None,
    })
    .await;
    assert_eq!(end.reason, Some(DisconnectReason::DisconnectRequested));
    let redialed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(PeerEvent::Added(info)) = a_events.recv().await {
                if info.id == b_id {
                    return;
                }
            }
        }
    })
    .await;
    assert!(redialed.is_err(), "a removed static peer was dialed again");
    restarted.shutdown().await;
    a.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_node_refuses_with_too_many_peers_but_admits_trusted() {
    // `full` accepts one peer in all (max_peers 1 → 1 dialed slot, 0 inbound slots).
    let full = start(|c| c.max_peers = 1).await;
    let full_record = full.record();
    let stranger = start(|_| {}).await;
    let mut stranger_events = stranger.handle().subscribe();
    let mut full_events = full.handle().subscribe();
    stranger.handle().add_static(full_record).await.unwrap();
    // The stranger's dial is refused at the first checkpoint: no peer is added anywhere.
    let refused = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(PeerEvent::Added(_)) = stranger_events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(refused.is_err(), "a full node admitted an inbound peer");
    // …and the window was not quiet for want of a dial: the full node refused one as busy.
    assert!(
        full.handle().metrics().inbound_failures(Verdict::Busy) >= 1,
        "the stranger never reached the full node"
    );

    let trusted = start(|_| {}).await;
    full.handle().add_trusted(trusted.id()).await.unwrap();
    trusted.handle().add_static(full_record).await.unwrap();
    let trusted_id = trusted.id();
    let info = wait_event(&mut full_events, |e| match e {
        PeerEvent::Added(info) if info.id == trusted_id => Some(info.clone()),
        _ => None,
    })
    .await;
    assert!(info.is_trusted);
    assert_eq!(info.direction, Direction::Inbound);
    for node in [full, stranger, trusted] {
        node.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_error_ends_the_peer_with_its_reason_and_verdict() {
    let a = start(|_| {}).await;
    let b = start(|_| {}).await;
    let b_id = b.id();
    let mut a_events = a.handle().subscribe();
    a.handle().add_static(b.record()).await.unwrap();
    wait_event(&mut a_events, |e| {
        matches!(e, PeerEvent::Added(i) if i.id == b_id).then_some(())
    })
    .await;
    assert!(a
        .handle()
        .disconnect(b_id, DisconnectReason::UselessPeer)
        .await
        .unwrap());
    let end = wait_event(&mut a_events, |e| match e {
        PeerEvent::Dropped { id, end } if *id == b_id => Some(end.clone()),
        _ => None,
    })
    .await;
    assert_eq!(end.reason, Some(DisconnectReason::UselessPeer));
    assert!(!end.by_remote);
    assert_eq!(end.verdict, Verdict::Transient);
    a.node.shutdown().await;
    b.node.shutdown().await;
}
