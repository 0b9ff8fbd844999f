//! The node's server under hostile TCP peers, on loopback with the production treatment of
//! local addresses (`exempt_lan = false`): a few addresses opening 1,000 silent connections
//! and 100 that trickle a handshake one byte per second cannot keep an honest peer out, and
//! every one of them is closed — refused at once over the per-IP caps, or by the handshake
//! timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod node_support;

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use kadnode::{net::InboundConfig, Node, NodeConfig, P2pConfig, PeerEvent};
use node_support::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    time::Instant,
};

const SILENT: usize = 1_000;
const TRICKLING: usize = 100;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

async fn connect_from(source: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Waits until the server closes `stream` (EOF or reset) and returns when that happened.
async fn closed(mut stream: TcpStream) -> Instant {
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_trickling_attackers_cannot_keep_an_honest_peer_out() {
    let server = start(|c| {
        c.handshake_timeout = HANDSHAKE_TIMEOUT;
        c.inbound = InboundConfig {
            exempt_lan: false,
            ..InboundConfig::default()
        };
    })
    .await;
    let target = server.node.tcp_addr().unwrap();
    let mut events = server.handle().subscribe();
    let attackers: [IpAddr; 2] = ["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()];

    let started = Instant::now();
    let mut silent = Vec::with_capacity(SILENT);
    for i in 0..SILENT {
        silent.push(connect_from(attackers[i % 2], target).await);
    }
    let mut trickling = Vec::with_capacity(TRICKLING);
    for i in 0..TRICKLING {
        let mut stream = connect_from(attackers[i % 2], target).await;
        trickling.push(tokio::spawn(async move {
            // A plausible start of an EIP-8 auth message, one byte per second.
            for byte in [0x01u8, 0x8b, 0x04].iter().cycle() {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Instant::now()
        }));
    }
    let waits: Vec<_> = silent
        .into_iter()
        .map(|s| tokio::spawn(closed(s)))
        .collect();

    // An honest node from another address dials the server meanwhile.
    let honest = Node::start(NodeConfig {
        listen_addr: "127.0.0.4:0".parse().unwrap(),
        discovery: None,
        p2p: Some(P2pConfig {
            protocols: vec![std::sync::Arc::new(KadTest {
                seen: tokio::sync::mpsc::unbounded_channel().0,
            })],
            static_nodes: vec![server.record().into()],
            ..P2pConfig::default()
        }),
        ..NodeConfig::default()
    })
    .await
    .unwrap();
    let honest_id = honest.peer_id();
    let admitted_at = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(PeerEvent::Added(info)) = events.recv().await {
                if info.id == honest_id {
                    return Instant::now();
                }
            }
        }
    })
    .await
    .expect("the honest peer was kept out");

    // Every attacker connection is closed, none later than the handshake timeout (plus
    // scheduling slack) after the last one was opened.
    let mut last_close = started;
    for wait in waits {
        last_close = last_close.max(tokio::time::timeout(WAIT, wait).await.unwrap().unwrap());
    }
    for trickle in trickling {
        last_close = last_close.max(tokio::time::timeout(WAIT, trickle).await.unwrap().unwrap());
    }
    let refused = server
        .handle()
        .metrics()
        .inbound_refused()
        .values()
        .sum::<u64>();
    eprintln!(
        "{SILENT} silent + {TRICKLING} trickling connections from 2 addresses: honest peer \
         admitted after {:?}; {refused} refused before any handshake; all closed after {:?}",
        admitted_at - started,
        last_close - started
    );
    // The caps did the work: all but a handful were refused before any handshake (and the
    // few admitted were closed by the handshake timeout: the waits above would have run
    // out otherwise).
    assert!(
        refused >= (SILENT + TRICKLING - 16) as u64,
        "refused {refused}"
    );
    honest.shutdown().await;
}
