//! RLPx sessions between `rlpx::session` and ethereumjs (`tests/js/rlpx.mjs`), both ways:
//! ECIES handshake, both Hellos (`snap/1`, so no Status), snap messages at the right offset,
//! compressed Ping/Pong in both directions, and a Disconnect whose reason the other side sees.
//! Skips (passes with a message) when node or `tests/js/node_modules` is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use enode::NodeKey;
use std::{future::Future, net::SocketAddr, time::Duration};

use bytes::Bytes;
use common::js::{listening, JsPeer};
use rlpx::{
    p2p::{DisconnectReason, Protocol, SessionEnd},
    session::{accept, authenticate_inbound, dial, Session, SessionConfig, SessionError},
    PublicKey, SecretKey,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(15);
const OUR_CLIENT: &str = "kadnode-interop/v0";
const JS_CLIENT: &str = "ethereumjs-devp2p/interop";
/// Both sides sort the shared capabilities; snap/1 alone starts right after the base protocol.
const SNAP_OFFSET: u64 = 0x10;

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {WAIT:?}"))
}

fn our_key() -> NodeKey {
    NodeKey::from(SecretKey::from_slice(&[0x11; 32]).unwrap())
}

fn our_config() -> SessionConfig {
    let mut config = SessionConfig::new(OUR_CLIENT, vec![Protocol::new("snap", 1, 8)]);
    config.listen_port = 30399;
    config
}

fn public_key_of_id(id_hex: &str) -> PublicKey {
    let mut full = vec![0x04];
    full.extend(hex::decode(id_hex).unwrap());
    PublicKey::from_slice(&full).unwrap()
}

/// Starts `rlpx.mjs` with `args` and returns it with its port and node id.
async fn start_js(args: &[&str]) -> Option<(JsPeer, u16, String)> {
    let mut peer = JsPeer::spawn("rlpx.mjs", args)?;
    let event = peer.wait_event("listening", WAIT).await.unwrap();
    let (port, id) = listening(&event);
    Some((peer, port, id))
}

/// What both directions check once the session is up: Hellos on both sides, snap at 0x10.
async fn check_established(js: &mut JsPeer, session: &Session, js_id: &str) {
    let our_id = hex::encode(our_key().peer_id());
    assert_eq!(hex::encode(session.remote_id), js_id);
    assert_eq!(session.remote_hello.client_id, JS_CLIENT);
    assert_eq!(session.remote_hello.protocol_version, 5);
    assert_eq!(hex::encode(session.remote_hello.id), js_id);
    let caps: Vec<String> = session
        .remote_hello
        .capabilities
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(caps, ["snap/1"]);
    let snap = session.shared.find("snap").unwrap();
    assert_eq!(
        (snap.version, snap.offset, snap.length),
        (1, SNAP_OFFSET, 8)
    );

    let added = js
        .wait_for(
            |e| e["event"] == "peer:added" && e["id"] == our_id.as_str(),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(added["helloId"], our_id.as_str());
    assert_eq!(added["clientId"], OUR_CLIENT);
    assert_eq!(added["protocolVersion"], 5);
    assert_eq!(added["port"], 30399);
    assert_eq!(
        added["capabilities"],
        json!([{"name": "snap", "version": 1}])
    );
    assert_eq!(added["protocols"], json!(["snap/1"]));
}

fn is_for(event: &Value, name: &str, id: &str) -> bool {
    event["event"] == name && event["id"] == id
}

/// Snap messages both ways, then Ping/Pong both ways.
async fn exchange_messages_and_pings(js: &mut JsPeer, session: &mut Session) {
    let our_id = hex::encode(our_key().peer_id());
    let mut snap = session.connection.take_handle("snap").unwrap();

    // GetByteCodes [reqID=1, [hash], bytes=100] from ethereumjs, compressed on the wire.
    let payload = format!("e401e1a0{}64", "11".repeat(32));
    js.send(json!({"cmd": "send", "id": our_id, "code": 4, "payload": payload}))
        .await
        .unwrap();
    let (code, body) = within("snap message from js", snap.recv()).await.unwrap();
    assert_eq!((code, hex::encode(&body)), (4, payload));

    // ByteCodes [reqID=1, [code]] from us.
    let ours = format!("c9 01 c7 86 {}", "600160020a00").replace(' ', "");
    snap.send(5, Bytes::from(hex::decode(&ours).unwrap()))
        .await
        .unwrap();
    let message = js
        .wait_for(|e| is_for(e, "message", &our_id), WAIT)
        .await
        .unwrap();
    assert_eq!(message["protocol"], "snap/1");
    assert_eq!(message["code"], 5);
    assert_eq!(message["payload"], ours.as_str());

    // Its PING (compressed) is answered by our session with a PONG it can decode.
    js.send(json!({"cmd": "ping", "id": our_id})).await.unwrap();
    js.wait_for(|e| is_for(e, "pong", &our_id), WAIT)
        .await
        .unwrap();
    // Our PING (compressed) reaches it, and its PONG completes our `ping`.
    let rtt = within("our ping", session.connection.ping()).await.unwrap();
    assert!(rtt < WAIT);
    js.wait_for(|e| is_for(e, "ping", &our_id), WAIT)
        .await
        .unwrap();
    assert!(session.connection.end_reason().is_none());
    drop(snap);
}

#[tokio::test]
async fn our_initiator_with_its_listener() {
    let Some((mut js, port, js_id)) = start_js(&["0", "--client-id", JS_CLIENT]).await else {
        return;
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut session = within(
        "dial",
        dial(addr, &our_key(), public_key_of_id(&js_id), &our_config()),
    )
    .await
    .unwrap();
    check_established(&mut js, &session, &js_id).await;
    exchange_messages_and_pings(&mut js, &mut session).await;

    // We quit with 0x08; it reports the reason (and that it did not start the disconnect).
    let our_id = hex::encode(our_key().peer_id());
    session
        .connection
        .disconnect(DisconnectReason::ClientQuitting);
    let received = js
        .wait_for(|e| is_for(e, "disconnect:received", &our_id), WAIT)
        .await
        .unwrap();
    assert_eq!(received["payload"], "c108", "our compressed [0x08] decodes");
    let removed = js
        .wait_for(|e| is_for(e, "peer:removed", &our_id), WAIT)
        .await
        .unwrap();
    assert_eq!(removed["reason"], 8);
    assert_eq!(removed["disconnectWe"], false);
    match within("closed", session.connection.closed()).await {
        SessionEnd::Local(DisconnectReason::ClientQuitting) => {}
        other => panic!("our session ended with {other}"),
    }
    js.exit().await;
}

#[tokio::test]
async fn its_initiator_with_our_recipient() {
    let Some((mut js, _, js_id)) = start_js(&["0", "--client-id", JS_CLIENT]).await else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let our_id = hex::encode(our_key().peer_id());
    js.send(json!({"cmd": "connect", "id": our_id, "address": "127.0.0.1", "tcpPort": port}))
        .await
        .unwrap();
    let (tcp, _) = within("tcp accept", listener.accept()).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut session = within("accept", accept(tcp, &our_key(), &our_config()))
        .await
        .unwrap();
    assert_eq!(
        session.remote_public_key,
        public_key_of_id(&js_id),
        "remote key learnt from its auth"
    );
    check_established(&mut js, &session, &js_id).await;
    exchange_messages_and_pings(&mut js, &mut session).await;

    // It disconnects with TOO_MANY_PEERS, bare and uncompressed; our session reports it.
    js.send(json!({"cmd": "disconnect", "id": our_id, "reason": 4}))
        .await
        .unwrap();
    match within("closed", session.connection.closed()).await {
        SessionEnd::Remote(DisconnectReason::TooManyPeers) => {}
        other => panic!("our session ended with {other}"),
    }
    let removed = js
        .wait_for(|e| is_for(e, "peer:removed", &our_id), WAIT)
        .await
        .unwrap();
    assert_eq!(removed["reason"], 4);
    assert_eq!(removed["disconnectWe"], true);
    js.exit().await;
}

#[tokio::test]
async fn no_shared_capability_with_ethereumjs_is_fatal() {
    // It runs eth/68 only, we run snap/1 only: whichever side notices first, the attempt is a
    // useless-peer failure that must never be retried (and ethereumjs may send its
    // Disconnect before its Hello).
    let Some((mut js, port, js_id)) =
        start_js(&["0", "--client-id", JS_CLIENT, "--capabilities", "eth/68"]).await
    else {
        return;
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let err = within(
        "dial",
        dial(addr, &our_key(), public_key_of_id(&js_id), &our_config()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SessionError::P2p(_)), "{err}");
    assert!(err.is_fatal(), "{err}");
    assert!(!err.should_ban(), "{err}");
    if let Some(reason) = err.remote_disconnect_reason() {
        assert_eq!(reason, DisconnectReason::UselessPeer);
    }
    js.wait_event("connection:closed", WAIT).await.unwrap();
    js.exit().await;
}

#[tokio::test]
async fn our_recipient_rejects_it_before_hello_with_a_reason() {
    let Some((mut js, _, js_id)) = start_js(&["0", "--client-id", JS_CLIENT]).await else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let our_id = hex::encode(our_key().peer_id());
    js.send(json!({"cmd": "connect", "id": our_id, "address": "127.0.0.1", "tcpPort": port}))
        .await
        .unwrap();
    let (tcp, _) = within("tcp accept", listener.accept()).await.unwrap();
    let pending = within(
        "authenticate",
        authenticate_inbound(tcp, &our_key(), &our_config()),
    )
    .await
    .unwrap();
    assert_eq!(hex::encode(pending.remote_id()), js_id);
    // A server at its peer limit: Disconnect(TOO_MANY_PEERS) before any Hello, uncompressed.
    within("reject", pending.reject(DisconnectReason::TooManyPeers)).await;
    let received = js
        .wait_for(|e| is_for(e, "disconnect:received", &our_id), WAIT)
        .await
        .unwrap();
    assert_eq!(received["payload"], "c104");
    let closed = js
        .wait_for(|e| is_for(e, "connection:closed", &our_id), WAIT)
        .await
        .unwrap();
    assert_eq!(closed["gotHello"], false);
    assert_eq!(closed["reason"], 4);
    js.exit().await;
}
