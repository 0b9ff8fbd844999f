//! Full handshakes over in-memory and loopback TCP streams, and every way they can fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use enode::NodeKey;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use rlpx::{
    ecies::{HandshakeConfig, HandshakeError, ReceivedAck, WireFormat, DEFAULT_HANDSHAKE_TIMEOUT},
    frame::{decode_message_code, encode_message, FrameError, UnauthedRlpx},
    SecretKey,
};
use tokio::{
    io::{duplex, AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

fn key(seed: u8) -> NodeKey {
    NodeKey::from(SecretKey::from_slice(&[seed; 32]).unwrap())
}

fn vector_bytes(kind: &str, index: usize) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/vectors/rlpx_handshake.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    hex::decode(v[kind][index]["hex"].as_str().unwrap()).unwrap()
}

fn vector_key(name: &str) -> NodeKey {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/vectors/rlpx_handshake.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let bytes = hex::decode(v["keys"][name].as_str().unwrap()).unwrap();
    NodeKey::from(SecretKey::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn duplex_round_trip_then_messages_both_ways() {
    let (alice, bob) = (key(1), key(2));
    let (a_io, b_io) = duplex(64 * 1024);
    let bob_pub = bob.public_key();
    let accept = tokio::spawn({
        let bob = bob.clone();
        async move {
            let mut stream = UnauthedRlpx::with_local_key(b_io, bob)
                .accept()
                .await
                .unwrap();
            // The recipient may send right after its ack: nothing may be lost or over-read.
            stream
                .send(encode_message(0, b"\xc0hello-from-bob"))
                .await
                .unwrap();
            let got = stream.next().await.unwrap().unwrap();
            (stream.remote_id(), got)
        }
    });
    let mut stream = UnauthedRlpx::with_local_key(a_io, alice.clone())
        .connect(bob_pub)
        .await
        .unwrap();
    assert_eq!(stream.remote_public_key(), bob_pub);
    assert_eq!(stream.remote_id(), bob.peer_id());
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(
        decode_message_code(&first).unwrap(),
        (0, &b"\xc0hello-from-bob"[..])
    );
    stream
        .send(encode_message(0x10, &[7u8; 5000]))
        .await
        .unwrap();
    let (id_seen_by_bob, got) = accept.await.unwrap();
    assert_eq!(id_seen_by_bob, alice.peer_id());
    assert_eq!(decode_message_code(&got).unwrap(), (0x10, &[7u8; 5000][..]));
}

#[tokio::test]
async fn loopback_tcp_round_trip_with_many_messages() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (alice, bob) = (key(3), key(4));
    let bob_pub = bob.public_key();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut stream = UnauthedRlpx::new(socket, *bob.secret_key())
            .accept()
            .await
            .unwrap();
        // Echo every message back.
        while let Some(frame) = stream.next().await {
            let frame = frame.unwrap();
            stream.send(frame.freeze()).await.unwrap();
        }
    });
    let socket = TcpStream::connect(addr).await.unwrap();
    let mut stream = UnauthedRlpx::new(socket, *alice.secret_key())
        .with_config(HandshakeConfig {
            timeout: Duration::from_secs(10),
        })
        .connect(bob_pub)
        .await
        .unwrap();
    for size in [0usize, 1, 15, 16, 17, 1024, 70_000, 1 << 20] {
        let content = Bytes::from((0..size).map(|i| i as u8).collect::<Vec<_>>());
        stream.send(content.clone()).await.unwrap();
        assert_eq!(
            stream.next().await.unwrap().unwrap(),
            content,
            "size {size}"
        );
    }
    drop(stream);
    server.await.unwrap();
}

#[tokio::test]
async fn dialling_the_wrong_key_fails_on_both_sides_without_panic() {
    let (alice, bob, carol) = (key(5), key(6), key(7));
    let (a_io, b_io) = duplex(4096);
    let accept =
        tokio::spawn(async move { UnauthedRlpx::with_local_key(b_io, bob).accept().await });
    let dial = UnauthedRlpx::with_local_key(a_io, alice)
        .connect(carol.public_key())
        .await;
    let accepted = accept.await.unwrap();
    assert!(
        matches!(accepted, Err(HandshakeError::TagMismatch)),
        "{accepted:?}"
    );
    assert!(matches!(dial, Err(HandshakeError::Io(_))), "{dial:?}");
}

#[tokio::test]
async fn corrupted_auth_tag_is_refused() {
    let bob = vector_key("static_key_b");
    let mut auth = vector_bytes("auth", 1);
    *auth.last_mut().unwrap() ^= 1;
    let (mut a_io, b_io) = duplex(4096);
    a_io.write_all(&auth).await.unwrap();
    let result = UnauthedRlpx::with_local_key(b_io, bob).accept().await;
    assert!(
        matches!(result, Err(HandshakeError::TagMismatch)),
        "{result:?}"
    );
}

#[tokio::test]
async fn oversized_size_prefix_is_refused_without_reading_the_body() {
    let (mut a_io, b_io) = duplex(4096);
    a_io.write_all(&[0x08, 0x01]).await.unwrap(); // 2049 > 2048
    let result = UnauthedRlpx::with_local_key(b_io, key(8)).accept().await;
    assert!(
        matches!(
            result,
            Err(HandshakeError::MessageTooLarge {
                size: 2051,
                max: 2050
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn eip8_and_legacy_auth_vectors_are_accepted_over_a_stream() {
    let alice = vector_key("static_key_a");
    for (index, ack_len) in [(0usize, 210usize), (1, 0), (2, 0)] {
        let (mut a_io, b_io) = duplex(8192);
        a_io.write_all(&vector_bytes("auth", index)).await.unwrap();
        let stream = UnauthedRlpx::with_local_key(b_io, vector_key("static_key_b"))
            .accept()
            .await
            .unwrap();
        assert_eq!(stream.remote_id(), alice.peer_id());
        drop(stream);
        let mut ack = Vec::new();
        a_io.read_to_end(&mut ack).await.unwrap();
        let decoded = ReceivedAck::decode(alice.secret_key(), &ack).unwrap();
        if ack_len > 0 {
            assert_eq!(ack.len(), ack_len);
            assert_eq!(decoded.format, WireFormat::Legacy);
        } else {
            assert_eq!(decoded.format, WireFormat::Eip8);
            let padding = ack.len() - 2 - 113 - 102;
            assert!((100..=250).contains(&padding), "padding {padding}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn silent_peer_times_out_after_the_default() {
    let (_a_io, b_io) = duplex(4096);
    let started = tokio::time::Instant::now();
    let result = UnauthedRlpx::with_local_key(b_io, key(9)).accept().await;
    assert!(matches!(result, Err(HandshakeError::Timeout(t)) if t == DEFAULT_HANDSHAKE_TIMEOUT));
    assert_eq!(started.elapsed(), DEFAULT_HANDSHAKE_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn silent_recipient_times_out_with_a_configured_timeout() {
    let (_b_io, a_io) = duplex(4096);
    let timeout = Duration::from_millis(1500);
    let started = tokio::time::Instant::now();
    let result = UnauthedRlpx::with_local_key(a_io, key(10))
        .with_config(HandshakeConfig { timeout })
        .connect(key(11).public_key())
        .await;
    assert!(
        matches!(result, Err(HandshakeError::Timeout(t)) if t == timeout),
        "{result:?}"
    );
    assert_eq!(started.elapsed(), timeout);
    assert!(!result.unwrap_err().is_protocol_violation());
}

#[tokio::test]
async fn corrupted_frame_surfaces_as_a_typed_frame_error() {
    let (alice, bob) = (key(12), key(13));
    let (a_io, b_io) = duplex(64 * 1024);
    // A man in the middle that flips one bit of the first frame byte after the handshake.
    let (mitm_a, mitm_b) = duplex(64 * 1024);
    let bob_pub = bob.public_key();
    let accept =
        tokio::spawn(async move { UnauthedRlpx::with_local_key(b_io, bob).accept().await });
    let relay = tokio::spawn(async move {
        let (mut from_alice, mut to_alice) = tokio::io::split(mitm_b);
        let (mut from_bob, mut to_bob) = tokio::io::split(a_io);
        let up = async {
            let mut buf = vec![0u8; 65536];
            let mut total = 0usize;
            let mut auth_len = None;
            loop {
                let n = from_alice.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                let chunk = &mut buf[..n];
                if auth_len.is_none() && total == 0 && n >= 2 {
                    auth_len = Some(2 + usize::from(u16::from_be_bytes([chunk[0], chunk[1]])));
                }
                if let Some(len) = auth_len {
                    if total <= len && len < total + n {
                        chunk[len - total] ^= 0x01; // first header byte after auth
                    }
                }
                total += n;
                to_bob.write_all(chunk).await.unwrap();
            }
        };
        let down = async { tokio::io::copy(&mut from_bob, &mut to_alice).await.ok() };
        tokio::join!(up, down);
    });
    let mut alice_stream = UnauthedRlpx::with_local_key(mitm_a, alice)
        .connect(bob_pub)
        .await
        .unwrap();
    let mut bob_stream = accept.await.unwrap().unwrap();
    alice_stream.send(encode_message(2, b"\xc0")).await.unwrap();
    let err = bob_stream.next().await.unwrap().unwrap_err();
    assert!(matches!(err, FrameError::HeaderMacMismatch), "{err:?}");
    drop((alice_stream, bob_stream));
    relay.abort();
}

#[tokio::test]
async fn legacy_auth_for_another_key_fails_at_once() {
    let (mut a_io, b_io) = duplex(4096);
    a_io.write_all(&vector_bytes("auth", 0)).await.unwrap();
    // Key A instead of B: the 307 bytes carry a valid point but the tag cannot match. The
    // error must come now, not after waiting for EIP-8 bytes that will never arrive.
    let result = tokio::time::timeout(
        Duration::from_secs(1),
        UnauthedRlpx::with_local_key(b_io, vector_key("static_key_a")).accept(),
    )
    .await
    .expect("answered before the handshake timeout");
    assert!(
        matches!(result, Err(HandshakeError::TagMismatch)),
        "{result:?}"
    );
}

#[tokio::test]
async fn eip8_auth_whose_size_prefix_starts_with_0x04_is_accepted() {
    let (alice, bob) = (key(14), key(15));
    let initiator = rlpx::ecies::Initiator::with_parameters(
        &alice,
        bob.public_key(),
        SecretKey::from_slice(&[0x33; 32]).unwrap(),
        [0x44; 32],
        &rlpx::ecies::EciesRandomness {
            key: SecretKey::from_slice(&[0x55; 32]).unwrap(),
            iv: [6; 16],
        },
        &[0u8; 800],
    );
    let auth = initiator.auth_message();
    assert_eq!(auth[0], 0x04, "prefix {:02x}{:02x}", auth[0], auth[1]);
    let (mut a_io, b_io) = duplex(8192);
    a_io.write_all(auth).await.unwrap();
    let stream = UnauthedRlpx::with_local_key(b_io, bob)
        .accept()
        .await
        .unwrap();
    assert_eq!(stream.remote_id(), alice.peer_id());
}
