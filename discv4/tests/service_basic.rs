//! The discv4 service over real loopback UDP: bonding, PING, FINDNODE, ENRRequest, bootstrap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use discv4::{
    service::{self, Discv4Config, Discv4Handle},
    table::TableEvent,
};

use enode::{enr_peer_id, NodeRecord, SecretKey};

async fn start(config: Discv4Config) -> (Discv4Handle, NodeRecord) {
    let node = support::spawn_udp_node(config).await;
    (node.handle, node.record)
}

async fn wait_for_added(
    events: &mut tokio::sync::broadcast::Receiver<TableEvent>,
    who: &NodeRecord,
) {
    loop {
        match events.recv().await {
            Ok(TableEvent::NodeAdded(r)) if r.id == who.id => return,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(e) => panic!("event stream ended: {e}"),
        }
    }
}

#[tokio::test]
async fn ping_findnode_enr_between_two_nodes() {
    let (a, a_record) = start(Discv4Config::default()).await;
    let (b, b_record) = start(Discv4Config::default()).await;
    let mut b_events = b.subscribe();

    let pong = tokio::time::timeout(Duration::from_secs(5), a.ping(b_record))
        .await
        .unwrap()
        .unwrap();
    assert!(pong.enr_seq.is_some(), "our PONGs carry the ENR seq");

    // b pinged a back (a was unknown to it) and, once a answered, added a to its table.
    tokio::time::timeout(
        Duration::from_secs(5),
        wait_for_added(&mut b_events, &a_record),
    )
    .await
    .unwrap();

    let enr = tokio::time::timeout(Duration::from_secs(5), a.request_enr(b_record))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(enr_peer_id(&enr).unwrap(), b_record.id);
    assert_eq!(enr.udp4(), Some(b_record.udp_port));

    // A third node makes itself known to b; a asks b and hears of it (a never hears of
    // itself: its own record is filtered out of NEIGHBORS).
    let (c, c_record) = start(Discv4Config::default()).await;
    c.ping(b_record).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        wait_for_added(&mut b_events, &c_record),
    )
    .await
    .unwrap();
    let neighbours =
        tokio::time::timeout(Duration::from_secs(5), a.findnode(b_record, a_record.id))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(neighbours, vec![c_record]);
    c.shutdown().await;

    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_node_bootstraps_from_a_bootnode_and_learns_the_others() {
    let (boot, boot_record) = start(Discv4Config::default()).await;
    let config = Discv4Config {
        bootnodes: vec![boot_record],
        ..Default::default()
    };
    let (first, first_record) = start(config.clone()).await;
    let mut boot_events = boot.subscribe();
    tokio::time::timeout(
        Duration::from_secs(10),
        wait_for_added(&mut boot_events, &first_record),
    )
    .await
    .unwrap();

    let (second, _) = start(config).await;
    let mut events = second.subscribe();
    // The second node's refresh asks the bootnode, which knows the first node.
    tokio::time::timeout(
        Duration::from_secs(10),
        wait_for_added(&mut events, &first_record),
    )
    .await
    .unwrap();
    let (count, _) = second.table_state().await.unwrap();
    assert!(count >= 2, "bootnode and first node, got {count}");
    for h in [boot, first, second] {
        h.shutdown().await;
    }
}

#[tokio::test]
async fn requests_to_a_silent_node_time_out() {
    let (a, _) = start(Discv4Config::default()).await;
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let key = SecretKey::new(&mut rand::thread_rng());
    let record = NodeRecord {
        address: silent.local_addr().unwrap().ip(),
        udp_port: silent.local_addr().unwrap().port(),
        tcp_port: 0,
        id: enode::PeerId::from_secret_key(&key),
    };
    let result = a.ping(record).await;
    assert_eq!(result.unwrap_err(), service::RequestError::Timeout);
}
