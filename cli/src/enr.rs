//! `kadnode enr decode`: print an ENR's fields and check its signature.

use enode::{decode_enr, parse_enr, Enr};

use super::{output, parse::abbreviate, CliError};

/// Decodes `text`: `enr:…` text, or the record's RLP as hex (with or without `0x`).
pub fn decode(text: &str) -> Result<Enr, CliError> {
    let text = text.trim();
    if text.starts_with("enr:") {
        return parse_enr(text)
            .map_err(|e| CliError::usage(format!("invalid ENR {}: {e}", abbreviate(text))));
    }
    let hex_text = text.strip_prefix("0x").unwrap_or(text);
    match hex::decode(hex_text) {
        Ok(bytes) => decode_enr(&bytes)
            .map_err(|e| CliError::usage(format!("invalid ENR RLP {}: {e}", abbreviate(text)))),
        Err(_) => Err(CliError::usage(format!(
            "invalid ENR {}: want enr:<base64> or the record's RLP in hex",
            abbreviate(text)
        ))),
    }
}

/// Runs `enr decode`.
pub fn run_decode(text: &str, json_mode: bool) -> Result<(), CliError> {
    let enr = decode(text)?;
    output::emit(json_mode, &output::enr_human(&enr), &output::enr_json(&enr));
    Ok(())
}
