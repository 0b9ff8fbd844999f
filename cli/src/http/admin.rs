//! go-ethereum's `admin_` JSON-RPC methods over the node's peer set: `admin_nodeInfo`,
//! `admin_peers`, `admin_addPeer`, `admin_removePeer`, `admin_addTrustedPeer`,
//! `admin_removeTrustedPeer`, with geth's shapes.

use discv4::service::Discv4Handle;
use enode::{enr_to_node_record, NodeRecord, PeerId};
use kadnode::{Direction, NodeHandle};
use serde_json::{json, Value};

/// An RPC result or (code, message).
pub type RpcResult = Result<Value, (i64, String)>;

const INVALID_PARAMS: i64 = -32602;
const SERVER_ERROR: i64 = -32000;

fn stopped(e: impl std::fmt::Display) -> (i64, String) {
    (SERVER_ERROR, e.to_string())
}

fn node_param(params: &[Value]) -> Result<NodeRecord, (i64, String)> {
    let text = params
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| (INVALID_PARAMS, "expected one enode URL or ENR".to_owned()))?;
    crate::parse::tcp_node_ip(text).map_err(|e| (INVALID_PARAMS, e))
}

fn id_param(params: &[Value]) -> Result<PeerId, (i64, String)> {
    let text = params.first().and_then(Value::as_str).ok_or_else(|| {
        (
            INVALID_PARAMS,
            "expected one enode URL, ENR or node id".to_owned(),
        )
    })?;
    match text.parse::<PeerId>() {
        Ok(id) => Ok(id),
        Err(_) => node_param(params).map(|record| record.id),
    }
}

/// Answers an `admin_` method, or `None` if `method` is not one.
pub async fn call(
    method: &str,
    params: &[Value],
    discv4: &Discv4Handle,
    node: Option<&NodeHandle>,
    client_id: &str,
) -> Option<RpcResult> {
    if !method.starts_with("admin_") {
        return None;
    }
    let Some(node) = node else {
        return Some(Err((
            SERVER_ERROR,
            "this node runs discovery only; start it with the server (kadnode node)".to_owned(),
        )));
    };
    Some(match method {
        "admin_nodeInfo" => node_info(discv4, client_id).await,
        "admin_peers" => peers(node).await,
        "admin_addPeer" => match node_param(params) {
            Ok(record) => node
                .add_static(record)
                .await
                .map(|()| json!(true))
                .map_err(stopped),
            Err(e) => Err(e),
        },
        "admin_removePeer" => match id_param(params) {
            Ok(id) => node
                .remove_static(id)
                .await
                .map(|r| json!(r))
                .map_err(stopped),
            Err(e) => Err(e),
        },
        "admin_addTrustedPeer" => match id_param(params) {
            Ok(id) => node
                .add_trusted(id)
                .await
                .map(|()| json!(true))
                .map_err(stopped),
            Err(e) => Err(e),
        },
        "admin_removeTrustedPeer" => match id_param(params) {
            Ok(id) => node
                .remove_trusted(id)
                .await
                .map(|_| json!(true))
                .map_err(stopped),
            Err(e) => Err(e),
        },
        other => Err((-32601, format!("the method {other} does not exist"))),
    })
}

async fn node_info(discv4: &Discv4Handle, client_id: &str) -> RpcResult {
    let enr = discv4.local_enr().await.map_err(stopped)?;
    let record = enr_to_node_record(&enr).ok();
    Ok(json!({
        "id": discv4.local_id().node_id().to_string(),
        "name": client_id,
        "enode": record.map(|r| r.enode_url()),
        "enr": enr.to_base64(),
        "ip": record.map(|r| r.address.to_string()),
        "ports": {
            "discovery": record.map_or(0, |r| r.udp_port),
            "listener": record.map_or(0, |r| r.tcp_port),
        },
        "listenAddr": record.map(|r| format!("{}:{}", r.address, r.tcp_port)),
        "protocols": {},
    }))
}

async fn peers(node: &NodeHandle) -> RpcResult {
    let peers = node.peers().await.map_err(stopped)?;
    Ok(Value::Array(
        peers
            .iter()
            .map(|peer| {
                let caps: Vec<String> = peer.capabilities.iter().map(ToString::to_string).collect();
                let protocols: serde_json::Map<String, Value> = peer
                    .shared
                    .iter()
                    .zip(peer.traffic.iter())
                    .map(|(cap, traffic)| {
                        (
                            cap.name.clone(),
                            json!({"version": cap.version, "bytesIn": traffic.bytes_in(), "bytesOut": traffic.bytes_out()}),
                        )
                    })
                    .collect();
                json!({
                    "enode": NodeRecord {
                        address: peer.remote_addr.ip(),
                        tcp_port: peer.remote_addr.port(),
                        udp_port: 0,
                        id: peer.id,
                    }
                    .enode_url(),
                    "id": peer.id.node_id().to_string(),
                    "name": peer.client_id,
                    "caps": caps,
                    "network": {
                        "localAddress": Value::Null,
                        "remoteAddress": peer.remote_addr.to_string(),
                        "inbound": peer.direction == Direction::Inbound,
                        "trusted": peer.is_trusted,
                        "static": peer.is_static,
                    },
                    "protocols": protocols,
                })
            })
            .collect(),
    ))
}
