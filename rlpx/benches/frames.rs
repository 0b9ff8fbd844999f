//! Frame throughput (encode, and encode + decode) next to raw keccak-256 (assembly and
//! `sha3`) and AES-256-CTR throughput over the same sizes, in the same run.
//!
//! `cargo bench -p rlpx --bench frames -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates undocumented functions.
#![allow(missing_docs, clippy::expect_used)]

use enode::NodeKey;
use std::hint::black_box;

use aes::Aes256;
use bytes::BytesMut;
use cipher::{KeyIvInit, StreamCipher};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rlpx::{
    ecies::{Initiator, ReceivedAuth},
    frame::FrameCodec,
    SecretKey,
};
use sha3::Digest;
use tokio_util::codec::Decoder;

const SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

fn codec_pair() -> (FrameCodec, FrameCodec) {
    let alice = NodeKey::from(SecretKey::from_slice(&[0x11; 32]).expect("valid key"));
    let bob = NodeKey::from(SecretKey::from_slice(&[0x22; 32]).expect("valid key"));
    let initiator = Initiator::new(&alice, bob.public_key());
    let auth = ReceivedAuth::decode(bob.secret_key(), initiator.auth_message()).expect("auth");
    let (ack, bob_session) = auth.respond();
    let alice_session = initiator.read_ack(&alice, &ack).expect("ack");
    (
        FrameCodec::new(alice_session.secrets),
        FrameCodec::new(bob_session.secrets),
    )
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frames");
    for (size, label) in SIZES {
        let content = vec![0xa5u8; size];
        group.throughput(Throughput::Bytes(size as u64));

        group.bench_with_input(BenchmarkId::new("encode", label), &content, |b, content| {
            let (mut alice, _) = codec_pair();
            let mut wire = BytesMut::with_capacity(size + 64);
            b.iter(|| {
                wire.clear();
                alice.encode_frame(content, &mut wire).expect("encodes");
                black_box(wire.len())
            })
        });

        group.bench_with_input(
            BenchmarkId::new("encode_decode", label),
            &content,
            |b, content| {
                let (mut alice, mut bob) = codec_pair();
                let mut wire = BytesMut::with_capacity(size + 64);
                b.iter(|| {
                    alice.encode_frame(content, &mut wire).expect("encodes");
                    let frame = bob
                        .decode(&mut wire)
                        .expect("decodes")
                        .expect("whole frame");
                    black_box(frame.len())
                })
            },
        );

        group.bench_with_input(
            BenchmarkId::new("keccak_asm", label),
            &content,
            |b, content| b.iter(|| black_box(keccak_asm::Keccak256::digest(content))),
        );

        group.bench_with_input(
            BenchmarkId::new("keccak_sha3", label),
            &content,
            |b, content| b.iter(|| black_box(sha3::Keccak256::digest(content))),
        );

        group.bench_with_input(
            BenchmarkId::new("aes256_ctr", label),
            &content,
            |b, content| {
                let mut buf = content.clone();
                let mut ctr = ctr::Ctr128BE::<Aes256>::new(&[7u8; 32].into(), &[0u8; 16].into());
                b.iter(|| {
                    ctr.apply_keystream(&mut buf);
                    black_box(buf[0])
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
