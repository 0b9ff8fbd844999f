//! `kadnode enr decode`: print an ENR's fields and check its signature.
//!
//! A record whose signature does not verify is still shown, field by field, with
//! "Signature valid: NO" (as go-ethereum's `enrdump` does): telling why a record is refused
//! is the point of the command.

use std::path::Path;

use alloy_rlp::Header;
use base64::Engine as _;
use enode::{decode_enr, parse_enr, Enr, PeerId, PublicKey};
use serde_json::{json, Value};

use super::{output, parse::abbreviate, CliError};

/// Largest record file `--file` reads (a record is at most 300 bytes; text forms a bit more).
const MAX_FILE_SIZE: u64 = 64 * 1024;

/// Decodes `text`: `enr:…` text, or the record's RLP as hex (with or without `0x`).
pub fn decode(text: &str) -> Result<Enr, CliError> {
    let bytes = record_bytes(text)?;
    let text = text.trim();
    decode_enr(&bytes)
        .map_err(|e| CliError::usage(format!("invalid ENR {}: {e}", abbreviate(text))))
}

/// The record's RLP bytes from `enr:<base64>` or hex text.
fn record_bytes(text: &str) -> Result<Vec<u8>, CliError> {
    let text = text.trim();
    if let Some(encoded) = text.strip_prefix("enr:") {
        // Validate the text form the same way as everywhere else first (length bound,
        // base64 alphabet); only a signature failure falls through to the raw bytes.
        return base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded.trim_end_matches('='))
            .map_err(|e| {
                CliError::usage(format!("invalid ENR {}: bad base64: {e}", abbreviate(text)))
            });
    }
    let hex_text = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(hex_text).map_err(|_| {
        CliError::usage(format!(
            "invalid ENR {}: want enr:<base64> or the record's RLP in hex",
            abbreviate(text)
        ))
    })
}

/// Runs `enr decode` on a record given as an argument or in a file (`-` for stdin).
pub fn run_decode(
    record: Option<&str>,
    file: Option<&Path>,
    json_mode: bool,
) -> Result<(), CliError> {
    let text = match (record, file) {
        (Some(text), None) => text.to_owned(),
        (None, Some(path)) => read_record_file(path)?,
        _ => {
            return Err(CliError::usage(
                "give the record as an argument or with --file, not both",
            ))
        }
    };
    let text = text.trim();
    match parse_verified(text) {
        Ok(enr) => {
            output::emit(json_mode, &output::enr_human(&enr), &output::enr_json(&enr));
            Ok(())
        }
        Err(error) => {
            // Show what a record with a bad signature says; anything else is not a record.
            let bytes = record_bytes(text)?;
            let raw = RawRecord::decode(&bytes).map_err(|_| error)?;
            output::emit(json_mode, &raw.human(), &raw.json());
            Err(CliError::failed("the record's signature is not valid"))
        }
    }
}

fn parse_verified(text: &str) -> Result<Enr, CliError> {
    if text.starts_with("enr:") {
        return parse_enr(text)
            .map_err(|e| CliError::usage(format!("invalid ENR {}: {e}", abbreviate(text))));
    }
    decode(text)
}

fn read_record_file(path: &Path) -> Result<String, CliError> {
    let read = |path: &Path| -> std::io::Result<String> {
        use std::io::Read;
        let mut text = String::new();
        if path == Path::new("-") {
            std::io::stdin()
                .take(MAX_FILE_SIZE)
                .read_to_string(&mut text)?;
        } else {
            std::fs::File::open(path)?
                .take(MAX_FILE_SIZE)
                .read_to_string(&mut text)?;
        }
        Ok(text)
    };
    let text =
        read(path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    // The first non-empty line: files from `key to-enr` or nodes lists end with a newline.
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| CliError::usage(format!("{} holds no record", path.display())))
}

/// A record decoded without checking its signature: `[signature, seq, k, v, …]`.
#[derive(Debug)]
struct RawRecord {
    seq: u64,
    pairs: Vec<(String, Vec<u8>)>,
    node_id: Option<String>,
}

impl RawRecord {
    fn decode(bytes: &[u8]) -> Result<Self, alloy_rlp::Error> {
        let mut rest = bytes;
        let header = Header::decode(&mut rest)?;
        if !header.list || header.payload_length > rest.len() {
            return Err(alloy_rlp::Error::UnexpectedString);
        }
        let mut payload = &rest[..header.payload_length];
        let _signature = Header::decode_bytes(&mut payload, false)?;
        let seq = <u64 as alloy_rlp::Decodable>::decode(&mut payload)?;
        let mut pairs = Vec::new();
        while !payload.is_empty() {
            let key = Header::decode_bytes(&mut payload, false)?;
            let before = payload;
            let value_header = Header::decode(&mut payload)?;
            let len = value_header.payload_length;
            if len > payload.len() {
                return Err(alloy_rlp::Error::InputTooShort);
            }
            let header_len = before.len() - payload.len();
            let raw_value = if value_header.list {
                before[..header_len + len].to_vec()
            } else {
                payload[..len].to_vec()
            };
            payload = &payload[len..];
            pairs.push((String::from_utf8_lossy(key).into_owned(), raw_value));
        }
        let node_id = pairs
            .iter()
            .find(|(k, _)| k == "secp256k1")
            .and_then(|(_, v)| PublicKey::from_slice(v).ok())
            .map(|key| PeerId::from_public_key(&key).node_id().to_string());
        Ok(Self {
            seq,
            pairs,
            node_id,
        })
    }

    fn describe(key: &str, value: &[u8]) -> String {
        let hex_value = hex::encode(value);
        let number = || value.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
        let decoded = match (key, value.len()) {
            ("ip", 4) => {
                Some(std::net::Ipv4Addr::from([value[0], value[1], value[2], value[3]]).to_string())
            }
            ("udp" | "tcp" | "udp6" | "tcp6", 1..=2) => Some(number().to_string()),
            ("id", _) => Some(String::from_utf8_lossy(value).into_owned()),
            _ => None,
        };
        match decoded {
            Some(text) => format!("{text} ({hex_value})"),
            None => hex_value,
        }
    }

    fn human(&self) -> String {
        let mut out = format!(
            "Node ID: {}\nRecord has sequence number {} and {} key/value pairs.\nSignature valid: NO\n",
            self.node_id.as_deref().unwrap_or("unknown (no valid secp256k1 key)"),
            self.seq,
            self.pairs.len()
        );
        for (key, value) in &self.pairs {
            out.push_str(&format!(
                "  {:<10} {}\n",
                format!("\"{key}\""),
                Self::describe(key, value)
            ));
        }
        out
    }

    fn json(&self) -> Value {
        let fields: serde_json::Map<String, Value> = self
            .pairs
            .iter()
            .map(|(k, v)| (k.clone(), json!(hex::encode(v))))
            .collect();
        json!({"seq": self.seq, "id": self.node_id, "signatureValid": false, "fields": fields})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enode::{build_enr, EndpointConfig, NodeKey};

    #[test]
    fn a_record_with_a_bad_signature_is_shown_not_refused() {
        let key = NodeKey::generate();
        let config = EndpointConfig {
            ip4: Some([10, 0, 0, 1].into()),
            udp4: Some(30303),
            ..EndpointConfig::default()
        };
        let enr = build_enr(key.secret_key(), 7, &config).unwrap();
        let mut bytes = alloy_rlp::encode(&enr);
        // The signature's bytes start after the list header (2 bytes) and the string
        // header (1 byte); flip one.
        bytes[5] ^= 0x01;
        assert!(decode_enr(&bytes).is_err());
        let raw = RawRecord::decode(&bytes).unwrap();
        assert_eq!(raw.seq, 7);
        assert_eq!(raw.node_id, Some(key.node_id().to_string()));
        let text = raw.human();
        assert!(text.contains("Signature valid: NO"), "{text}");
        assert!(text.contains("10.0.0.1"), "{text}");
        assert!(text.contains("30303"), "{text}");
    }
}
