//! Protocol misuse against the node's server, end to end on loopback: a message code outside
//! every shared capability, a Hello whose id is not the key proven in the encryption
//! handshake (as the accepting and as the dialing side), a `pex/1` GetPeers flood, and Peers
//! messages carrying forged records. Each must end the way geth (or the PEX design) says,
//! with the verdict policy expects, and a banned peer must stay out while its ban lasts.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod node_support;
mod pex_support;

use std::net::SocketAddr;

use alloy_rlp::{Encodable, Header};
use bytes::{BufMut, Bytes, BytesMut};
use enode::{enr_peer_id, Enr, NodeKey, NodeRecord, PeerId, PublicKey};
use futures::{SinkExt, StreamExt};
use kadnode::{
    pex::{
        wire::{PexMessage, Status, FLAG_SEED, GET_PEERS, MAX_RECORDS, PEERS},
        PexConfig, REQUEST_BURST,
    },
    PeerEvent, ProtocolSpec,
};
use node_support::*;
use pex_support::record_of;
use rlpx::{
    frame::{decode_message_code, encode_message, RlpxStream, UnauthedRlpx},
    p2p::{
        decode_disconnect, message_id, DisconnectReason, Hello, P2pConnection, ProtocolHandle,
        SnappyCodec,
    },
    session::{connect, SessionConfig},
    SessionError, Verdict,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::broadcast,
    time::timeout,
};

/// The test protocol of `node_support` as a capability: codes 0x10 and 0x11 on the wire.
fn kadtest() -> ProtocolSpec {
    ProtocolSpec::new("kadtest", 1, 2)
}

/// An RLPx peer whose Hello and messages are written by hand, so it can send what no correct
/// implementation sends.
struct RawPeer {
    stream: RlpxStream<TcpStream>,
    snappy: SnappyCodec,
}

/// What came back on a raw connection until it closed.
#[derive(Debug, Default)]
struct Heard {
    hello: Option<Hello>,
    disconnect: Option<DisconnectReason>,
    other_codes: Vec<u64>,
}

impl RawPeer {
    /// Dials `to` as `key` (encryption handshake only).
    async fn dial(to: SocketAddr, key: &NodeKey, remote: PublicKey) -> Self {
        let tcp = TcpStream::connect(to).await.unwrap();
        let stream = UnauthedRlpx::new(tcp, *key.secret_key())
            .connect(remote)
            .await
            .unwrap();
        Self {
            stream,
            snappy: SnappyCodec::new(),
        }
    }

    /// Accepts one connection on `listener` as `key` (encryption handshake only).
    async fn accept(listener: &TcpListener, key: &NodeKey) -> Self {
        let (tcp, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
        let stream = UnauthedRlpx::new(tcp, *key.secret_key())
            .accept()
            .await
            .unwrap();
        Self {
            stream,
            snappy: SnappyCodec::new(),
        }
    }

    /// Sends a Hello claiming `id` and offering `kadtest/1`.
    async fn send_hello(&mut self, id: PeerId) {
        let hello = Hello::for_protocols("misuse", id, &[kadtest()], 0);
        self.stream
            .send(encode_message(message_id::HELLO, &hello.encode()))
            .await
            .unwrap();
    }

    /// Sends message `code` with `payload` snappy-compressed, as after a version-5 Hello.
    async fn send_compressed(&mut self, code: u64, payload: &[u8]) {
        let compressed = self.snappy.compress(payload).unwrap();
        self.stream
            .send(encode_message(code, &compressed))
            .await
            .unwrap();
    }

    /// Reads until the remote closes the connection (or `WAIT` passes), noting its Hello, its
    /// Disconnect reason and the codes of everything else.
    async fn listen_until_closed(&mut self) -> Heard {
        let mut heard = Heard::default();
        let read = async {
            while let Some(Ok(frame)) = self.stream.next().await {
                let (code, payload) = decode_message_code(&frame).unwrap();
                match code {
                    message_id::HELLO if heard.hello.is_none() => {
                        heard.hello = Some(Hello::decode(payload).unwrap());
                    }
                    message_id::DISCONNECT => {
                        heard.disconnect = decode_disconnect(payload, Some(&mut self.snappy));
                    }
                    other => heard.other_codes.push(other),
                }
            }
        };
        timeout(WAIT, read)
            .await
            .expect("the node kept the connection open");
        heard
    }
}

/// Waits for the node to report the end of `id`: as a peer that was dropped, or as a
/// connection that failed before it became one. Returns (reason, verdict, detail).
async fn wait_end(
    events: &mut broadcast::Receiver<PeerEvent>,
    id: PeerId,
) -> (Option<DisconnectReason>, Verdict, String) {
    wait_event(events, |event| match event {
        PeerEvent::Dropped { id: who, end } if *who == id => {
            Some((end.reason, end.verdict, end.detail.clone()))
        }
        PeerEvent::ConnectionFailed {
            id: Some(who),
            verdict,
            detail,
            ..
        } if *who == id => Some((None, *verdict, detail.clone())),
        _ => None,
    })
    .await
}

/// A connection from a banned `key` is turned away right after the encryption handshake:
/// a Disconnect instead of a Hello, and the node reports the refusal.
async fn assert_refused_while_banned(
    node: &TestNode,
    events: &mut broadcast::Receiver<PeerEvent>,
    key: &NodeKey,
) {
    let mut again = RawPeer::dial(
        node.node.tcp_addr().unwrap(),
        key,
        node.node.key().public_key(),
    )
    .await;
    let heard = again.listen_until_closed().await;
    assert!(
        heard.hello.is_none(),
        "a banned peer got as far as the Hello"
    );
    assert_eq!(
        heard.disconnect,
        Some(DisconnectReason::DisconnectRequested)
    );
    let (_, _, detail) = wait_end(events, key.peer_id()).await;
    assert!(detail.contains("refused"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_outside_every_capability_drops_the_peer_as_geth_does_and_bans_it() {
    let node = start(|_| {}).await;
    let mut events = node.handle().subscribe();
    let key = NodeKey::generate();
    let mut raw = RawPeer::dial(
        node.node.tcp_addr().unwrap(),
        &key,
        node.node.key().public_key(),
    )
    .await;
    raw.send_hello(key.peer_id()).await;
    wait_peer(node.handle(), &mut events, key.peer_id()).await;
    // A greeting in range first (kadtest code 0 = 0x10), then 0x12: kadtest has two codes,
    // so 0x12 belongs to no shared capability.
    raw.send_compressed(0x10, &[0xc0]).await;
    raw.send_compressed(0x12, &[0xc0]).await;
    let heard = raw.listen_until_closed().await;
    // geth treats an incoming code outside every range as a read error: the peer is dropped
    // with DiscNetworkError (0x01), which is never sent, so no Disconnect goes out.
    assert!(heard.hello.is_some());
    assert_eq!(heard.disconnect, None, "geth sends no Disconnect here");
    let (reason, verdict, detail) = wait_end(&mut events, key.peer_id()).await;
    assert_eq!(reason, None, "nothing sent: {detail}");
    assert!(detail.contains("0x12"), "{detail}");
    assert_eq!(verdict, Verdict::Misbehaved, "{detail}");
    assert!(verdict.should_ban());
    // The ban holds: the same key cannot come back.
    assert_refused_while_banned(&node, &mut events, &key).await;
    node.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_hello_with_a_foreign_id_is_unexpected_identity_and_banned() {
    let node = start(|_| {}).await;
    let mut events = node.handle().subscribe();
    let key = NodeKey::generate();
    let someone_else = NodeKey::generate().peer_id();
    let mut raw = RawPeer::dial(
        node.node.tcp_addr().unwrap(),
        &key,
        node.node.key().public_key(),
    )
    .await;
    raw.send_hello(someone_else).await;
    let heard = raw.listen_until_closed().await;
    assert_eq!(heard.disconnect, Some(DisconnectReason::UnexpectedIdentity));
    let (_, verdict, detail) = wait_end(&mut events, key.peer_id()).await;
    assert_eq!(verdict, Verdict::Impostor, "{detail}");
    assert!(
        node.handle()
            .peers()
            .await
            .unwrap()
            .iter()
            .all(|p| p.id != key.peer_id() && p.id != someone_else),
        "the impostor became a peer"
    );
    // An impostor's key is banned like a misbehaving peer's.
    assert_refused_while_banned(&node, &mut events, &key).await;
    node.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialed_node_whose_hello_has_a_foreign_id_is_unexpected_identity() {
    let node = start(|_| {}).await;
    let mut events = node.handle().subscribe();
    let key = NodeKey::generate();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    node.handle()
        .add_static(NodeRecord {
            address: [127, 0, 0, 1].into(),
            tcp_port: port,
            udp_port: 0,
            id: key.peer_id(),
        })
        .await
        .unwrap();
    let mut raw = RawPeer::accept(&listener, &key).await;
    raw.send_hello(NodeKey::generate().peer_id()).await;
    let heard = raw.listen_until_closed().await;
    assert!(heard.hello.is_some(), "the node sends its Hello first");
    assert_eq!(heard.disconnect, Some(DisconnectReason::UnexpectedIdentity));
    let (_, verdict, detail) = wait_end(&mut events, key.peer_id()).await;
    assert_eq!(verdict, Verdict::Impostor, "{detail}");
    assert!(verdict.is_fatal());
    node.node.shutdown().await;
}

/// A raw `pex/1` client after the Status exchange.
struct PexClient {
    handle: ProtocolHandle,
    _connection: P2pConnection,
}

impl PexClient {
    /// Connects as `key`, sends a Status with `flags`, reads the node's Status.
    async fn connect(node: &TestNode, key: &NodeKey, flags: u64) -> Result<Self, SessionError> {
        let config = SessionConfig::new("pex-misuse", vec![ProtocolSpec::new("pex", 1, 3)]);
        let tcp = TcpStream::connect(node.node.tcp_addr().unwrap())
            .await
            .unwrap();
        let mut session = connect(tcp, key, node.node.key().public_key(), &config).await?;
        let mut handle = session.connection.take_handle("pex").unwrap();
        let status = PexMessage::Status(Status {
            version: 1,
            flags,
            enr: record_of(key, 1),
            max_records: MAX_RECORDS as u64,
        });
        handle.send(0, status.encode()).await.unwrap();
        match recv(&mut handle).await {
            Some(PexMessage::Status(_)) => {}
            other => panic!("expected Status, got {other:?}"),
        }
        Ok(Self {
            handle,
            _connection: session.connection,
        })
    }

    /// The request id of the node's next GetPeers.
    async fn expect_get_peers(&mut self) -> u64 {
        match recv(&mut self.handle).await {
            Some(PexMessage::GetPeers(request)) => request.request_id,
            other => panic!("expected GetPeers, got {other:?}"),
        }
    }

    /// Answers `request_id` with records given as raw RLP (forged ones included).
    async fn send_raw_peers(&self, request_id: u64, records: &[Vec<u8>]) {
        let list: Vec<u8> = records.concat();
        let mut body = BytesMut::new();
        request_id.encode(&mut body);
        Header {
            list: true,
            payload_length: list.len(),
        }
        .encode(&mut body);
        body.put_slice(&list);
        Bytes::new().encode(&mut body); // no hints
        let mut payload = BytesMut::new();
        Header {
            list: true,
            payload_length: body.len(),
        }
        .encode(&mut payload);
        payload.put_slice(&body);
        self.handle
            .send(PEERS, payload.freeze())
            .await
            .expect("session up");
    }
}

async fn recv(handle: &mut ProtocolHandle) -> Option<PexMessage> {
    let (code, payload) = timeout(WAIT, handle.recv()).await.expect("pex message")?;
    Some(PexMessage::decode(code, &payload).unwrap())
}

fn raw_record(record: &Enr) -> Vec<u8> {
    let mut out = Vec::new();
    record.encode(&mut out);
    out
}

/// A record whose signature does not verify: one bit of the signature flipped.
fn bad_signature(key: &NodeKey) -> Vec<u8> {
    let mut raw = raw_record(&record_of(key, 30303));
    let mut rest = &raw[..];
    Header::decode(&mut rest).unwrap();
    let signature_at = raw.len() - rest.len() + 2; // after the list and the string headers
    raw[signature_at + 10] ^= 0x01;
    raw
}

/// `signer`'s record claiming `claimed`'s key (so `claimed`'s id): the signature is genuine
/// but made by another key.
fn wrong_id(signer: &NodeKey, claimed: &NodeKey) -> Vec<u8> {
    let mut raw = raw_record(&record_of(signer, 30303));
    let ours = signer.public_key().serialize();
    let theirs = claimed.public_key().serialize();
    let at = raw
        .windows(ours.len())
        .position(|w| w == ours)
        .expect("the record carries its key");
    raw[at..at + ours.len()].copy_from_slice(&theirs);
    raw
}

/// An RLP list of `size` bytes in all: bigger than any record may be.
fn oversize_record(size: usize) -> Vec<u8> {
    let payload = vec![0x01u8; size - 3];
    let mut raw = Vec::new();
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut raw);
    raw.extend_from_slice(&payload);
    assert_eq!(raw.len(), size);
    raw
}

async fn pex_node() -> TestNode {
    start(|p2p| p2p.pex = Some(PexConfig::default())).await
}

async fn banned_in_book(node: &TestNode, id: PeerId) -> bool {
    let book = node.node.pex().unwrap().book().await.unwrap();
    book.bans.iter().any(|(banned, _, _)| *banned == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_peers_flood_is_rate_limited_then_banned_and_stays_out() {
    let node = pex_node().await;
    let mut events = node.handle().subscribe();
    let pex = node.node.pex().unwrap().clone();
    let key = NodeKey::generate();
    let mut client = PexClient::connect(&node, &key, 0).await.unwrap();
    let mut answers = 0u64;
    for request_id in 0..200u64 {
        let request = PexMessage::GetPeers(kadnode::pex::wire::GetPeers {
            request_id,
            limit: 64,
        });
        if client
            .handle
            .send(GET_PEERS, request.encode())
            .await
            .is_err()
        {
            break;
        }
        match recv(&mut client.handle).await {
            Some(PexMessage::Peers(peers)) => {
                assert_eq!(peers.request_id, request_id);
                answers += 1;
            }
            Some(other) => panic!("expected Peers, got {other:?}"),
            None => break,
        }
    }
    let (reason, verdict, detail) = wait_end(&mut events, key.peer_id()).await;
    assert_eq!(reason, Some(DisconnectReason::SubprotocolError), "{detail}");
    assert_eq!(verdict, Verdict::Misbehaved, "{detail}");
    let metrics = pex.metrics();
    eprintln!(
        "flood: {answers} answers, {} served, {} rate-limited, {} bans",
        metrics.requests_served(),
        metrics.rate_limited(),
        metrics.bans()
    );
    assert_eq!(metrics.requests_served(), u64::from(REQUEST_BURST));
    assert!(metrics.rate_limited() >= 1);
    // Banned by score (the book) long before the flood-count cap would have ended it.
    assert!(answers < 200);
    assert_eq!(metrics.bans(), 1);
    assert!(banned_in_book(&node, key.peer_id()).await);
    // Cannot come back while banned: a Disconnect before the Hellos.
    match PexClient::connect(&node, &key, 0).await {
        Err(error) => assert_eq!(
            error.remote_disconnect_reason(),
            Some(DisconnectReason::DisconnectRequested),
            "{error}"
        ),
        Ok(_) => panic!("a banned peer reconnected"),
    }
    // The ban is the peer's, not its address's: another key from the same address is
    // served.
    let mut honest = PexClient::connect(&node, &NodeKey::generate(), 0)
        .await
        .unwrap();
    let request = PexMessage::GetPeers(kadnode::pex::wire::GetPeers {
        request_id: 1,
        limit: 64,
    });
    honest
        .handle
        .send(GET_PEERS, request.encode())
        .await
        .unwrap();
    assert!(matches!(
        recv(&mut honest.handle).await,
        Some(PexMessage::Peers(_))
    ));
    node.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_records_in_peers_are_counted_kept_out_of_the_book_and_penalised() {
    let node = pex_node().await;
    let mut events = node.handle().subscribe();
    let pex = node.node.pex().unwrap().clone();
    let key = NodeKey::generate();
    let good = NodeKey::generate();
    let (forger, victim) = (NodeKey::generate(), NodeKey::generate());
    let bad_sig_key = NodeKey::generate();

    // Session 1: one good record and two forged ones. The node asks at once (our Status says
    // we are a seed), takes the good record, counts the forged ones and scores us.
    let mut client = PexClient::connect(&node, &key, FLAG_SEED).await.unwrap();
    let request_id = client.expect_get_peers().await;
    client
        .send_raw_peers(
            request_id,
            &[
                raw_record(&record_of(&good, 30303)),
                bad_signature(&bad_sig_key),
                wrong_id(&forger, &victim),
            ],
        )
        .await;
    // A seed's answer is all the node came for: it hangs up (not a ban yet).
    let (_, verdict, detail) = wait_end(&mut events, key.peer_id()).await;
    assert!(!verdict.should_ban(), "{verdict:?}: {detail}");
    assert_eq!(pex.metrics().invalid_records(), 2);
    let book = pex.book().await.unwrap();
    let ids: Vec<PeerId> = book
        .entries
        .iter()
        .filter_map(|e| enr_peer_id(&e.record).ok())
        .collect();
    assert!(ids.contains(&good.peer_id()), "the good record is kept");
    for forged in [&bad_sig_key, &forger, &victim] {
        assert!(
            !ids.contains(&forged.peer_id()),
            "a forged record entered the book"
        );
    }
    assert!(!banned_in_book(&node, key.peer_id()).await);
    drop(client);

    // Session 2: forged again; the score reaches the ban threshold.
    let mut client = PexClient::connect(&node, &key, FLAG_SEED).await.unwrap();
    let request_id = client.expect_get_peers().await;
    client
        .send_raw_peers(request_id, &[bad_signature(&NodeKey::generate())])
        .await;
    let (reason, verdict, detail) = wait_end(&mut events, key.peer_id()).await;
    assert_eq!(reason, Some(DisconnectReason::SubprotocolError), "{detail}");
    assert_eq!(verdict, Verdict::Misbehaved, "{detail}");
    assert_eq!(pex.metrics().invalid_records(), 3);
    assert!(banned_in_book(&node, key.peer_id()).await);
    drop(client);

    // An oversize record: the whole message breaks the protocol, banned at once.
    let big = NodeKey::generate();
    let mut client = PexClient::connect(&node, &big, FLAG_SEED).await.unwrap();
    let request_id = client.expect_get_peers().await;
    client
        .send_raw_peers(request_id, &[oversize_record(enode::MAX_ENR_SIZE + 100)])
        .await;
    let (reason, verdict, detail) = wait_end(&mut events, big.peer_id()).await;
    assert_eq!(reason, Some(DisconnectReason::ProtocolBreach), "{detail}");
    assert_eq!(verdict, Verdict::Misbehaved, "{detail}");
    assert!(banned_in_book(&node, big.peer_id()).await);
    assert_eq!(
        pex.book().await.unwrap().stats.banned,
        2,
        "the two forgers, nobody else"
    );
    drop(client);
    node.node.shutdown().await;
}
