//! Runs the p2p fuzz bodies over their seed corpora and a few thousand deterministic
//! random and mutated inputs; none may panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use rlpx::p2p::fuzzing::{decode_disconnect_payload, decode_hello, decode_snappy};

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(seeds.len() >= 3, "seed corpus {name} is missing");
    seeds
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            2 => {
                let at = rng.below(data.len() + 1);
                data.insert(at, rng.next() as u8);
            }
            3 if !data.is_empty() => {
                let at = rng.below(data.len());
                data.truncate(at);
            }
            _ => {
                let at = rng.below(data.len() + 1);
                let special = [0x00, 0x7f, 0x80, 0xb7, 0xb8, 0xbf, 0xc0, 0xf7, 0xf8, 0xff];
                data.insert(at, special[rng.below(special.len())]);
            }
        }
    }
    data
}

fn exercise(name: &str, body: fn(&[u8])) {
    let seeds = corpus(name);
    for seed in &seeds {
        body(seed);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    for _ in 0..3000 {
        let seed = &seeds[rng.below(seeds.len())];
        body(&mutate(&mut rng, seed));
    }
    for _ in 0..1000 {
        let len = rng.below(300);
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        body(&data);
    }
}

#[test]
fn hello_corpus_and_mutations_never_panic() {
    exercise("rlpx_hello", decode_hello);
}

#[test]
fn snappy_corpus_and_mutations_never_panic() {
    exercise("rlpx_snappy", decode_snappy);
}

#[test]
fn disconnect_corpus_and_mutations_never_panic() {
    exercise("p2p_disconnect", decode_disconnect_payload);
}

#[test]
fn seeds_are_meaningful() {
    // The hello seeds must include a decodable Hello, or the fuzzer starts from nothing.
    let hellos = corpus("rlpx_hello");
    assert!(
        hellos
            .iter()
            .filter(|s| rlpx::p2p::Hello::decode(s).is_ok())
            .count()
            >= 2
    );
    let snappy = corpus("rlpx_snappy");
    let mut codec = rlpx::p2p::SnappyCodec::new();
    assert!(
        snappy
            .iter()
            .filter(|s| codec.decompress(s).is_ok())
            .count()
            >= 4
    );
    // Most disconnect seeds are forms that decode to a reason.
    let disconnects = corpus("p2p_disconnect");
    let decoded = disconnects
        .iter()
        .filter(|s| rlpx::p2p::decode_disconnect(s, None).is_some())
        .count();
    assert!(decoded >= 6 && decoded < disconnects.len());
}
