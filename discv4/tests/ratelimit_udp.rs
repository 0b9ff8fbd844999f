//! The per-IP ingress limit over real UDP on loopback: loopback sources are exempt by default
//! and limited when the exemption is off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{net::SocketAddr, time::Duration};

use discv4::{
    proto::{decode, encode, expiration_after, Endpoint, Packet, Ping},
    service::{Discv4Config, DropReason, RateLimitConfig},
};

use enode::SecretKey;
use tokio::net::UdpSocket;

const PINGS: usize = 40;

/// Sends `PINGS` signed PINGs from one loopback socket and counts the PONGs that come back
/// within a second of the last one.
async fn pongs_for_a_burst(config: Discv4Config) -> (usize, u64) {
    let node = support::spawn_udp_node(config).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let from: SocketAddr = socket.local_addr().unwrap();
    let key = SecretKey::new(&mut rand::thread_rng());
    for _ in 0..PINGS {
        let ping = Packet::Ping(Ping {
            version: Ping::VERSION,
            from: Endpoint::from_udp(from, 0),
            to: Endpoint::from_udp(node.record.udp_addr(), 0),
            expiration: expiration_after(Duration::from_secs(20)),
            enr_seq: None,
        });
        let (bytes, _) = encode(&ping, &key).unwrap();
        socket
            .send_to(&bytes, node.record.udp_addr())
            .await
            .unwrap();
    }
    let mut pongs = 0;
    let mut buf = [0u8; 1500];
    while let Ok(Ok((len, _))) =
        tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buf)).await
    {
        if let Ok(Packet::Pong(_)) = decode(&buf[..len]).map(|d| d.packet) {
            pongs += 1;
        }
    }
    let limited = node.handle.metrics().dropped_total(DropReason::RateLimited);
    node.handle.shutdown().await;
    (pongs, limited)
}

fn config(rate_limit: RateLimitConfig) -> Discv4Config {
    Discv4Config {
        rate_limit,
        // No bootnodes, no lookups: only our PINGs reach the node.
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_is_exempt_by_default() {
    let (pongs, limited) = pongs_for_a_burst(config(RateLimitConfig::per_ip(1))).await;
    assert_eq!((pongs, limited), (PINGS, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_is_limited_when_the_exemption_is_off() {
    let rate_limit = RateLimitConfig {
        exempt_loopback: false,
        ..RateLimitConfig::per_ip(1)
    };
    let (pongs, limited) = pongs_for_a_burst(config(rate_limit)).await;
    // A burst of 4, plus at most one token refilled while the PINGs were in flight.
    assert!((4..=5).contains(&pongs), "{pongs} PONGs");
    assert_eq!(limited, (PINGS - pongs) as u64);
}
