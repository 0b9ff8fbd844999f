//! Several ingress workers must hand packets to the service in arrival order: a peer that
//! completes its endpoint proof (PONG) and asks at once (FINDNODE) is answered, however the
//! two datagrams fall into the workers' batches.
//!
//! Each round, 128 fresh peers are pinged back by the node; then all their PONGs and FINDNODEs
//! go out in one burst, each FINDNODE one peer behind its PONG, so that two workers receive
//! pairs split across their batches. A FINDNODE handed over before its sender's PONG finds the
//! sender unbonded and goes unanswered (counted as `NotBonded`). With the hand-over made to
//! deliver in completion order instead, this test failed 6 runs of 6; in order, it passed 10
//! of 10 in ~1.2 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{net::SocketAddr, time::Duration};

use discv4::{
    proto::{self, now_unix_secs, Endpoint, FindNode, Packet, Ping, Pong},
    service::{Discv4Config, DropReason},
};
use enode::{PeerId, SecretKey};
use tokio::net::UdpSocket;

/// Peers per round, and rounds (fresh keys each).
const PEERS: usize = 128;
const ROUNDS: usize = 16;
const REPLY_WAIT: Duration = Duration::from_secs(5);

fn expiration() -> u64 {
    now_unix_secs() + 60
}

fn encode(packet: &Packet, key: &SecretKey) -> Vec<u8> {
    proto::encode(packet, key).expect("encodable").0
}

/// Waits for a datagram from the node that `accept` picks.
async fn receive<T>(
    socket: &UdpSocket,
    node_id: PeerId,
    mut accept: impl FnMut(proto::Decoded) -> Option<T>,
) -> Option<T> {
    let mut buf = [0u8; 1500];
    tokio::time::timeout(REPLY_WAIT, async {
        loop {
            let (len, _) = socket.recv_from(&mut buf).await.ok()?;
            let Ok(decoded) = proto::decode(&buf[..len]) else {
                continue;
            };
            if decoded.sender != node_id {
                continue;
            }
            if let Some(found) = accept(decoded) {
                return Some(found);
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// A peer with a ping-back to answer.
struct Peer {
    key: SecretKey,
    socket: UdpSocket,
    ping_back: [u8; 32],
}

/// A fresh key and socket PINGs the node; returns it once the node has pinged it back.
async fn pinged_back_peer(node: SocketAddr, node_id: PeerId) -> Option<Peer> {
    let key = SecretKey::new(&mut rand::thread_rng());
    let socket = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let own = socket.local_addr().ok()?;
    let ping = Packet::Ping(Ping {
        version: Ping::VERSION,
        from: Endpoint::from_udp(own, 0),
        to: Endpoint::from_udp(node, 0),
        expiration: expiration(),
        enr_seq: None,
    });
    socket.send_to(&encode(&ping, &key), node).await.ok()?;
    let ping_back = receive(&socket, node_id, |decoded| match decoded.packet {
        Packet::Ping(_) => Some(decoded.hash),
        _ => None,
    })
    .await?;
    Some(Peer {
        key,
        socket,
        ping_back,
    })
}

/// Sends every peer's PONG and FINDNODE in one tight burst, each FINDNODE one peer behind its
/// PONG (PONG 0, PONG 1, FINDNODE 0, PONG 2, FINDNODE 1, …), so pairs straddle the workers'
/// batch boundaries wherever they fall.
async fn burst(peers: &[Peer], node: SocketAddr) {
    let signed: Vec<(Vec<u8>, Vec<u8>)> = peers
        .iter()
        .map(|peer| {
            let pong = Packet::Pong(Pong {
                to: Endpoint::from_udp(node, 0),
                ping_hash: peer.ping_back,
                expiration: expiration(),
                enr_seq: None,
            });
            let findnode = Packet::FindNode(FindNode {
                target: PeerId::from_secret_key(&SecretKey::new(&mut rand::thread_rng())),
                expiration: expiration(),
            });
            (encode(&pong, &peer.key), encode(&findnode, &peer.key))
        })
        .collect();
    for index in 0..=peers.len() {
        if let (Some(peer), Some((pong, _))) = (peers.get(index), signed.get(index)) {
            peer.socket.send_to(pong, node).await.expect("send PONG");
        }
        if let Some(previous) = index.checked_sub(1) {
            let findnode = &signed[previous].1;
            peers[previous]
                .socket
                .send_to(findnode, node)
                .await
                .expect("send FINDNODE");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_findnode_right_after_the_pong_that_bonds_its_sender_is_answered() {
    let node = support::spawn_udp_node(Discv4Config {
        ingress_workers: 2,
        // Capacity, not flood behaviour: nothing is shed while the bursts queue up.
        overload_unknown_per_second: 0,
        max_ping_backs_per_second: 0,
        ..Default::default()
    })
    .await;
    let addr = SocketAddr::new(node.record.address, node.record.udp_port);
    let node_id = node.handle.local_id();
    for round in 0..ROUNDS {
        let pinging: Vec<_> = (0..PEERS)
            .map(|_| tokio::spawn(pinged_back_peer(addr, node_id)))
            .collect();
        let mut peers = Vec::new();
        for peer in pinging {
            peers.push(peer.await.expect("peer task").expect("the node pings back"));
        }
        burst(&peers, addr).await;
        let answers: Vec<_> = peers
            .into_iter()
            .map(|peer| {
                tokio::spawn(async move {
                    receive(&peer.socket, node_id, |decoded| {
                        matches!(decoded.packet, Packet::Neighbors(_)).then_some(())
                    })
                    .await
                    .is_some()
                })
            })
            .collect();
        let mut answered = 0;
        for answer in answers {
            answered += usize::from(answer.await.expect("answer task"));
        }
        let not_bonded = node.handle.metrics().dropped_total(DropReason::NotBonded);
        assert_eq!(
            not_bonded, 0,
            "round {round}: {not_bonded} FINDNODEs reached the service before their sender's PONG"
        );
        assert_eq!(answered, PEERS, "round {round}: every FINDNODE is answered");
    }
}
