//! EIP-778 Ethereum Node Records: decoding and verifying remote records, turning them into
//! [`NodeRecord`]s, and building and re-signing our own ([`LocalEnr`]).
//!
//! The `enr` crate does the RLP and the "v4" signature; this module adds what go-ethereum
//! checks on top: the text form's strict prefix, the 300-byte limit on every path, no
//! trailing bytes, a 33-byte compressed `secp256k1` key, and errors a user can act on.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{SystemTime, UNIX_EPOCH},
};

use alloy_rlp::{Decodable, Header};
use base64::{
    alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine as _,
};
use secp256k1::{PublicKey, SecretKey};

use super::{
    enode::{normalize_ip, NodeRecord},
    error::EnrError,
};
use crate::id::{NodeId, PeerId};

/// An Ethereum Node Record signed with the "v4" (secp256k1) scheme.
pub type Enr = enr::Enr<SecretKey>;

/// The largest encoded record EIP-778 allows.
pub const MAX_ENR_SIZE: usize = 300;

/// Text prefix of a record.
pub const ENR_PREFIX: &str = "enr:";

/// Unpadded base64 of [`MAX_ENR_SIZE`] bytes.
const MAX_ENR_BASE64_LEN: usize = MAX_ENR_SIZE.div_ceil(3) * 4;

/// Length of a compressed secp256k1 public key, the only form the "v4" scheme allows.
const COMPRESSED_KEY_LEN: usize = 33;

/// Keys [`build_enr`] writes itself; [`EndpointConfig::extra`] may not use them.
const RESERVED_KEYS: [&str; 8] = ["id", "secp256k1", "ip", "ip6", "tcp", "tcp6", "udp", "udp6"];

/// base64url that, like Go's `RawURLEncoding`, ignores non-zero trailing bits; padding is
/// tolerated because people paste padded records.
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes a record from its RLP bytes and verifies its "v4" signature.
pub fn decode_enr(bytes: &[u8]) -> Result<Enr, EnrError> {
    if bytes.is_empty() {
        return Err(EnrError::Empty);
    }
    if bytes.len() > MAX_ENR_SIZE {
        return Err(EnrError::TooLarge(bytes.len()));
    }
    let mut rest = bytes;
    let header = Header::decode(&mut rest).map_err(|e| EnrError::Malformed(e.to_string()))?;
    if !header.list {
        return Err(EnrError::Malformed(
            "a node record must be an RLP list".to_owned(),
        ));
    }
    let trailing = rest.len().saturating_sub(header.payload_length);
    if trailing > 0 {
        return Err(EnrError::TrailingBytes(trailing));
    }
    let record = <Enr as Decodable>::decode(&mut &bytes[..]).map_err(map_decode_error)?;
    // The enr crate accepts a 65-byte uncompressed key too; geth does not.
    if raw_public_key(&record)?.len() != COMPRESSED_KEY_LEN {
        return Err(EnrError::InvalidPublicKey);
    }
    Ok(record)
}

/// Parses the text form `enr:<base64url>` and verifies the record's signature.
pub fn parse_enr(text: &str) -> Result<Enr, EnrError> {
    let encoded = text
        .strip_prefix(ENR_PREFIX)
        .ok_or(EnrError::MissingPrefix)?;
    // Bound the work before decoding: anything longer cannot fit in 300 bytes.
    if encoded.trim_end_matches('=').len() > MAX_ENR_BASE64_LEN {
        return Err(EnrError::TooLarge(encoded.len() / 4 * 3));
    }
    let bytes = BASE64_URL
        .decode(encoded)
        .map_err(|e| EnrError::Base64(e.to_string()))?;
    decode_enr(&bytes)
}

/// Maps the `enr` crate's decode errors to our kinds. It reports them as RLP custom
/// errors; `tests/record_vectors.rs` and `tests/record_enr.rs` reach each message, so a
/// wording change in the crate shows up as a failing test.
fn map_decode_error(error: alloy_rlp::Error) -> EnrError {
    match error {
        alloy_rlp::Error::Custom("Invalid Signature") => EnrError::InvalidSignature,
        alloy_rlp::Error::Custom("Unsupported identity scheme") => EnrError::UnsupportedScheme,
        alloy_rlp::Error::Custom("Unknown signature") => EnrError::MissingPublicKey,
        alloy_rlp::Error::Custom("Invalid Secp256k1 Signature") => EnrError::InvalidPublicKey,
        alloy_rlp::Error::Custom("Unsorted keys") => EnrError::UnsortedKeys,
        alloy_rlp::Error::Custom("Payload is empty" | "Seq is missing") => EnrError::Malformed(
            "record list has fewer than two elements (signature, seq)".to_owned(),
        ),
        other => EnrError::Malformed(other.to_string()),
    }
}

/// The bytes of the `secp256k1` entry.
fn raw_public_key(record: &Enr) -> Result<&[u8], EnrError> {
    let mut raw = record
        .get_raw_rlp("secp256k1")
        .ok_or(EnrError::MissingPublicKey)?;
    Header::decode_bytes(&mut raw, false).map_err(|_| EnrError::InvalidPublicKey)
}

/// The record's public key as a [`PeerId`] (the 64-byte form used by discv4 and RLPx).
pub fn enr_peer_id(record: &Enr) -> Result<PeerId, EnrError> {
    let key =
        PublicKey::from_slice(raw_public_key(record)?).map_err(|_| EnrError::InvalidPublicKey)?;
    Ok(PeerId::from_public_key(&key))
}

/// The record's node id (keccak-256 of the uncompressed public key).
pub fn enr_node_id(record: &Enr) -> NodeId {
    NodeId(record.node_id().raw())
}

/// True for addresses that only make sense inside one network (loopback, private,
/// link-local, IPv6 unique-local); used to choose between a record's two families.
fn is_lan(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The address discovery should contact: an IP that is neither unspecified nor
/// multicast, with a UDP port. IPv4 (`ip`/`udp`/`tcp`) is preferred; IPv6 (`ip6`, with
/// `udp6`/`tcp6` falling back to `udp`/`tcp` as EIP-778 says) is used when the record
/// has no usable IPv4 endpoint, or, as go-ethereum does, when the IPv4 address is a LAN
/// address and the IPv6 one is global. A TCP port of 0 means "no TCP".
pub fn enr_to_node_record(record: &Enr) -> Result<NodeRecord, EnrError> {
    let id = enr_peer_id(record)?;
    let usable = |ip: IpAddr, udp: Option<u16>, tcp: Option<u16>| {
        let udp = udp.filter(|port| *port != 0)?;
        (!ip.is_unspecified() && !ip.is_multicast()).then_some(NodeRecord {
            address: ip,
            udp_port: udp,
            tcp_port: tcp.unwrap_or(0),
            id,
        })
    };
    let v4 = record
        .ip4()
        .and_then(|ip| usable(IpAddr::V4(ip), record.udp4(), record.tcp4()));
    let v6 = record.ip6().and_then(|ip| {
        usable(
            normalize_ip(IpAddr::V6(ip)),
            record.udp6().or_else(|| record.udp4()),
            record.tcp6().or_else(|| record.tcp4()),
        )
    });
    match (v4, v6) {
        (Some(v4), Some(v6)) if is_lan(v4.address) && !is_lan(v6.address) => Ok(v6),
        (Some(v4), _) => Ok(v4),
        (None, Some(v6)) => Ok(v6),
        (None, None) => Err(EnrError::NoEndpoint),
    }
}

/// The endpoints (and any extra entries) our record advertises. A port of 0 is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointConfig {
    /// IPv4 address (`ip`).
    pub ip4: Option<Ipv4Addr>,
    /// IPv4 UDP port (`udp`).
    pub udp4: Option<u16>,
    /// IPv4 TCP port (`tcp`).
    pub tcp4: Option<u16>,
    /// IPv6 address (`ip6`).
    pub ip6: Option<Ipv6Addr>,
    /// IPv6 UDP port (`udp6`), if different from `udp`.
    pub udp6: Option<u16>,
    /// IPv6 TCP port (`tcp6`), if different from `tcp`.
    pub tcp6: Option<u16>,
    /// Other entries (e.g. `eth` = fork id), each value one RLP-encoded item.
    pub extra: BTreeMap<String, Vec<u8>>,
}

/// Builds and signs a "v4" record with the given sequence number.
pub fn build_enr(key: &SecretKey, seq: u64, endpoints: &EndpointConfig) -> Result<Enr, EnrError> {
    let mut builder = Enr::builder();
    builder.seq(seq);
    if let Some(ip) = endpoints.ip4 {
        builder.ip4(ip);
    }
    if let Some(ip) = endpoints.ip6 {
        builder.ip6(ip);
    }
    let ports = [
        ("udp", endpoints.udp4),
        ("tcp", endpoints.tcp4),
        ("udp6", endpoints.udp6),
        ("tcp6", endpoints.tcp6),
    ];
    for (name, port) in ports {
        if let Some(port) = port.filter(|port| *port != 0) {
            builder.add_value(name, &port);
        }
    }
    for (name, value) in &endpoints.extra {
        if RESERVED_KEYS.contains(&name.as_str()) {
            return Err(EnrError::ReservedKey(name.clone()));
        }
        if !is_single_rlp_item(value) {
            return Err(EnrError::InvalidValue(name.clone()));
        }
        builder.add_value_rlp(name, bytes::Bytes::copy_from_slice(value));
    }
    let record = builder.build(key).map_err(|e| match e {
        enr::Error::ExceedsMaxSize => EnrError::Build("record exceeds 300 bytes".to_owned()),
        other => EnrError::Build(other.to_string()),
    })?;
    let size = record.size();
    if size > MAX_ENR_SIZE {
        return Err(EnrError::TooLarge(size));
    }
    Ok(record)
}

fn is_single_rlp_item(value: &[u8]) -> bool {
    // A byte below 0x80 is its own header: decode leaves it in `rest` as the payload.
    let mut rest = value;
    Header::decode(&mut rest).is_ok_and(|header| rest.len() == header.payload_length)
}

/// Milliseconds since the Unix epoch: go-ethereum's first sequence number for a new node,
/// so that losing the stored seq cannot make us reuse an old one.
pub fn unix_time_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Our own record: re-signed with seq + 1 whenever what it advertises changes.
///
/// Persist [`LocalEnr::seq`] after every change and pass it back to [`LocalEnr::new`] on
/// the next start.
#[derive(Clone)]
pub struct LocalEnr {
    key: SecretKey,
    endpoints: EndpointConfig,
    record: Enr,
}

impl std::fmt::Debug for LocalEnr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret key.
        f.debug_struct("LocalEnr")
            .field("seq", &self.record.seq())
            .field("endpoints", &self.endpoints)
            .field("record", &self.record.to_base64())
            .finish_non_exhaustive()
    }
}

impl LocalEnr {
    /// Signs our first record. `last_seq` is the sequence number stored from the previous
    /// run: the new record uses `last_seq + 1`; with none (first start) it uses the current
    /// Unix time in milliseconds, as go-ethereum does.
    pub fn new(
        key: SecretKey,
        endpoints: EndpointConfig,
        last_seq: Option<u64>,
    ) -> Result<Self, EnrError> {
        let seq = match last_seq {
            Some(seq) => seq.checked_add(1).ok_or(EnrError::SeqOverflow)?,
            None => unix_time_millis(),
        };
        let record = build_enr(&key, seq, &endpoints)?;
        Ok(Self {
            key,
            endpoints,
            record,
        })
    }

    /// The current signed record.
    pub fn record(&self) -> &Enr {
        &self.record
    }

    /// The current sequence number.
    pub fn seq(&self) -> u64 {
        self.record.seq()
    }

    /// What the record currently advertises.
    pub fn endpoints(&self) -> &EndpointConfig {
        &self.endpoints
    }

    /// Our public key.
    pub fn peer_id(&self) -> PeerId {
        PeerId::from_secret_key(&self.key)
    }

    /// Our advertised contact address (see [`enr_to_node_record`]).
    pub fn node_record(&self) -> Result<NodeRecord, EnrError> {
        enr_to_node_record(&self.record)
    }

    /// Replaces the advertised endpoints. Re-signs with seq + 1 and returns true when they
    /// changed; returns false (and keeps the record) when they did not. On error nothing
    /// changes.
    pub fn set_endpoints(&mut self, endpoints: EndpointConfig) -> Result<bool, EnrError> {
        if endpoints == self.endpoints {
            return Ok(false);
        }
        let seq = self.seq().checked_add(1).ok_or(EnrError::SeqOverflow)?;
        self.record = build_enr(&self.key, seq, &endpoints)?;
        self.endpoints = endpoints;
        Ok(true)
    }

    /// Edits a copy of the endpoints and applies it with [`LocalEnr::set_endpoints`].
    pub fn update(&mut self, edit: impl FnOnce(&mut EndpointConfig)) -> Result<bool, EnrError> {
        let mut endpoints = self.endpoints.clone();
        edit(&mut endpoints);
        self.set_endpoints(endpoints)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_values_must_be_exactly_one_rlp_item() {
        assert!(is_single_rlp_item(&[0x05]));
        assert!(is_single_rlp_item(&[0x80]));
        assert!(is_single_rlp_item(&[0xc2, 0x01, 0x02]));
        assert!(!is_single_rlp_item(&[]));
        assert!(!is_single_rlp_item(&[0x05, 0x06]));
        assert!(!is_single_rlp_item(&[0xc2, 0x01]));
        assert!(
            !is_single_rlp_item(&[0x81, 0x05]),
            "non-canonical single byte"
        );
    }

    #[test]
    fn lan_classification() {
        for lan in [
            "10.1.1.1",
            "192.168.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(is_lan(lan.parse().unwrap()), "{lan}");
        }
        for global in ["8.8.8.8", "2a01:4f8::1", "2001:db8::1"] {
            assert!(!is_lan(global.parse().unwrap()), "{global}");
        }
    }

    #[test]
    fn text_form_rules() {
        assert_eq!(parse_enr("ENR:abc"), Err(EnrError::MissingPrefix));
        assert_eq!(parse_enr("enr:"), Err(EnrError::Empty));
        assert!(
            matches!(parse_enr("enr:a+b/"), Err(EnrError::Base64(_))),
            "standard alphabet"
        );
        assert!(
            matches!(parse_enr("enr:wA=="), Err(EnrError::Malformed(_))),
            "padding tolerated"
        );
    }
}
