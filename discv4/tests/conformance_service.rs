//! go-ethereum's 15-case discv4 conformance suite against our own service over loopback UDP.

mod support;

use discv4::{
    conformance::{self, SuiteConfig},
    service::Discv4Config,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_node_passes_every_case() {
    let node = support::spawn_udp_node(Discv4Config::default()).await;
    let (handle, remote) = (node.handle, node.record);

    let results = conformance::run_suite(&SuiteConfig::new(remote)).await;
    let report = conformance::format_results(&results);
    println!("{report}");
    assert_eq!(results.len(), conformance::cases().len());
    assert!(conformance::Summary::of(&results).all_passed(), "{report}");
    handle.shutdown().await;
}
