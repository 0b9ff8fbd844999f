//! Fuzz entry points for the operator HTTP server (see `fuzz/fuzz_targets/http_head.rs` and
//! `fuzz/fuzz_targets/jsonrpc_request.rs`). The parsers under them never panic; a failed
//! assertion here is a broken property of a parser.

use serde_json::Value;

use super::{
    find_head_end, parse_head,
    rpc::{is_notification, parse_body, parse_call, Calls, MAX_BATCH},
    Request, MAX_BODY, MAX_HEAD,
};

/// `http_head`: bytes received on an operator HTTP connection.
///
/// Parses `data` as a whole head, and as a request split where the server splits it (head up
/// to the first blank line, body up to `Content-Length`). A head that parses must satisfy
/// what the handlers rely on and parse again to the same request once re-serialised.
pub fn parse_http_request(data: &[u8]) {
    let _ = check_head(data);
    let Some(end) = find_head_end(data) else {
        return;
    };
    assert_eq!(data.get(end..end + 4), Some(&b"\r\n\r\n"[..]));
    if end > MAX_HEAD {
        return;
    }
    if let Some((_, length)) = check_head(&data[..end]) {
        let body = &data[end + 4..];
        assert!(body.len().min(length) <= MAX_BODY);
    }
}

/// Parses one head and checks its properties; returns what parsed.
fn check_head(head: &[u8]) -> Option<(Request, usize)> {
    let (request, length) = match parse_head(head) {
        Ok(parsed) => parsed,
        Err(response) => {
            assert!((400..600).contains(&response.status));
            return None;
        }
    };
    assert!(length <= MAX_BODY);
    assert!(!request.method.is_empty());
    assert!(request.method.bytes().all(|b| b.is_ascii_uppercase()));
    assert!(!request.path.contains('?'));
    for (name, value) in &request.headers {
        assert!(!name.is_empty() && !name.contains(':'));
        assert_eq!(*name, name.to_ascii_lowercase());
        assert_eq!(value.trim(), value);
    }
    assert!(request.header("transfer-encoding").is_none());
    let lengths = request
        .headers
        .iter()
        .filter(|(name, _)| name == "content-length")
        .count();
    assert!(lengths <= 1);

    let mut again = format!("{} {} HTTP/1.1", request.method, request.path);
    for (name, value) in &request.headers {
        again.push_str("\r\n");
        again.push_str(name);
        again.push_str(": ");
        again.push_str(value);
    }
    match parse_head(again.as_bytes()) {
        Ok(parsed) => assert_eq!(parsed, (request.clone(), length), "{again:?}"),
        Err(response) => panic!("re-serialised head {again:?} refused: {response:?}"),
    }
    Some((request, length))
}

/// `jsonrpc_request`: the body of a JSON-RPC POST.
///
/// Splits it into calls as the server does and checks each: a well-formed call keeps its
/// id, and every error answer is a JSON-RPC 2.0 error object with a standard code that
/// serialises to valid JSON.
pub fn parse_jsonrpc_request(data: &[u8]) {
    let calls = match parse_body(data) {
        Err(error) => {
            check_error(&error, &Value::Null);
            return;
        }
        Ok(Calls::One(call)) => vec![call],
        Ok(Calls::Batch(calls)) => {
            assert!((1..=MAX_BATCH).contains(&calls.len()));
            calls
        }
    };
    for call in calls {
        let _ = is_notification(&call);
        let id = match &call {
            Value::Object(object) => object.get("id").cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        match parse_call(call) {
            Ok(parsed) => assert_eq!(parsed.id, id),
            Err(error) => check_error(&error, &id),
        }
    }
}

/// An error answer: `{"jsonrpc": "2.0", "id": id, "error": {"code", "message"}}`.
fn check_error(error: &Value, id: &Value) {
    assert_eq!(error["jsonrpc"], "2.0");
    assert_eq!(&error["id"], id);
    assert!(matches!(
        error["error"]["code"].as_i64(),
        Some(-32700 | -32600 | -32602)
    ));
    assert!(error["error"]["message"].is_string());
    assert!(serde_json::from_str::<Value>(&error.to_string()).is_ok());
}
