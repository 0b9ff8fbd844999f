//! Runs the HTTP head and JSON-RPC fuzz bodies over their seed corpora plus a few thousand
//! deterministic mutations. The bodies assert properties of the parsers (round trip of a
//! parsed head, well-formed error answers), so this is more than a no-panic check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use kadnode_cli::http::fuzzing::{parse_http_request, parse_jsonrpc_request};

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
    assert!(seeds.len() >= 5, "seed corpus {name} is missing");
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

/// Byte flips, insertions of bytes that matter to the parsers, truncations and splices.
fn mutate(rng: &mut Rng, seed: &[u8], special: &[&[u8]]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data.remove(i);
            }
            2 if !data.is_empty() => {
                let at = rng.below(data.len());
                data.truncate(at);
            }
            3 if data.len() > 2 => {
                let from = rng.below(data.len());
                let to = from + rng.below(data.len() - from);
                let at = rng.below(data.len());
                let piece = data[from..to].to_vec();
                data.splice(at..at, piece);
            }
            _ => {
                let at = rng.below(data.len() + 1);
                let token = special[rng.below(special.len())];
                data.splice(at..at, token.iter().copied());
            }
        }
    }
    data
}

fn exercise(name: &str, body: fn(&[u8]), special: &[&[u8]]) {
    let seeds = corpus(name);
    for seed in &seeds {
        body(seed);
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ name.len() as u64);
    for _ in 0..4000 {
        let seed = &seeds[rng.below(seeds.len())];
        body(&mutate(&mut rng, seed, special));
    }
    for _ in 0..500 {
        let len = rng.below(200);
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        body(&data);
    }
}

#[test]
fn http_head_corpus_and_mutations_keep_their_properties() {
    let special: &[&[u8]] = &[
        b"\r\n",
        b"\r\n\r\n",
        b":",
        b" ",
        b"?",
        b"\t",
        b"\n",
        b"\r",
        b"content-length: 0",
        b"Content-Length: 99999999999999999999",
        b"transfer-encoding: x",
        b"\xc2\xa0",
        b"\xff",
    ];
    exercise("http_head", parse_http_request, special);
}

#[test]
fn jsonrpc_corpus_and_mutations_keep_their_properties() {
    let special: &[&[u8]] = &[
        b"\"id\":",
        b"\"params\":null,",
        b"\"method\":\"x\",",
        b"[",
        b"]",
        b"{",
        b"}",
        b",",
        b"null",
        b"1e999",
        b"-0",
        b"\"\\u0000\"",
        b"\"\\ud800\"",
    ];
    exercise("jsonrpc_request", parse_jsonrpc_request, special);
}
