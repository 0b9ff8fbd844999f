//! The handshake as pure state machines: build/parse auth and ack and derive the session
//! secrets, with every random input injectable for deterministic tests.
//!
//! Curve operations per side (the minimum the protocol allows): initiator — one ECDH for the
//! static shared secret, one signature, one key generation + ECDH to seal auth, one ECDH to
//! open ack, one ECDH for the ephemeral shared secret (its ephemeral key is a bare scalar:
//! EIP-8 auth never carries its public key); recipient — one ECDH to open auth, one ECDH for
//! the static shared secret, one recovery, two key generations (ephemeral, sealing), one
//! ECDH to seal ack and one ECDH for the ephemeral shared secret.

use rand::{CryptoRng, Rng, RngCore};
use secp256k1::{PublicKey, SecretKey};

use enode::{
    crypto::{self, ecdh_x},
    NodeKey, PeerId,
};

use super::{
    envelope::EciesRandomness,
    error::HandshakeError,
    messages::{
        open_message, seal_eip8, seal_legacy, AckBody, AuthBody, WireFormat, HANDSHAKE_VERSION,
        LEGACY_ACK_LEN, LEGACY_AUTH_LEN, PADDING_RANGE,
    },
    secrets::{Role, Secrets, Transcript},
};

/// The outcome of a handshake: who the remote is and the frame secrets.
#[derive(Debug, Clone)]
pub struct Session {
    /// The remote's static public key, proven by the handshake.
    pub remote: PublicKey,
    /// Secrets for the frame codec.
    pub secrets: Secrets,
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = *a;
    out.iter_mut().zip(b).for_each(|(x, y)| *x ^= y);
    out
}

fn random_nonce<R: RngCore>(rng: &mut R) -> [u8; 32] {
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    nonce
}

fn random_padding<R: RngCore>(rng: &mut R) -> Vec<u8> {
    let mut padding = vec![0u8; rng.gen_range(PADDING_RANGE)];
    rng.fill_bytes(&mut padding);
    padding
}

/// The initiator after sending auth, waiting for ack.
pub struct Initiator {
    remote: PublicKey,
    ephemeral: SecretKey,
    nonce: [u8; 32],
    auth: Vec<u8>,
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl Initiator {
    /// Starts a handshake with `remote` using fresh randomness; send [`Self::auth_message`].
    pub fn new(local: &NodeKey, remote: PublicKey) -> Self {
        Self::new_with_rng(local, remote, &mut rand::thread_rng())
    }

    /// Like [`Self::new`], drawing randomness from `rng`.
    pub fn new_with_rng<R: RngCore + CryptoRng>(
        local: &NodeKey,
        remote: PublicKey,
        rng: &mut R,
    ) -> Self {
        let ephemeral = SecretKey::new(rng);
        let nonce = random_nonce(rng);
        let randomness = EciesRandomness::random(rng);
        let padding = random_padding(rng);
        Self::with_parameters(local, remote, ephemeral, nonce, &randomness, &padding)
    }

    /// Starts a handshake with every random input given explicitly (EIP-8 auth).
    pub fn with_parameters(
        local: &NodeKey,
        remote: PublicKey,
        ephemeral: SecretKey,
        nonce: [u8; 32],
        randomness: &EciesRandomness,
        padding: &[u8],
    ) -> Self {
        let static_shared = ecdh_x(&remote, local.secret_key());
        let signature = crypto::sign_recoverable(&xor32(&static_shared, &nonce), &ephemeral);
        let body = AuthBody {
            signature,
            initiator_id: local.peer_id().0,
            nonce,
            version: HANDSHAKE_VERSION,
        };
        let auth = seal_eip8(&remote, &body.encode_eip8(padding), randomness);
        Self {
            remote,
            ephemeral,
            nonce,
            auth,
        }
    }

    /// The auth message to send (size prefix included).
    pub fn auth_message(&self) -> &[u8] {
        &self.auth
    }

    /// The public key we are connecting to.
    pub fn remote(&self) -> &PublicKey {
        &self.remote
    }

    /// Decodes the recipient's ack and finishes the handshake.
    pub fn read_ack(self, local: &NodeKey, ack: &[u8]) -> Result<Session, HandshakeError> {
        let received = ReceivedAck::decode(local.secret_key(), ack)?;
        Ok(self.finish(&received, ack))
    }

    /// Finishes the handshake with an already decoded ack (`ack` = its wire bytes).
    pub fn finish(self, received: &ReceivedAck, ack: &[u8]) -> Session {
        let transcript = Transcript {
            initiator_nonce: &self.nonce,
            recipient_nonce: &received.body.nonce,
            auth: &self.auth,
            ack,
        };
        let secrets = Secrets::derive(
            Role::Initiator,
            &self.ephemeral,
            &received.ephemeral,
            &transcript,
        );
        Session {
            remote: self.remote,
            secrets,
        }
    }
}

/// A decoded, verified ack.
#[derive(Debug, Clone)]
pub struct ReceivedAck {
    /// The decrypted body.
    pub body: AckBody,
    /// How it was encoded.
    pub format: WireFormat,
    /// The recipient's ephemeral public key.
    pub ephemeral: PublicKey,
}

impl ReceivedAck {
    /// Decrypts and parses an ack (EIP-8 or legacy) addressed to `local`.
    pub fn decode(local: &SecretKey, ack: &[u8]) -> Result<Self, HandshakeError> {
        let (plaintext, format) = open_message(local, ack, LEGACY_ACK_LEN)?;
        let body = match format {
            WireFormat::Eip8 => AckBody::decode_eip8(&plaintext)?,
            WireFormat::Legacy => AckBody::decode_legacy(&plaintext)?,
        };
        let ephemeral = PeerId(body.ephemeral_id)
            .to_public_key()
            .map_err(|_| HandshakeError::InvalidPublicKey)?;
        Ok(Self {
            body,
            format,
            ephemeral,
        })
    }
}

/// A decoded, verified auth: the recipient's view before answering.
#[derive(Clone)]
pub struct ReceivedAuth {
    /// The decrypted body.
    pub body: AuthBody,
    /// How it was encoded (the ack is sent in the same format).
    pub format: WireFormat,
    /// The initiator's static public key.
    pub initiator: PublicKey,
    /// The initiator's ephemeral public key, recovered from the signature.
    pub initiator_ephemeral: PublicKey,
    auth: Vec<u8>,
}

impl std::fmt::Debug for ReceivedAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedAuth")
            .field("format", &self.format)
            .field("initiator", &self.initiator)
            .finish_non_exhaustive()
    }
}

impl ReceivedAuth {
    /// Decrypts and parses an auth (EIP-8 or legacy) addressed to `local`, and recovers the
    /// initiator's ephemeral key.
    pub fn decode(local: &SecretKey, auth: &[u8]) -> Result<Self, HandshakeError> {
        let (plaintext, format) = open_message(local, auth, LEGACY_AUTH_LEN)?;
        let body = match format {
            WireFormat::Eip8 => AuthBody::decode_eip8(&plaintext)?,
            WireFormat::Legacy => AuthBody::decode_legacy(&plaintext)?,
        };
        let initiator = PeerId(body.initiator_id)
            .to_public_key()
            .map_err(|_| HandshakeError::InvalidPublicKey)?;
        let static_shared = ecdh_x(&initiator, local);
        let initiator_ephemeral =
            crypto::recover(&body.signature, &xor32(&static_shared, &body.nonce))
                .map_err(|_| HandshakeError::InvalidSignature)?;
        Ok(Self {
            body,
            format,
            initiator,
            initiator_ephemeral,
            auth: auth.to_vec(),
        })
    }

    /// Answers with fresh randomness: returns the ack to send and the session.
    pub fn respond(&self) -> (Vec<u8>, Session) {
        self.respond_with_rng(&mut rand::thread_rng())
    }

    /// Like [`Self::respond`], drawing randomness from `rng`.
    pub fn respond_with_rng<R: RngCore + CryptoRng>(&self, rng: &mut R) -> (Vec<u8>, Session) {
        let ephemeral = SecretKey::new(rng);
        let nonce = random_nonce(rng);
        let randomness = EciesRandomness::random(rng);
        let padding = match self.format {
            WireFormat::Eip8 => random_padding(rng),
            WireFormat::Legacy => Vec::new(),
        };
        self.respond_with(ephemeral, nonce, &randomness, &padding)
    }

    /// Answers with every random input given explicitly. The ack uses the auth's format
    /// (`padding` is ignored for legacy).
    pub fn respond_with(
        &self,
        ephemeral: SecretKey,
        nonce: [u8; 32],
        randomness: &EciesRandomness,
        padding: &[u8],
    ) -> (Vec<u8>, Session) {
        let body = AckBody {
            ephemeral_id: PeerId::from_secret_key(&ephemeral).0,
            nonce,
            version: HANDSHAKE_VERSION,
        };
        let ack = match self.format {
            WireFormat::Eip8 => seal_eip8(&self.initiator, &body.encode_eip8(padding), randomness),
            WireFormat::Legacy => seal_legacy(&self.initiator, &body.encode_legacy(), randomness),
        };
        let transcript = Transcript {
            initiator_nonce: &self.body.nonce,
            recipient_nonce: &nonce,
            auth: &self.auth,
            ack: &ack,
        };
        let secrets = Secrets::derive(
            Role::Recipient,
            &ephemeral,
            &self.initiator_ephemeral,
            &transcript,
        );
        (
            ack,
            Session {
                remote: self.initiator,
                secrets,
            },
        )
    }

    /// The auth message exactly as received.
    pub fn auth_message(&self) -> &[u8] {
        &self.auth
    }
}
