//! `rlpx::session` over loopback TCP with our code on both sides: handshake, Hellos,
//! capability offsets, ping/pong, disconnect reasons, identity and key mismatches, timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use enode::NodeKey;
use std::{future::Future, net::SocketAddr, time::Duration};

use bytes::Bytes;
use futures::SinkExt;
use rlpx::{
    ecies::HandshakeError,
    frame::{encode_message, FrameError, UnauthedRlpx},
    p2p::{
        encode_disconnect, DisconnectReason, Hello, P2pError, Protocol, SessionEnd, UnauthedP2p,
    },
    session::{
        accept, authenticate_inbound, authenticate_outbound, connect, dial, Session, SessionConfig,
        SessionError,
    },
    verdict::Backoff,
    SecretKey,
};
use tokio::net::{TcpListener, TcpStream};

/// Upper bound for any single step; every step normally takes milliseconds.
const STEP: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {STEP:?}"))
}

fn key(byte: u8) -> NodeKey {
    NodeKey::from(SecretKey::from_slice(&[byte; 32]).unwrap())
}

fn config(name: &str, protocols: Vec<Protocol>) -> SessionConfig {
    SessionConfig::new(name, protocols)
}

fn eth_snap() -> Vec<Protocol> {
    vec![Protocol::new("eth", 69, 18), Protocol::new("snap", 1, 8)]
}

async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

async fn accept_one(listener: TcpListener) -> TcpStream {
    let (tcp, _) = listener.accept().await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp
}

/// Spawns the recipient on `listener` and dials it; returns (initiator, recipient) results.
async fn run_pair(
    dialer: (&NodeKey, &SessionConfig),
    expected_remote: &NodeKey,
    listener_side: (&NodeKey, &SessionConfig),
) -> (Result<Session, SessionError>, Result<Session, SessionError>) {
    let (listener, addr) = listen().await;
    let (l_key, l_config) = (listener_side.0.clone(), listener_side.1.clone());
    let recipient = tokio::spawn(async move {
        let tcp = accept_one(listener).await;
        accept(tcp, &l_key, &l_config).await
    });
    let initiator = within(
        "dial",
        dial(addr, dialer.0, expected_remote.public_key(), dialer.1),
    )
    .await;
    let recipient = within("accept", recipient).await.unwrap();
    (initiator, recipient)
}

async fn established(
    dialer_config: &SessionConfig,
    listener_config: &SessionConfig,
) -> (Session, Session) {
    let (a, b) = (key(1), key(2));
    let (i, r) = run_pair((&a, dialer_config), &b, (&b, listener_config)).await;
    (i.unwrap(), r.unwrap())
}

#[tokio::test]
async fn both_roles_complete_handshake_and_hellos() {
    let mut dialer = config("kadnode-dialer/v1", eth_snap());
    dialer.listen_port = 30303;
    let listener = config("kadnode-listener/v1", eth_snap());
    let (i, r) = established(&dialer, &listener).await;

    assert_eq!(i.remote_id, key(2).peer_id());
    assert_eq!(i.remote_public_key, key(2).public_key());
    assert_eq!(r.remote_id, key(1).peer_id());
    assert_eq!(r.remote_public_key, key(1).public_key());

    assert_eq!(i.remote_hello.client_id, "kadnode-listener/v1");
    assert_eq!(i.remote_hello.id, key(2).peer_id());
    assert_eq!(i.remote_hello.listen_port, 0);
    assert_eq!(r.remote_hello.client_id, "kadnode-dialer/v1");
    assert_eq!(r.remote_hello.listen_port, 30303);
    for hello in [&i.remote_hello, &r.remote_hello] {
        assert_eq!(hello.protocol_version, 5, "snappy is on");
        let caps: Vec<String> = hello.capabilities.iter().map(ToString::to_string).collect();
        assert_eq!(caps, ["eth/69", "snap/1"]);
    }
    assert_eq!(i.shared, r.shared);
    assert!(i.connection.end_reason().is_none());
}

#[tokio::test]
async fn two_capabilities_exchange_messages_at_their_offsets() {
    // Different protocol sets on each side: only eth/69 and snap/1 are shared, so eth/69 takes
    // 0x10..0x22 and snap/1 0x22..0x2a, whatever else either side runs.
    let dialer = config(
        "dialer",
        vec![
            Protocol::new("eth", 68, 17),
            Protocol::new("eth", 69, 18),
            Protocol::new("snap", 1, 8),
        ],
    );
    let listener = config(
        "listener",
        vec![
            Protocol::new("aaa", 1, 5),
            Protocol::new("eth", 69, 18),
            Protocol::new("snap", 1, 8),
        ],
    );
    let (mut i, mut r) = established(&dialer, &listener).await;
    let ranges: Vec<(String, u32, u64, u64)> = i
        .shared
        .iter()
        .map(|c| (c.name.clone(), c.version, c.offset, c.length))
        .collect();
    assert_eq!(
        ranges,
        [("eth".into(), 69, 0x10, 18), ("snap".into(), 1, 0x22, 8)]
    );

    let i_eth = i.connection.take_handle("eth").unwrap();
    let mut i_snap = i.connection.take_handle("snap").unwrap();
    let mut r_eth = r.connection.take_handle("eth").unwrap();
    let r_snap = r.connection.take_handle("snap").unwrap();

    i_eth
        .send(17, Bytes::from_static(b"\xc2\x01\x02"))
        .await
        .unwrap();
    i_eth.send(0, Bytes::from_static(b"\xc0")).await.unwrap();
    assert_eq!(
        within("eth 17", r_eth.recv()).await.unwrap(),
        (17, Bytes::from_static(b"\xc2\x01\x02"))
    );
    assert_eq!(
        within("eth 0", r_eth.recv()).await.unwrap(),
        (0, Bytes::from_static(b"\xc0"))
    );

    // A message far above the 2 KiB Hello limit proves that limit is lifted after the Hello.
    let big = Bytes::from(vec![0x5a; 1 << 20]);
    r_snap.send(7, big.clone()).await.unwrap();
    r_snap
        .send(3, Bytes::from_static(b"\x83abc"))
        .await
        .unwrap();
    assert_eq!(within("snap 7", i_snap.recv()).await.unwrap(), (7, big));
    assert_eq!(
        within("snap 3", i_snap.recv()).await.unwrap(),
        (3, Bytes::from_static(b"\x83abc"))
    );

    // Codes past a capability's length are refused before anything is sent.
    assert!(matches!(
        i_eth.send(18, Bytes::new()).await,
        Err(P2pError::InvalidMessageCode { code: 18, .. })
    ));
}

#[tokio::test]
async fn compressed_ping_is_answered_with_pong_both_ways() {
    let (i, r) = established(&config("a", eth_snap()), &config("b", eth_snap())).await;
    // Both Hellos say version 5, so the pings and pongs are snappy-compressed; `ping` returns
    // only once the remote's session decoded our Ping and its Pong came back.
    for _ in 0..3 {
        let rtt = within("initiator ping", i.connection.ping()).await.unwrap();
        assert!(rtt < STEP);
        within("recipient ping", r.connection.ping()).await.unwrap();
    }
    assert!(i.connection.end_reason().is_none());
    assert!(r.connection.end_reason().is_none());
}

#[tokio::test]
async fn disconnect_reason_is_seen_on_the_other_side_in_both_directions() {
    let (i, r) = established(&config("a", eth_snap()), &config("b", eth_snap())).await;
    i.connection.disconnect(DisconnectReason::ClientQuitting);
    match within("recipient closed", r.connection.closed()).await {
        SessionEnd::Remote(DisconnectReason::ClientQuitting) => {}
        other => panic!("recipient saw {other}"),
    }
    match within("initiator closed", i.connection.closed()).await {
        SessionEnd::Local(DisconnectReason::ClientQuitting) => {}
        other => panic!("initiator saw {other}"),
    }

    let (i, r) = established(&config("a", eth_snap()), &config("b", eth_snap())).await;
    r.connection.disconnect(DisconnectReason::TooManyPeers);
    match within("initiator closed", i.connection.closed()).await {
        SessionEnd::Remote(DisconnectReason::TooManyPeers) => {}
        other => panic!("initiator saw {other}"),
    }
    // The ended session answers the policy questions through SessionError as well.
    let err = SessionError::P2p(within("ping", i.connection.ping()).await.unwrap_err());
    assert_eq!(
        err.remote_disconnect_reason(),
        Some(DisconnectReason::TooManyPeers)
    );
    assert_eq!(err.backoff(), Backoff::Short);
}

/// Runs the ECIES handshake by hand (as the initiator) so the test controls what follows.
async fn raw_initiator(addr: SocketAddr, ours: &NodeKey, theirs: &NodeKey) -> impl Sized {
    let tcp = TcpStream::connect(addr).await.unwrap();
    within(
        "raw handshake",
        UnauthedRlpx::with_local_key(tcp, ours.clone()).connect(theirs.public_key()),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn hello_id_differing_from_the_handshake_key_is_rejected_on_accept() {
    let (listener, addr) = listen().await;
    let (ours, theirs) = (key(1), key(2));
    let listener_key = theirs.clone();
    let recipient = tokio::spawn(async move {
        let tcp = accept_one(listener).await;
        accept(tcp, &listener_key, &config("b", eth_snap())).await
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let stream = within(
        "raw handshake",
        UnauthedRlpx::with_local_key(tcp, ours.clone()).connect(theirs.public_key()),
    )
    .await
    .unwrap();
    // Proven key 1, but the Hello claims key 3.
    let liar = Hello::for_protocols("liar", key(3).peer_id(), &eth_snap(), 0);
    let (conn, _, _) = within(
        "liar hello",
        UnauthedP2p::new(stream).handshake(liar, theirs.peer_id(), eth_snap()),
    )
    .await
    .unwrap();

    let err = within("accept", recipient).await.unwrap().unwrap_err();
    assert!(
        matches!(err, SessionError::P2p(P2pError::UnexpectedIdentity { .. })),
        "{err}"
    );
    assert!(err.is_fatal() && err.should_ban());
    assert_eq!(err.remote_disconnect_reason(), None);
    match within("liar closed", conn.closed()).await {
        SessionEnd::Remote(DisconnectReason::UnexpectedIdentity) => {}
        other => panic!("liar saw {other}"),
    }
}

#[tokio::test]
async fn hello_id_differing_from_the_handshake_key_is_rejected_on_connect() {
    let (listener, addr) = listen().await;
    let (ours, theirs) = (key(1), key(2));
    let listener_key = theirs.clone();
    let liar = tokio::spawn(async move {
        let tcp = accept_one(listener).await;
        let stream = UnauthedRlpx::with_local_key(tcp, listener_key)
            .accept()
            .await
            .unwrap();
        let hello = Hello::for_protocols("liar", key(3).peer_id(), &eth_snap(), 0);
        let (conn, _, _) = UnauthedP2p::new(stream)
            .handshake(hello, key(1).peer_id(), eth_snap())
            .await
            .unwrap();
        conn.closed().await
    });
    let err = within(
        "connect",
        dial(addr, &ours, theirs.public_key(), &config("a", eth_snap())),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, SessionError::P2p(P2pError::UnexpectedIdentity { .. })),
        "{err}"
    );
    assert!(err.is_fatal());
    assert!(matches!(
        within("liar", liar).await.unwrap(),
        SessionEnd::Remote(DisconnectReason::UnexpectedIdentity)
    ));
}

#[tokio::test]
async fn dialling_with_the_wrong_remote_key_fails_the_handshake_on_both_sides() {
    let (a, b, stranger) = (key(1), key(2), key(9));
    let cfg = config("x", eth_snap());
    // We expect `stranger`, but `b` listens: b cannot open our auth and hangs up.
    let (i, r) = run_pair((&a, &cfg), &stranger, (&b, &cfg)).await;
    let initiator = i.unwrap_err();
    assert!(
        matches!(initiator, SessionError::Handshake(_)),
        "{initiator}"
    );
    assert!(!initiator.should_ban());
    let recipient = r.unwrap_err();
    assert!(
        matches!(
            recipient,
            SessionError::Handshake(HandshakeError::TagMismatch)
        ),
        "{recipient}"
    );
    assert!(!recipient.should_ban());
    assert_eq!(recipient.backoff(), Backoff::Long);
}

#[tokio::test]
async fn handshake_times_out_against_a_silent_listener() {
    let (listener, addr) = listen().await;
    // Accepts and then says nothing (keeps the socket open).
    let silent = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(STEP).await;
        drop(tcp);
    });
    let mut cfg = config("a", eth_snap());
    cfg.handshake_timeout = Duration::from_millis(300);
    let started = tokio::time::Instant::now();
    let err = within("dial", dial(addr, &key(1), key(2).public_key(), &cfg))
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        matches!(
            err,
            SessionError::Handshake(HandshakeError::Timeout(t)) if t == Duration::from_millis(300)
        ),
        "{err}"
    );
    assert_eq!(
        (err.is_fatal(), err.backoff(), err.should_ban()),
        (false, Backoff::Medium, false)
    );
    silent.abort();
}

#[tokio::test]
async fn accept_times_out_against_a_silent_dialer() {
    let (listener, addr) = listen().await;
    let _silent = TcpStream::connect(addr).await.unwrap();
    let tcp = accept_one(listener).await;
    let mut cfg = config("b", eth_snap());
    cfg.handshake_timeout = Duration::from_millis(300);
    let err = within("accept", accept(tcp, &key(2), &cfg))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SessionError::Handshake(HandshakeError::Timeout(_))),
        "{err}"
    );
}

#[tokio::test]
async fn hello_exchange_times_out_when_the_peer_stops_after_the_handshake() {
    let (listener, addr) = listen().await;
    let mut cfg = config("b", eth_snap());
    cfg.handshake_timeout = Duration::from_millis(300);
    let recipient = tokio::spawn(async move {
        let tcp = accept_one(listener).await;
        accept(tcp, &key(2), &cfg).await
    });
    let _quiet = raw_initiator(addr, &key(1), &key(2)).await;
    let err = within("accept", recipient).await.unwrap().unwrap_err();
    assert!(
        matches!(err, SessionError::P2p(P2pError::HelloTimeout(_))),
        "{err}"
    );
    assert_eq!(err.backoff(), Backoff::Medium);
}

#[tokio::test]
async fn oversize_first_frame_is_refused_before_it_is_buffered() {
    let (listener, addr) = listen().await;
    let recipient = tokio::spawn(async move {
        let tcp = accept_one(listener).await;
        accept(tcp, &key(2), &config("b", eth_snap())).await
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut stream = UnauthedRlpx::with_local_key(tcp, key(1))
        .connect(key(2).public_key())
        .await
        .unwrap();
    // A 64 KiB "Hello": the frame header alone is enough for the recipient to refuse it.
    let huge = encode_message(0, &vec![0xc0; 64 * 1024]);
    let _ = stream.send(huge).await;
    let err = within("accept", recipient).await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::P2p(P2pError::Frame(FrameError::FrameTooLarge { .. }))
        ),
        "{err}"
    );
    assert!(err.should_ban());
}

#[tokio::test]
async fn disconnect_instead_of_hello_is_reported_with_its_reason() {
    let (listener, addr) = listen().await;
    let recipient = tokio::spawn(async move {
        let tcp = accept_one(listener).await;
        let mut stream = UnauthedRlpx::with_local_key(tcp, key(2))
            .accept()
            .await
            .unwrap();
        let disconnect = encode_disconnect(DisconnectReason::TooManyPeers);
        stream.send(encode_message(1, &disconnect)).await.unwrap();
        // Keep the stream until the dialer has read the Disconnect and hung up.
        let _ = futures::StreamExt::next(&mut stream).await;
    });
    let err = within(
        "dial",
        dial(addr, &key(1), key(2).public_key(), &config("a", eth_snap())),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.remote_disconnect_reason(),
        Some(DisconnectReason::TooManyPeers)
    );
    assert_eq!(
        (err.is_fatal(), err.backoff(), err.should_ban()),
        (false, Backoff::Short, false)
    );
    within("recipient", recipient).await.unwrap();
}

#[tokio::test]
async fn no_shared_capability_is_fatal_for_both() {
    let (i, r) = run_pair(
        (&key(1), &config("a", vec![Protocol::new("eth", 69, 18)])),
        &key(2),
        (&key(2), &config("b", vec![Protocol::new("snap", 1, 8)])),
    )
    .await;
    for err in [i.unwrap_err(), r.unwrap_err()] {
        // Each side finds the other useless; whichever Disconnect is read first, it is fatal.
        assert!(err.is_fatal(), "{err}");
        assert!(!err.should_ban(), "{err}");
    }
}

#[tokio::test]
async fn dial_to_a_closed_port_is_a_connect_error() {
    let (listener, addr) = listen().await;
    drop(listener);
    let err = dial(addr, &key(1), key(2).public_key(), &config("a", vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, SessionError::Connect { .. }), "{err}");
    assert_eq!(
        (err.is_fatal(), err.backoff(), err.should_ban()),
        (false, Backoff::Medium, false)
    );
}

#[tokio::test]
async fn connect_takes_any_async_stream() {
    // The same API over an in-memory duplex pipe (no TCP).
    let (a, b) = tokio::io::duplex(64 * 1024);
    let recipient = tokio::spawn(async move { accept(b, &key(2), &config("b", vec![])).await });
    let i = within(
        "connect",
        connect(a, &key(1), key(2).public_key(), &config("a", vec![])),
    )
    .await
    .unwrap();
    let r = within("accept", recipient).await.unwrap().unwrap();
    assert!(i.shared.is_empty() && r.shared.is_empty());
    assert_eq!(r.remote_id, key(1).peer_id());
    within("ping", i.connection.ping()).await.unwrap();
}

#[tokio::test]
async fn server_checkpoint_can_reject_between_handshake_and_hello() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let tcp = accept_one(listener).await;
        let cfg = config("b", eth_snap());
        let pending = authenticate_inbound(tcp, &key(2), &cfg).await.unwrap();
        // The server knows who it is before any Hello, and turns it away.
        assert_eq!(pending.remote_id(), key(1).peer_id());
        assert_eq!(pending.remote_public_key(), key(1).public_key());
        assert!(pending.get_ref().peer_addr().is_ok());
        pending.reject(DisconnectReason::TooManyPeers).await;
    });
    let err = within(
        "dial",
        dial(addr, &key(1), key(2).public_key(), &config("a", eth_snap())),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.remote_disconnect_reason(),
        Some(DisconnectReason::TooManyPeers)
    );
    assert_eq!(err.backoff(), Backoff::Short);
    within("server", server).await.unwrap();
}

#[tokio::test]
async fn split_phases_compose_into_a_session() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let tcp = accept_one(listener).await;
        let cfg = config("b", eth_snap());
        let pending = authenticate_inbound(tcp, &key(2), &cfg).await.unwrap();
        pending.exchange_hellos(&key(2), &cfg).await.unwrap()
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let cfg = config("a", eth_snap());
    let pending = within(
        "authenticate",
        authenticate_outbound(tcp, &key(1), key(2).public_key(), &cfg),
    )
    .await
    .unwrap();
    assert_eq!(pending.remote_id(), key(2).peer_id());
    let i = within("hellos", pending.exchange_hellos(&key(1), &cfg))
        .await
        .unwrap();
    let r = within("server", server).await.unwrap();
    assert_eq!(i.remote_hello.client_id, "b");
    assert_eq!(r.remote_hello.client_id, "a");
    within("ping", r.connection.ping()).await.unwrap();
}

/// A raw TCP initiator: only the ECIES handshake, then the bare socket and a frame codec keyed
/// for it, so the test writes whatever bytes it likes.
async fn raw_socket_initiator(
    addr: SocketAddr,
    ours: &NodeKey,
    theirs: &NodeKey,
) -> (TcpStream, rlpx::frame::FrameCodec) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let handshake = rlpx::ecies::HandshakeConfig::default();
    let session = within(
        "raw handshake",
        rlpx::ecies::initiate(&mut tcp, ours, theirs.public_key(), &handshake),
    )
    .await
    .unwrap();
    (tcp, rlpx::frame::FrameCodec::new(session.secrets))
}

#[tokio::test]
async fn first_frame_header_announcing_15_mib_is_refused_before_its_body() {
    use tokio::io::AsyncWriteExt;
    let (listener, addr) = listen().await;
    // A long Hello deadline: if the recipient waited for the body, it would still be waiting
    // when `within` gives up.
    let mut cfg = config("b", eth_snap());
    cfg.handshake_timeout = 3 * STEP;
    let recipient = tokio::spawn(async move {
        let tcp = accept_one(listener).await;
        accept(tcp, &key(2), &cfg).await
    });
    let (mut tcp, mut codec) = raw_socket_initiator(addr, &key(1), &key(2)).await;
    let mut frame = bytes::BytesMut::new();
    codec
        .encode_frame(&encode_message(0, &vec![0xc0; 15 << 20]), &mut frame)
        .unwrap();
    // Only the 32-byte header (size and MAC); the 15 MiB body never comes.
    tcp.write_all(&frame[..32]).await.unwrap();
    let err = within("accept", recipient).await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::P2p(P2pError::Frame(FrameError::FrameTooLarge { size, .. })) if size == (15 << 20) + 1
        ),
        "{err}"
    );
    assert!(err.should_ban(), "{err}");
    // The recipient hung up: our socket sees EOF, not a Hello it waited to send.
    let mut rest = Vec::new();
    let _ = within(
        "eof",
        tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut rest),
    )
    .await;
}
