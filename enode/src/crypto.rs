//! The small cryptographic seam every layer above uses: keccak-256, recoverable
//! secp256k1 signatures and public-key recovery.
//!
//! Everything goes through these functions so that the curve backend (the C
//! `libsecp256k1` via the `secp256k1` crate) can be swapped in one place.

use secp256k1::{
    ecdh::shared_secret_point,
    ecdsa::{RecoverableSignature, RecoveryId},
    Message, PublicKey, SecretKey, SECP256K1,
};
// The CRYPTOGAMS assembly keccak (also behind the RLPx frame MAC): about a quarter faster than
// the portable `sha3` crate, and discv4 hashes every datagram twice (packet hash, signed part).
use keccak_asm::{Digest, Keccak256};

/// Length of a recoverable signature on the wire: `r(32) || s(32) || v(1)`.
pub const SIGNATURE_LEN: usize = 65;

/// Errors from signature recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The recovery id byte is not 0 or 1 (or 2/3, which never occur in practice).
    #[error("invalid recovery id {0} in signature")]
    InvalidRecoveryId(u8),
    /// `r`/`s` are not valid scalars.
    #[error("malformed signature")]
    Malformed,
    /// No public key can be recovered from this signature and message.
    #[error("signature does not recover to a public key")]
    RecoveryFailed,
}

/// keccak-256 of `data`.
#[inline]
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// keccak-256 over several slices, without concatenating them first.
#[inline]
pub fn keccak256_concat(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Signs a 32-byte digest, returning `r || s || v` with `v` in {0, 1}.
pub fn sign_recoverable(digest: &[u8; 32], key: &SecretKey) -> [u8; SIGNATURE_LEN] {
    let message = Message::from_digest(*digest);
    let signature = SECP256K1.sign_ecdsa_recoverable(&message, key);
    let (recovery_id, compact) = signature.serialize_compact();
    let mut out = [0u8; SIGNATURE_LEN];
    out[..64].copy_from_slice(&compact);
    out[64] = i32::from(recovery_id) as u8;
    out
}

/// Recovers the signer's public key from `r || s || v` over a 32-byte digest.
pub fn recover(
    signature: &[u8; SIGNATURE_LEN],
    digest: &[u8; 32],
) -> Result<PublicKey, SignatureError> {
    let v = signature[64];
    let recovery_id =
        RecoveryId::try_from(i32::from(v)).map_err(|_| SignatureError::InvalidRecoveryId(v))?;
    let signature = RecoverableSignature::from_compact(&signature[..64], recovery_id)
        .map_err(|_| SignatureError::Malformed)?;
    SECP256K1
        .recover_ecdsa(&Message::from_digest(*digest), &signature)
        .map_err(|_| SignatureError::RecoveryFailed)
}

/// The public key of a secret key.
pub fn public_key(key: &SecretKey) -> PublicKey {
    PublicKey::from_secret_key(SECP256K1, key)
}

/// The x-coordinate of `secret * public`: the raw 32-byte ECDH secret RLPx uses (not hashed,
/// unlike libsecp256k1's default ECDH).
pub fn ecdh_x(public: &PublicKey, secret: &SecretKey) -> [u8; 32] {
    let point = shared_secret_point(public, secret);
    let mut x = [0u8; 32];
    x.copy_from_slice(&point[..32]);
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_of_empty_input_is_the_known_constant() {
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(keccak256_concat(&[b"ab", b"c"]), keccak256(b"abc"));
    }

    #[test]
    fn sign_then_recover_yields_the_signer() {
        let key = SecretKey::new(&mut rand::thread_rng());
        let digest = keccak256(b"hello");
        let signature = sign_recoverable(&digest, &key);
        assert!(signature[64] <= 1);
        let recovered = recover(&signature, &digest).unwrap();
        assert_eq!(recovered, public_key(&key));
    }

    #[test]
    fn bad_recovery_id_is_an_error() {
        let key = SecretKey::new(&mut rand::thread_rng());
        let digest = keccak256(b"x");
        let mut signature = sign_recoverable(&digest, &key);
        signature[64] = 27;
        assert_eq!(
            recover(&signature, &digest),
            Err(SignatureError::InvalidRecoveryId(27))
        );
    }
}
