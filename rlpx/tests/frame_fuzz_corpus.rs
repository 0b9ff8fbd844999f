//! Runs the frame fuzz body over its seed corpus plus thousands of deterministic mutations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use rand::{rngs::StdRng, Rng, RngCore, SeedableRng};
use rlpx::frame::fuzzing::decode_frames;

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/rlpx_frame");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn frame_fuzz_body_survives_corpus_and_mutations() {
    let seeds = corpus();
    for data in &seeds {
        decode_frames(data);
    }
    let mut rng = StdRng::seed_from_u64(3);
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
                data[..i].rotate_left(rng.gen_range(0..=i));
            }
            _ => {
                data = vec![0; rng.gen_range(0..300)];
                rng.fill_bytes(&mut data);
            }
        }
        decode_frames(&data);
    }
}
