//! Disconnect (0x01): reasons, encoding, and the lenient decoder every client needs.

use std::fmt;

use alloy_rlp::{Decodable, Header};

use super::snappy::SnappyCodec;

/// Why a session ends, as carried in a Disconnect message.
///
/// Unknown values are kept in [`DisconnectReason::Other`] so they can be logged and echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// 0x00: disconnect requested.
    DisconnectRequested,
    /// 0x01: TCP sub-system / network error.
    NetworkError,
    /// 0x02: breach of protocol, e.g. a malformed message or bad RLP.
    ProtocolBreach,
    /// 0x03: no shared capability (useless peer).
    UselessPeer,
    /// 0x04: too many peers.
    TooManyPeers,
    /// 0x05: already connected.
    AlreadyConnected,
    /// 0x06: incompatible p2p protocol version.
    IncompatibleVersion,
    /// 0x07: null or malformed node identity.
    InvalidIdentity,
    /// 0x08: client quitting.
    ClientQuitting,
    /// 0x09: unexpected identity in the Hello.
    UnexpectedIdentity,
    /// 0x0a: connected to self.
    ConnectedToSelf,
    /// 0x0b: read or ping timeout.
    PingTimeout,
    /// 0x10: a sub-protocol ended the session.
    SubprotocolError,
    /// Any other value (geth uses 0xff internally for "undecodable").
    Other(u8),
}

impl DisconnectReason {
    /// Reason used when a Disconnect payload cannot be decoded (geth's internal 0xff).
    pub const UNDECODABLE: Self = Self::Other(0xff);

    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            Self::DisconnectRequested => 0x00,
            Self::NetworkError => 0x01,
            Self::ProtocolBreach => 0x02,
            Self::UselessPeer => 0x03,
            Self::TooManyPeers => 0x04,
            Self::AlreadyConnected => 0x05,
            Self::IncompatibleVersion => 0x06,
            Self::InvalidIdentity => 0x07,
            Self::ClientQuitting => 0x08,
            Self::UnexpectedIdentity => 0x09,
            Self::ConnectedToSelf => 0x0a,
            Self::PingTimeout => 0x0b,
            Self::SubprotocolError => 0x10,
            Self::Other(v) => v,
        }
    }
}

impl From<u8> for DisconnectReason {
    fn from(v: u8) -> Self {
        match v {
            0x00 => Self::DisconnectRequested,
            0x01 => Self::NetworkError,
            0x02 => Self::ProtocolBreach,
            0x03 => Self::UselessPeer,
            0x04 => Self::TooManyPeers,
            0x05 => Self::AlreadyConnected,
            0x06 => Self::IncompatibleVersion,
            0x07 => Self::InvalidIdentity,
            0x08 => Self::ClientQuitting,
            0x09 => Self::UnexpectedIdentity,
            0x0a => Self::ConnectedToSelf,
            0x0b => Self::PingTimeout,
            0x10 => Self::SubprotocolError,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::DisconnectRequested => "disconnect requested",
            Self::NetworkError => "network error",
            Self::ProtocolBreach => "breach of protocol",
            Self::UselessPeer => "useless peer (no shared capability)",
            Self::TooManyPeers => "too many peers",
            Self::AlreadyConnected => "already connected",
            Self::IncompatibleVersion => "incompatible p2p protocol version",
            Self::InvalidIdentity => "invalid node identity",
            Self::ClientQuitting => "client quitting",
            Self::UnexpectedIdentity => "unexpected identity",
            Self::ConnectedToSelf => "connected to self",
            Self::PingTimeout => "read timeout",
            Self::SubprotocolError => "subprotocol error",
            Self::Other(v) => return write!(f, "unknown reason {v:#04x}"),
        };
        write!(f, "{text} ({:#04x})", self.code())
    }
}

/// Encodes an uncompressed Disconnect payload in the canonical `[reason]` form.
pub fn encode_disconnect(reason: DisconnectReason) -> Vec<u8> {
    alloy_rlp::encode(vec![reason.code()])
}

/// Decodes a Disconnect payload, accepting every form seen in the wild:
/// `[reason]` or a bare integer, each either plain or snappy-compressed (ethereumjs sends a bare
/// uncompressed integer even after snappy is on). An empty payload or empty list means
/// "requested". Returns `None` when nothing in the payload is a reason.
///
/// `snappy` is the session's codec when snappy is on. A payload can read both ways (a
/// compressed one whose length prefix and first byte happen to form one RLP list), so the
/// form the session expects is tried first: compressed when snappy is on, plain otherwise.
/// The short forms real clients send read only one way.
pub fn decode_disconnect(
    payload: &[u8],
    snappy: Option<&mut SnappyCodec>,
) -> Option<DisconnectReason> {
    match snappy {
        Some(codec) => decode_compressed(payload, codec).or_else(|| decode_plain(payload)),
        None => {
            decode_plain(payload).or_else(|| decode_compressed(payload, &mut SnappyCodec::new()))
        }
    }
}

/// A snappy-compressed plain form.
pub(super) fn decode_compressed(
    payload: &[u8],
    codec: &mut SnappyCodec,
) -> Option<DisconnectReason> {
    codec
        .decompress(payload)
        .ok()
        .and_then(|plain| decode_plain(&plain))
}

/// Plain (uncompressed) forms: exactly one RLP item, either an integer or a list whose first
/// element is an integer (extra list elements ignored).
pub(super) fn decode_plain(payload: &[u8]) -> Option<DisconnectReason> {
    if payload.is_empty() {
        return Some(DisconnectReason::DisconnectRequested);
    }
    let mut buf = payload;
    let header = Header::decode(&mut buf).ok()?;
    if header.payload_length != buf.len() {
        return None;
    }
    if !header.list {
        return reason_item(payload);
    }
    if buf.is_empty() {
        return Some(DisconnectReason::DisconnectRequested);
    }
    reason_item(buf)
}

/// One integer item at the start of `buf`. A lone `0x00` byte (non-canonical zero, sent by
/// some old clients) is read as 0 rather than rejected.
fn reason_item(mut buf: &[u8]) -> Option<DisconnectReason> {
    if buf.first() == Some(&0x00) {
        return Some(DisconnectReason::DisconnectRequested);
    }
    u8::decode(&mut buf).ok().map(DisconnectReason::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed(plain: &[u8]) -> Vec<u8> {
        SnappyCodec::new().compress(plain).unwrap().to_vec()
    }

    #[test]
    fn all_reasons_round_trip_through_u8() {
        for v in 0..=u8::MAX {
            assert_eq!(DisconnectReason::from(v).code(), v);
        }
        assert_eq!(DisconnectReason::from(0x0c), DisconnectReason::Other(0x0c));
    }

    #[test]
    fn canonical_encoding() {
        assert_eq!(
            encode_disconnect(DisconnectReason::ClientQuitting),
            vec![0xc1, 0x08]
        );
        assert_eq!(
            encode_disconnect(DisconnectReason::DisconnectRequested),
            vec![0xc1, 0x80]
        );
        assert_eq!(
            encode_disconnect(DisconnectReason::SubprotocolError),
            vec![0xc1, 0x10]
        );
    }

    #[test]
    fn every_form_decodes() {
        let r = DisconnectReason::ClientQuitting;
        let list = vec![0xc1, 0x08];
        let bare = vec![0x08];
        for payload in [
            list.clone(),
            bare.clone(),
            compressed(&list),
            compressed(&bare),
        ] {
            assert_eq!(decode_disconnect(&payload, None), Some(r), "{payload:02x?}");
            let mut codec = SnappyCodec::new();
            assert_eq!(decode_disconnect(&payload, Some(&mut codec)), Some(r));
        }
        // reason 0 as list, bare, and compressed
        for payload in [vec![0xc1, 0x80], vec![0x80], compressed(&[0xc1, 0x80])] {
            assert_eq!(
                decode_disconnect(&payload, None),
                Some(DisconnectReason::DisconnectRequested)
            );
        }
    }

    #[test]
    fn empty_forms_mean_requested() {
        for payload in [
            vec![],
            vec![0xc0],
            compressed(&[0xc0]),
            vec![0x00],
            vec![0xc1, 0x00],
        ] {
            assert_eq!(
                decode_disconnect(&payload, None),
                Some(DisconnectReason::DisconnectRequested)
            );
        }
    }

    #[test]
    fn extra_list_elements_ignored_and_unknown_kept() {
        assert_eq!(
            decode_disconnect(&[0xc2, 0x04, 0x05], None),
            Some(DisconnectReason::TooManyPeers)
        );
        assert_eq!(
            decode_disconnect(&[0x81, 0xee], None),
            Some(DisconnectReason::Other(0xee))
        );
    }

    proptest::proptest! {
        #[test]
        fn proptest_all_forms_round_trip(v in proptest::prelude::any::<u8>()) {
            let reason = DisconnectReason::from(v);
            let list = encode_disconnect(reason);
            let bare = alloy_rlp::encode(v);
            for payload in [compressed(&list), compressed(&bare), list, bare] {
                proptest::prop_assert_eq!(decode_disconnect(&payload, None), Some(reason));
            }
        }

        #[test]
        fn proptest_decode_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = decode_disconnect(&data, None);
        }
    }

    /// Found by the `p2p_disconnect` fuzz target: a compressed payload whose varint length
    /// prefix reads as a list header (0xe4: 36 bytes follow) and whose second byte reads as
    /// the reason (0x01). It used to decode to that reason even with snappy on.
    #[test]
    fn payload_that_reads_both_ways_follows_the_session() {
        // The plain payload: [0x10, <223 zero bytes>], 228 bytes.
        let mut plain = vec![0xf8, 0xe2, 0x10, 0xb8, 0xdf];
        plain.resize(228, 0);
        // Its compressed form by hand: varint 228, a 5-byte literal, a 1-byte literal, then
        // nine copies at offset 1 (eight of 24 bytes, one of 30) to reach exactly 37 bytes.
        let mut compressed = vec![0xe4, 0x01, 0x10, 0xf8, 0xe2, 0x10, 0xb8, 0xdf, 0x00, 0x00];
        for len in [24u8; 8].into_iter().chain([30]) {
            compressed.extend_from_slice(&[((len - 1) << 2) | 0b10, 0x01, 0x00]);
        }
        assert_eq!(compressed.len(), 37);
        let mut codec = SnappyCodec::new();
        assert_eq!(&codec.decompress(&compressed).unwrap()[..], &plain[..]);

        assert_eq!(
            decode_disconnect(&compressed, Some(&mut codec)),
            Some(DisconnectReason::SubprotocolError)
        );
        assert_eq!(
            decode_disconnect(&compressed, None),
            Some(DisconnectReason::NetworkError)
        );
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(decode_disconnect(&[0xc1], None), None);
        assert_eq!(decode_disconnect(&[0x82, 0x01, 0x00], None), None); // > u8
        assert_eq!(decode_disconnect(&[0x08, 0x08], None), None);
        assert_eq!(decode_disconnect(&[0xc1, 0xc0], None), None);
    }
}
