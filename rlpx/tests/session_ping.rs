//! `P2pConnection::ping`: an explicit Ping answered with the round-trip time, checked against
//! a scripted raw peer on paused time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod p2p_support;

use std::time::Duration;

use p2p_support::*;
use rlpx::p2p::{
    DisconnectReason, P2pConnection, P2pError, SessionEnd, UnauthedP2p, PING_INTERVAL,
};

const LOCAL: u8 = 1;
const REMOTE: u8 = 2;

async fn connect_raw() -> (P2pConnection, RawPeer) {
    let (a, b) = pair(16);
    let local = tokio::spawn(UnauthedP2p::new(a).handshake(
        hello(id(LOCAL), &[("eth", 69), ("snap", 1)]),
        id(REMOTE),
        eth_snap(),
    ));
    let mut raw = RawPeer::new(b);
    raw.send_hello(&hello(id(REMOTE), &[("snap", 1)])).await;
    raw.read_hello().await;
    let (conn, _, _) = local.await.unwrap().unwrap();
    (conn, raw)
}

#[tokio::test(start_paused = true)]
async fn explicit_ping_sends_a_compressed_ping_and_reports_the_round_trip() {
    let (conn, mut raw) = connect_raw().await;
    let ping = tokio::spawn(async move {
        let rtt = conn.ping().await;
        (conn, rtt)
    });
    // snappy(0xc0) is `01 00 c0`: the ping is compressed like every post-Hello message.
    let (code, payload) = raw.recv_raw().await.unwrap();
    assert_eq!((code, &payload[..]), (0x02, &[0x01, 0x00, 0xc0][..]));
    tokio::time::sleep(Duration::from_millis(250)).await;
    raw.send(0x03, &[0xc0]).await;
    let (_conn, rtt) = ping.await.unwrap();
    assert_eq!(rtt.unwrap(), Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn unsolicited_pong_does_not_answer_a_later_ping() {
    let (conn, mut raw) = connect_raw().await;
    raw.send(0x03, &[0xc0]).await; // nobody asked for this one
    tokio::task::yield_now().await;
    let ping = tokio::spawn(async move { (conn.ping().await, conn) });
    assert_eq!(raw.recv().await.unwrap().0, 0x02);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!ping.is_finished(), "the earlier pong must not count");
    raw.send(0x03, &[0xc0]).await;
    let (rtt, _conn) = ping.await.unwrap();
    assert_eq!(rtt.unwrap(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn pongs_are_matched_in_order_with_periodic_pings() {
    let (conn, mut raw) = connect_raw().await;
    // Let the periodic ping go out first, then ask for an explicit one.
    tokio::time::sleep(PING_INTERVAL).await;
    assert_eq!(raw.recv().await.unwrap().0, 0x02);
    let ping = tokio::spawn(async move { (conn.ping().await, conn) });
    assert_eq!(raw.recv().await.unwrap().0, 0x02);
    // The first pong answers the periodic ping, not ours.
    raw.send(0x03, &[0xc0]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !ping.is_finished(),
        "first pong belongs to the periodic ping"
    );
    raw.send(0x03, &[0xc0]).await;
    let (rtt, _conn) = ping.await.unwrap();
    assert_eq!(rtt.unwrap(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn ping_fails_with_the_end_reason_when_the_session_ends() {
    let (conn, mut raw) = connect_raw().await;
    let ping = tokio::spawn(async move { conn.ping().await });
    assert_eq!(raw.recv().await.unwrap().0, 0x02);
    raw.send(0x01, &[0xc1, 0x04]).await; // remote goes away instead of answering
    match ping.await.unwrap() {
        Err(P2pError::SessionClosed(SessionEnd::Remote(DisconnectReason::TooManyPeers))) => {}
        other => panic!("expected SessionClosed(Remote(TooManyPeers)), got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn ping_after_the_end_fails_at_once() {
    let (conn, mut raw) = connect_raw().await;
    conn.disconnect(DisconnectReason::ClientQuitting);
    assert_eq!(
        raw.expect_disconnect().await,
        Some(DisconnectReason::ClientQuitting)
    );
    conn.closed().await;
    match conn.ping().await {
        Err(P2pError::SessionClosed(SessionEnd::Local(DisconnectReason::ClientQuitting))) => {}
        other => panic!("expected SessionClosed(Local(ClientQuitting)), got {other:?}"),
    }
}
