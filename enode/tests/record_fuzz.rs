//! Runs the fuzz bodies (`enode::fuzzing`) over the committed seed corpus and a
//! few thousand deterministic random and mutated inputs, so the no-panic property is
//! checked on every `cargo test`, not only when someone runs `cargo fuzz`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{fs, path::PathBuf};

use enode::fuzzing::{decode_enr, parse_enode};

const MUTATIONS_PER_TARGET: usize = 4000;
const RANDOM_PER_TARGET: usize = 1000;

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus")).join(name);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<_> = files.iter().map(|path| fs::read(path).unwrap()).collect();
    assert!(seeds.len() >= 10, "seed corpus {name} is too small");
    seeds
}

/// splitmix64: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Bytes that matter to the parsers: URL punctuation, digits, hex, RLP headers.
const INTERESTING: &[u8] = b"@:[]?=&/#%.0159afAFxenr-_\x00\x7f\x80\x81\xb7\xb8\xbf\xc0\xf7\xf8\xff";

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        // Half the edits land near the end: for URLs that is the host, port and query,
        // which the 128-character key would otherwise shadow.
        let at = if rng.below(2) == 0 {
            rng.below(data.len() + 1)
        } else {
            data.len() - rng.below(data.len().min(48) + 1)
        };
        match rng.below(7) {
            0 if at < data.len() => data[at] ^= 1 << rng.below(8),
            1 => data.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 if at < data.len() => {
                data.remove(at);
            }
            3 => data.truncate(at),
            4 if at < data.len() => data[at] = INTERESTING[rng.below(INTERESTING.len())],
            5 => {
                // Splice in a piece of another seed.
                let other = &seeds[rng.below(seeds.len())];
                let start = rng.below(other.len());
                let end = start + rng.below(other.len() - start + 1);
                data.splice(at..at, other[start..end].iter().copied());
            }
            _ => {
                let len = rng.below(3) + 1;
                let random = rng.bytes(len);
                data.splice(at..at, random);
            }
        }
    }
    data
}

fn exercise(name: &str, body: fn(&[u8]), seed: u64) {
    let seeds = corpus(name);
    for input in &seeds {
        body(input);
    }
    let mut rng = Rng(seed);
    for _ in 0..MUTATIONS_PER_TARGET {
        body(&mutate(&mut rng, &seeds));
    }
    for _ in 0..RANDOM_PER_TARGET {
        let len = rng.below(400);
        body(&rng.bytes(len));
    }
}

#[test]
fn enode_url_body_survives_corpus_and_mutations() {
    exercise("enode_url", parse_enode, 0x656e_6f64_6521);
}

#[test]
fn enr_decode_body_survives_corpus_and_mutations() {
    exercise("enr_decode", decode_enr, 0x656e_7221);
}

#[test]
fn mutations_reach_both_accepting_and_rejecting_paths() {
    // Guards the harness itself: if the seeds or the mutator broke, the runs above
    // would only ever see rejections.
    let seeds = corpus("enode_url");
    let mut rng = Rng(1);
    let parsed = (0..500)
        .map(|_| mutate(&mut rng, &seeds))
        .filter(|input| {
            std::str::from_utf8(input).is_ok_and(|s| s.parse::<enode::EnodeUrl>().is_ok())
        })
        .count();
    assert!(
        parsed > 10 && parsed < 490,
        "{parsed} of 500 mutated URLs parsed"
    );
}
