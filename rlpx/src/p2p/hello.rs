//! Hello (0x00): `[version, client-id, [[cap-name, cap-version], …], listen-port, node-id, …]`.

use alloy_rlp::{Decodable, Encodable, Header};
use enode::PeerId;

use super::{
    capability::{Capability, Protocol},
    error::P2pError,
};

/// Version of the p2p base protocol this implementation speaks (snappy from version 5 on).
pub const P2P_PROTOCOL_VERSION: u64 = 5;

/// Largest Hello payload accepted (geth's `baseProtocolMaxMsgSize`).
pub const MAX_HELLO_SIZE: usize = 2 * 1024;

/// The Hello message each side sends first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Base protocol version (5 enables snappy).
    pub protocol_version: u64,
    /// Free-form client name, e.g. `"kadnode/v0.1.0"`.
    pub client_id: String,
    /// Advertised capabilities.
    pub capabilities: Vec<Capability>,
    /// TCP listening port (0 = not announced; geth always sends 0).
    pub listen_port: u16,
    /// The sender's node id: the uncompressed secp256k1 public key without the `0x04` prefix.
    pub id: PeerId,
}

impl Hello {
    /// Our Hello as geth builds it: version 5, capabilities from `protocols` sorted by
    /// (name, version).
    pub fn for_protocols(
        client_id: impl Into<String>,
        id: PeerId,
        protocols: &[Protocol],
        listen_port: u16,
    ) -> Self {
        let mut capabilities: Vec<Capability> = protocols.iter().map(|p| p.capability()).collect();
        capabilities.sort();
        capabilities.dedup();
        Self {
            protocol_version: P2P_PROTOCOL_VERSION,
            client_id: client_id.into(),
            capabilities,
            listen_port,
            id,
        }
    }

    /// The Hello's id as a public key; [`P2pError::InvalidIdentity`] if it is not a curve point.
    pub fn public_key(&self) -> Result<secp256k1::PublicKey, P2pError> {
        let mut full = [0u8; 65];
        full[0] = 0x04;
        full[1..].copy_from_slice(&self.id.0);
        secp256k1::PublicKey::from_slice(&full).map_err(|_| P2pError::InvalidIdentity)
    }

    /// Encodes the Hello payload (without the message code). Capabilities are written in the
    /// order given; geth sorts them by (name, version), which callers may do beforehand.
    pub fn encode(&self) -> Vec<u8> {
        let caps_len: usize = self.capabilities.iter().map(Capability::rlp_length).sum();
        let fields_len = self.protocol_version.length()
            + self.client_id.as_str().length()
            + Header {
                list: true,
                payload_length: caps_len,
            }
            .length()
            + caps_len
            + self.listen_port.length()
            + self.id.0.length();
        let mut out = Vec::with_capacity(fields_len + 4);
        Header {
            list: true,
            payload_length: fields_len,
        }
        .encode(&mut out);
        self.protocol_version.encode(&mut out);
        self.client_id.as_str().encode(&mut out);
        Header {
            list: true,
            payload_length: caps_len,
        }
        .encode(&mut out);
        for cap in &self.capabilities {
            cap.encode_rlp(&mut out);
        }
        self.listen_port.encode(&mut out);
        self.id.0.encode(&mut out);
        out
    }

    /// Decodes a Hello payload leniently: known fields are read, anything after them (in the
    /// Hello list or in each capability list) is ignored, as EIP-8 requires.
    ///
    /// A node id that is not exactly 64 bytes or is all zeros is [`P2pError::InvalidIdentity`].
    /// Non-UTF-8 names are decoded lossily (geth treats them as opaque strings); a listen port
    /// above 65535 is reported as 0, since nobody uses the field.
    pub fn decode(payload: &[u8]) -> Result<Self, P2pError> {
        if payload.len() > MAX_HELLO_SIZE {
            return Err(P2pError::HelloTooLarge {
                size: payload.len(),
            });
        }
        let mut body = list_body(&mut &payload[..])?;
        let protocol_version = u64::decode(&mut body).map_err(hello_err("version"))?;
        let client_id = lossy_string(&mut body).map_err(hello_err("client id"))?;
        let mut caps_body = list_body(&mut body)?;
        let mut capabilities = Vec::new();
        while !caps_body.is_empty() {
            let mut cap = list_body(&mut caps_body)?;
            let name = lossy_string(&mut cap).map_err(hello_err("capability name"))?;
            let version = u32::decode(&mut cap).map_err(hello_err("capability version"))?;
            capabilities.push(Capability { name, version });
        }
        let listen_port = u64::decode(&mut body).map_err(hello_err("listen port"))?;
        let listen_port = u16::try_from(listen_port).unwrap_or(0);
        let id_bytes =
            Header::decode_bytes(&mut body, false).map_err(|_| P2pError::InvalidIdentity)?;
        let id = PeerId(id_bytes.try_into().map_err(|_| P2pError::InvalidIdentity)?);
        if id.0 == [0u8; 64] {
            return Err(P2pError::InvalidIdentity);
        }
        Ok(Self {
            protocol_version,
            client_id,
            capabilities,
            listen_port,
            id,
        })
    }
}

fn hello_err(field: &'static str) -> impl Fn(alloy_rlp::Error) -> P2pError {
    move |e| P2pError::InvalidHello(format!("{field}: {e}"))
}

/// Reads one RLP list from `buf` and returns its body (trailing data after it is left in `buf`).
fn list_body<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], P2pError> {
    Header::decode_bytes(buf, true).map_err(|e| P2pError::InvalidHello(format!("list: {e}")))
}

fn lossy_string(buf: &mut &[u8]) -> Result<String, alloy_rlp::Error> {
    let raw = Header::decode_bytes(buf, false)?;
    Ok(String::from_utf8_lossy(raw).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EIP8_HELLO: &str = "f87137916b6e6574682f76302e39312f706c616e39cdc5836574683dc6846d6f726b1682270fb840fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877c883666f6f836261720304";

    fn sample() -> Hello {
        Hello {
            protocol_version: 5,
            client_id: "kadnode/v0.1.0".into(),
            capabilities: vec![Capability::new("eth", 68), Capability::new("snap", 1)],
            listen_port: 30303,
            id: PeerId([0x11; 64]),
        }
    }

    #[test]
    fn eip8_vector_decodes_with_extra_fields() {
        let hello = Hello::decode(&hex::decode(EIP8_HELLO).unwrap()).unwrap();
        // The EIP text says version 22; the bytes say 0x37 = 55.
        assert_eq!(hello.protocol_version, 55);
        assert_eq!(hello.client_id, "kneth/v0.91/plan9");
        assert_eq!(
            hello.capabilities,
            vec![Capability::new("eth", 61), Capability::new("mork", 22)]
        );
        assert_eq!(hello.listen_port, 9999);
        assert_eq!(
            hello.id.to_string(),
            &EIP8_HELLO[EIP8_HELLO.len() - 128 - 22..EIP8_HELLO.len() - 22]
        );
    }

    #[test]
    fn for_protocols_sorts_like_geth_and_ids_round_trip() {
        let secp = secp256k1::Secp256k1::new();
        let key = secp256k1::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let public = secp256k1::PublicKey::from_secret_key(&secp, &key);
        let id = PeerId::from_public_key(&public);
        let protocols = [
            Protocol::new("snap", 1, 8),
            Protocol::new("eth", 69, 18),
            Protocol::new("eth", 68, 17),
        ];
        let h = Hello::for_protocols("kadnode", id, &protocols, 0);
        assert_eq!(h.protocol_version, 5);
        let order: Vec<String> = h.capabilities.iter().map(ToString::to_string).collect();
        assert_eq!(order, ["eth/68", "eth/69", "snap/1"]);
        assert_eq!(h.public_key().unwrap(), public);
        let mut bad = h.clone();
        bad.id = PeerId([0xff; 64]);
        assert!(matches!(bad.public_key(), Err(P2pError::InvalidIdentity)));
    }

    #[test]
    fn round_trip_sample() {
        let h = sample();
        assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn alloy_list_encoding_matches() {
        // cross-check the hand-rolled header lengths against a second construction
        let cap = Capability::new("eth", 68);
        let mut a = Vec::new();
        cap.encode_rlp(&mut a);
        assert_eq!(a, hex::decode("c58365746844").unwrap());
    }

    #[test]
    fn zero_and_short_ids_are_invalid_identity() {
        let mut h = sample();
        h.id = PeerId([0; 64]);
        assert!(matches!(
            Hello::decode(&h.encode()),
            Err(P2pError::InvalidIdentity)
        ));
        // a 63-byte id: re-encode by hand
        let good = sample().encode();
        let mut short = good.clone();
        // id is the last 66 bytes: 0xb8 0x40 ‖ 64 bytes; replace with 0xb8 0x3f ‖ 63 bytes
        let n = short.len();
        short.truncate(n - 1);
        short[n - 65] = 0x3f;
        short[1] -= 1; // outer list length (single length byte for this size)
        assert!(matches!(
            Hello::decode(&short),
            Err(P2pError::InvalidIdentity)
        ));
    }

    #[test]
    fn oversize_hello_rejected() {
        let mut h = sample();
        h.client_id = "x".repeat(3000);
        assert!(matches!(
            Hello::decode(&h.encode()),
            Err(P2pError::HelloTooLarge { .. })
        ));
    }

    #[test]
    fn garbage_rejected() {
        for bad in [
            &[][..],
            &[0x80],
            &[0xc0],
            &[0xc1, 0x05],
            &[0xc2, 0x05, 0x80],
        ] {
            assert!(Hello::decode(bad).is_err(), "{bad:02x?}");
        }
    }

    fn arb_cap() -> impl Strategy<Value = Capability> {
        ("[a-z]{1,8}", any::<u32>()).prop_map(|(name, version)| Capability { name, version })
    }

    proptest! {
        #[test]
        fn proptest_round_trip(
            protocol_version in any::<u64>(),
            client_id in "\\PC{0,40}",
            capabilities in proptest::collection::vec(arb_cap(), 0..8),
            listen_port in any::<u16>(),
            id in proptest::array::uniform32(any::<u8>()),
            id2 in proptest::array::uniform32(1u8..),
        ) {
            let mut full = [0u8; 64];
            full[..32].copy_from_slice(&id);
            full[32..].copy_from_slice(&id2);
            let h = Hello { protocol_version, client_id, capabilities, listen_port, id: PeerId(full) };
            prop_assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
        }

        #[test]
        fn proptest_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Hello::decode(&data);
        }
    }
}
