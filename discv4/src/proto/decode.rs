//! Checking and decoding datagrams.

use alloy_rlp::Header;
use enr::Enr;

use super::{
    endpoint::{decode_endpoint, decode_node, MIN_NODE_RLP_LEN},
    error::DecodeError,
    messages::{EnrRequest, EnrResponse, FindNode, Neighbors, Packet, PacketKind, Ping, Pong},
    rlp_util::decode_list,
    MAX_DATAGRAM_SIZE, MAX_ENR_SIZE, MIN_PACKET_SIZE,
};
use enode::{
    crypto::{keccak256, SIGNATURE_LEN},
    PeerId,
};

/// A verified packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The packet.
    pub packet: Packet,
    /// The signer, i.e. the sender's identity.
    pub sender: PeerId,
    /// The packet hash (first 32 bytes): the reply token for PING and ENRRequest.
    pub hash: [u8; 32],
}

/// Checks a received datagram (length, hash, signature) and decodes its packet.
///
/// Lenient as EIP-8 asks: any PING version, extra list items and bytes after the list are
/// accepted. Expiration is *not* checked here (see [`Packet::is_expired`]). Cheap checks
/// run first, so malformed bodies cost no signature recovery.
pub fn decode(datagram: &[u8]) -> Result<Decoded, DecodeError> {
    decode_unverified(datagram)?.verify()
}

/// A datagram whose length, hash and body check out, its signature not yet recovered: what
/// a receiver can learn before the one expensive step (an ECDSA recovery, ~100× the rest),
/// e.g. to drop expired packets first.
#[derive(Debug, Clone)]
pub struct Unverified<'a> {
    /// The packet.
    pub packet: Packet,
    /// The packet hash (first 32 bytes).
    pub hash: [u8; 32],
    signature: &'a [u8; SIGNATURE_LEN],
    body: &'a [u8],
}

impl Unverified<'_> {
    /// Recovers the signer.
    pub fn verify(self) -> Result<Decoded, DecodeError> {
        let sender = PeerId::recover(self.signature, &keccak256(self.body))?;
        Ok(Decoded {
            packet: self.packet,
            sender,
            hash: self.hash,
        })
    }
}

/// [`decode`] without the signature recovery: length, hash, type and body only.
pub fn decode_unverified(datagram: &[u8]) -> Result<Unverified<'_>, DecodeError> {
    if datagram.len() < MIN_PACKET_SIZE {
        return Err(DecodeError::TooShort {
            len: datagram.len(),
            min: MIN_PACKET_SIZE,
        });
    }
    if datagram.len() > MAX_DATAGRAM_SIZE {
        return Err(DecodeError::TooLarge {
            len: datagram.len(),
            max: MAX_DATAGRAM_SIZE,
        });
    }
    let too_short = DecodeError::TooShort {
        len: datagram.len(),
        min: MIN_PACKET_SIZE,
    };
    let (hash, signed_part) = datagram
        .split_first_chunk::<32>()
        .ok_or(too_short.clone())?;
    let (signature, body) = signed_part
        .split_first_chunk::<SIGNATURE_LEN>()
        .ok_or(too_short.clone())?;
    if keccak256(signed_part) != *hash {
        return Err(DecodeError::HashMismatch);
    }
    let (&type_byte, rlp) = body.split_first().ok_or(too_short)?;
    let kind = PacketKind::from_byte(type_byte).ok_or(DecodeError::UnknownPacketType(type_byte))?;
    let packet = decode_body(kind, rlp)?;
    Ok(Unverified {
        packet,
        hash: *hash,
        signature,
        body,
    })
}

/// Decodes the first RLP item of `rlp` as the body of a `kind` packet; bytes after it
/// are ignored.
pub(crate) fn decode_body(kind: PacketKind, rlp: &[u8]) -> Result<Packet, DecodeError> {
    let buf = &mut &rlp[..];
    let list = kind.name();
    Ok(match kind {
        PacketKind::Ping => Packet::Ping(decode_list(buf, list, |f| {
            Ok(Ping {
                version: f.value("version")?,
                from: f.with("from", |b, _| decode_endpoint(b, "PING.from"))?,
                to: f.with("to", |b, _| decode_endpoint(b, "PING.to"))?,
                expiration: f.value("expiration")?,
                enr_seq: f.optional(),
            })
        })?),
        PacketKind::Pong => Packet::Pong(decode_list(buf, list, |f| {
            Ok(Pong {
                to: f.with("to", |b, _| decode_endpoint(b, "PONG.to"))?,
                ping_hash: f.array("ping-hash")?,
                expiration: f.value("expiration")?,
                enr_seq: f.optional(),
            })
        })?),
        PacketKind::FindNode => Packet::FindNode(decode_list(buf, list, |f| {
            Ok(FindNode {
                target: PeerId(f.array("target")?),
                expiration: f.value("expiration")?,
            })
        })?),
        PacketKind::Neighbors => Packet::Neighbors(decode_list(buf, list, |f| {
            let nodes = f.with("nodes", |b, _| {
                decode_list(b, "NEIGHBORS.nodes", |items| {
                    let mut nodes = Vec::with_capacity(items.remaining_len() / MIN_NODE_RLP_LEN);
                    while !items.is_empty() {
                        nodes.push(items.with("node", |b, _| decode_node(b, "NEIGHBORS.node"))?);
                    }
                    Ok(nodes)
                })
            })?;
            Ok(Neighbors {
                nodes,
                expiration: f.value("expiration")?,
            })
        })?),
        PacketKind::EnrRequest => Packet::EnrRequest(decode_list(buf, list, |f| {
            Ok(EnrRequest {
                expiration: f.value("expiration")?,
            })
        })?),
        PacketKind::EnrResponse => Packet::EnrResponse(decode_list(buf, list, |f| {
            Ok(EnrResponse {
                request_hash: f.array("request-hash")?,
                enr: f.with("record", |b, _| decode_enr(b))?,
            })
        })?),
    })
}

/// Decodes one ENR item, refusing records over [`MAX_ENR_SIZE`] before parsing them.
fn decode_enr(buf: &mut &[u8]) -> Result<Enr<secp256k1::SecretKey>, DecodeError> {
    let mut probe = *buf;
    let header = Header::decode(&mut probe).map_err(DecodeError::InvalidEnr)?;
    let len = header.length_with_payload();
    if len > MAX_ENR_SIZE {
        return Err(DecodeError::EnrTooLarge {
            len,
            max: MAX_ENR_SIZE,
        });
    }
    let (mut item, rest) = buf
        .split_at_checked(len)
        .ok_or(DecodeError::InvalidEnr(alloy_rlp::Error::InputTooShort))?;
    let enr = <Enr<secp256k1::SecretKey> as alloy_rlp::Decodable>::decode(&mut item)
        .map_err(DecodeError::InvalidEnr)?;
    *buf = rest;
    Ok(enr)
}
