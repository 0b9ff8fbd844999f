//! ECIES as RLPx uses it: secp256k1 ECDH, NIST concat-KDF (SHA-256), AES-128-CTR and an
//! HMAC-SHA256 tag over `IV || ciphertext || s2`.
//!
//! Wire layout: `0x04 || R(64) || IV(16) || ciphertext || tag(32)`.

use aes::Aes128;
use cipher::{KeyInit, KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use secp256k1::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

use enode::crypto;

use super::error::HandshakeError;

type Aes128Ctr = ctr::Ctr128BE<Aes128>;
type HmacSha256 = Hmac<Sha256>;

/// Bytes ECIES adds to a plaintext: `R` (65), IV (16) and the tag (32).
pub const ECIES_OVERHEAD: usize = 65 + 16 + 32;

/// The random inputs of one ECIES encryption, explicit so that tests can be deterministic.
#[derive(Clone)]
pub struct EciesRandomness {
    /// The one-time key whose public half `R` is sent in front of the ciphertext.
    pub key: SecretKey,
    /// The AES-128-CTR initialisation vector.
    pub iv: [u8; 16],
}

impl std::fmt::Debug for EciesRandomness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EciesRandomness").finish_non_exhaustive()
    }
}

impl EciesRandomness {
    /// Fresh randomness from `rng`.
    pub fn random<R: rand::RngCore + rand::CryptoRng>(rng: &mut R) -> Self {
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut iv);
        Self {
            key: SecretKey::new(rng),
            iv,
        }
    }
}

/// Derives `(kE, HMAC with kM)` from the ECDH x-coordinate.
fn derive_keys(shared_x: &[u8; 32]) -> ([u8; 16], HmacSha256) {
    // concat-KDF: 32 bytes of output are exactly one SHA-256 block with counter 1 (s1 empty).
    let kdf: [u8; 32] = Sha256::new()
        .chain_update(1u32.to_be_bytes())
        .chain_update(shared_x)
        .finalize()
        .into();
    let mut enc_key = [0u8; 16];
    enc_key.copy_from_slice(&kdf[..16]);
    let mac_key: [u8; 32] = Sha256::digest(&kdf[16..]).into();
    // HMAC zero-pads keys shorter than the block size, so this equals HMAC keyed with kM.
    let mut block_key = [0u8; 64];
    block_key[..32].copy_from_slice(&mac_key);
    (enc_key, <HmacSha256 as KeyInit>::new(&block_key.into()))
}

/// Appends `ECIES(remote, plaintext)` with shared MAC data `s2` to `out`.
pub fn encrypt_into(
    remote: &PublicKey,
    plaintext: &[u8],
    s2: &[u8],
    randomness: &EciesRandomness,
    out: &mut Vec<u8>,
) {
    let shared_x = crypto::ecdh_x(remote, &randomness.key);
    let (enc_key, mut mac) = derive_keys(&shared_x);
    out.reserve(ECIES_OVERHEAD + plaintext.len());
    out.extend_from_slice(&crypto::public_key(&randomness.key).serialize_uncompressed());
    out.extend_from_slice(&randomness.iv);
    let ct_start = out.len();
    out.extend_from_slice(plaintext);
    Aes128Ctr::new(&enc_key.into(), &randomness.iv.into()).apply_keystream(&mut out[ct_start..]);
    mac.update(&randomness.iv);
    mac.update(&out[ct_start..]);
    mac.update(s2);
    out.extend_from_slice(&mac.finalize().into_bytes());
}

/// Decrypts an ECIES message addressed to `local` with shared MAC data `s2`.
///
/// The tag is checked (in constant time) before anything is decrypted.
pub fn decrypt(local: &SecretKey, message: &[u8], s2: &[u8]) -> Result<Vec<u8>, HandshakeError> {
    if message.len() < ECIES_OVERHEAD {
        return Err(HandshakeError::Truncated(message.len()));
    }
    let (point, rest) = message.split_at(65);
    let (iv, rest) = rest.split_at(16);
    let (ciphertext, tag) = rest.split_at(rest.len() - 32);
    // Only the uncompressed form is valid here (libsecp256k1 would also take "hybrid" 0x06/07);
    // parsing it checks that the point lies on the curve (invalid-curve attacks).
    if point[0] != 0x04 {
        return Err(HandshakeError::InvalidEphemeralPoint);
    }
    let remote = PublicKey::from_slice(point).map_err(|_| HandshakeError::InvalidEphemeralPoint)?;
    let shared_x = crypto::ecdh_x(&remote, local);
    let (enc_key, mut mac) = derive_keys(&shared_x);
    mac.update(iv);
    mac.update(ciphertext);
    mac.update(s2);
    mac.verify_slice(tag)
        .map_err(|_| HandshakeError::TagMismatch)?;
    let mut plaintext = ciphertext.to_vec();
    let mut iv_block = [0u8; 16];
    iv_block.copy_from_slice(iv);
    Aes128Ctr::new(&enc_key.into(), &iv_block.into()).apply_keystream(&mut plaintext);
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn keypair(rng: &mut StdRng) -> (SecretKey, PublicKey) {
        let secret = SecretKey::new(rng);
        (secret, crypto::public_key(&secret))
    }

    #[test]
    fn round_trip_with_and_without_shared_data() {
        let mut rng = StdRng::seed_from_u64(1);
        let (secret, public) = keypair(&mut rng);
        for s2 in [&b""[..], &[0x01, 0xb3][..]] {
            let mut wire = Vec::new();
            encrypt_into(
                &public,
                b"hello ecies",
                s2,
                &EciesRandomness::random(&mut rng),
                &mut wire,
            );
            assert_eq!(wire.len(), ECIES_OVERHEAD + 11);
            assert_eq!(decrypt(&secret, &wire, s2).unwrap(), b"hello ecies");
            assert!(matches!(
                decrypt(&secret, &wire, b"x"),
                Err(HandshakeError::TagMismatch)
            ));
        }
    }

    #[test]
    fn every_corrupted_byte_is_rejected() {
        let mut rng = StdRng::seed_from_u64(2);
        let (secret, public) = keypair(&mut rng);
        let mut wire = Vec::new();
        encrypt_into(
            &public,
            b"abc",
            b"",
            &EciesRandomness::random(&mut rng),
            &mut wire,
        );
        for i in 0..wire.len() {
            let mut bad = wire.clone();
            bad[i] ^= 0x01;
            assert!(decrypt(&secret, &bad, b"").is_err(), "byte {i}");
        }
        assert!(matches!(
            decrypt(&secret, &wire[..100], b""),
            Err(HandshakeError::Truncated(100))
        ));
    }

    #[test]
    fn point_off_the_curve_is_rejected_before_ecdh() {
        let mut rng = StdRng::seed_from_u64(3);
        let (secret, public) = keypair(&mut rng);
        let mut wire = Vec::new();
        encrypt_into(
            &public,
            b"abc",
            b"",
            &EciesRandomness::random(&mut rng),
            &mut wire,
        );
        wire[64] ^= 0x01; // flip a bit of y: (x, y') is not on the curve
        assert!(matches!(
            decrypt(&secret, &wire, b""),
            Err(HandshakeError::InvalidEphemeralPoint)
        ));
        wire[0] = 0x02; // a compressed-point tag with 64 coordinate bytes is not accepted
        assert!(decrypt(&secret, &wire, b"").is_err());
    }
}
