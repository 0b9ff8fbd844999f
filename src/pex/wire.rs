//! The `pex/1` messages (design §8.5): Status, GetPeers and Peers, RLP lists whose decoders
//! ignore extra trailing elements (EIP-8) so later versions can append fields. Every limit
//! (message size, record count, record size) is checked before anything is allocated for it.
//!
//! | code | message  | body                                              |
//! |------|----------|---------------------------------------------------|
//! | 0x00 | Status   | `[version, flags, own_enr, max_records]`          |
//! | 0x01 | GetPeers | `[request_id, limit]`                             |
//! | 0x02 | Peers    | `[request_id, [enr, ...], hints]`                 |
//!
//! ENRs are embedded as their RLP lists, not wrapped in byte strings.

use alloy_rlp::{Decodable, Encodable, Header};
use bytes::{BufMut, Bytes, BytesMut};
use enode::{decode_enr, Enr, MAX_ENR_SIZE};

/// The capability's name.
pub const PEX_NAME: &str = "pex";
/// The capability's version.
pub const PEX_VERSION: u32 = 1;
/// Message codes the capability uses.
pub const PEX_MESSAGES: u64 = 3;

/// Status message code.
pub const STATUS: u64 = 0x00;
/// GetPeers message code.
pub const GET_PEERS: u64 = 0x01;
/// Peers message code.
pub const PEERS: u64 = 0x02;

/// Most records one Peers message may carry (and most a GetPeers may ask for).
pub const MAX_RECORDS: usize = 64;
/// Largest Peers payload accepted (before compression).
pub const MAX_PEERS_SIZE: usize = 32 * 1024;
/// Largest Status payload accepted: one record plus a few integers.
pub const MAX_STATUS_SIZE: usize = MAX_ENR_SIZE + 64;
/// Largest GetPeers payload accepted.
pub const MAX_GET_PEERS_SIZE: usize = 64;

/// Status flag: the sender is a seed (it answers one GetPeers, then hangs up).
pub const FLAG_SEED: u64 = 1;
/// Status flag: the sender wants addresses.
pub const FLAG_WANTS_ADDRESSES: u64 = 1 << 1;

/// Hint bit: the sender had a session with the record's node in the last 24 h.
pub const HINT_CONNECTED: u8 = 1;

/// Why a `pex/1` message could not be decoded. Every variant is the sender's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A code outside the capability's three messages.
    #[error("unknown pex message code {0}")]
    UnknownCode(u64),
    /// The payload is larger than the message may be.
    #[error("pex message {code} is {size} bytes, more than the {max} allowed")]
    TooLarge {
        /// The message code.
        code: u64,
        /// Its payload size.
        size: usize,
        /// The limit for that code.
        max: usize,
    },
    /// A Peers message with more records than [`MAX_RECORDS`].
    #[error("more than {MAX_RECORDS} records in a Peers message")]
    TooManyRecords,
    /// An embedded record larger than [`MAX_ENR_SIZE`].
    #[error("a {0}-byte record, more than the {MAX_ENR_SIZE} a record may be")]
    RecordTooLarge(usize),
    /// The Status record does not decode or its signature does not verify.
    #[error("bad record in Status: {0}")]
    BadStatusRecord(String),
    /// The RLP structure is wrong.
    #[error("malformed pex message: {0}")]
    Malformed(String),
}

impl From<alloy_rlp::Error> for WireError {
    fn from(error: alloy_rlp::Error) -> Self {
        Self::Malformed(error.to_string())
    }
}

/// The first message on a `pex/1` session, sent by both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Protocol version (1).
    pub version: u64,
    /// [`FLAG_SEED`], [`FLAG_WANTS_ADDRESSES`]; unknown bits are ignored.
    pub flags: u64,
    /// The sender's own signed record; must carry the session's key.
    pub enr: Enr,
    /// Most records the sender will put in one Peers message.
    pub max_records: u64,
}

impl Status {
    /// True when the sender announced itself as a seed.
    pub fn is_seed(&self) -> bool {
        self.flags & FLAG_SEED != 0
    }
}

/// A request for addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetPeers {
    /// Echoed by the answer.
    pub request_id: u64,
    /// Most records wanted (answers carry at most [`MAX_RECORDS`] whatever is asked).
    pub limit: u64,
}

/// The answer to a GetPeers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    /// The request this answers.
    pub request_id: u64,
    /// The records that decoded and verified.
    pub records: Vec<Enr>,
    /// One advisory byte per record ([`HINT_CONNECTED`]); may be shorter than `records`.
    /// Decoding drops the hint of a record that did not verify with the record, so
    /// `hints[n]` always belongs to `records[n]`.
    pub hints: Vec<u8>,
    /// Records in the message that did not decode or verify (always 0 when encoding); the
    /// sender is blamed for them, the rest of the message is still used.
    pub invalid: usize,
}

/// One `pex/1` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PexMessage {
    /// Code 0x00.
    Status(Status),
    /// Code 0x01.
    GetPeers(GetPeers),
    /// Code 0x02.
    Peers(Peers),
}

impl PexMessage {
    /// The message code relative to the capability.
    pub fn code(&self) -> u64 {
        match self {
            Self::Status(_) => STATUS,
            Self::GetPeers(_) => GET_PEERS,
            Self::Peers(_) => PEERS,
        }
    }

    /// The RLP payload. A Peers message is cut to [`MAX_RECORDS`] records.
    pub fn encode(&self) -> Bytes {
        let mut body = BytesMut::new();
        match self {
            Self::Status(status) => {
                status.version.encode(&mut body);
                status.flags.encode(&mut body);
                status.enr.encode(&mut body);
                status.max_records.encode(&mut body);
            }
            Self::GetPeers(get) => {
                get.request_id.encode(&mut body);
                get.limit.encode(&mut body);
            }
            Self::Peers(peers) => {
                peers.request_id.encode(&mut body);
                let records = &peers.records[..peers.records.len().min(MAX_RECORDS)];
                let mut list = BytesMut::new();
                for record in records {
                    record.encode(&mut list);
                }
                Header {
                    list: true,
                    payload_length: list.len(),
                }
                .encode(&mut body);
                body.put_slice(&list);
                let hints = &peers.hints[..peers.hints.len().min(records.len())];
                hints.encode(&mut body);
            }
        }
        let mut out = BytesMut::with_capacity(body.len() + 9);
        Header {
            list: true,
            payload_length: body.len(),
        }
        .encode(&mut out);
        out.put_slice(&body);
        out.freeze()
    }

    /// Decodes the payload of message `code`. The size limit of the code is checked first,
    /// then the record count and each record's size before the record is decoded.
    pub fn decode(code: u64, payload: &[u8]) -> Result<Self, WireError> {
        let max = match code {
            STATUS => MAX_STATUS_SIZE,
            GET_PEERS => MAX_GET_PEERS_SIZE,
            PEERS => MAX_PEERS_SIZE,
            other => return Err(WireError::UnknownCode(other)),
        };
        if payload.len() > max {
            return Err(WireError::TooLarge {
                code,
                size: payload.len(),
                max,
            });
        }
        let mut body = list_payload(payload)?;
        match code {
            STATUS => {
                let version = u64::decode(&mut body)?;
                let flags = u64::decode(&mut body)?;
                let raw = take_list_item(&mut body)?;
                let enr = decode_enr(raw).map_err(|e| WireError::BadStatusRecord(e.to_string()))?;
                let max_records = u64::decode(&mut body)?;
                Ok(Self::Status(Status {
                    version,
                    flags,
                    enr,
                    max_records,
                }))
            }
            GET_PEERS => Ok(Self::GetPeers(GetPeers {
                request_id: u64::decode(&mut body)?,
                limit: u64::decode(&mut body)?,
            })),
            _ => {
                let request_id = u64::decode(&mut body)?;
                let mut list = list_payload(body)?;
                body = &body[body.len() - remaining_after_list(body)?..];
                let mut records = Vec::new();
                // The position of each kept record in the message, for its hint.
                let mut positions = Vec::new();
                let mut count = 0usize;
                let mut invalid = 0usize;
                while !list.is_empty() {
                    count += 1;
                    if count > MAX_RECORDS {
                        return Err(WireError::TooManyRecords);
                    }
                    let raw = take_list_item(&mut list)?;
                    match decode_enr(raw) {
                        Ok(record) => {
                            records.push(record);
                            positions.push(count - 1);
                        }
                        Err(_) => invalid += 1,
                    }
                }
                let hints = Header::decode_bytes(&mut body, false)?;
                if hints.len() > count {
                    return Err(WireError::Malformed(format!(
                        "{} hint bytes for {count} records",
                        hints.len()
                    )));
                }
                // A dropped record's hint goes with it, so the rest stay in line.
                let hints = positions
                    .iter()
                    .map_while(|at| hints.get(*at).copied())
                    .collect();
                Ok(Self::Peers(Peers {
                    request_id,
                    records,
                    hints,
                    invalid,
                }))
            }
        }
    }
}

/// The payload of the RLP list at the start of `data` (trailing bytes after it ignored,
/// as extra elements inside it are by the callers).
fn list_payload(mut data: &[u8]) -> Result<&[u8], WireError> {
    let header = Header::decode(&mut data)?;
    if !header.list {
        return Err(WireError::Malformed("expected a list".into()));
    }
    data.get(..header.payload_length)
        .ok_or_else(|| WireError::Malformed("list longer than the message".into()))
}

/// How many bytes follow the RLP list at the start of `data`.
fn remaining_after_list(data: &[u8]) -> Result<usize, WireError> {
    let mut rest = data;
    let header = Header::decode(&mut rest)?;
    rest.len()
        .checked_sub(header.payload_length)
        .ok_or_else(|| WireError::Malformed("list longer than the message".into()))
}

/// Splits one RLP list item (header included) off the front of `data`, refusing items over
/// [`MAX_ENR_SIZE`] before looking inside.
fn take_list_item<'a>(data: &mut &'a [u8]) -> Result<&'a [u8], WireError> {
    let mut rest = *data;
    let header = Header::decode(&mut rest)?;
    if !header.list {
        return Err(WireError::Malformed("a record must be an RLP list".into()));
    }
    let header_len = data.len() - rest.len();
    let total = header_len
        .checked_add(header.payload_length)
        .ok_or_else(|| WireError::Malformed("record length overflows".into()))?;
    if total > MAX_ENR_SIZE {
        return Err(WireError::RecordTooLarge(total));
    }
    let item = data
        .get(..total)
        .ok_or_else(|| WireError::Malformed("record longer than the message".into()))?;
    *data = &data[total..];
    Ok(item)
}

/// The fuzz target's body: decodes `data` as each message code; a message that decodes
/// re-encodes to something that decodes to the same message.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn fuzz_message(data: &[u8]) {
    let Some((&code, payload)) = data.split_first() else {
        return;
    };
    let code = u64::from(code % 4);
    if let Ok(message) = PexMessage::decode(code, payload) {
        if matches!(&message, PexMessage::Peers(peers) if peers.invalid > 0) {
            // The dropped records are gone from the re-encoding too; nothing to compare.
            return;
        }
        let again = PexMessage::decode(code, &message.encode());
        assert_eq!(
            again.ok().as_ref(),
            Some(&message),
            "re-encoding changed the message"
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use enode::{build_enr, EndpointConfig, NodeKey};
    use proptest::prelude::*;

    use super::*;

    fn record(seed: u8, seq: u64) -> Enr {
        // Distinct valid secret keys (a key of all 0xff bytes is above the curve order).
        let mut secret = [1u8; 32];
        secret[31] = seed;
        let key = NodeKey::from_hex(&hex::encode(secret)).unwrap();
        let endpoints = EndpointConfig {
            ip4: Some([10, 0, seed, 1].into()),
            tcp4: Some(30303),
            udp4: Some(30303),
            ..EndpointConfig::default()
        };
        build_enr(key.secret_key(), seq, &endpoints).unwrap()
    }

    fn roundtrip(message: &PexMessage) -> PexMessage {
        PexMessage::decode(message.code(), &message.encode()).unwrap()
    }

    #[test]
    fn status_roundtrips_and_keeps_its_flags() {
        let status = PexMessage::Status(Status {
            version: 1,
            flags: FLAG_SEED | FLAG_WANTS_ADDRESSES,
            enr: record(3, 7),
            max_records: 64,
        });
        assert_eq!(roundtrip(&status), status);
        let PexMessage::Status(decoded) = roundtrip(&status) else {
            panic!("not a status");
        };
        assert!(decoded.is_seed());
    }

    #[test]
    fn extra_trailing_elements_are_ignored() {
        // GetPeers [7, 16, "later"] from a future version.
        let mut body = BytesMut::new();
        7u64.encode(&mut body);
        16u64.encode(&mut body);
        b"later"[..].encode(&mut body);
        let mut payload = BytesMut::new();
        Header {
            list: true,
            payload_length: body.len(),
        }
        .encode(&mut payload);
        payload.put_slice(&body);
        assert_eq!(
            PexMessage::decode(GET_PEERS, &payload).unwrap(),
            PexMessage::GetPeers(GetPeers {
                request_id: 7,
                limit: 16
            })
        );
    }

    /// A Peers payload with `records` given as raw RLP (forged ones included) and `hints`.
    fn raw_peers(request_id: u64, records: &[Vec<u8>], hints: &[u8]) -> BytesMut {
        let list = records.concat();
        let mut body = BytesMut::new();
        request_id.encode(&mut body);
        Header {
            list: true,
            payload_length: list.len(),
        }
        .encode(&mut body);
        body.put_slice(&list);
        hints.encode(&mut body);
        let mut payload = BytesMut::new();
        Header {
            list: true,
            payload_length: body.len(),
        }
        .encode(&mut payload);
        payload.put_slice(&body);
        payload
    }

    /// A record whose signature does not verify.
    fn forged_record() -> Vec<u8> {
        let mut forged = alloy_rlp::encode(record(2, 1));
        // Flip a byte of the signature (the first string in the record list).
        forged[5] ^= 0x55;
        forged
    }

    #[test]
    fn a_forged_record_is_counted_not_fatal() {
        let good = record(1, 1);
        let payload = raw_peers(9, &[alloy_rlp::encode(&good), forged_record()], b"");
        let PexMessage::Peers(peers) = PexMessage::decode(PEERS, &payload).unwrap() else {
            panic!("not peers");
        };
        assert_eq!(peers.records, vec![good]);
        assert_eq!(peers.invalid, 1);
    }

    #[test]
    fn a_dropped_record_takes_its_hint_along() {
        let good = record(1, 1);
        // The forged record claims nothing, the good one a session.
        let payload = raw_peers(
            9,
            &[forged_record(), alloy_rlp::encode(&good)],
            &[0, HINT_CONNECTED],
        );
        let PexMessage::Peers(peers) = PexMessage::decode(PEERS, &payload).unwrap() else {
            panic!("not peers");
        };
        assert_eq!(peers.records, vec![good]);
        assert_eq!(peers.hints, vec![HINT_CONNECTED]);
        assert_eq!(peers.invalid, 1);
    }

    #[test]
    fn limits_are_enforced() {
        let many = PexMessage::Peers(Peers {
            request_id: 1,
            records: (0..MAX_RECORDS as u8 + 5)
                .map(|i| record(i + 1, 1))
                .collect(),
            hints: vec![],
            invalid: 0,
        });
        // Encoding cuts to the limit.
        let PexMessage::Peers(back) = roundtrip(&many) else {
            panic!("not peers");
        };
        assert_eq!(back.records.len(), MAX_RECORDS);

        // 65 tiny list items: refused at the 65th, whatever they hold.
        let mut list = BytesMut::new();
        for _ in 0..=MAX_RECORDS {
            list.put_u8(0xc0);
        }
        let mut body = BytesMut::new();
        1u64.encode(&mut body);
        Header {
            list: true,
            payload_length: list.len(),
        }
        .encode(&mut body);
        body.put_slice(&list);
        b""[..].encode(&mut body);
        let mut payload = BytesMut::new();
        Header {
            list: true,
            payload_length: body.len(),
        }
        .encode(&mut payload);
        payload.put_slice(&body);
        assert_eq!(
            PexMessage::decode(PEERS, &payload),
            Err(WireError::TooManyRecords)
        );

        // A 301-byte record is refused by its header alone.
        let mut big = BytesMut::new();
        Header {
            list: true,
            payload_length: 298,
        }
        .encode(&mut big);
        big.put_slice(&[0x80; 298]);
        let mut body = BytesMut::new();
        1u64.encode(&mut body);
        Header {
            list: true,
            payload_length: big.len(),
        }
        .encode(&mut body);
        body.put_slice(&big);
        let mut payload = BytesMut::new();
        Header {
            list: true,
            payload_length: body.len(),
        }
        .encode(&mut payload);
        payload.put_slice(&body);
        assert_eq!(
            PexMessage::decode(PEERS, &payload),
            Err(WireError::RecordTooLarge(301))
        );

        let huge = vec![0u8; MAX_PEERS_SIZE + 1];
        assert!(matches!(
            PexMessage::decode(PEERS, &huge),
            Err(WireError::TooLarge { .. })
        ));
        assert_eq!(PexMessage::decode(3, &[]), Err(WireError::UnknownCode(3)));
    }

    #[test]
    fn the_largest_answer_fits_the_limit() {
        // 64 records of the largest kind we build stay under the Peers size limit.
        let peers = PexMessage::Peers(Peers {
            request_id: u64::MAX,
            records: (1..=MAX_RECORDS as u8)
                .map(|i| record(i, u64::MAX))
                .collect(),
            hints: vec![HINT_CONNECTED; MAX_RECORDS],
            invalid: 0,
        });
        assert!(peers.encode().len() <= MAX_PEERS_SIZE);
        assert_eq!(roundtrip(&peers), peers);
    }

    #[test]
    #[ignore = "writes the fuzz seed corpus"]
    fn write_seed_corpus() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/pex_message");
        std::fs::create_dir_all(dir).unwrap();
        let status = |flags| {
            PexMessage::Status(Status {
                version: 1,
                flags,
                enr: record(4, 2),
                max_records: 64,
            })
        };
        let peers = |n: u8, hints: Vec<u8>| {
            PexMessage::Peers(Peers {
                request_id: u64::from(n) * 1000,
                records: (1..=n).map(|i| record(i, u64::from(i))).collect(),
                hints,
                invalid: 0,
            })
        };
        let messages = [
            ("status", status(0)),
            ("status_seed", status(FLAG_SEED | FLAG_WANTS_ADDRESSES)),
            (
                "get_peers",
                PexMessage::GetPeers(GetPeers {
                    request_id: 1,
                    limit: 64,
                }),
            ),
            (
                "get_peers_max",
                PexMessage::GetPeers(GetPeers {
                    request_id: u64::MAX,
                    limit: u64::MAX,
                }),
            ),
            ("peers_empty", peers(0, vec![])),
            ("peers_one", peers(1, vec![HINT_CONNECTED])),
            ("peers_three", peers(3, vec![1, 0])),
            ("peers_eight", peers(8, vec![1; 8])),
            ("peers_full", peers(64, vec![0; 64])),
        ];
        for (name, message) in messages {
            let mut data = vec![message.code() as u8];
            data.extend_from_slice(&message.encode());
            std::fs::write(format!("{dir}/{name}.bin"), data).unwrap();
        }
        // A GetPeers with an appended field, and a Peers with a forged record.
        std::fs::write(
            format!("{dir}/get_peers_extra.bin"),
            [1, 0xc4, 0x07, 0x10, 0x81, 0x80],
        )
        .unwrap();
        let mut forged = peers(2, vec![]).encode().to_vec();
        let at = forged.len() / 2;
        forged[at] ^= 0x40;
        let mut data = vec![2];
        data.extend_from_slice(&forged);
        std::fs::write(format!("{dir}/peers_forged.bin"), data).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn encode_decode_identity(
            request_id in any::<u64>(),
            limit in any::<u64>(),
            flags in any::<u64>(),
            seeds in proptest::collection::vec(1u8..=255, 0..8),
            hints in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let records: Vec<Enr> = seeds.iter().map(|s| record(*s, u64::from(*s))).collect();
            let hints = hints[..hints.len().min(records.len())].to_vec();
            let messages = [
                PexMessage::GetPeers(GetPeers { request_id, limit }),
                PexMessage::Status(Status { version: 1, flags, enr: record(9, request_id), max_records: limit }),
                PexMessage::Peers(Peers { request_id, records, hints, invalid: 0 }),
            ];
            for message in messages {
                prop_assert_eq!(roundtrip(&message), message);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(code in 0u64..4, data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = PexMessage::decode(code, &data);
        }
    }
}
