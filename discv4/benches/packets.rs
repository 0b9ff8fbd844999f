//! discv4 packet costs next to the crypto they are made of, measured in one run so the
//! ratios are meaningful: decode (keccak + keccak + recover + RLP) and encode
//! (keccak + sign + keccak + RLP).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use discv4::proto::{self, Endpoint, Neighbors, Packet, Ping};
use enode::{
    crypto::{keccak256, recover, sign_recoverable},
    NodeRecord, PeerId, SecretKey,
};

fn key() -> SecretKey {
    SecretKey::from_byte_array(&[0x42; 32]).unwrap()
}

fn ping() -> Packet {
    Packet::Ping(Ping {
        version: Ping::VERSION,
        from: Endpoint::new([203, 0, 113, 7].into(), 30303, 30303),
        to: Endpoint::new([198, 51, 100, 9].into(), 30303, 0),
        expiration: 1_900_000_000,
        enr_seq: Some(1_700_000_000_000),
    })
}

/// The largest NEIGHBORS we send: 12 IPv6 entries.
fn neighbors() -> Packet {
    let nodes = (0..12u8)
        .map(|i| NodeRecord {
            address: format!("2001:db8::{i}").parse().unwrap(),
            udp_port: 30303,
            tcp_port: 30303,
            id: PeerId::from_secret_key(&SecretKey::from_byte_array(&[i + 1; 32]).unwrap()),
        })
        .collect();
    Packet::Neighbors(Neighbors {
        nodes,
        expiration: 1_900_000_000,
    })
}

fn packets(c: &mut Criterion) {
    let key = key();
    let digest = keccak256(b"discv4 bench");
    let signature = sign_recoverable(&digest, &key);

    let mut crypto = c.benchmark_group("crypto");
    crypto.bench_function("keccak256_32B", |b| {
        b.iter(|| keccak256(black_box(&digest)))
    });
    crypto.bench_function("sign_recoverable", |b| {
        b.iter(|| sign_recoverable(black_box(&digest), &key))
    });
    crypto.bench_function("recover", |b| {
        b.iter(|| recover(black_box(&signature), &digest))
    });
    crypto.finish();

    let mut group = c.benchmark_group("packet");
    for (name, packet) in [("ping", ping()), ("neighbors12", neighbors())] {
        let (bytes, _) = proto::encode(&packet, &key).unwrap();
        group.bench_function(format!("decode_{name}_{}B", bytes.len()), |b| {
            b.iter(|| proto::decode(black_box(&bytes)).unwrap())
        });
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| proto::encode(black_box(&packet), &key).unwrap())
        });
        // Keccak over the real packet length, to separate hashing from RLP work.
        group.bench_function(format!("keccak_{name}_{}B", bytes.len() - 32), |b| {
            b.iter(|| keccak256(black_box(&bytes[32..])))
        });
    }
    group.finish();
}

criterion_group!(benches, packets);
criterion_main!(benches);
