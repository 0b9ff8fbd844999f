//! JSON-RPC 2.0 over HTTP POST: go-ethereum's `devp2p discv4 listen --rpc` methods.
//!
//! - `discv4_self()`: our record `{id, enode, enr, seq}`.
//! - `discv4_buckets()`: the table, one array per bucket, each entry
//!   `{node, id, enode, seq, addedToBucket, checks, live}` (`node` is the ENR when known,
//!   else the enode URL; `addedToBucket` is RFC 3339 UTC).
//! - `discv4_lookupRandom(n?)`: up to `n` (default 16, at most [`MAX_LOOKUP_NODES`]) nodes
//!   found by random-walk lookups, within [`LOOKUP_TIMEOUT`].
//!
//! Batches (arrays of up to [`MAX_BATCH`] calls) are answered with an array.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use discv4::service::{BucketDump, Discv4Handle};

use enode::enr_to_node_record;
use futures::StreamExt;
use serde_json::{json, Value};

use super::{Handler, Request, Response};
use crate::timefmt::format_rfc3339;

/// Most nodes one `discv4_lookupRandom` call returns.
pub const MAX_LOOKUP_NODES: usize = 1000;
/// Deadline of one `discv4_lookupRandom` call.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Most calls in one batch.
pub const MAX_BATCH: usize = 100;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const SERVER_ERROR: i64 = -32000;

/// What the RPC methods answer from: discovery, and the peer set when the node runs one.
#[derive(Debug, Clone)]
pub struct RpcContext {
    /// The discovery service.
    pub discv4: Discv4Handle,
    /// The peer set (`admin_` methods); `None` for a discovery-only node.
    pub node: Option<kadnode::NodeHandle>,
    /// Our client name, for `admin_nodeInfo`.
    pub client_id: String,
    /// The PEX service (`pex_book`); `None` without PEX.
    pub pex: Option<kadnode::pex::PexHandle>,
}

/// The HTTP handler serving the RPC methods for `handle` (discovery methods only).
pub fn handler(handle: Discv4Handle) -> Handler {
    handler_with(RpcContext {
        discv4: handle,
        node: None,
        pex: None,
        client_id: String::new(),
    })
}

/// The HTTP handler serving the discovery and `admin_` methods.
pub fn handler_with(context: RpcContext) -> Handler {
    Arc::new(move |request: Request| {
        let context = context.clone();
        Box::pin(async move { serve(&context, request).await })
    })
}

async fn serve(handle: &RpcContext, request: Request) -> Response {
    if request.method != "POST" {
        return Response::error(405, "JSON-RPC wants POST").with_header("Allow", "POST");
    }
    let answer = match parse_body(&request.body) {
        Err(error) => error,
        Ok(Calls::Batch(calls)) => {
            let mut answers = Vec::with_capacity(calls.len());
            for call in calls {
                let notification = is_notification(&call);
                let answer = call_one(handle, call).await;
                if !notification {
                    answers.push(answer);
                }
            }
            if answers.is_empty() {
                return no_content();
            }
            Value::Array(answers)
        }
        Ok(Calls::One(call)) => {
            let notification = is_notification(&call);
            let answer = call_one(handle, call).await;
            if notification {
                return no_content();
            }
            answer
        }
    };
    json_response(&answer)
}

/// What a request body holds: one call, or a batch of 1 to [`MAX_BATCH`] calls (each still
/// to be checked by [`parse_call`]).
#[derive(Debug)]
pub(super) enum Calls {
    /// A single call.
    One(Value),
    /// A batch.
    Batch(Vec<Value>),
}

/// Parses a request body, or returns the error object to answer with.
pub(super) fn parse_body(body: &[u8]) -> Result<Calls, Value> {
    match serde_json::from_slice::<Value>(body) {
        Err(e) => Err(error_object(
            Value::Null,
            PARSE_ERROR,
            &format!("parse error: {e}"),
        )),
        Ok(Value::Array(calls)) if calls.is_empty() || calls.len() > MAX_BATCH => {
            Err(error_object(
                Value::Null,
                INVALID_REQUEST,
                &format!("a batch holds 1 to {MAX_BATCH} calls"),
            ))
        }
        Ok(Value::Array(calls)) => Ok(Calls::Batch(calls)),
        Ok(call) => Ok(Calls::One(call)),
    }
}

/// One well-formed call.
#[derive(Debug)]
pub(super) struct Call {
    /// The caller's id (`null` when absent), echoed in the answer.
    pub(super) id: Value,
    /// The method name.
    pub(super) method: String,
    /// The positional parameters (none when absent or `null`).
    pub(super) params: Vec<Value>,
}

/// Checks the shape of one call, or returns the error object to answer with.
pub(super) fn parse_call(call: Value) -> Result<Call, Value> {
    let Value::Object(mut call) = call else {
        return Err(error_object(
            Value::Null,
            INVALID_REQUEST,
            "a call must be a JSON object",
        ));
    };
    let id = call.remove("id").unwrap_or(Value::Null);
    if call.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(error_object(id, INVALID_REQUEST, "jsonrpc must be \"2.0\""));
    }
    let Some(Value::String(method)) = call.remove("method") else {
        return Err(error_object(id, INVALID_REQUEST, "missing method"));
    };
    let params = match call.remove("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(params)) => params,
        Some(_) => return Err(error_object(id, INVALID_PARAMS, "params must be an array")),
    };
    Ok(Call { id, method, params })
}

/// A call without `id` is a notification: JSON-RPC 2.0 says the server must not reply, even
/// with an error.
pub(super) fn is_notification(call: &Value) -> bool {
    matches!(call, Value::Object(object) if !object.contains_key("id"))
}

/// The HTTP answer when there is no JSON-RPC reply to send.
fn no_content() -> Response {
    Response::new(204, "application/json", Vec::new())
}

fn json_response(value: &Value) -> Response {
    Response::new(200, "application/json", value.to_string())
}

fn error_object(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

async fn call_one(context: &RpcContext, call: Value) -> Value {
    let handle = &context.discv4;
    let Call { id, method, params } = match parse_call(call) {
        Ok(call) => call,
        Err(error) => return error,
    };
    let method = method.as_str();
    if let Some(result) = super::admin::call(
        method,
        &params,
        handle,
        context.node.as_ref(),
        &context.client_id,
    )
    .await
    {
        return match result {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err((code, message)) => error_object(id, code, &message),
        };
    }
    let result = match method {
        "discv4_self" => self_record(handle).await,
        "discv4_buckets" => buckets(handle).await,
        "discv4_lookupRandom" => lookup_random(handle, &params).await,
        "pex_book" => pex_book(context.pex.as_ref()).await,
        _ => Err((
            METHOD_NOT_FOUND,
            format!("the method {method} does not exist"),
        )),
    };
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => error_object(id, code, &message),
    }
}

type RpcResult = Result<Value, (i64, String)>;

/// `pex_book`: the address book's entries and bans, as `kadnode pex book --json` prints a
/// saved one.
async fn pex_book(pex: Option<&kadnode::pex::PexHandle>) -> RpcResult {
    let pex = pex.ok_or((
        METHOD_NOT_FOUND,
        "this node does not run PEX (start it with --pex)".to_owned(),
    ))?;
    let dump = pex
        .book()
        .await
        .ok_or((SERVER_ERROR, "the PEX service stopped".to_owned()))?;
    Ok(crate::pex::book_json(
        &dump.entries,
        &dump.stats,
        &dump.bans,
    ))
}

async fn self_record(handle: &Discv4Handle) -> RpcResult {
    let enr = handle
        .local_enr()
        .await
        .map_err(|e| (SERVER_ERROR, e.to_string()))?;
    let enode = enr_to_node_record(&enr)
        .map(|record| record.enode_url())
        .ok();
    Ok(json!({
        "id": handle.local_id().node_id().to_string(),
        "enode": enode,
        "enr": enr.to_base64(),
        "seq": enr.seq(),
    }))
}

/// Bucket dump as JSON, shared with the human-readable CLI output.
pub fn buckets_json(dump: &[BucketDump], now: SystemTime) -> Value {
    Value::Array(
        dump.iter()
            .map(|bucket| {
                Value::Array(
                    bucket
                        .entries
                        .iter()
                        .map(|entry| {
                            let added = now.checked_sub(entry.in_bucket_for).unwrap_or(now);
                            json!({
                                "node": entry.record.enode_url(),
                                "id": entry.record.node_id().to_string(),
                                "enode": entry.record.enode_url(),
                                "seq": entry.seq,
                                "addedToBucket": format_rfc3339(added),
                                "checks": entry.liveness_checks,
                                "live": entry.is_live,
                            })
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

async fn buckets(handle: &Discv4Handle) -> RpcResult {
    let dump = handle
        .buckets()
        .await
        .map_err(|e| (SERVER_ERROR, e.to_string()))?;
    Ok(buckets_json(&dump, SystemTime::now()))
}

async fn lookup_random(handle: &Discv4Handle, params: &[Value]) -> RpcResult {
    let wanted = match params.first() {
        None => 16,
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=MAX_LOOKUP_NODES as u64).contains(n))
            .ok_or_else(|| {
                (
                    INVALID_PARAMS,
                    format!("n must be an integer from 1 to {MAX_LOOKUP_NODES}"),
                )
            })? as usize,
    };
    let mut walk = handle.random_walk();
    let mut seen = std::collections::HashSet::new();
    let mut nodes = Vec::new();
    let collect = async {
        while nodes.len() < wanted {
            let Some(node) = walk.next().await else { break };
            if seen.insert(node.id) {
                nodes.push(Value::String(node.enode_url()));
            }
        }
    };
    let _ = tokio::time::timeout(LOOKUP_TIMEOUT, collect).await;
    Ok(Value::Array(nodes))
}
