//! Session secrets derived at the end of the handshake.

use keccak_asm::Digest;
use secp256k1::{PublicKey, SecretKey};

use enode::crypto::{ecdh_x, keccak256_concat as keccak256};

/// Which side of the handshake we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We dialled and sent auth.
    Initiator,
    /// We accepted and sent ack.
    Recipient,
}

/// The keccak-256 running state of one MAC direction, as the handshake seeds it: the frame
/// layer keeps absorbing into it for the whole session.
#[derive(Clone, Default)]
pub struct MacState {
    hash: keccak_asm::Keccak256,
}

impl std::fmt::Debug for MacState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MacState").finish_non_exhaustive()
    }
}

impl MacState {
    /// An empty keccak-256 state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Absorbs `data` into the running state.
    pub fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.hash, data);
    }

    /// keccak-256 of everything absorbed so far; the state keeps running.
    pub fn digest(&self) -> [u8; 32] {
        self.hash.clone().finalize().into()
    }

    /// The running state itself, for the frame MAC.
    pub(crate) fn into_hash(self) -> keccak_asm::Keccak256 {
        self.hash
    }
}

/// Everything the frame layer needs: the AES and MAC secrets and both MAC states.
#[derive(Clone)]
pub struct Secrets {
    /// AES-256-CTR key of both directions' frames.
    pub aes_secret: [u8; 32],
    /// AES-256-ECB key of the MAC construction.
    pub mac_secret: [u8; 32],
    /// MAC state of frames we send.
    pub egress_mac: MacState,
    /// MAC state of frames we receive.
    pub ingress_mac: MacState,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}

/// The inputs of the secret derivation besides the ephemeral keys.
#[derive(Debug, Clone, Copy)]
pub struct Transcript<'a> {
    /// The initiator's nonce.
    pub initiator_nonce: &'a [u8; 32],
    /// The recipient's nonce.
    pub recipient_nonce: &'a [u8; 32],
    /// The auth message exactly as sent (with its size prefix for EIP-8).
    pub auth: &'a [u8],
    /// The ack message exactly as sent (with its size prefix for EIP-8).
    pub ack: &'a [u8],
}

impl Secrets {
    /// Derives the session secrets from our ephemeral key, the remote's ephemeral public key
    /// and the handshake transcript (one ECDH).
    pub fn derive(
        role: Role,
        local_ephemeral: &SecretKey,
        remote_ephemeral: &PublicKey,
        transcript: &Transcript<'_>,
    ) -> Self {
        let ephemeral_key = ecdh_x(remote_ephemeral, local_ephemeral);
        Self::from_ephemeral_shared(role, &ephemeral_key, transcript)
    }

    /// Derives the session secrets from the ephemeral ECDH secret and the transcript.
    pub fn from_ephemeral_shared(
        role: Role,
        ephemeral_key: &[u8; 32],
        transcript: &Transcript<'_>,
    ) -> Self {
        let nonce_hash = keccak256(&[transcript.recipient_nonce, transcript.initiator_nonce]);
        let shared = keccak256(&[ephemeral_key, &nonce_hash]);
        let aes_secret = keccak256(&[ephemeral_key, &shared]);
        let mac_secret = keccak256(&[ephemeral_key, &aes_secret]);

        let seeded = |nonce: &[u8; 32], message: &[u8]| {
            let mut seed = mac_secret;
            seed.iter_mut()
                .zip(nonce)
                .for_each(|(byte, nonce)| *byte ^= nonce);
            let mut state = MacState::new();
            state.update(&seed);
            state.update(message);
            state
        };
        // The MAC of auth-side traffic starts from the recipient's nonce and the auth bytes.
        let auth_side = seeded(transcript.recipient_nonce, transcript.auth);
        let ack_side = seeded(transcript.initiator_nonce, transcript.ack);
        let (egress_mac, ingress_mac) = match role {
            Role::Initiator => (auth_side, ack_side),
            Role::Recipient => (ack_side, auth_side),
        };
        Self {
            aes_secret,
            mac_secret,
            egress_mac,
            ingress_mac,
        }
    }
}
