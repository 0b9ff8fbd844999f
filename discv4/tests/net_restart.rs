//! Restart from the node database: a node that joined a network, stopped and started again
//! with the same key and database but no bootnodes finds the network from its stored seeds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{sync::Arc, time::Duration};

use discv4::{
    db::NodeDb,
    service::{Discv4Config, Discv4Handle},
    table::TableConfig,
    transport::{DatagramTransport, SimConfig, SimNetwork},
};

use enode::SecretKey;
use futures::future::join_all;
use support::{sim_addr, spawn_node, spawn_sim_node, table_ids, wait_until, TempDir, TestNode};

const NETWORK: usize = 30;

/// Entries whose liveness checks exceed the persistence threshold: each was written to the
/// database at its last successful check.
async fn persisted_entries(handle: &Discv4Handle, threshold: u32) -> usize {
    handle
        .buckets()
        .await
        .unwrap()
        .iter()
        .flat_map(|b| b.entries.iter())
        .filter(|e| e.is_live && e.liveness_checks > threshold)
        .count()
}

/// Binds `addr` again once the previous socket there has been released (the stopped service's
/// tasks drop it as the runtime gets to them).
async fn rebind(net: &SimNetwork, addr: std::net::SocketAddr) -> Arc<dyn DatagramTransport> {
    for _ in 0..100 {
        if let Ok(socket) = net.bind(addr) {
            return Arc::new(socket);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{addr} still bound after the service stopped");
}

#[tokio::test(start_paused = true)]
async fn restarted_node_finds_the_network_from_its_database_seeds() {
    let net = SimNetwork::new(SimConfig {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(30),
        ..SimConfig::default()
    });
    let config = |bootnodes| Discv4Config {
        bootnodes,
        ingress_workers: 1,
        ..Default::default()
    };
    let boot = spawn_sim_node(&net, sim_addr(0), config(Vec::new()));
    let mut network: Vec<TestNode> = vec![boot.clone()];
    for i in 1..NETWORK {
        network.push(spawn_sim_node(&net, sim_addr(i), config(vec![boot.record])));
    }

    // Our node, with a database on disk. geth's persistence rule is kept (a node is written
    // once live with more than 5 checks), so this takes a few virtual minutes of revalidation.
    let dir = TempDir::new("net-restart");
    let key = SecretKey::new(&mut rand::thread_rng());
    let addr = sim_addr(NETWORK);
    let threshold = TableConfig::default().persist_min_liveness_checks;
    let (db, warning) = NodeDb::open(&dir.0).unwrap();
    assert!(warning.is_none(), "{warning:?}");
    let first = spawn_node(
        config(vec![boot.record]),
        key,
        Arc::new(net.bind(addr).unwrap()),
        db,
    );
    let persisted = wait_until(Duration::from_secs(20 * 60), Duration::from_secs(5), || {
        let handle = first.handle.clone();
        async move { persisted_entries(&handle, threshold).await >= 5 }
    })
    .await;
    assert!(
        persisted,
        "no five nodes reached {threshold} liveness checks"
    );
    let seq_before = first.handle.local_enr().await.unwrap().seq();
    let known_before = table_ids(&first.handle).await;
    first.handle.shutdown().await;
    drop(first);

    // The database on disk now holds the seeds: reopen it (this also proves the stopped service
    // released the file) and check, then hand it to the restarted service.
    let (db, warning) = NodeDb::open(&dir.0).unwrap();
    assert!(warning.is_none(), "{warning:?}");
    let second = spawn_node(
        Discv4Config {
            bootnodes: Vec::new(),
            ..config(Vec::new())
        },
        key,
        rebind(&net, addr).await,
        db,
    );
    // No virtual time has passed, so no packet can have arrived yet: whatever the table holds
    // now came from the database. (Later, the network's own revalidation PINGs would also
    // bring nodes in, which is why this is checked before any time passes.)
    let (seeded, _) = second.handle.table_state().await.unwrap();
    assert!(
        seeded >= 5,
        "restart loaded {seeded} seeds from the database, expected the 5+ persisted nodes"
    );
    assert!(
        second.handle.local_enr().await.unwrap().seq() > seq_before,
        "the restarted node's ENR seq must grow"
    );

    // Seeds (≤ 30 from the database) come first, then the refresh's lookups find the rest.
    let refilled = wait_until(Duration::from_secs(120), Duration::from_secs(1), || {
        let handle = second.handle.clone();
        async move {
            let (count, init_done) = handle.table_state().await.unwrap();
            init_done && count >= NETWORK - 5
        }
    })
    .await;
    let (count, _) = second.handle.table_state().await.unwrap();
    assert!(
        refilled,
        "table holds only {count} of {NETWORK} after restart"
    );
    let found = second.handle.lookup_random().await.unwrap();
    assert_eq!(
        found.len(),
        16,
        "a lookup after restart returns a full result"
    );
    let known_after = table_ids(&second.handle).await;
    assert!(
        known_after.iter().any(|id| known_before.contains(id)),
        "the restarted table holds nodes known before"
    );

    // And the network still knows the restarted node: the bootnode can reach it.
    let pong = boot.handle.ping(second.record).await.unwrap();
    assert!(pong.enr_seq.unwrap() > seq_before);

    second.handle.shutdown().await;
    join_all(network.iter().map(|n| n.handle.shutdown())).await;
}
