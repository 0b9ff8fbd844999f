//! Runs the sealed-frame fuzz body over its seed corpus plus thousands of deterministic
//! mutations. The body seals frames with valid MACs and asserts what the decoder returns, so
//! this is a property test of the frame decoder, not only a no-panic check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use rand::{rngs::StdRng, Rng, RngCore, SeedableRng};
use rlpx::frame::fuzzing::decode_sealed_frames;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/rlpx_sealed_frame");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(p).unwrap())
        })
        .collect()
}

#[test]
fn seeds_decode_the_frames_they_seal() {
    let expected = [
        ("one_valid", 1),
        ("valid_sequence", 4),
        ("hello_limit_refused", 0),
        ("hello_limit_accepted", 2),
        ("near_limit", 2),
        ("oversize_raw", 0),
        ("raw_mismatched_body", 0),
        ("raw_exact_body", 2),
        ("header_flip", 1),
        ("body_flip", 0),
        ("zero_limit", 1),
        ("byte_chunks", 7),
    ];
    let seeds = corpus();
    for (name, frames) in expected {
        let (_, data) = seeds
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("seed {name} missing"));
        assert_eq!(decode_sealed_frames(data), frames, "seed {name}");
    }
}

#[test]
fn sealed_frame_fuzz_body_survives_corpus_and_mutations() {
    let seeds: Vec<Vec<u8>> = corpus().into_iter().map(|(_, data)| data).collect();
    let mut rng = StdRng::seed_from_u64(13);
    let mut frames = 0;
    for _ in 0..4000 {
        let mut data = seeds[rng.gen_range(0..seeds.len())].clone();
        match rng.gen_range(0..5) {
            0 => {
                let i = rng.gen_range(0..data.len());
                data[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => data.truncate(rng.gen_range(0..=data.len())),
            2 => data.extend((0..rng.gen_range(1..200)).map(|_| rng.gen::<u8>())),
            3 => {
                let i = rng.gen_range(0..data.len());
                let by = rng.gen_range(0..=data.len() - i);
                data[i..].rotate_left(by);
            }
            _ => {
                data = vec![0; rng.gen_range(0..300)];
                rng.fill_bytes(&mut data);
            }
        }
        frames += decode_sealed_frames(&data);
    }
    // The mutations must still reach the decoder's success path, not only its errors.
    assert!(frames > 1000, "only {frames} frames decoded");
}
