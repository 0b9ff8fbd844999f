//! Printing results: human-readable text by default, one JSON document with `--json`.

use std::io::Write;

use enode::{
    NodeRecord, {enr_peer_id, Enr},
};
use serde_json::{json, Value};

/// Prints `value` as JSON, or `human` as text, followed by a newline, and flushes (tests
/// and pipes read line by line).
pub fn emit(json_mode: bool, human: &str, value: &Value) {
    let mut out = std::io::stdout().lock();
    let text = if json_mode {
        value.to_string()
    } else {
        human.trim_end().to_owned()
    };
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// The JSON a failed command prints with `--json`: `{"ok":false,"error":…,"exitCode":…}`.
pub fn error_json(error: &crate::CliError) -> Value {
    json!({"ok": false, "error": error.to_string(), "exitCode": error.exit_code()})
}

/// Prints [`error_json`] on stdout.
pub fn emit_error(error: &crate::CliError) {
    emit(true, "", &error_json(error));
}

/// The lines a started node prints: enode URL and ENR first (bare, for copy-paste), then
/// where it listens.
pub fn node_identity(
    record: &NodeRecord,
    enr: &Enr,
    udp: std::net::SocketAddr,
    metrics: Option<std::net::SocketAddr>,
    rpc: Option<std::net::SocketAddr>,
    datadir: Option<&std::path::Path>,
) -> (String, Value) {
    let mut human = format!(
        "{}\n{}\nnode id:  {}\nenr seq:  {}\nudp:      {udp}\n",
        record.enode_url(),
        enr.to_base64(),
        record.node_id(),
        enr.seq()
    );
    let note = record_note(enr, udp);
    if let Some(note) = &note {
        human.push_str(&format!("note:     {note}\n"));
    }
    if let Some(addr) = metrics {
        human.push_str(&format!("metrics:  http://{addr}/metrics\n"));
    }
    if let Some(addr) = rpc {
        human.push_str(&format!("rpc:      http://{addr}/\n"));
    }
    match datadir {
        Some(dir) => human.push_str(&format!("datadir:  {}\n", dir.display())),
        None => human.push_str("datadir:  none (in-memory node database)\n"),
    }
    let value = json!({
        "enode": record.enode_url(),
        "enr": enr.to_base64(),
        "id": record.node_id().to_string(),
        "seq": enr.seq(),
        "udp": udp.to_string(),
        "metrics": metrics.map(|a| format!("http://{a}/metrics")),
        "rpc": rpc.map(|a| format!("http://{a}/")),
        "datadir": datadir.map(|d| d.display().to_string()),
        "recordUsable": note.is_none(),
        "recordNote": note,
    });
    (human, value)
}

/// Why the printed record cannot be used by another node as given, and what makes it usable;
/// `None` when it carries an IP address with a UDP port.
pub fn record_note(enr: &Enr, udp: std::net::SocketAddr) -> Option<String> {
    let has_endpoint = (enr.ip4().is_some() && enr.udp4().is_some())
        || (enr.ip6().is_some() && enr.udp6().is_some());
    if has_endpoint {
        return None;
    }
    Some(format!(
        "the record above has no IP address (listening on {udp} announces none), so other nodes \
         cannot use it until peers report our address; give --nat extip:<public IP>, or listen on \
         one address with --addr <IP>:{}",
        udp.port()
    ))
}

/// An ENR's contents as JSON: seq, id, signature validity, every key/value pair.
pub fn enr_json(enr: &Enr) -> Value {
    let mut fields = serde_json::Map::new();
    for (key, value) in enr.iter() {
        fields.insert(
            String::from_utf8_lossy(key).into_owned(),
            json!(hex::encode(value)),
        );
    }
    json!({
        "enr": enr.to_base64(),
        "seq": enr.seq(),
        "id": hex::encode(enr.node_id().raw()),
        "pubkey": enr_peer_id(enr).ok().map(|id| id.to_string()),
        "signatureValid": enr.verify(),
        "ip": enr.ip4().map(|ip| ip.to_string()),
        "udp": enr.udp4(),
        "tcp": enr.tcp4(),
        "ip6": enr.ip6().map(|ip| ip.to_string()),
        "udp6": enr.udp6(),
        "tcp6": enr.tcp6(),
        "fields": fields,
    })
}

/// An ENR's contents as text.
pub fn enr_human(enr: &Enr) -> String {
    let mut out = format!(
        "Node ID: {}\nRecord has sequence number {} and {} key/value pairs.\nSignature valid: {}\n",
        hex::encode(enr.node_id().raw()),
        enr.seq(),
        enr.iter().count(),
        if enr.verify() { "yes" } else { "NO" }
    );
    for (key, value) in enr.iter() {
        let key = String::from_utf8_lossy(key);
        out.push_str(&format!(
            "  {:<10} {}\n",
            format!("\"{key}\""),
            describe_field(&key, enr, value)
        ));
    }
    out
}

fn describe_field(key: &str, enr: &Enr, raw: &[u8]) -> String {
    let hex_value = hex::encode(raw);
    let decoded = match key {
        "ip" => enr.ip4().map(|ip| ip.to_string()),
        "ip6" => enr.ip6().map(|ip| ip.to_string()),
        "udp" => enr.udp4().map(|p| p.to_string()),
        "tcp" => enr.tcp4().map(|p| p.to_string()),
        "udp6" => enr.udp6().map(|p| p.to_string()),
        "tcp6" => enr.tcp6().map(|p| p.to_string()),
        "id" => enr.id(),
        _ => None,
    };
    match decoded {
        Some(text) => format!("{text} ({hex_value})"),
        None => hex_value,
    }
}
