//! auth and ack bodies: EIP-8 (RLP list + padding, behind a size prefix) and the legacy
//! fixed-size layouts, plus sealing/opening them with ECIES.

use alloy_rlp::{Encodable, Header};
use enode::crypto::SIGNATURE_LEN;
use secp256k1::{PublicKey, SecretKey};

use super::{
    envelope::{self, EciesRandomness, ECIES_OVERHEAD},
    error::HandshakeError,
    lenient::LenientList,
};

/// Largest EIP-8 size prefix accepted (geth's limit), i.e. messages up to 2050 bytes.
pub const MAX_HANDSHAKE_BODY: usize = 2048;
/// Length of a legacy (pre-EIP-8) auth message.
pub const LEGACY_AUTH_LEN: usize = 307;
/// Length of a legacy (pre-EIP-8) ack message.
pub const LEGACY_ACK_LEN: usize = 210;
/// The handshake version we send.
pub const HANDSHAKE_VERSION: u64 = 4;
/// Inclusive range of random padding bytes appended to our EIP-8 bodies. The minimum keeps
/// every message longer than 307 bytes: ethereumjs reads that many before the size prefix.
pub const PADDING_RANGE: std::ops::RangeInclusive<usize> = 100..=250;

const LEGACY_AUTH_BODY: usize = SIGNATURE_LEN + 32 + 64 + 32 + 1;
const LEGACY_ACK_BODY: usize = 64 + 32 + 1;

/// How a handshake message was encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// EIP-8: 2-byte size prefix, RLP body, padding; the prefix is ECIES shared MAC data.
    Eip8,
    /// Pre-EIP-8 fixed-size layout (307-byte auth, 210-byte ack), no prefix.
    Legacy,
}

/// The decrypted body of an auth message (initiator → recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthBody {
    /// Recoverable signature by the initiator's ephemeral key over `static-shared ^ nonce`.
    pub signature: [u8; SIGNATURE_LEN],
    /// The initiator's static public key as a 64-byte id.
    pub initiator_id: [u8; 64],
    /// The initiator's nonce.
    pub nonce: [u8; 32],
    /// Announced handshake version (4 for legacy messages).
    pub version: u64,
}

/// The decrypted body of an ack message (recipient → initiator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckBody {
    /// The recipient's ephemeral public key as a 64-byte id.
    pub ephemeral_id: [u8; 64],
    /// The recipient's nonce.
    pub nonce: [u8; 32],
    /// Announced handshake version (4 for legacy messages).
    pub version: u64,
}

impl AuthBody {
    /// The EIP-8 plaintext: `RLP[sig, initiator-id, nonce, version] || padding`.
    pub fn encode_eip8(&self, padding: &[u8]) -> Vec<u8> {
        let fields: [&dyn Encodable; 4] = [
            &self.signature,
            &self.initiator_id,
            &self.nonce,
            &self.version,
        ];
        encode_list_padded(&fields, padding)
    }

    /// Parses an EIP-8 plaintext; extra list elements and trailing bytes are ignored.
    pub fn decode_eip8(plaintext: &[u8]) -> Result<Self, HandshakeError> {
        let mut list = LenientList::new(plaintext)?;
        Ok(Self {
            signature: list.take()?,
            initiator_id: list.take()?,
            nonce: list.take()?,
            version: list.take()?,
        })
    }

    /// Parses a legacy plaintext: `sig(65) || keccak(eph-pub)(32) || id(64) || nonce(32) || 0`.
    /// The ephemeral-key hash is redundant (the key is recovered from the signature) and ignored.
    pub fn decode_legacy(plaintext: &[u8]) -> Result<Self, HandshakeError> {
        if plaintext.len() != LEGACY_AUTH_BODY {
            return Err(HandshakeError::MalformedBody(
                "legacy auth body must be 194 bytes",
            ));
        }
        let (signature, rest) = plaintext.split_at(SIGNATURE_LEN);
        let (id, rest) = rest[32..].split_at(64);
        let mut body = Self {
            signature: [0; SIGNATURE_LEN],
            initiator_id: [0; 64],
            nonce: [0; 32],
            version: HANDSHAKE_VERSION,
        };
        body.signature.copy_from_slice(signature);
        body.initiator_id.copy_from_slice(id);
        body.nonce.copy_from_slice(&rest[..32]);
        Ok(body)
    }
}

impl AckBody {
    /// The EIP-8 plaintext: `RLP[ephemeral-id, nonce, version] || padding`.
    pub fn encode_eip8(&self, padding: &[u8]) -> Vec<u8> {
        let fields: [&dyn Encodable; 3] = [&self.ephemeral_id, &self.nonce, &self.version];
        encode_list_padded(&fields, padding)
    }

    /// The legacy plaintext: `ephemeral-id(64) || nonce(32) || 0`.
    pub fn encode_legacy(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEGACY_ACK_BODY);
        out.extend_from_slice(&self.ephemeral_id);
        out.extend_from_slice(&self.nonce);
        out.push(0);
        out
    }

    /// Parses an EIP-8 plaintext; extra list elements and trailing bytes are ignored.
    pub fn decode_eip8(plaintext: &[u8]) -> Result<Self, HandshakeError> {
        let mut list = LenientList::new(plaintext)?;
        Ok(Self {
            ephemeral_id: list.take()?,
            nonce: list.take()?,
            version: list.take()?,
        })
    }

    /// Parses a legacy plaintext: `ephemeral-id(64) || nonce(32) || token-flag(1)`.
    pub fn decode_legacy(plaintext: &[u8]) -> Result<Self, HandshakeError> {
        if plaintext.len() != LEGACY_ACK_BODY {
            return Err(HandshakeError::MalformedBody(
                "legacy ack body must be 97 bytes",
            ));
        }
        let mut body = Self {
            ephemeral_id: [0; 64],
            nonce: [0; 32],
            version: HANDSHAKE_VERSION,
        };
        body.ephemeral_id.copy_from_slice(&plaintext[..64]);
        body.nonce.copy_from_slice(&plaintext[64..96]);
        Ok(body)
    }
}

fn encode_list_padded(fields: &[&dyn Encodable], padding: &[u8]) -> Vec<u8> {
    let payload_length = fields.iter().map(|field| field.length()).sum();
    let header = Header {
        list: true,
        payload_length,
    };
    let mut out = Vec::with_capacity(header.length() + payload_length + padding.len());
    header.encode(&mut out);
    for field in fields {
        field.encode(&mut out);
    }
    out.extend_from_slice(padding);
    out
}

/// Seals an EIP-8 plaintext for `remote`: `size(2, BE) || ECIES(plaintext, s2 = size)`.
pub fn seal_eip8(remote: &PublicKey, plaintext: &[u8], randomness: &EciesRandomness) -> Vec<u8> {
    let size = plaintext.len() + ECIES_OVERHEAD;
    debug_assert!(
        size <= MAX_HANDSHAKE_BODY,
        "our own handshake bodies are small"
    );
    let prefix = (size as u16).to_be_bytes();
    let mut out = Vec::with_capacity(2 + size);
    out.extend_from_slice(&prefix);
    envelope::encrypt_into(remote, plaintext, &prefix, randomness, &mut out);
    out
}

/// Seals a legacy plaintext for `remote` (no prefix, no shared MAC data).
pub fn seal_legacy(remote: &PublicKey, plaintext: &[u8], randomness: &EciesRandomness) -> Vec<u8> {
    let mut out = Vec::with_capacity(ECIES_OVERHEAD + plaintext.len());
    envelope::encrypt_into(remote, plaintext, &[], randomness, &mut out);
    out
}

/// Decrypts a whole handshake message (EIP-8 or legacy of `legacy_len` bytes) for `local`.
pub fn open_message(
    local: &SecretKey,
    message: &[u8],
    legacy_len: usize,
) -> Result<(Vec<u8>, WireFormat), HandshakeError> {
    // A legacy message starts with the 0x04 point tag; an EIP-8 one with its size prefix,
    // which only starts with 0x04 for sizes 1024..=1279 (then `R` is garbage and fails fast).
    let legacy = if message.len() == legacy_len && message.first() == Some(&0x04) {
        match envelope::decrypt(local, message, &[]) {
            Ok(plaintext) => return Ok((plaintext, WireFormat::Legacy)),
            Err(err) => Some(err),
        }
    } else {
        None
    };
    let (prefix, sealed) = match message {
        [high, low, rest @ ..] => ([*high, *low], rest),
        _ => return Err(HandshakeError::Truncated(message.len())),
    };
    let size = usize::from(u16::from_be_bytes(prefix));
    if size > MAX_HANDSHAKE_BODY {
        return Err(legacy.unwrap_or(HandshakeError::MessageTooLarge {
            size: size + 2,
            max: MAX_HANDSHAKE_BODY + 2,
        }));
    }
    if sealed.len() != size {
        return Err(legacy.unwrap_or(HandshakeError::Truncated(message.len())));
    }
    Ok((envelope::decrypt(local, sealed, &prefix)?, WireFormat::Eip8))
}
