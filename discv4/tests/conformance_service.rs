//! go-ethereum's 15-case discv4 conformance suite against our own service over loopback UDP.

use std::{net::SocketAddr, sync::Arc};

use discv4::{
    conformance::{self, SuiteConfig},
    db::NodeDb,
    service::{self, Discv4Config},
    NodeRecord, SecretKey,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_node_passes_every_case() {
    let key = SecretKey::new(&mut rand::thread_rng());
    let transport = service::bind_udp("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr: SocketAddr = transport.local_addr().unwrap();
    let handle = service::spawn(
        Discv4Config::default(),
        key,
        Arc::clone(&transport),
        NodeDb::in_memory().unwrap(),
    )
    .unwrap();
    let remote = NodeRecord {
        address: addr.ip(),
        udp_port: addr.port(),
        tcp_port: 0,
        id: handle.local_id(),
    };

    let results = conformance::run_suite(&SuiteConfig::new(remote)).await;
    let report = conformance::format_results(&results);
    println!("{report}");
    assert_eq!(results.len(), conformance::cases().len());
    assert!(conformance::Summary::of(&results).all_passed(), "{report}");
    handle.shutdown().await;
}
