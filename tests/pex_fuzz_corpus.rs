//! Runs the `pex_message` fuzz body over the committed seed corpus and a few thousand
//! deterministic mutations and random inputs, so the no-panic and re-encoding properties are
//! checked on every `cargo test`, not only when someone runs `cargo fuzz`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{fs, path::PathBuf};

use kadnode::pex::wire::{fuzz_message, PexMessage};

const MUTATIONS: usize = 6000;
const RANDOM: usize = 1000;

fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/corpus/pex_message"
    ));
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<_> = files.iter().map(|path| fs::read(path).unwrap()).collect();
    assert!(seeds.len() >= 10, "seed corpus pex_message is too small");
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

/// RLP header bytes: where length confusion lives.
const INTERESTING: &[u8] = b"\x00\x01\x40\x7f\x80\x81\xb7\xb8\xb9\xbf\xc0\xc1\xf7\xf8\xf9\xff";

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if at < data.len() => data[at] ^= 1 << rng.below(8),
            1 => data.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 if at < data.len() => {
                data.remove(at);
            }
            3 => data.truncate(at.max(1)),
            4 => {
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

#[test]
fn pex_message_body_survives_corpus_and_mutations() {
    let seeds = corpus();
    for input in &seeds {
        fuzz_message(input);
    }
    let mut rng = Rng(0x7065_7821);
    for _ in 0..MUTATIONS {
        fuzz_message(&mutate(&mut rng, &seeds));
    }
    for _ in 0..RANDOM {
        let len = rng.below(600);
        fuzz_message(&rng.bytes(len));
    }
}

#[test]
fn seeds_decode_and_mutations_reach_both_paths() {
    // Guards the harness: the seeds are valid messages, and mutations are neither all
    // accepted nor all refused.
    let seeds = corpus();
    let decoded = seeds
        .iter()
        .filter(|s| PexMessage::decode(u64::from(s[0]), &s[1..]).is_ok())
        .count();
    assert!(
        decoded + 1 >= seeds.len(),
        "{decoded} of {} seeds decode",
        seeds.len()
    );
    let mut rng = Rng(2);
    let accepted = (0..1000)
        .map(|_| mutate(&mut rng, &seeds))
        .filter(|m| PexMessage::decode(u64::from(m[0] % 4), &m[1..]).is_ok())
        .count();
    assert!(
        accepted > 20 && accepted < 980,
        "{accepted} of 1000 mutations decode"
    );
}
