//! The many-node simulation as a benchmark: N discv4 services on a simulated network on
//! tokio's paused clock, all bootstrapping from one node, then random lookups from random nodes.
//! Prints wall time, peak memory (VmHWM), FINDNODE queries, messages and PINGs per lookup,
//! lookup time on the virtual clock (mean, median, p90), and recall against the true 16 closest
//! nodes.
//!
//! ```text
//! cargo bench -p discv4 --bench sim                       # 1,000 nodes
//! SIM_NODES=1000,10000 cargo bench -p discv4 --bench sim  # several sizes, in one process
//! SIM_LOSS=0.03 cargo bench -p discv4 --bench sim         # with 3 % datagram loss
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use support::{
    peak_memory_kib,
    sim::{run, SimParams},
};

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects nothing here.
    let sizes: Vec<usize> = env_list("SIM_NODES", "1000")
        .iter()
        .map(|s| s.parse().expect("SIM_NODES: comma-separated node counts"))
        .collect();
    let loss: f64 = std::env::var("SIM_LOSS")
        .ok()
        .map(|s| s.parse().expect("SIM_LOSS: a probability"))
        .unwrap_or(0.0);
    let lookups: usize = std::env::var("SIM_LOOKUPS")
        .ok()
        .map(|s| s.parse().expect("SIM_LOOKUPS: a count"))
        .unwrap_or(50);
    for nodes in sizes {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("tokio runtime");
        let params = SimParams {
            loss,
            lookups,
            ..SimParams::new(nodes)
        };
        let wall = Instant::now();
        let report = runtime.block_on(run(params));
        let wall = wall.elapsed();
        drop(runtime);
        println!("sim/{nodes}: {}", report.summary());
        println!(
            "sim/{nodes}: wall {:.1}s, peak memory (VmHWM, whole process so far) {} MiB, \
             FINDNODE queries per lookup mean {:.1} median {:.1}, messages per lookup {:.1}, \
             PINGs per lookup {:.2}, lookup time mean {:.0} ms median {:.0} ms p90 {:.0} ms \
             (virtual), recall {:.3}",
            wall.as_secs_f64(),
            peak_memory_kib().map_or("?".to_owned(), |k| (k / 1024).to_string()),
            report.mean_findnodes(),
            report.median_findnodes(),
            report.mean_messages(),
            report.mean_pings(),
            report.mean_duration().as_secs_f64() * 1e3,
            report.duration_quantile(0.5).as_secs_f64() * 1e3,
            report.duration_quantile(0.9).as_secs_f64() * 1e3,
            report.mean_recall(),
        );
    }
}
