//! Full RLPx handshakes per second (both sides in one thread), next to the price of the curve
//! operations the protocol needs, measured with raw `secp256k1` calls in the same run.
//!
//! `cargo bench -p rlpx --bench handshake -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates undocumented functions.
#![allow(missing_docs, clippy::expect_used)]

use enode::NodeKey;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rlpx::{
    ecies::{Initiator, ReceivedAuth},
    frame::UnauthedRlpx,
};
use secp256k1::{ecdh::shared_secret_point, Message, PublicKey, SecretKey, SECP256K1};

fn keys() -> (NodeKey, NodeKey) {
    let alice = NodeKey::from(SecretKey::from_slice(&[0x11; 32]).expect("valid key"));
    let bob = NodeKey::from(SecretKey::from_slice(&[0x22; 32]).expect("valid key"));
    (alice, bob)
}

fn handshake(c: &mut Criterion) {
    let (alice, bob) = keys();
    let mut group = c.benchmark_group("handshake");

    group.bench_function("full_pure_both_sides", |b| {
        b.iter(|| {
            let initiator = Initiator::new(&alice, bob.public_key());
            let auth = ReceivedAuth::decode(bob.secret_key(), initiator.auth_message())
                .expect("auth decodes");
            let (ack, bob_session) = auth.respond();
            let alice_session = initiator.read_ack(&alice, &ack).expect("ack decodes");
            black_box((alice_session, bob_session))
        })
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    group.bench_function("full_duplex_both_sides", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let (a_io, b_io) = tokio::io::duplex(4096);
                let (a, b) = tokio::join!(
                    UnauthedRlpx::with_local_key(a_io, alice.clone()).connect(bob.public_key()),
                    UnauthedRlpx::with_local_key(b_io, bob.clone()).accept(),
                );
                black_box((a.expect("connect"), b.expect("accept")))
            })
        })
    });

    // The floor: per side 2 key generations + 4 ECDH, plus one sign and one recover overall.
    let peer = bob.public_key();
    let static_secret = *alice.secret_key();
    let digest = Message::from_digest([0x5a; 32]);
    let signature = SECP256K1.sign_ecdsa_recoverable(&digest, &static_secret);
    group.bench_function("ec_floor_both_sides", |b| {
        let mut rng = rand::thread_rng();
        b.iter(|| {
            let mut acc = 0u8;
            for _side in 0..2 {
                for _ in 0..2 {
                    let secret = SecretKey::new(&mut rng);
                    acc ^= PublicKey::from_secret_key(SECP256K1, &secret).serialize()[1];
                }
                for _ in 0..4 {
                    acc ^= shared_secret_point(&peer, &static_secret)[0];
                }
            }
            let sig = SECP256K1.sign_ecdsa_recoverable(&digest, &static_secret);
            let recovered = SECP256K1
                .recover_ecdsa(&digest, &signature)
                .expect("recovers");
            black_box((acc, sig, recovered))
        })
    });
    group.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
