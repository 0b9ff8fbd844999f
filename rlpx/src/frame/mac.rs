//! The RLPx frame MAC: a keccak-256 running state per direction, mixed with AES-256-ECB
//! (keyed with mac-secret) at each header and body.

use aes::Aes256;
use cipher::{generic_array::GenericArray, BlockEncrypt};
use keccak_asm::Digest;

/// The keccak-256 implementation behind the frame MAC: the CRYPTOGAMS assembly one, about
/// a quarter faster than `sha3` here (see `benches/frames.rs`).
pub(crate) type MacKeccak = keccak_asm::Keccak256;

/// A running hash the MAC construction can absorb into and read digests from.
pub(crate) trait MacHash: Clone {
    /// Absorbs `data`.
    fn absorb(&mut self, data: &[u8]);
    /// The digest of everything absorbed so far (the state itself keeps running).
    fn digest(&self) -> [u8; 32];
}

impl MacHash for MacKeccak {
    fn absorb(&mut self, data: &[u8]) {
        Digest::update(self, data);
    }

    fn digest(&self) -> [u8; 32] {
        self.clone().finalize().into()
    }
}

/// One direction's MAC: the running hash plus the last digest, which the next header MAC
/// starts from (nothing is absorbed in between), saving one keccak permutation per frame.
#[derive(Clone)]
pub(crate) struct FrameMac<H> {
    hash: H,
    cached_digest: Option<[u8; 32]>,
}

impl<H: MacHash> FrameMac<H> {
    pub(crate) fn new(hash: H) -> Self {
        Self {
            hash,
            cached_digest: None,
        }
    }

    fn digest(&mut self) -> [u8; 32] {
        match self.cached_digest {
            Some(digest) => digest,
            None => {
                let digest = self.hash.digest();
                self.cached_digest = Some(digest);
                digest
            }
        }
    }

    fn absorb(&mut self, data: &[u8]) {
        self.cached_digest = None;
        self.hash.absorb(data);
    }

    /// Absorbs `AES(digest[..16]) ^ seed` and returns the first 16 bytes of the new digest.
    fn mix(&mut self, aes: &Aes256, seed: &[u8; 16]) -> [u8; 16] {
        let digest = self.digest();
        let mut block = GenericArray::clone_from_slice(&digest[..16]);
        aes.encrypt_block(&mut block);
        for (byte, seed) in block.iter_mut().zip(seed) {
            *byte ^= seed;
        }
        self.absorb(&block);
        let mut mac = [0u8; 16];
        mac.copy_from_slice(&self.digest()[..16]);
        mac
    }

    /// The header MAC of an encrypted header.
    pub(crate) fn header_mac(&mut self, aes: &Aes256, header_ct: &[u8; 16]) -> [u8; 16] {
        self.mix(aes, header_ct)
    }

    /// Absorbs (part of) the encrypted frame body.
    pub(crate) fn absorb_body(&mut self, body_ct: &[u8]) {
        self.absorb(body_ct);
    }

    /// The frame MAC, once the whole encrypted body has been absorbed.
    pub(crate) fn body_mac(&mut self, aes: &Aes256) -> [u8; 16] {
        let mut seed = [0u8; 16];
        seed.copy_from_slice(&self.digest()[..16]);
        self.mix(aes, &seed)
    }
}

/// Constant-time equality of two MACs.
pub(crate) fn macs_equal(a: &[u8; 16], b: &[u8]) -> bool {
    if b.len() != 16 {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}
