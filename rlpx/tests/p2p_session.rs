//! Full p2p sessions over an in-memory stream pair: handshake, multiplexing, ping, timeouts,
//! disconnects and protocol violations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod p2p_support;

use enode::PeerId;
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use p2p_support::*;
use rlpx::{
    p2p::{
        decode_disconnect, encode_disconnect, DisconnectReason, P2pConnection, P2pError, Protocol,
        SessionEnd, SharedCapabilities, SnappyCodec, SnappyError, UnauthedP2p,
        DISCONNECT_WRITE_TIMEOUT, IDLE_TIMEOUT, INBOUND_BUFFER_LIMIT, OUTBOUND_BUFFER_LIMIT,
        PING_INTERVAL, PONG_BURST, PONG_REFILL_INTERVAL, PROTOCOL_INBOUND_CAPACITY, WRITE_TIMEOUT,
    },
    verdict::{HasVerdict, Verdict},
};
use tokio::time::Instant;

const LOCAL: u8 = 1;
const REMOTE: u8 = 2;

type Handshake = Result<(P2pConnection, rlpx::p2p::Hello, SharedCapabilities), P2pError>;

fn start_local(
    stream: MemStream,
    protocols: Vec<Protocol>,
    expected: PeerId,
) -> tokio::task::JoinHandle<Handshake> {
    let caps: Vec<(String, u32)> = protocols
        .iter()
        .map(|p| (p.name.clone(), p.version))
        .collect();
    let caps: Vec<(&str, u32)> = caps.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let our = hello(id(LOCAL), &caps);
    tokio::spawn(UnauthedP2p::new(stream).handshake(our, expected, protocols))
}

/// Local side is a real `P2pConnection` (eth/69 + snap/1); remote is a raw scripted peer.
async fn connect_raw(remote_caps: &[(&str, u32)]) -> (P2pConnection, SharedCapabilities, RawPeer) {
    let (a, b) = pair(16);
    let local = start_local(a, eth_snap(), id(REMOTE));
    let mut raw = RawPeer::new(b);
    raw.send_hello(&hello(id(REMOTE), remote_caps)).await;
    let ours = raw.read_hello().await;
    assert_eq!(ours.id, id(LOCAL));
    let (conn, their, shared) = local.await.unwrap().unwrap();
    assert_eq!(their.id, id(REMOTE));
    (conn, shared, raw)
}

/// Both sides real connections.
async fn connect_pair(buffer: usize) -> (P2pConnection, P2pConnection) {
    let (a, b) = pair(buffer);
    let left = start_local(a, eth_snap(), id(REMOTE));
    let right = {
        let our = hello(id(REMOTE), &[("eth", 69), ("snap", 1)]);
        tokio::spawn(UnauthedP2p::new(b).handshake(our, id(LOCAL), eth_snap()))
    };
    let (l, _, ls) = left.await.unwrap().unwrap();
    let (r, _, rs) = right.await.unwrap().unwrap();
    assert_eq!(ls, rs);
    (l, r)
}

#[tokio::test]
async fn two_capabilities_exchange_with_geth_offsets() {
    let (mut left, mut right) = connect_pair(16).await;
    let l_eth = left.take_handle("eth").unwrap();
    let mut l_snap = left.take_handle("snap").unwrap();
    assert!(left.take_handle("eth").is_none());
    let handles = right.take_handles();
    let [mut r_eth, mut r_snap]: [_; 2] = handles.try_into().unwrap();
    assert_eq!(
        (r_eth.capability().offset, r_eth.capability().length),
        (0x10, 18)
    );
    assert_eq!(
        (r_snap.capability().offset, r_snap.capability().length),
        (0x22, 8)
    );

    l_eth
        .send(17, Bytes::from_static(b"last eth id"))
        .await
        .unwrap();
    l_snap
        .send(0, Bytes::from_static(b"first snap id"))
        .await
        .unwrap();
    r_snap
        .send(7, Bytes::from(vec![9u8; 100_000]))
        .await
        .unwrap();
    assert_eq!(
        r_eth.recv().await.unwrap(),
        (17, Bytes::from_static(b"last eth id"))
    );
    assert_eq!(
        r_snap.recv().await.unwrap(),
        (0, Bytes::from_static(b"first snap id"))
    );
    assert_eq!(
        l_snap.recv().await.unwrap(),
        (7, Bytes::from(vec![9u8; 100_000]))
    );

    let err = l_eth.send(18, Bytes::new()).await.unwrap_err();
    assert!(
        matches!(
            err,
            P2pError::InvalidMessageCode {
                code: 18,
                length: 18,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("invalid message code"));
    // the session survives a rejected local send
    l_snap
        .send(1, Bytes::from_static(b"still up"))
        .await
        .unwrap();
    assert_eq!(r_snap.recv().await.unwrap().0, 1);
}

#[tokio::test]
async fn absolute_codes_on_the_wire_and_compression() {
    let (mut conn, shared, mut raw) = connect_raw(&[("snap", 1), ("eth", 69), ("les", 4)]).await;
    assert_eq!(shared.len(), 2);
    let eth = conn.take_handle("eth").unwrap();
    let mut snap = conn.take_handle("snap").unwrap();

    eth.send(3, Bytes::from_static(b"hello eth")).await.unwrap();
    let (code, raw_payload) = raw.recv_raw().await.unwrap();
    assert_eq!(code, 0x13);
    assert_ne!(
        &raw_payload[..],
        b"hello eth",
        "payload must be snappy-compressed"
    );
    assert_eq!(
        &raw.snappy
            .as_mut()
            .unwrap()
            .decompress(&raw_payload)
            .unwrap()[..],
        b"hello eth"
    );

    raw.send(0x22 + 5, b"to snap").await;
    assert_eq!(
        snap.recv().await.unwrap(),
        (5, Bytes::from_static(b"to snap"))
    );
}

#[tokio::test]
async fn remote_below_version_5_gets_no_snappy() {
    let (a, b) = pair(16);
    let local = start_local(a, eth_snap(), id(REMOTE));
    let mut raw = RawPeer::new(b);
    let mut old = hello(id(REMOTE), &[("eth", 69)]);
    old.protocol_version = 4;
    raw.send_hello(&old).await;
    raw.read_hello().await;
    raw.snappy = None; // the remote is old: neither side compresses
    let (mut conn, _, _) = local.await.unwrap().unwrap();
    let mut eth = conn.take_handle("eth").unwrap();
    eth.send(1, Bytes::from_static(b"plain")).await.unwrap();
    assert_eq!(
        raw.recv_raw().await.unwrap(),
        (0x11, Bytes::from_static(b"plain"))
    );
    raw.send_raw(0x12, b"plain back").await;
    assert_eq!(
        eth.recv().await.unwrap(),
        (2, Bytes::from_static(b"plain back"))
    );
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let (_conn, _, mut raw) = connect_raw(&[("eth", 69)]).await;
    raw.send(0x02, &[0xc0]).await;
    assert_eq!(
        raw.recv().await.unwrap(),
        (0x03, Bytes::from_static(&[0xc0]))
    );
    // reserved base codes are ignored, the session goes on
    raw.send(0x0e, &[0xc0]).await;
    raw.send(0x02, &[0xc0]).await;
    assert_eq!(raw.recv().await.unwrap().0, 0x03);
}

#[tokio::test(start_paused = true)]
async fn pings_every_15s_and_pongs_keep_the_session_alive() {
    let (conn, _, mut raw) = connect_raw(&[("eth", 69)]).await;
    let start = Instant::now();
    for n in 1..=4u32 {
        let (code, payload) = raw.recv().await.unwrap();
        assert_eq!((code, &payload[..]), (0x02, &[0xc0][..]));
        assert_eq!(start.elapsed().as_secs(), (PING_INTERVAL * n).as_secs());
        raw.send(0x03, &[0xc0]).await;
    }
    assert!(
        conn.end_reason().is_none(),
        "alive after 60 s thanks to the pongs"
    );
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_after_30s_sends_reason_0x0b() {
    let (conn, _, mut raw) = connect_raw(&[("eth", 69)]).await;
    let start = Instant::now();
    // the remote stays silent (it does not even answer our ping at 15 s)
    assert_eq!(
        raw.expect_disconnect().await,
        Some(DisconnectReason::PingTimeout)
    );
    let elapsed = start.elapsed();
    assert!(
        elapsed >= IDLE_TIMEOUT && elapsed < IDLE_TIMEOUT + Duration::from_secs(1),
        "{elapsed:?}"
    );
    assert!(matches!(conn.closed().await, SessionEnd::Timeout));
    assert_eq!(
        conn.closed().await.disconnect_reason(),
        DisconnectReason::PingTimeout
    );
}

#[tokio::test]
async fn disconnect_reason_is_seen_on_the_other_side() {
    let (mut left, mut right) = connect_pair(16).await;
    let mut r_eth = right.take_handle("eth").unwrap();
    let l_eth = left.take_handle("eth").unwrap();
    left.disconnect(DisconnectReason::TooManyPeers);
    let end = right.closed().await;
    assert!(
        matches!(end, SessionEnd::Remote(DisconnectReason::TooManyPeers)),
        "{end}"
    );
    assert!(matches!(
        left.closed().await,
        SessionEnd::Local(DisconnectReason::TooManyPeers)
    ));
    // handles observe the end too
    assert_eq!(r_eth.recv().await, None);
    assert!(matches!(
        r_eth.end_reason(),
        Some(SessionEnd::Remote(DisconnectReason::TooManyPeers))
    ));
    let err = l_eth.send(0, Bytes::new()).await.unwrap_err();
    assert!(matches!(
        err,
        P2pError::SessionClosed(SessionEnd::Local(DisconnectReason::TooManyPeers))
    ));
    assert_eq!(
        err.disconnect_reason(),
        Some(DisconnectReason::TooManyPeers)
    );
}

#[tokio::test]
async fn dropping_everything_quits_with_0x08() {
    let (left, right) = connect_pair(16).await;
    drop(left);
    assert!(matches!(
        right.closed().await,
        SessionEnd::Remote(DisconnectReason::ClientQuitting)
    ));
}

#[tokio::test]
async fn ethereumjs_style_bare_uncompressed_disconnect_after_hello() {
    let (conn, _, mut raw) = connect_raw(&[("eth", 69)]).await;
    raw.send_raw(0x01, &[0x08]).await;
    assert!(matches!(
        conn.closed().await,
        SessionEnd::Remote(DisconnectReason::ClientQuitting)
    ));
}

#[tokio::test]
async fn compressed_list_disconnect_after_hello() {
    let (conn, _, mut raw) = connect_raw(&[("eth", 69)]).await;
    raw.send(0x01, &encode_disconnect(DisconnectReason::UselessPeer))
        .await;
    assert!(matches!(
        conn.closed().await,
        SessionEnd::Remote(DisconnectReason::UselessPeer)
    ));
}

#[tokio::test]
async fn unknown_inbound_code_ends_session_without_disconnect() {
    let (mut conn, _, mut raw) = connect_raw(&[("eth", 69), ("snap", 1)]).await;
    let mut eth = conn.take_handle("eth").unwrap();
    raw.send(0x2a, b"beyond snap").await;
    let end = conn.closed().await;
    match &end {
        SessionEnd::Error(e) => assert!(matches!(**e, P2pError::UnknownMessageCode(0x2a)), "{e}"),
        other => panic!("unexpected end {other}"),
    }
    assert_eq!(end.disconnect_reason(), DisconnectReason::NetworkError);
    assert_eq!(
        raw.expect_disconnect().await,
        None,
        "geth sends no Disconnect here"
    );
    assert_eq!(eth.recv().await, None);
}

#[tokio::test]
async fn corrupt_snappy_payload_is_a_protocol_breach() {
    let (conn, _, mut raw) = connect_raw(&[("eth", 69)]).await;
    raw.send_raw(0x10, &[0x80, 0x80, 0x80, 0x08]).await; // claims 16 MiB
    let end = conn.closed().await;
    assert!(
        matches!(&end, SessionEnd::Error(e) if matches!(**e, P2pError::Snappy(SnappyError::TooLarge { .. }))),
        "{end}"
    );
    assert_eq!(
        raw.expect_disconnect().await,
        Some(DisconnectReason::ProtocolBreach)
    );
}

#[tokio::test]
async fn slow_protocol_applies_backpressure_without_losing_messages() {
    let (mut conn, _, mut raw) = connect_raw(&[("eth", 69)]).await;
    let mut eth = conn.take_handle("eth").unwrap();
    let total = PROTOCOL_INBOUND_CAPACITY + 40;
    let sender = tokio::spawn(async move {
        for i in 0..total {
            raw.send(0x10, &(i as u32).to_be_bytes()).await;
        }
        raw
    });
    // Nobody reads `eth`: the session must stop pulling frames, so the sender stalls.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !sender.is_finished(),
        "frames kept being read into an unbounded buffer"
    );
    for i in 0..total {
        let (code, payload) = eth.recv().await.unwrap();
        assert_eq!((code, &payload[..]), (0, &(i as u32).to_be_bytes()[..]));
    }
    sender.await.unwrap();
}

#[tokio::test]
async fn remote_disconnect_instead_of_hello() {
    for payload in [vec![0xc1, 0x04], vec![0x04]] {
        let (a, b) = pair(16);
        let local = start_local(a, eth_snap(), id(REMOTE));
        let mut raw = RawPeer::new(b);
        raw.send_raw(0x01, &payload).await;
        let err = local.await.unwrap().unwrap_err();
        assert!(
            matches!(err, P2pError::Disconnected(DisconnectReason::TooManyPeers)),
            "{err}"
        );
        assert_eq!(
            err.remote_disconnect_reason(),
            Some(DisconnectReason::TooManyPeers)
        );
    }
}

async fn handshake_failure(remote: rlpx::p2p::Hello) -> (P2pError, RawPeer) {
    let (a, b) = pair(16);
    let local = start_local(a, eth_snap(), id(REMOTE));
    let mut raw = RawPeer::new(b);
    raw.send_raw(0, &remote.encode()).await;
    let _ = raw.read_hello().await;
    (local.await.unwrap().unwrap_err(), raw)
}

#[tokio::test]
async fn hello_id_mismatch_is_unexpected_identity_0x09() {
    let (err, mut raw) = handshake_failure(hello(id(7), &[("eth", 69)])).await;
    assert!(matches!(err, P2pError::UnexpectedIdentity { .. }), "{err}");
    assert_eq!(
        err.disconnect_reason(),
        Some(DisconnectReason::UnexpectedIdentity)
    );
    assert_eq!(
        raw.expect_disconnect().await,
        Some(DisconnectReason::UnexpectedIdentity)
    );
}

#[tokio::test]
async fn zero_id_is_invalid_identity_0x07() {
    let (err, mut raw) = handshake_failure(hello(PeerId([0; 64]), &[("eth", 69)])).await;
    assert!(matches!(err, P2pError::InvalidIdentity), "{err}");
    // sent before snappy is switched on, so uncompressed
    raw.snappy = None;
    assert_eq!(
        raw.recv_raw().await.unwrap(),
        (0x01, Bytes::from_static(&[0xc1, 0x07]))
    );
}

#[tokio::test]
async fn oversize_hello_is_rejected() {
    let mut big = hello(id(REMOTE), &[("eth", 69)]);
    big.client_id = "x".repeat(2100);
    let (err, mut raw) = handshake_failure(big).await;
    assert!(matches!(err, P2pError::HelloTooLarge { .. }), "{err}");
    assert_eq!(
        raw.expect_disconnect().await,
        Some(DisconnectReason::ProtocolBreach)
    );
}

#[tokio::test]
async fn no_shared_capability_is_useless_peer_0x03() {
    let (err, mut raw) = handshake_failure(hello(id(REMOTE), &[("eth", 66), ("les", 4)])).await;
    assert!(matches!(err, P2pError::UselessPeer { .. }), "{err}");
    assert_eq!(
        raw.expect_disconnect().await,
        Some(DisconnectReason::UselessPeer)
    );
}

#[tokio::test]
async fn no_local_protocols_accepts_any_peer() {
    let (a, b) = pair(16);
    let local = start_local(a, vec![], id(REMOTE));
    let mut raw = RawPeer::new(b);
    raw.send_hello(&hello(id(REMOTE), &[("les", 4)])).await;
    raw.read_hello().await;
    let (conn, _, shared) = local.await.unwrap().unwrap();
    assert!(shared.is_empty());
    conn.disconnect(DisconnectReason::DisconnectRequested);
    assert_eq!(
        raw.expect_disconnect().await,
        Some(DisconnectReason::DisconnectRequested)
    );
}

#[tokio::test]
async fn non_hello_first_message_is_rejected() {
    let (a, b) = pair(16);
    let local = start_local(a, eth_snap(), id(REMOTE));
    let mut raw = RawPeer::new(b);
    raw.send_raw(0x10, b"too early").await;
    let err = local.await.unwrap().unwrap_err();
    assert!(
        matches!(err, P2pError::UnexpectedHandshakeMessage(0x10)),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn silent_peer_times_out_the_hello_exchange() {
    let (a, _b) = pair(16);
    let local = start_local(a, eth_snap(), id(REMOTE));
    let err = local.await.unwrap().unwrap_err();
    assert!(matches!(err, P2pError::HelloTimeout(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn disconnect_gives_up_after_1s_when_the_peer_does_not_read() {
    let (mut conn, _, raw) = connect_raw(&[("eth", 69)]).await;
    let eth = conn.take_handle("eth").unwrap();
    // fill the in-memory link: the raw peer never reads
    let filler = tokio::spawn(async move {
        loop {
            if eth.send(0, Bytes::from_static(b"fill")).await.is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let start = Instant::now();
    conn.disconnect(DisconnectReason::ClientQuitting);
    let end = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .expect("the Disconnect write must give up after its 1 s deadline");
    assert!(matches!(
        end,
        SessionEnd::Local(DisconnectReason::ClientQuitting)
    ));
    let waited = start.elapsed();
    // the link was full, so the write really waited for its deadline
    assert!(waited >= DISCONNECT_WRITE_TIMEOUT, "{waited:?}");
    assert!(
        waited <= DISCONNECT_WRITE_TIMEOUT + Duration::from_millis(100),
        "{waited:?}"
    );
    filler.await.unwrap();
    drop(raw);
}

#[tokio::test]
async fn transport_eof_is_reported_as_connection_closed() {
    let (mut conn, _, raw) = connect_raw(&[("eth", 69)]).await;
    let mut eth = conn.take_handle("eth").unwrap();
    drop(raw);
    let end = conn.closed().await;
    assert!(
        matches!(&end, SessionEnd::Error(e) if matches!(**e, P2pError::ConnectionClosed)),
        "{end}"
    );
    assert_eq!(end.disconnect_reason(), DisconnectReason::NetworkError);
    assert_eq!(eth.recv().await, None);
    assert!(matches!(eth.closed().await, SessionEnd::Error(_)));
}

/// Local side is a real `P2pConnection` (eth/69 + snap/1), remote a raw peer split into its
/// sending and receiving halves; `link` frames fit in each direction of the in-memory link.
async fn connect_raw_split(link: usize) -> (P2pConnection, RawSink, RawStream) {
    let (a, b) = pair(link);
    let local = start_local(a, eth_snap(), id(REMOTE));
    let mut raw = RawPeer::new(b);
    raw.send_hello(&hello(id(REMOTE), &[("eth", 69)])).await;
    raw.read_hello().await;
    let (conn, _, _) = local.await.unwrap().unwrap();
    let (sink, stream) = raw.stream.split();
    (conn, sink, stream)
}

/// snappy(0xc0): the compressed empty list of a Ping or Pong.
const COMPRESSED_EMPTY_LIST: [u8; 3] = [0x01, 0x00, 0xc0];

#[tokio::test]
async fn base_messages_whose_snappy_header_claims_16_mib_end_the_session() {
    // Ping, Pong and a reserved base code: none is answered or ignored, as geth drops them.
    for code in [0x02, 0x03, 0x05] {
        let (conn, _, mut raw) = connect_raw(&[("eth", 69)]).await;
        raw.send_raw(code, &[0x80, 0x80, 0x80, 0x08]).await; // varint(2^24): 16 MiB + 1
        let end = conn.closed().await;
        let SessionEnd::Error(err) = &end else {
            panic!("code {code:#x}: unexpected end {end}");
        };
        assert!(
            matches!(
                **err,
                P2pError::Snappy(SnappyError::TooLarge { size, .. }) if size == 1 << 24
            ),
            "code {code:#x}: {err}"
        );
        assert_eq!(end.verdict(), Verdict::Misbehaved);
        // The first thing the peer reads back is our Disconnect, not a Pong.
        let (next, payload) = raw.recv_raw().await.unwrap();
        assert_eq!(next, 0x01, "code {code:#x}: answered with {next:#x}");
        assert_eq!(
            decode_disconnect(&payload, raw.snappy.as_mut()),
            Some(DisconnectReason::ProtocolBreach)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_ping_flood_is_answered_at_a_bounded_rate() {
    let (conn, mut sink, mut stream) = connect_raw_split(16).await;
    let flood = 100u32;
    let sender = tokio::spawn(async move {
        for _ in 0..flood {
            sink.send(encode_code(0x02, &COMPRESSED_EMPTY_LIST))
                .await
                .unwrap();
        }
        sink
    });
    let start = Instant::now();
    let mut pongs = 0u32;
    while pongs < flood {
        let (code, _) = split_code(&stream.next().await.unwrap().unwrap());
        if code != 0x03 {
            continue; // our own periodic pings
        }
        pongs += 1;
        // A burst at once, then one per interval: the n-th pong is never early.
        let earliest = PONG_REFILL_INTERVAL * pongs.saturating_sub(PONG_BURST);
        assert!(
            start.elapsed() >= earliest,
            "pong {pongs} after {:?}",
            start.elapsed()
        );
    }
    let took = start.elapsed();
    assert_eq!(took, PONG_REFILL_INTERVAL * (flood - PONG_BURST));
    assert!(
        conn.end_reason().is_none(),
        "every ping answered, session alive"
    );
    drop(sender.await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_floods_pings_but_never_reads_is_dropped_without_unbounded_buffering() {
    let link = 16;
    let (conn, mut sink, stream) = connect_raw_split(link).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let flood = tokio::spawn({
        let sent = Arc::clone(&sent);
        async move {
            // Never reads `stream`; sends until the session is gone.
            while sink
                .send(encode_code(0x02, &COMPRESSED_EMPTY_LIST))
                .await
                .is_ok()
            {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let start = Instant::now();
    let end = conn.closed().await;
    let elapsed = start.elapsed();
    assert!(
        matches!(&end, SessionEnd::Error(e) if matches!(**e, P2pError::WriteTimeout(t) if t == WRITE_TIMEOUT)),
        "{end}"
    );
    assert_eq!(end.verdict(), Verdict::Timeout);
    assert!(
        elapsed >= WRITE_TIMEOUT && elapsed < WRITE_TIMEOUT + Duration::from_secs(5),
        "{elapsed:?}"
    );
    flood.await.unwrap();
    // The session stopped reading once its pongs could not be written: the flood got no
    // further than the two link buffers plus the few pongs the session holds.
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent <= 2 * (link + 1) + 16, "{sent} pings were read");
    drop(stream);
}

#[tokio::test(start_paused = true)]
async fn a_protocol_answering_a_peer_that_never_reads_is_held_by_the_outbound_budget() {
    let (mut conn, sink, stream) = connect_raw_split(2).await;
    let eth = conn.take_handle("eth").unwrap();
    let queued = Arc::new(AtomicUsize::new(0));
    let answers = tokio::spawn({
        let queued = Arc::clone(&queued);
        async move {
            let big = Bytes::from(vec![0x5a; 1 << 20]);
            loop {
                match eth.send(1, big.clone()).await {
                    Ok(()) => queued.fetch_add(1, Ordering::Relaxed),
                    Err(e) => return e,
                };
            }
        }
    });
    // Let everything settle: the sends stall once the link and the budget are full.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = queued.load(Ordering::Relaxed);
    // On the link (3), being written and encoded behind (2), and the 4 MiB budget (4).
    assert!(
        held <= 3 + 2 + OUTBOUND_BUFFER_LIMIT / (1 << 20),
        "{held} MiB queued"
    );
    // The peer never reads: the session ends at the write timeout, and so do the sends.
    let err = answers.await.unwrap();
    assert!(
        matches!(&err, P2pError::SessionClosed(SessionEnd::Error(e)) if matches!(**e, P2pError::WriteTimeout(_))),
        "{err}"
    );
    assert_eq!(queued.load(Ordering::Relaxed), held);
    drop((sink, stream));
}

#[tokio::test(start_paused = true)]
async fn large_messages_for_a_slow_protocol_stop_reading_at_the_inbound_budget() {
    let link = 16;
    let (mut conn, mut sink, _stream) = connect_raw_split(link).await;
    let mut eth = conn.take_handle("eth").unwrap();
    let total = 64usize;
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = tokio::spawn({
        let sent = Arc::clone(&sent);
        async move {
            let mut snappy = SnappyCodec::new();
            for i in 0..total {
                let mut payload = vec![0x5a; 1 << 20];
                payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
                let compressed = snappy.compress(&payload).unwrap();
                sink.send(encode_code(0x10, &compressed)).await.unwrap();
                sent.fetch_add(1, Ordering::Relaxed);
            }
            sink
        }
    });
    // Nobody reads `eth`: once 4 MiB wait for it, the session stops pulling frames.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pulled = sent.load(Ordering::Relaxed).saturating_sub(link + 1);
    let budget_messages = INBOUND_BUFFER_LIMIT / (1 << 20);
    assert!(
        pulled <= budget_messages + 1,
        "{pulled} messages of 1 MiB were read for a protocol that takes none"
    );
    for i in 0..total {
        let (code, payload) = eth.recv().await.unwrap();
        assert_eq!((code, &payload[..4]), (0, &(i as u32).to_be_bytes()[..]));
        assert_eq!(payload.len(), 1 << 20);
    }
    drop(sender.await.unwrap());
    assert!(conn.end_reason().is_none());
}

#[tokio::test]
async fn an_ordered_disconnect_goes_out_after_everything_queued_before_it() {
    // A 16-byte pipe: the remote reads far slower than we queue.
    let (mut left, mut right) = connect_pair(16).await;
    let l_eth = left.take_handle("eth").unwrap();
    let mut r_eth = right.take_handle("eth").unwrap();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some((code, payload)) = r_eth.recv().await {
            got.push((code, payload.len()));
        }
        (got, r_eth.end_reason())
    });
    for i in 0..20u64 {
        l_eth
            .send(i % 2, Bytes::from(vec![7u8; 3000]))
            .await
            .unwrap();
    }
    l_eth
        .disconnect_after_queued(DisconnectReason::DisconnectRequested)
        .await
        .unwrap();
    assert!(matches!(
        l_eth.closed().await,
        SessionEnd::Local(DisconnectReason::DisconnectRequested)
    ));
    let (got, end) = reader.await.unwrap();
    assert_eq!(
        got.len(),
        20,
        "every message queued before the Disconnect arrived"
    );
    assert!(
        matches!(
            end,
            Some(SessionEnd::Remote(DisconnectReason::DisconnectRequested))
        ),
        "{end:?}"
    );
    drop(left);
}
