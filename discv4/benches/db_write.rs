//! Write cost of the node database: one commit per second of a busy node's traffic (the
//! write-behind buffer's unit), on a database already holding 5,000 nodes, on disk and in
//! memory; printed beside the cost of keccak-256 (32 bytes) measured in the same run.
//!
//! ```text
//! cargo bench -p discv4 --bench db_write
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    hint::black_box,
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use discv4::db::NodeDb;
use enode::{crypto::keccak256, NodeRecord, PeerId};

const STORED: u32 = 5_000;
const ROUNDS: u32 = 60;
/// Rows written per second by a busy bootnode: PING and PONG times of 300 endpoints and 30
/// node records.
const ENDPOINT_WRITES: u32 = 300;
const NODE_WRITES: u32 = 30;

fn peer(n: u32) -> PeerId {
    let mut id = [0u8; 64];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id[4..8].copy_from_slice(&n.wrapping_mul(2_654_435_761).to_be_bytes());
    PeerId(id)
}

fn record(n: u32) -> NodeRecord {
    NodeRecord {
        address: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)),
        udp_port: 30303,
        tcp_port: 30303,
        id: peer(n),
    }
}

/// Mean time of one second's commit, in microseconds.
fn run(db: &mut NodeDb) -> f64 {
    db.set_flush_interval(Duration::from_secs(3600));
    for n in 0..STORED {
        db.update_node(&record(n), None).unwrap();
        db.set_last_pong(&peer(n).node_id(), record(n).address, 1_800_000_000)
            .unwrap();
    }
    db.flush().unwrap();
    let mut total = Duration::ZERO;
    for round in 0..ROUNDS {
        for i in 0..ENDPOINT_WRITES {
            let n = (round * 7919 + i * 13) % STORED;
            let t = 1_800_000_000 + u64::from(round);
            db.set_last_ping(&peer(n).node_id(), record(n).address, t)
                .unwrap();
        }
        for i in 0..NODE_WRITES {
            db.update_node(&record((round * 31 + i) % STORED), None)
                .unwrap();
        }
        let start = Instant::now();
        db.flush().unwrap();
        total += start.elapsed();
    }
    total.as_secs_f64() * 1e6 / f64::from(ROUNDS)
}

fn main() {
    let start = Instant::now();
    let mut digest = [0u8; 32];
    let n = 1_000_000u32;
    for _ in 0..n {
        digest = keccak256(black_box(&digest));
    }
    let keccak_ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(n);
    black_box(digest);

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("kadnode-db-write-{}-{nanos}", std::process::id()));
    let file_us = {
        let (mut db, _) = NodeDb::open(&dir).unwrap();
        run(&mut db)
    };
    let _ = std::fs::remove_dir_all(&dir);
    let memory_us = run(&mut NodeDb::in_memory().unwrap());
    let rows = f64::from(ENDPOINT_WRITES + NODE_WRITES);
    println!("keccak256_32B: {keccak_ns:.0} ns");
    for (name, us) in [("file", file_us), ("memory", memory_us)] {
        println!(
            "db_write/{name}: one second's commit ({rows} rows, {STORED} stored) {us:.0} µs = {:.2} µs/row = {:.0} keccak256; {:.2} % of one core",
            us / rows,
            us * 1e3 / keccak_ns,
            us / 1e4
        );
    }
}
