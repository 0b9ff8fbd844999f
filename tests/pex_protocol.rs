//! `pex/1` against real nodes on loopback: a seed delivers its answer before hanging up even
//! to a slow reader; the request rate limit serves a burst, throttles a flood and then
//! disconnects it, and never bans an honest peer; answers carry the "had a session" hint
//! both ways; a node with PEX keeps its sessions with peers that do not speak it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_support;
mod pex_support;

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use enode::{build_enr, EndpointConfig, NodeKey, PublicKey};
use kadnode::{
    pex::{
        wire::{
            GetPeers, Peers, PexMessage, Status, FLAG_SEED, GET_PEERS, HINT_CONNECTED, MAX_RECORDS,
            PEERS,
        },
        Misbehaviour, PexConfig, FLOOD_DISCONNECT, REQUEST_BURST, REQUEST_REFILL,
    },
    KeySource, Node, NodeConfig, P2pConfig,
};
use rlpx::{
    p2p::{DisconnectReason, ProtocolHandle, SessionEnd},
    session::{connect, SessionConfig},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    time::{timeout, Sleep},
};

const WAIT: Duration = Duration::from_secs(20);

/// Reads at most 16 bytes every 2 ms: a peer far slower than the seed's writer.
struct SlowReader {
    inner: TcpStream,
    pause: Option<Pin<Box<Sleep>>>,
}

impl AsyncRead for SlowReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(pause) = self.pause.as_mut() {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        let mut small = [0u8; 16];
        let len = buf.remaining().min(small.len());
        let mut limited = ReadBuf::new(&mut small[..len]);
        match Pin::new(&mut self.inner).poll_read(cx, &mut limited) {
            Poll::Ready(Ok(())) => {
                buf.put_slice(limited.filled());
                self.pause = Some(Box::pin(tokio::time::sleep(Duration::from_millis(2))));
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for SlowReader {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

use std::future::Future;

/// A raw `pex/1` client: one RLPx session and its pex handle, after the Status exchange.
struct Client {
    handle: ProtocolHandle,
    _connection: rlpx::p2p::P2pConnection,
    remote_status: Status,
}

impl Client {
    async fn connect(addr: SocketAddr, remote: PublicKey, slow: bool) -> Self {
        let key = NodeKey::generate();
        let config = SessionConfig::new("pex-test", vec![kadnode::ProtocolSpec::new("pex", 1, 3)]);
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut session = if slow {
            let io = SlowReader {
                inner: tcp,
                pause: None,
            };
            connect(io, &key, remote, &config).await.unwrap()
        } else {
            connect(tcp, &key, remote, &config).await.unwrap()
        };
        let mut handle = session.connection.take_handle("pex").unwrap();
        let endpoints = EndpointConfig {
            ip4: Some([127, 0, 0, 1].into()),
            tcp4: Some(1),
            udp4: Some(1),
            ..EndpointConfig::default()
        };
        let status = PexMessage::Status(Status {
            version: 1,
            flags: 0,
            enr: build_enr(key.secret_key(), 1, &endpoints).unwrap(),
            max_records: MAX_RECORDS as u64,
        });
        handle.send(0, status.encode()).await.unwrap();
        let remote_status = match recv(&mut handle).await {
            Some(PexMessage::Status(status)) => status,
            other => panic!("expected Status, got {other:?}"),
        };
        Self {
            handle,
            _connection: session.connection,
            remote_status,
        }
    }

    /// Sends a GetPeers; false once the session has ended.
    async fn get_peers(&self, request_id: u64) -> bool {
        let request = PexMessage::GetPeers(GetPeers {
            request_id,
            limit: 64,
        });
        self.handle.send(GET_PEERS, request.encode()).await.is_ok()
    }

    /// The next Peers: (request id, record count); `None` once the session ended.
    async fn peers(&mut self) -> Option<(u64, usize)> {
        let peers = self.full_peers().await?;
        Some((peers.request_id, peers.records.len()))
    }

    /// The next Peers message; `None` once the session ended.
    async fn full_peers(&mut self) -> Option<Peers> {
        match recv(&mut self.handle).await? {
            PexMessage::Peers(peers) => Some(peers),
            other => panic!("expected Peers, got {other:?}"),
        }
    }
}

async fn recv(handle: &mut ProtocolHandle) -> Option<PexMessage> {
    let (code, payload) = timeout(WAIT, handle.recv()).await.expect("pex message")?;
    Some(PexMessage::decode(code, &payload).unwrap())
}

/// A node running PEX over a test book holding `records` records.
async fn pex_node(records: u8, tune: impl FnOnce(&mut PexConfig)) -> (Node, pex_support::Probe) {
    let key = NodeKey::generate();
    let initial = (1..=records)
        .map(|i| pex_support::record(i, 20000 + u16::from(i)))
        .collect();
    let (factory, probe) = pex_support::factory(key.peer_id(), 5, initial);
    let mut pex = PexConfig::new(factory);
    tune(&mut pex);
    let config = NodeConfig {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        key: KeySource::Key(key),
        discovery: None,
        p2p: Some(P2pConfig {
            pex: Some(pex),
            ..P2pConfig::default()
        }),
        ..NodeConfig::default()
    };
    (Node::start(config).await.unwrap(), probe)
}

#[tokio::test]
async fn a_seed_delivers_its_answer_before_hanging_up_on_a_slow_reader() {
    let (seed, _probe) = pex_node(40, |pex| pex.seed_mode = true).await;
    let addr = seed.tcp_addr().unwrap();
    // Several sessions: a Disconnect that could overtake the answer would do so in some.
    for round in 0..6u64 {
        let mut client = Client::connect(addr, seed.key().public_key(), true).await;
        assert_eq!(client.remote_status.flags & FLAG_SEED, FLAG_SEED);
        assert!(client.get_peers(round).await);
        // The 40 records, plus the clients of earlier rounds (their Status records).
        assert_eq!(
            client.peers().await,
            Some((round, 40 + round as usize)),
            "round {round}"
        );
        assert_eq!(
            client.peers().await,
            None,
            "the seed hangs up after one answer"
        );
        let end = timeout(WAIT, client.handle.closed()).await.unwrap();
        assert!(
            matches!(
                end,
                SessionEnd::Remote(DisconnectReason::DisconnectRequested)
            ),
            "round {round}: {end}"
        );
    }
    seed.shutdown().await;
}

#[tokio::test]
async fn a_burst_is_served_a_flood_throttled_then_disconnected() {
    let (node, probe) = pex_node(10, |_| {}).await;
    let addr = node.tcp_addr().unwrap();
    let mut client = Client::connect(addr, node.key().public_key(), false).await;
    for id in 0..u64::from(REQUEST_BURST) {
        assert!(client.get_peers(id).await);
        assert_eq!(client.peers().await, Some((id, 10)), "burst request {id}");
    }
    // Over the limit: an empty answer, a light score, the session stays.
    assert!(client.get_peers(100).await);
    assert_eq!(client.peers().await, Some((100, 0)));
    assert_eq!(
        probe.lock().unwrap().penalties,
        vec![Misbehaviour::RequestFlood]
    );
    // Sustained: throttled every time, then disconnected.
    let mut answered = 1;
    for id in 101..200 {
        if !client.get_peers(id).await {
            break;
        }
        match client.peers().await {
            Some((got, 0)) => {
                assert_eq!(got, id);
                answered += 1;
            }
            Some(other) => panic!("a flood was served: {other:?}"),
            None => break,
        }
    }
    assert!(
        answered <= FLOOD_DISCONNECT,
        "{answered} flood requests answered"
    );
    let end = timeout(WAIT, client.handle.closed()).await.unwrap();
    assert!(
        matches!(end, SessionEnd::Remote(DisconnectReason::SubprotocolError)),
        "{end}"
    );
    assert_eq!(
        node.pex().unwrap().metrics().rate_limited(),
        u64::from(answered)
    );
    node.shutdown().await;
}

#[tokio::test]
async fn an_honest_peer_is_never_penalized() {
    let (node, probe) = pex_node(10, |_| {}).await;
    let addr = node.tcp_addr().unwrap();
    let mut client = Client::connect(addr, node.key().public_key(), false).await;
    // A burst after a reconnect, then the steady pace.
    for id in 0..u64::from(REQUEST_BURST) {
        assert!(client.get_peers(id).await);
        assert_eq!(client.peers().await, Some((id, 10)));
    }
    tokio::time::sleep(REQUEST_REFILL + Duration::from_millis(200)).await;
    assert!(client.get_peers(7).await);
    assert_eq!(client.peers().await, Some((7, 10)));
    {
        let stats = probe.lock().unwrap();
        assert!(stats.penalties.is_empty(), "{:?}", stats.penalties);
        assert_eq!(stats.bans, 0);
    }
    assert!(client.handle.end_reason().is_none(), "the session is up");
    node.shutdown().await;
}

#[tokio::test]
async fn answers_carry_the_session_hint_both_ways() {
    // Asks soon, so the node's GetPeers reaches the (inbound) client within the test.
    let (node, probe) = pex_node(3, |pex| {
        pex.ensure_period = Duration::from_millis(200);
    })
    .await;
    let known: Vec<_> = (1..=3u8)
        .map(|i| pex_support::record(i, 20000 + u16::from(i)))
        .collect();
    let id = |r: &enode::Enr| enode::enr_peer_id(r).unwrap();
    probe.lock().unwrap().had_session = vec![id(&known[1])];
    let mut client =
        Client::connect(node.tcp_addr().unwrap(), node.key().public_key(), false).await;

    // Our GetPeers: the node's answer says which record it had a session with.
    assert!(client.get_peers(5).await);
    let answer = client.full_peers().await.expect("an answer");
    assert_eq!(answer.records.len(), 3);
    assert_eq!(answer.hints.len(), 3, "one hint per record");
    for (record, hint) in answer.records.iter().zip(&answer.hints) {
        let expected = if id(record) == id(&known[1]) {
            HINT_CONNECTED
        } else {
            0
        };
        assert_eq!(*hint, expected, "hint of {:?}", id(record));
    }

    // The node's GetPeers: our hints reach its book, for the records we vouch for only.
    let request = match recv(&mut client.handle).await.expect("the session is up") {
        PexMessage::GetPeers(request) => request,
        other => panic!("expected GetPeers, got {other:?}"),
    };
    let (vouched, plain) = (
        pex_support::record(50, 20050),
        pex_support::record(51, 20051),
    );
    let reply = PexMessage::Peers(Peers {
        request_id: request.request_id,
        records: vec![plain.clone(), vouched.clone()],
        hints: vec![0, HINT_CONNECTED],
        invalid: 0,
    });
    client.handle.send(PEERS, reply.encode()).await.unwrap();
    // The session handles messages in order and waits for the book to take an answer, so
    // once our next request is answered the records are in.
    assert!(client.get_peers(6).await);
    assert_eq!(client.peers().await, Some((6, 5)));
    {
        let stats = probe.lock().unwrap();
        assert!(stats.known.contains(&id(&plain)) && stats.known.contains(&id(&vouched)));
        assert_eq!(stats.vouched, vec![id(&vouched)]);
    }
    node.shutdown().await;
}

#[tokio::test]
async fn a_forged_status_record_ends_the_session() {
    let (node, _probe) = pex_node(1, |_| {}).await;
    let key = NodeKey::generate();
    let config = SessionConfig::new("pex-test", vec![kadnode::ProtocolSpec::new("pex", 1, 3)]);
    let tcp = TcpStream::connect(node.tcp_addr().unwrap()).await.unwrap();
    let mut session = connect(tcp, &key, node.key().public_key(), &config)
        .await
        .unwrap();
    let mut handle = session.connection.take_handle("pex").unwrap();
    // Someone else's record in our Status.
    let status = PexMessage::Status(Status {
        version: 1,
        flags: 0,
        enr: pex_support::record(9, 30303),
        max_records: 64,
    });
    handle.send(0, status.encode()).await.unwrap();
    let _their_status = recv(&mut handle).await;
    assert_eq!(recv(&mut handle).await, None);
    let end = timeout(WAIT, handle.closed()).await.unwrap();
    assert!(
        matches!(end, SessionEnd::Remote(DisconnectReason::SubprotocolError)),
        "{end}"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn a_node_with_pex_keeps_peers_without_it() {
    let key = NodeKey::generate();
    let (factory, _probe) = pex_support::factory(key.peer_id(), 5, Vec::new());
    let mut with_pex = node_support::start(|p2p| {
        p2p.pex = Some(PexConfig::new(factory));
    })
    .await;
    let mut without = node_support::start(|_| {}).await;
    with_pex
        .handle()
        .add_static(without.record())
        .await
        .unwrap();
    let (a, b) = (with_pex.id(), without.id());
    node_support::wait_both_ways(&mut with_pex, b).await;
    node_support::wait_both_ways(&mut without, a).await;
    // Well past the pex Status timeout: the session is still there.
    tokio::time::sleep(kadnode::pex::STATUS_TIMEOUT + Duration::from_secs(1)).await;
    let peers = with_pex.handle().peers().await.unwrap();
    assert!(
        peers.iter().any(|p| p.id == b),
        "the peer without pex stays"
    );
    assert_eq!(with_pex.node.pex().unwrap().metrics().sessions(), 0);
    with_pex.node.shutdown().await;
    without.node.shutdown().await;
}
