//! The small curve and hash seam of the handshake: raw-x ECDH, recoverable signatures,
//! key generation, keccak-256 and public-key <-> 64-byte id conversions.

use rand::{CryptoRng, RngCore};
use secp256k1::{
    ecdh::shared_secret_point,
    ecdsa::{RecoverableSignature, RecoveryId},
    Message, PublicKey, SecretKey, SECP256K1,
};
use sha3::{Digest, Keccak256};

/// Length of a recoverable signature on the wire: `r(32) || s(32) || v(1)`.
pub(crate) const SIGNATURE_LEN: usize = 65;

/// x-coordinate of `secret * public`: the 32-byte ECDH secret RLPx uses (no hashing).
pub(crate) fn ecdh_x(public: &PublicKey, secret: &SecretKey) -> [u8; 32] {
    let point = shared_secret_point(public, secret);
    let mut x = [0u8; 32];
    x.copy_from_slice(&point[..32]);
    x
}

/// keccak-256 over the concatenation of `parts`.
pub(crate) fn keccak256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Signs a 32-byte digest, returning `r || s || v` with `v` in {0, 1}.
pub(crate) fn sign_recoverable(digest: &[u8; 32], key: &SecretKey) -> [u8; SIGNATURE_LEN] {
    let signature = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(*digest), key);
    let (recovery_id, compact) = signature.serialize_compact();
    let mut out = [0u8; SIGNATURE_LEN];
    out[..64].copy_from_slice(&compact);
    out[64] = i32::from(recovery_id) as u8;
    out
}

/// Recovers the signer of `digest` from `r || s || v`; `None` if impossible.
pub(crate) fn recover(signature: &[u8; SIGNATURE_LEN], digest: &[u8; 32]) -> Option<PublicKey> {
    let recovery_id = RecoveryId::try_from(i32::from(signature[64])).ok()?;
    let signature = RecoverableSignature::from_compact(&signature[..64], recovery_id).ok()?;
    SECP256K1
        .recover_ecdsa(&Message::from_digest(*digest), &signature)
        .ok()
}

/// A fresh random secret key (a scalar only; no point multiplication).
pub(crate) fn random_secret<R: RngCore + CryptoRng>(rng: &mut R) -> SecretKey {
    SecretKey::new(rng)
}

/// The public key of `secret` (one generator multiplication).
pub(crate) fn public_key(secret: &SecretKey) -> PublicKey {
    PublicKey::from_secret_key(SECP256K1, secret)
}

/// The 64-byte node id of a public key: its uncompressed encoding without the 0x04 prefix.
pub fn public_key_to_id(key: &PublicKey) -> [u8; 64] {
    let full = key.serialize_uncompressed();
    let mut id = [0u8; 64];
    id.copy_from_slice(&full[1..]);
    id
}

/// Parses a 64-byte node id into a public key; `None` if it is not a point on secp256k1.
pub fn id_to_public_key(id: &[u8; 64]) -> Option<PublicKey> {
    let mut full = [0u8; 65];
    full[0] = 0x04;
    full[1..].copy_from_slice(id);
    PublicKey::from_slice(&full).ok()
}
