//! Frame codec properties: round trips over arbitrary splits, MAC failures, size limits and
//! allocation bounds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use enode::NodeKey;
use proptest::prelude::*;
use rlpx::{
    ecies::{Initiator, ReceivedAuth},
    frame::{FrameCodec, FrameError, MAX_FRAME_SIZE},
    SecretKey,
};
use tokio_util::codec::{Decoder, Encoder};

/// (initiator codec, recipient codec) of a fresh pure handshake.
fn codec_pair() -> (FrameCodec, FrameCodec) {
    let alice = NodeKey::from(SecretKey::from_slice(&[0x11; 32]).unwrap());
    let bob = NodeKey::from(SecretKey::from_slice(&[0x22; 32]).unwrap());
    let initiator = Initiator::new(&alice, bob.public_key());
    let auth = ReceivedAuth::decode(bob.secret_key(), initiator.auth_message()).unwrap();
    let (ack, bob_session) = auth.respond();
    let alice_session = initiator.read_ack(&alice, &ack).unwrap();
    (
        FrameCodec::new(alice_session.secrets),
        FrameCodec::new(bob_session.secrets),
    )
}

fn encode_all(codec: &mut FrameCodec, contents: &[Vec<u8>]) -> BytesMut {
    let mut wire = BytesMut::new();
    for content in contents {
        codec
            .encode(Bytes::from(content.clone()), &mut wire)
            .unwrap();
    }
    wire
}

fn content_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..600),
        1 => prop::collection::vec(any::<u8>(), 0..70_000),
        1 => Just(Vec::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn frames_survive_any_split_of_the_byte_stream(
        contents in prop::collection::vec(content_strategy(), 1..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let (mut alice, mut bob) = codec_pair();
        let wire = encode_all(&mut alice, &contents);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort_unstable();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for pair in points.windows(2) {
            buf.extend_from_slice(&wire[pair[0]..pair[1]]);
            while let Some(frame) = bob.decode(&mut buf).unwrap() {
                decoded.push(frame.to_vec());
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoded, contents);
    }

    #[test]
    fn both_directions_are_independent(
        a_to_b in prop::collection::vec(content_strategy(), 0..4),
        b_to_a in prop::collection::vec(content_strategy(), 0..4),
    ) {
        let (mut alice, mut bob) = codec_pair();
        let mut ab = encode_all(&mut alice, &a_to_b);
        let mut ba = encode_all(&mut bob, &b_to_a);
        for content in &b_to_a {
            prop_assert_eq!(&alice.decode(&mut ba).unwrap().unwrap()[..], &content[..]);
        }
        for content in &a_to_b {
            prop_assert_eq!(&bob.decode(&mut ab).unwrap().unwrap()[..], &content[..]);
        }
    }
}

#[test]
fn any_flipped_bit_of_a_frame_is_an_error() {
    let (mut alice, bob) = codec_pair();
    let wire = encode_all(&mut alice, &[b"some frame content".to_vec()]);
    for position in 0..wire.len() {
        let mut bob = bob.clone();
        let mut bad = wire.clone();
        bad[position] ^= 0x04;
        let err = bob.decode(&mut bad).unwrap_err();
        let expected_header = position < 32;
        assert_eq!(
            matches!(err, FrameError::HeaderMacMismatch),
            expected_header,
            "position {position}: {err:?}"
        );
        assert!(matches!(
            bob.decode(&mut wire.clone()),
            Err(FrameError::Poisoned)
        ));
    }
}

#[test]
fn oversized_header_is_refused_before_any_allocation() {
    let (mut alice, mut bob) = codec_pair();
    bob.set_max_frame_size(1024);
    let wire = encode_all(&mut alice, &[vec![0u8; 1025]]);
    let mut header = BytesMut::with_capacity(32);
    header.extend_from_slice(&wire[..32]);
    let err = bob.decode(&mut header).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::FrameTooLarge {
                size: 1025,
                max: 1024
            }
        ),
        "{err:?}"
    );
    assert_eq!(header.capacity(), 32, "no body buffer was reserved");
}

#[test]
fn the_next_frame_limit_refuses_a_header_once_then_lifts() {
    let (mut alice, mut bob) = codec_pair();
    // A first frame within the one-shot limit, then a larger one: both pass.
    bob.limit_next_frame(2064);
    let mut wire = encode_all(&mut alice, &[vec![7u8; 2000], vec![8u8; 64 * 1024]]);
    assert_eq!(bob.decode(&mut wire).unwrap().unwrap().len(), 2000);
    assert_eq!(bob.decode(&mut wire).unwrap().unwrap().len(), 64 * 1024);

    // A first frame over the limit is refused from its 32-byte header alone.
    let (mut alice, mut bob) = codec_pair();
    bob.limit_next_frame(2064);
    let wire = encode_all(&mut alice, &[vec![0u8; 15 << 20]]);
    let mut header = BytesMut::with_capacity(32);
    header.extend_from_slice(&wire[..32]);
    let err = bob.decode(&mut header).unwrap_err();
    assert!(
        matches!(err, FrameError::FrameTooLarge { size, max: 2064 } if size == 15 << 20),
        "{err:?}"
    );
    assert_eq!(header.capacity(), 32, "no body buffer was reserved");
}

#[test]
fn a_verified_header_reserves_exactly_its_frame() {
    let (mut alice, mut bob) = codec_pair();
    let size = 1 << 20;
    let wire = encode_all(&mut alice, &[vec![0x5a; size]]);
    let mut buf = BytesMut::with_capacity(32);
    buf.extend_from_slice(&wire[..32]);
    assert!(bob.decode(&mut buf).unwrap().is_none());
    let needed = size + 16; // already a multiple of 16, plus the frame MAC
    assert!(
        buf.capacity() >= needed && buf.capacity() < needed + 64,
        "{}",
        buf.capacity()
    );
    buf.extend_from_slice(&wire[32..]);
    assert_eq!(bob.decode(&mut buf).unwrap().unwrap().len(), size);
}

#[test]
fn corrupted_header_mac_is_detected_before_reserving() {
    let (mut alice, mut bob) = codec_pair();
    let wire = encode_all(&mut alice, &[vec![1u8; 100_000]]);
    let mut header = BytesMut::with_capacity(32);
    header.extend_from_slice(&wire[..32]);
    header[20] ^= 0xff;
    assert!(matches!(
        bob.decode(&mut header),
        Err(FrameError::HeaderMacMismatch)
    ));
    assert_eq!(header.capacity(), 32);
}

#[test]
fn largest_frame_round_trips_and_one_more_byte_is_refused() {
    let (mut alice, mut bob) = codec_pair();
    let mut wire = BytesMut::new();
    let err = alice
        .encode(Bytes::from(vec![0u8; MAX_FRAME_SIZE + 1]), &mut wire)
        .unwrap_err();
    assert!(matches!(err, FrameError::MessageTooLarge { .. }), "{err:?}");
    assert!(wire.is_empty());
    alice
        .encode(Bytes::from(vec![3u8; MAX_FRAME_SIZE]), &mut wire)
        .unwrap();
    let frame = bob.decode(&mut wire).unwrap().unwrap();
    assert_eq!(frame.len(), MAX_FRAME_SIZE);
    assert!(frame.iter().all(|b| *b == 3));
}
