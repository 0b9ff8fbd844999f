//! Encoding and signing packets.

use alloy_rlp::{Encodable, Header};
use secp256k1::SecretKey;

use super::{
    endpoint::{encode_endpoint, encode_node, endpoint_len, node_len},
    error::EncodeError,
    messages::{Neighbors, Packet, Ping, Pong},
    HEAD_SIZE, MAX_NEIGHBORS_PER_PACKET, MAX_PACKET_SIZE,
};
use enode::crypto::{keccak256, sign_recoverable};

/// Encodes and signs `packet` with `key`, returning the datagram and its hash (the hash is
/// the reply token a PONG or ENRResponse must echo).
///
/// Fails, before signing, when the packet would exceed [`MAX_PACKET_SIZE`]; only a
/// NEIGHBORS with more than [`MAX_NEIGHBORS_PER_PACKET`] nodes can (use
/// [`Neighbors::split`]).
pub fn encode(packet: &Packet, key: &SecretKey) -> Result<(Vec<u8>, [u8; 32]), EncodeError> {
    if let Packet::Neighbors(Neighbors { nodes, .. }) = packet {
        if nodes.len() > MAX_NEIGHBORS_PER_PACKET {
            return Err(EncodeError::TooManyNeighbors {
                count: nodes.len(),
                max: MAX_NEIGHBORS_PER_PACKET,
            });
        }
    }
    let mut buf = Vec::with_capacity(MAX_PACKET_SIZE);
    buf.resize(HEAD_SIZE, 0);
    buf.push(packet.kind().byte());
    encode_body(packet, &mut buf);
    if buf.len() > MAX_PACKET_SIZE {
        return Err(EncodeError::PacketTooLarge {
            len: buf.len(),
            max: MAX_PACKET_SIZE,
        });
    }
    Ok(seal(buf, key))
}

/// Signs an arbitrary type byte and RLP payload (which is not checked) into a datagram,
/// returning it and its hash. For tests that need packets [`encode`] cannot produce: wrong
/// types, extra list elements, malformed bodies, oversized datagrams.
pub fn sign_packet(packet_type: u8, rlp_payload: &[u8], key: &SecretKey) -> (Vec<u8>, [u8; 32]) {
    let mut buf = Vec::with_capacity(HEAD_SIZE + 1 + rlp_payload.len());
    buf.resize(HEAD_SIZE, 0);
    buf.push(packet_type);
    buf.extend_from_slice(rlp_payload);
    seal(buf, key)
}

/// Fills in signature and hash of `buf` = zeroed head || type || body.
fn seal(mut buf: Vec<u8>, key: &SecretKey) -> (Vec<u8>, [u8; 32]) {
    let digest = keccak256(&buf[HEAD_SIZE..]);
    buf[32..HEAD_SIZE].copy_from_slice(&sign_recoverable(&digest, key));
    let hash = keccak256(&buf[32..]);
    buf[..32].copy_from_slice(&hash);
    (buf, hash)
}

fn list_header(payload_length: usize, out: &mut Vec<u8>) {
    Header {
        list: true,
        payload_length,
    }
    .encode(out);
}

/// Appends the RLP list of a packet's fields (no head, no type byte). With
/// [`sign_packet`] this lets tests alter a real body before signing it.
pub fn encode_body(packet: &Packet, out: &mut Vec<u8>) {
    match packet {
        Packet::Ping(ping) => encode_ping(ping, out),
        Packet::Pong(pong) => encode_pong(pong, out),
        Packet::FindNode(find) => {
            list_header(find.target.0.length() + find.expiration.length(), out);
            find.target.0.encode(out);
            find.expiration.encode(out);
        }
        Packet::Neighbors(neighbors) => {
            let nodes_len: usize = neighbors.nodes.iter().map(node_len).sum();
            let nodes_header = Header {
                list: true,
                payload_length: nodes_len,
            };
            list_header(
                nodes_header.length_with_payload() + neighbors.expiration.length(),
                out,
            );
            nodes_header.encode(out);
            for node in &neighbors.nodes {
                encode_node(node, out);
            }
            neighbors.expiration.encode(out);
        }
        Packet::EnrRequest(request) => {
            list_header(request.expiration.length(), out);
            request.expiration.encode(out);
        }
        Packet::EnrResponse(response) => {
            // Rare packet: one temporary buffer for the record is fine.
            let enr = alloy_rlp::encode(&response.enr);
            list_header(response.request_hash.length() + enr.len(), out);
            response.request_hash.encode(out);
            out.extend_from_slice(&enr);
        }
    }
}

fn encode_ping(ping: &Ping, out: &mut Vec<u8>) {
    let payload = ping.version.length()
        + endpoint_len(&ping.from)
        + endpoint_len(&ping.to)
        + ping.expiration.length()
        + ping.enr_seq.map_or(0, |seq| seq.length());
    list_header(payload, out);
    ping.version.encode(out);
    encode_endpoint(&ping.from, out);
    encode_endpoint(&ping.to, out);
    ping.expiration.encode(out);
    if let Some(seq) = ping.enr_seq {
        seq.encode(out);
    }
}

fn encode_pong(pong: &Pong, out: &mut Vec<u8>) {
    let payload = endpoint_len(&pong.to)
        + pong.ping_hash.length()
        + pong.expiration.length()
        + pong.enr_seq.map_or(0, |seq| seq.length());
    list_header(payload, out);
    encode_endpoint(&pong.to, out);
    pong.ping_hash.encode(out);
    pong.expiration.encode(out);
    if let Some(seq) = pong.enr_seq {
        seq.encode(out);
    }
}
