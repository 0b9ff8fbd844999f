//! The EIP-8 RLPx handshake vectors (testdata/vectors/rlpx_handshake.json): Auth1–3 and
//! Ack1–3 decode, the session secrets match, and the frame layer reproduces the derived
//! session frames.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;
use enode::{NodeKey, PeerId};
use rlpx::{
    ecies::{
        AckBody, EciesRandomness, Initiator, ReceivedAck, ReceivedAuth, Role, Secrets, Transcript,
        WireFormat,
    },
    frame::{decode_message_code, encode_message, FrameCodec},
    PublicKey, SecretKey,
};
use serde_json::Value;
use tokio_util::codec::{Decoder, Encoder};

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/vectors/rlpx_handshake.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn array<const N: usize>(value: &Value) -> [u8; N] {
    bytes(value).try_into().unwrap()
}

fn secret(value: &Value) -> SecretKey {
    SecretKey::from_slice(&bytes(value)).unwrap()
}

fn message<'a>(v: &'a Value, kind: &str, name: &str) -> &'a Value {
    v[kind]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap()
}

struct Keys {
    a: NodeKey,
    b: NodeKey,
    eph_a: SecretKey,
    eph_b: SecretKey,
    nonce_a: [u8; 32],
    nonce_b: [u8; 32],
}

fn keys(v: &Value) -> Keys {
    let k = &v["keys"];
    let keys = Keys {
        a: NodeKey::from(secret(&k["static_key_a"])),
        b: NodeKey::from(secret(&k["static_key_b"])),
        eph_a: secret(&k["ephemeral_key_a"]),
        eph_b: secret(&k["ephemeral_key_b"]),
        nonce_a: array(&k["nonce_a"]),
        nonce_b: array(&k["nonce_b"]),
    };
    assert_eq!(
        hex::encode(keys.a.peer_id()),
        k["static_pubkey_a"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(keys.b.peer_id()),
        k["static_pubkey_b"].as_str().unwrap()
    );
    keys
}

fn ephemeral_public(v: &Value, name: &str) -> PublicKey {
    PeerId(array(&v["keys"][name])).to_public_key().unwrap()
}

fn fixed_randomness(seed: u8) -> EciesRandomness {
    EciesRandomness {
        key: SecretKey::from_slice(&[seed; 32]).unwrap(),
        iv: [seed; 16],
    }
}

#[test]
fn auth1_to_auth3_decode_with_key_b() {
    let v = vectors();
    let keys = keys(&v);
    for auth in v["auth"].as_array().unwrap() {
        let wire = bytes(&auth["hex"]);
        assert_eq!(wire.len() as u64, auth["length"].as_u64().unwrap());
        let received = ReceivedAuth::decode(keys.b.secret_key(), &wire).unwrap();
        let expected = &auth["expected_body"];
        let format = if auth["format"] == "plain" {
            WireFormat::Legacy
        } else {
            WireFormat::Eip8
        };
        assert_eq!(received.format, format, "{}", auth["name"]);
        assert_eq!(
            hex::encode(received.body.signature),
            expected["signature"].as_str().unwrap()
        );
        assert_eq!(received.body.initiator_id, keys.a.peer_id().0);
        assert_eq!(received.initiator, keys.a.public_key());
        assert_eq!(
            hex::encode(received.body.nonce),
            expected["initiator_nonce"].as_str().unwrap()
        );
        assert_eq!(
            received.body.version,
            expected["version"].as_u64().unwrap_or(4)
        );
        assert_eq!(
            received.initiator_ephemeral,
            ephemeral_public(&v, "ephemeral_pubkey_a")
        );
        // The wrong key fails cleanly.
        assert!(ReceivedAuth::decode(keys.a.secret_key(), &wire).is_err());
    }
}

#[test]
fn ack1_to_ack3_decode_with_key_a() {
    let v = vectors();
    let keys = keys(&v);
    for ack in v["ack"].as_array().unwrap() {
        let wire = bytes(&ack["hex"]);
        let received = ReceivedAck::decode(keys.a.secret_key(), &wire).unwrap();
        let expected = &ack["expected_body"];
        let format = if ack["format"] == "plain" {
            WireFormat::Legacy
        } else {
            WireFormat::Eip8
        };
        assert_eq!(received.format, format, "{}", ack["name"]);
        assert_eq!(
            received.body,
            AckBody {
                ephemeral_id: array(&expected["recipient_ephemeral_pubkey"]),
                nonce: array(&expected["recipient_nonce"]),
                version: expected["version"].as_u64().unwrap_or(4),
            }
        );
        assert_eq!(
            received.ephemeral,
            ephemeral_public(&v, "ephemeral_pubkey_b")
        );
        assert!(ReceivedAck::decode(keys.b.secret_key(), &wire).is_err());
    }
}

#[test]
fn recipient_b_derives_the_published_secrets() {
    let v = vectors();
    let keys = keys(&v);
    let expected = &v["expected_secrets_auth2_ack2_recipient_b"];
    let auth2 = bytes(&message(&v, "auth", "auth2")["hex"]);

    // Through the recipient state machine (the ack it builds differs from Ack2, but B's
    // secrets and ingress MAC depend only on the nonces, ephemeral keys and Auth2).
    let received = ReceivedAuth::decode(keys.b.secret_key(), &auth2).unwrap();
    let (_ack, session) =
        received.respond_with(keys.eph_b, keys.nonce_b, &fixed_randomness(7), &[0; 120]);
    assert_eq!(session.remote, keys.a.public_key());
    let mut secrets = session.secrets;
    assert_eq!(
        hex::encode(secrets.aes_secret),
        expected["aes_secret"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(secrets.mac_secret),
        expected["mac_secret"].as_str().unwrap()
    );
    secrets.ingress_mac.update(b"foo");
    assert_eq!(
        hex::encode(secrets.ingress_mac.digest()),
        expected["ingress_mac_after_foo"].as_str().unwrap()
    );

    // Through the pure derivation, for every auth/ack pair (legacy and EIP-8 alike).
    for (auth, ack) in [("auth1", "ack1"), ("auth2", "ack2"), ("auth3", "ack3")] {
        let auth = bytes(&message(&v, "auth", auth)["hex"]);
        let ack = bytes(&message(&v, "ack", ack)["hex"]);
        let transcript = Transcript {
            initiator_nonce: &keys.nonce_a,
            recipient_nonce: &keys.nonce_b,
            auth: &auth,
            ack: &ack,
        };
        let b = Secrets::derive(
            Role::Recipient,
            &keys.eph_b,
            &ephemeral_public(&v, "ephemeral_pubkey_a"),
            &transcript,
        );
        let a = Secrets::derive(
            Role::Initiator,
            &keys.eph_a,
            &ephemeral_public(&v, "ephemeral_pubkey_b"),
            &transcript,
        );
        assert_eq!(
            hex::encode(b.aes_secret),
            expected["aes_secret"].as_str().unwrap()
        );
        assert_eq!(a.aes_secret, b.aes_secret);
        assert_eq!(a.mac_secret, b.mac_secret);
        assert_eq!(a.egress_mac.digest(), b.ingress_mac.digest());
        assert_eq!(a.ingress_mac.digest(), b.egress_mac.digest());
    }
}

#[test]
fn initiator_a_signs_with_its_ephemeral_key_and_reads_ack2() {
    let v = vectors();
    let keys = keys(&v);
    let initiator = Initiator::with_parameters(
        &keys.a,
        keys.b.public_key(),
        keys.eph_a,
        keys.nonce_a,
        &fixed_randomness(9),
        &[0xaa; 100],
    );
    // The vector's signature used another nonce scheme, so compare what B recovers from ours.
    let received = ReceivedAuth::decode(keys.b.secret_key(), initiator.auth_message()).unwrap();
    assert_eq!(received.body.nonce, keys.nonce_a);
    assert_eq!(
        received.initiator_ephemeral,
        ephemeral_public(&v, "ephemeral_pubkey_a")
    );
    assert!(
        initiator.auth_message().len() > 307,
        "ethereumjs reads 307 bytes first"
    );

    let ack2 = bytes(&message(&v, "ack", "ack2")["hex"]);
    let session = initiator.read_ack(&keys.a, &ack2).unwrap();
    let expected = &v["expected_secrets_auth2_ack2_recipient_b"];
    assert_eq!(session.remote, keys.b.public_key());
    assert_eq!(
        hex::encode(session.secrets.aes_secret),
        expected["aes_secret"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(session.secrets.mac_secret),
        expected["mac_secret"].as_str().unwrap()
    );
}

#[test]
fn legacy_auth_gets_a_legacy_ack_that_the_initiator_reads() {
    let v = vectors();
    let keys = keys(&v);
    let auth1 = bytes(&message(&v, "auth", "auth1")["hex"]);
    let received = ReceivedAuth::decode(keys.b.secret_key(), &auth1).unwrap();
    let (ack, b_session) =
        received.respond_with(keys.eph_b, keys.nonce_b, &fixed_randomness(3), &[1; 200]);
    assert_eq!(ack.len(), 210);
    let decoded = ReceivedAck::decode(keys.a.secret_key(), &ack).unwrap();
    assert_eq!(decoded.format, WireFormat::Legacy);
    assert_eq!(decoded.body.nonce, keys.nonce_b);
    assert_eq!(
        PeerId::from_public_key(&decoded.ephemeral),
        PeerId(array(&v["keys"]["ephemeral_pubkey_b"]))
    );
    let expected = &v["expected_secrets_auth2_ack2_recipient_b"];
    assert_eq!(
        hex::encode(b_session.secrets.aes_secret),
        expected["aes_secret"].as_str().unwrap()
    );
}

/// Codecs of A and B in the Auth2/Ack2 session of the vectors.
fn vector_session_codecs(v: &Value) -> (FrameCodec, FrameCodec) {
    let keys = keys(v);
    let auth = bytes(&message(v, "auth", "auth2")["hex"]);
    let ack = bytes(&message(v, "ack", "ack2")["hex"]);
    let transcript = Transcript {
        initiator_nonce: &keys.nonce_a,
        recipient_nonce: &keys.nonce_b,
        auth: &auth,
        ack: &ack,
    };
    let a = Secrets::derive(
        Role::Initiator,
        &keys.eph_a,
        &ephemeral_public(v, "ephemeral_pubkey_b"),
        &transcript,
    );
    let b = Secrets::derive(
        Role::Recipient,
        &keys.eph_b,
        &ephemeral_public(v, "ephemeral_pubkey_a"),
        &transcript,
    );
    (FrameCodec::new(a), FrameCodec::new(b))
}

#[test]
fn derived_session_frames_are_reproduced_and_decoded() {
    let v = vectors();
    let (mut a, mut b) = vector_session_codecs(&v);
    let frames = v["derived_frame_vectors"]["frames"].as_array().unwrap();
    for frame in frames {
        let (sender, receiver) = if frame["direction"] == "B->A" {
            (&mut b, &mut a)
        } else {
            (&mut a, &mut b)
        };
        let code = frame["msg_code"].as_u64().unwrap();
        let payload = bytes(&frame["payload_hex"]);
        let content = encode_message(code, &payload);
        assert_eq!(content.to_vec(), bytes(&frame["frame_data_hex"]));

        let mut wire = BytesMut::new();
        sender.encode(content.clone(), &mut wire).unwrap();
        assert_eq!(hex::encode(&wire), frame["frame_hex"].as_str().unwrap());

        let mut input = BytesMut::from(&bytes(&frame["frame_hex"])[..]);
        let decoded = receiver.decode(&mut input).unwrap().unwrap();
        assert!(input.is_empty());
        assert_eq!(decode_message_code(&decoded).unwrap(), (code, &payload[..]));
    }
}

#[test]
fn vector_frame_with_a_flipped_bit_is_rejected() {
    let v = vectors();
    let frame = bytes(&v["derived_frame_vectors"]["frames"][0]["frame_hex"]);
    for position in [0, 20, 40, frame.len() - 1] {
        let (mut a, _) = vector_session_codecs(&v);
        let mut bad = frame.clone();
        bad[position] ^= 0x80;
        let mut input = BytesMut::from(&bad[..]);
        assert!(a.decode(&mut input).is_err(), "flip at {position}");
        // The codec stays failed: the MAC state is gone.
        assert!(a.decode(&mut BytesMut::from(&frame[..])).is_err());
    }
}
