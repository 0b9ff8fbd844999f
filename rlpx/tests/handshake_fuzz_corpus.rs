//! Runs the auth/ack fuzz bodies over their seed corpora plus thousands of deterministic
//! mutations, including mutated plaintexts sealed with the right key so the body parsers
//! (not just the ECIES tag check) see hostile input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enode::NodeKey;
use std::path::Path;

use rand::{rngs::StdRng, Rng, RngCore, SeedableRng};
use rlpx::{
    ecies::{fuzzing, open_message, seal_eip8, seal_legacy, EciesRandomness},
    SecretKey,
};

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {dir:?}");
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..rng.gen_range(1..4) {
        match rng.gen_range(0..6) {
            0 if !data.is_empty() => {
                let i = rng.gen_range(0..data.len());
                data[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => data.truncate(rng.gen_range(0..=data.len())),
            2 => {
                let i = rng.gen_range(0..=data.len());
                data.insert(i, rng.gen());
            }
            3 if !data.is_empty() => {
                let i = rng.gen_range(0..data.len());
                data[i] = *[0x00, 0x80, 0xb8, 0xc0, 0xf8, 0xff]
                    .get(rng.gen_range(0..6))
                    .unwrap();
            }
            4 => data.extend((0..rng.gen_range(0..64)).map(|_| rng.gen::<u8>())),
            _ => {
                let mut random = vec![0u8; rng.gen_range(0..600)];
                rng.fill_bytes(&mut random);
                data = random;
            }
        }
    }
    data
}

fn key(hex_key: &str) -> NodeKey {
    NodeKey::from(SecretKey::from_slice(&hex::decode(hex_key).unwrap()).unwrap())
}

fn run(name: &str, body: fn(&[u8]), recipient: &NodeKey, legacy_len: usize, seed: u64) {
    let seeds = corpus(name);
    let mut rng = StdRng::seed_from_u64(seed);
    let randomness = EciesRandomness::random(&mut rng);
    let plaintexts: Vec<_> = seeds
        .iter()
        .map(|wire| open_message(recipient.secret_key(), wire, legacy_len).unwrap())
        .collect();
    for data in &seeds {
        body(data);
    }
    for _ in 0..3000 {
        let index = rng.gen_range(0..seeds.len());
        let data = mutate(&mut rng, &seeds[index]);
        body(&data);
    }
    // Well-sealed messages with hostile bodies reach the RLP and legacy parsers.
    for _ in 0..1500 {
        let index = rng.gen_range(0..plaintexts.len());
        let (plaintext, _) = &plaintexts[index];
        let mutated = mutate(&mut rng, plaintext);
        if mutated.len() + 113 > 2048 {
            continue;
        }
        body(&seal_eip8(&recipient.public_key(), &mutated, &randomness));
        body(&seal_legacy(&recipient.public_key(), &mutated, &randomness));
    }
}

#[test]
fn auth_fuzz_body_survives_corpus_and_mutations() {
    let b = key("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291");
    run("rlpx_auth", fuzzing::decode_auth, &b, 307, 1);
}

#[test]
fn ack_fuzz_body_survives_corpus_and_mutations() {
    let a = key("49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee");
    run("rlpx_ack", fuzzing::decode_ack, &a, 210, 2);
}
