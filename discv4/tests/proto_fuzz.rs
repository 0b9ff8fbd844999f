//! Runs the `discv4_packet` fuzz body over the seed corpus and a few thousand
//! deterministic random and mutated inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

use discv4::proto::{
    self, fuzzing::decode_packet, Endpoint, EnrRequest, EnrResponse, Neighbors, Packet, Pong,
};

use enode::{crypto::keccak256, NodeRecord, PeerId, SecretKey};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/discv4_packet")
}

fn corpus() -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// Packets of the types the EIP-8 vectors do not cover.
fn extra_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let key = SecretKey::from_byte_array(&[0x5e; 32]).unwrap();
    let enr = enr::Enr::builder()
        .ip4([10, 0, 0, 1].into())
        .udp4(30303)
        .tcp4(30303)
        .build(&key)
        .unwrap();
    let nodes: Vec<_> = (0..12u8)
        .map(|i| NodeRecord {
            address: if i % 2 == 0 {
                [10, 0, 0, i].into()
            } else {
                "2001:db8::1".parse().unwrap()
            },
            udp_port: 30303 + u16::from(i),
            tcp_port: 30303,
            id: PeerId([i; 64]),
        })
        .collect();
    let packets = [
        (
            "pong_enr_seq",
            Packet::Pong(Pong {
                to: Endpoint::new([127, 0, 0, 1].into(), 30303, 30303),
                ping_hash: [0xaa; 32],
                expiration: 1_900_000_000,
                enr_seq: Some(1_700_000_000_000),
            }),
        ),
        (
            "neighbors_12",
            Packet::Neighbors(Neighbors {
                nodes,
                expiration: 1_900_000_000,
            }),
        ),
        (
            "enr_request",
            Packet::EnrRequest(EnrRequest {
                expiration: 1_900_000_000,
            }),
        ),
        (
            "enr_response",
            Packet::EnrResponse(EnrResponse {
                request_hash: [0xbb; 32],
                enr,
            }),
        ),
    ];
    packets
        .into_iter()
        .map(|(name, p)| (name, proto::encode(&p, &key).unwrap().0))
        .collect()
}

#[test]
fn corpus_holds_every_seed_and_they_decode() {
    let corpus = corpus();
    assert!(corpus.len() >= 10, "seed corpus has {} files", corpus.len());
    for (name, _) in extra_seeds() {
        // ENR signatures use random nonces, so compare by name, not bytes.
        let path = corpus_dir().join(format!("{name}.bin"));
        assert!(
            path.exists(),
            "missing {name}; run `cargo test --test proto_fuzz -- --ignored`"
        );
    }
    let kinds: std::collections::HashSet<_> = corpus
        .iter()
        .map(|seed| proto::decode(seed).unwrap().packet.kind())
        .collect();
    assert_eq!(kinds.len(), 6, "every packet type has a seed");
    for seed in &corpus {
        proto::decode(seed).unwrap();
        decode_packet(seed);
    }
}

#[test]
fn fuzz_body_survives_random_and_mutated_inputs() {
    let corpus = corpus();
    let mut rng = StdRng::seed_from_u64(0xd15c_0004);
    for _ in 0..2000 {
        let len = rng.gen_range(0..1600);
        let mut data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        decode_packet(&data);
        if data.len() >= 98 {
            let hash = keccak256(&data[32..]);
            data[..32].copy_from_slice(&hash);
            decode_packet(&data);
        }
    }
    let mut decoded = 0;
    for round in 0..6000 {
        let mut data = corpus[round % corpus.len()].clone();
        for _ in 0..rng.gen_range(1..8) {
            let at = rng.gen_range(0..data.len().max(1));
            match rng.gen_range(0..5) {
                0 if at < data.len() => data[at] = rng.gen(),
                1 if at < data.len() => data[at] ^= 1 << rng.gen_range(0..8),
                2 => data.insert(at.min(data.len()), rng.gen()),
                3 if at < data.len() => {
                    data.remove(at);
                }
                _ => data.truncate(at.max(98)),
            }
        }
        // Most mutations must get past the hash check to exercise the body decoders.
        if round % 4 != 0 && data.len() >= 32 {
            let hash = keccak256(&data[32..]);
            data[..32].copy_from_slice(&hash);
        }
        decoded += usize::from(proto::decode(&data).is_ok());
        decode_packet(&data);
    }
    // The mutations must reach the re-encoding checks, not just the early rejections.
    eprintln!("{decoded} mutated inputs decoded");
    assert!(decoded > 300, "only {decoded} mutated inputs decoded");
}

#[test]
#[ignore = "writes the generated seeds into fuzz/corpus/discv4_packet"]
fn write_seed_corpus() {
    for (name, bytes) in extra_seeds() {
        std::fs::write(corpus_dir().join(format!("{name}.bin")), bytes).unwrap();
    }
}
