//! The conformance suite against a small fake discv4 node: the correct fake passes all 15
//! cases, and each deliberately broken variant fails exactly the cases that catch its bug,
//! with a detail that names the problem. This proves the suite can both pass and fail.

// The fake node is test scaffolding on loopback; a failed setup should abort the test.
#![allow(clippy::unwrap_used)]

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use discv4::{
    conformance::{cases, format_results, run_case, run_suite, CaseResult, SuiteConfig},
    proto::{
        self, expiration_after, now_unix_secs, DecodeError, Endpoint, EnrResponse, Neighbors,
        Packet, Ping, Pong, DEFAULT_EXPIRATION,
    },
};

use enode::{
    NodeRecord, PeerId, SecretKey, {build_enr, EndpointConfig, Enr},
};
use tokio::{net::UdpSocket, task::JoinHandle};

/// Bugs the fake node can be given; all false is a correct node.
#[derive(Debug, Default, Clone, Copy)]
struct Quirks {
    /// PONG carries 32 zero bytes instead of the PING hash.
    wrong_pong_token: bool,
    /// Expiration compared as unsigned, so `2^64 - x` looks far in the future.
    unsigned_expiration: bool,
    /// FINDNODE and ENRRequest answered without an endpoint proof.
    answer_without_bond: bool,
    /// Endpoint proof remembered per node id only, not per (id, IP).
    bond_by_id_only: bool,
    /// Any PONG from a pinged node completes the proof, whatever its token.
    accept_any_pong_token: bool,
    /// Replies go to the PING's `from` endpoint instead of the UDP source.
    reply_to_from: bool,
    /// PINGs whose `to` is not our address are dropped.
    validate_to: bool,
    /// PINGs with extra list elements are dropped (not EIP-8 tolerant).
    reject_extra_data: bool,
    /// Packets of unknown type are answered with a PING.
    ping_unknown_types: bool,
    /// Nodes from unsolicited NEIGHBORS go into the table.
    trust_unsolicited_neighbors: bool,
    /// A revalidation PING goes out the moment a bond completes.
    revalidate_after_bond: bool,
    /// The ENRResponse carries a record signed by another key.
    enr_of_other_key: bool,
    /// Every datagram is answered with junk instead of a packet.
    garbage: bool,
}

/// A tiny discv4 node: PONG + PING back to unknown pingers, bonds per (id, IP), FINDNODE
/// and ENRRequest answered only when bonded, expired and unknown packets dropped.
struct FakeNode {
    socket: UdpSocket,
    local: SocketAddr,
    key: SecretKey,
    enr: Enr,
    other_enr: Enr,
    quirks: Quirks,
    bonds: HashSet<(PeerId, IpAddr)>,
    /// Our outstanding PINGs: hash → who they went to.
    pending: HashMap<[u8; 32], (PeerId, IpAddr)>,
    table: Vec<NodeRecord>,
    sent: usize,
}

const ENR_SEQ: u64 = 7;

fn random_key() -> SecretKey {
    SecretKey::new(&mut rand::thread_rng())
}

fn expiration() -> u64 {
    expiration_after(DEFAULT_EXPIRATION)
}

impl FakeNode {
    async fn start(quirks: Quirks) -> (NodeRecord, JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let key = random_key();
        let endpoints = EndpointConfig {
            ip4: Some(Ipv4Addr::LOCALHOST),
            udp4: Some(local.port()),
            tcp4: Some(30303),
            ..EndpointConfig::default()
        };
        let enr = build_enr(&key, ENR_SEQ, &endpoints).unwrap();
        let other_enr = build_enr(&random_key(), ENR_SEQ, &endpoints).unwrap();
        let table = (1..=3)
            .map(|i| NodeRecord {
                address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
                udp_port: 30303,
                tcp_port: 30303,
                id: PeerId::from_secret_key(&random_key()),
            })
            .collect();
        let record = NodeRecord {
            address: local.ip(),
            udp_port: local.port(),
            tcp_port: 30303,
            id: PeerId::from_secret_key(&key),
        };
        let node = FakeNode {
            socket,
            local,
            key,
            enr,
            other_enr,
            quirks,
            bonds: HashSet::new(),
            pending: HashMap::new(),
            table,
            sent: 0,
        };
        (record, tokio::spawn(node.run()))
    }

    async fn run(mut self) {
        let mut buf = [0u8; 2048];
        while let Ok((len, src)) = self.socket.recv_from(&mut buf).await {
            let datagram = buf[..len].to_vec();
            self.handle(&datagram, src).await;
        }
    }

    async fn send(&mut self, packet: Packet, to: SocketAddr) -> [u8; 32] {
        let (datagram, hash) = proto::encode(&packet, &self.key).unwrap();
        // Sends to bogus addresses (e.g. port 0 with `reply_to_from`) fail; a node ignores that.
        let _ = self.socket.send_to(&datagram, to).await;
        hash
    }

    async fn ping(&mut self, to: SocketAddr, peer: Option<(PeerId, IpAddr)>) {
        let ping = Packet::Ping(Ping {
            version: Ping::VERSION,
            from: Endpoint::from_udp(self.local, 30303),
            to: Endpoint::from_udp(to, 0),
            expiration: expiration(),
            enr_seq: Some(ENR_SEQ),
        });
        let hash = self.send(ping, to).await;
        if let Some(peer) = peer {
            self.pending.insert(hash, peer);
        }
    }

    async fn send_junk(&mut self, to: SocketAddr) {
        self.sent += 1;
        let junk = match self.sent % 3 {
            0 => vec![0xab; 1 + self.sent % 90],
            1 => proto::sign_packet(1, &[0xc0], &self.key).0,
            _ => {
                let mut truncated = proto::sign_packet(2, &[0xc3, 1, 2, 3], &self.key).0;
                truncated.truncate(100);
                truncated
            }
        };
        let _ = self.socket.send_to(&junk, to).await;
    }

    async fn handle(&mut self, datagram: &[u8], src: SocketAddr) {
        let q = self.quirks;
        if q.garbage {
            return self.send_junk(src).await;
        }
        let decoded = match proto::decode(datagram) {
            Ok(decoded) => decoded,
            Err(DecodeError::UnknownPacketType(_)) if q.ping_unknown_types => {
                return self.ping(src, None).await;
            }
            Err(_) => return,
        };
        let now = now_unix_secs();
        let expired = match decoded.packet.expiration() {
            Some(exp) if q.unsigned_expiration => exp <= now,
            _ => decoded.packet.is_expired(now),
        };
        if expired {
            return;
        }
        let ip = if q.bond_by_id_only {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            src.ip()
        };
        let peer = (decoded.sender, ip);
        let bonded = self.bonds.contains(&peer);
        match decoded.packet {
            Packet::Ping(ping) => {
                if q.validate_to && ping.to.udp_addr() != self.local {
                    return;
                }
                let reencoded = proto::encode(&Packet::Ping(ping), &self.key).unwrap().0;
                if q.reject_extra_data && reencoded.len() != datagram.len() {
                    return;
                }
                let reply_to = if q.reply_to_from {
                    ping.from.udp_addr()
                } else {
                    src
                };
                let pong = Packet::Pong(Pong {
                    to: Endpoint::from_udp(src, ping.from.tcp_port),
                    ping_hash: if q.wrong_pong_token {
                        [0; 32]
                    } else {
                        decoded.hash
                    },
                    expiration: expiration(),
                    enr_seq: Some(ENR_SEQ),
                });
                self.send(pong, reply_to).await;
                if !bonded {
                    self.ping(reply_to, Some(peer)).await;
                }
            }
            Packet::Pong(pong) => {
                let matched = if q.accept_any_pong_token {
                    self.pending.values().any(|p| *p == peer)
                } else {
                    self.pending.get(&pong.ping_hash) == Some(&peer)
                };
                if matched {
                    self.pending.retain(|_, p| *p != peer);
                    self.bonds.insert(peer);
                    if q.revalidate_after_bond {
                        self.ping(src, None).await;
                    }
                }
            }
            Packet::FindNode(_) if bonded || q.answer_without_bond => {
                for packet in Neighbors::split(&self.table, expiration()) {
                    self.send(Packet::Neighbors(packet), src).await;
                }
            }
            Packet::Neighbors(neighbors) if q.trust_unsolicited_neighbors => {
                self.table.extend(neighbors.nodes);
            }
            Packet::EnrRequest(_) if bonded || q.answer_without_bond => {
                let enr = if q.enr_of_other_key {
                    self.other_enr.clone()
                } else {
                    self.enr.clone()
                };
                let response = Packet::EnrResponse(EnrResponse {
                    request_hash: decoded.hash,
                    enr,
                });
                self.send(response, src).await;
            }
            _ => {}
        }
    }
}

fn config(remote: NodeRecord) -> SuiteConfig {
    let mut config = SuiteConfig::new(remote);
    // Longer than geth's 300 ms so a loaded CI machine does not turn a late reply into a
    // false failure; "no reply" cases get slower, not weaker.
    config.read_timeout = Duration::from_millis(500);
    config
}

/// Whether this host can bind 127.0.0.2 (Linux routes all of 127/8; macOS needs an alias).
async fn second_loopback_available() -> bool {
    UdpSocket::bind("127.0.0.2:0").await.is_ok()
}

async fn run_against(quirks: Quirks) -> Vec<CaseResult> {
    let (remote, node) = FakeNode::start(quirks).await;
    let results = run_suite(&config(remote)).await;
    node.abort();
    results
}

/// Runs the whole suite against a fake with `quirks` and checks that exactly the cases
/// in `expected` fail, each with a detail containing the given text.
async fn assert_failures(quirks: Quirks, expected: &[(&str, &str)]) {
    let results = run_against(quirks).await;
    let report = format_results(&results);
    assert_eq!(results.len(), cases().len(), "{report}");
    let mut expected: HashMap<&str, &str> = expected.iter().copied().collect();
    if !second_loopback_available().await {
        eprintln!("127.0.0.2 is not bindable here; expecting Amplification/WrongIP to say so");
        expected.insert(
            "Amplification/WrongIP",
            "cannot bind the listen2 UDP socket",
        );
    }
    let failed: BTreeSet<&str> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.name)
        .collect();
    let want: BTreeSet<&str> = expected.keys().copied().collect();
    assert_eq!(failed, want, "{quirks:?}\n{report}");
    for result in results.iter().filter(|r| !r.passed) {
        let needle = expected[result.name];
        assert!(
            result.detail.contains(needle),
            "{}: detail {:?} should mention {needle:?}",
            result.name,
            result.detail
        );
    }
}

#[tokio::test]
async fn correct_node_passes_all_fifteen() {
    assert_failures(Quirks::default(), &[]).await;
}

#[tokio::test]
async fn wrong_pong_token_is_caught() {
    let mismatch = "PONG reply token mismatch";
    let bond = "bonding failed: PONG reply token mismatch";
    assert_failures(
        Quirks {
            wrong_pong_token: true,
            ..Quirks::default()
        },
        &[
            ("Ping/Basic", mismatch),
            ("Ping/WrongTo", mismatch),
            ("Ping/WrongFrom", mismatch),
            ("Ping/ExtraData", mismatch),
            ("Ping/ExtraDataWrongFrom", mismatch),
            ("Ping/BondThenPingWithWrongFrom", bond),
            ("ENRRequest", bond),
            ("Findnode/BasicFindnode", bond),
            ("Findnode/UnsolicitedNeighbors", bond),
            ("Findnode/PastExpiration", bond),
            ("Amplification/WrongIP", bond),
        ],
    )
    .await;
}

#[tokio::test]
async fn unsigned_expiration_is_caught() {
    assert_failures(
        Quirks {
            unsigned_expiration: true,
            ..Quirks::default()
        },
        &[
            (
                "Ping/PastExpiration",
                "expected no reply to a PING with expiration",
            ),
            ("Findnode/PastExpiration", "got NEIGHBORS"),
        ],
    )
    .await;
}

#[tokio::test]
async fn answering_without_endpoint_proof_is_caught() {
    assert_failures(
        Quirks {
            answer_without_bond: true,
            ..Quirks::default()
        },
        &[
            (
                "Findnode/WithoutEndpointProof",
                "without endpoint proof, got NEIGHBORS",
            ),
            ("Amplification/InvalidPongHash", "got NEIGHBORS"),
            ("Amplification/WrongIP", "got NEIGHBORS"),
        ],
    )
    .await;
}

#[tokio::test]
async fn bonds_per_id_only_are_caught() {
    assert_failures(
        Quirks {
            bond_by_id_only: true,
            ..Quirks::default()
        },
        &[("Amplification/WrongIP", "on the second IP")],
    )
    .await;
}

#[tokio::test]
async fn accepting_any_pong_token_is_caught() {
    assert_failures(
        Quirks {
            accept_any_pong_token: true,
            ..Quirks::default()
        },
        &[("Amplification/InvalidPongHash", "reply token is all zeros")],
    )
    .await;
}

#[tokio::test]
async fn replying_to_from_is_caught() {
    let silent = "nothing arrived within";
    assert_failures(
        Quirks {
            reply_to_from: true,
            ..Quirks::default()
        },
        &[
            (
                "Ping/WrongFrom",
                "replies must go to the PING's UDP source address",
            ),
            (
                "Ping/ExtraDataWrongFrom",
                "replies must go to the UDP source address",
            ),
            ("Ping/BondThenPingWithWrongFrom", silent),
        ],
    )
    .await;
}

#[tokio::test]
async fn validating_to_and_rejecting_extra_data_are_caught() {
    assert_failures(
        Quirks {
            validate_to: true,
            reject_extra_data: true,
            ..Quirks::default()
        },
        &[
            ("Ping/WrongTo", "must not validate `to`"),
            ("Ping/ExtraData", "EIP-8 says to ignore"),
            ("Ping/ExtraDataWrongFrom", "expected a PONG and a PING"),
        ],
    )
    .await;
}

#[tokio::test]
async fn answering_unknown_packet_types_is_caught() {
    assert_failures(
        Quirks {
            ping_unknown_types: true,
            ..Quirks::default()
        },
        &[("Ping/WrongPacketType", "unknown type 66, got PING")],
    )
    .await;
}

#[tokio::test]
async fn trusting_unsolicited_neighbors_is_caught() {
    assert_failures(
        Quirks {
            trust_unsolicited_neighbors: true,
            ..Quirks::default()
        },
        &[(
            "Findnode/UnsolicitedNeighbors",
            "contains the fake node enode://",
        )],
    )
    .await;
}

#[tokio::test]
async fn pinging_right_after_bonding_is_caught() {
    assert_failures(
        Quirks {
            revalidate_after_bond: true,
            ..Quirks::default()
        },
        &[
            (
                "Ping/BondThenPingWithWrongFrom",
                "expected a PONG after bonding, got PING",
            ),
            ("ENRRequest", "expected an ENRRESPONSE, got PING"),
            ("Findnode/BasicFindnode", "after bonding, got PING"),
            ("Findnode/UnsolicitedNeighbors", "after bonding, got PING"),
        ],
    )
    .await;
}

#[tokio::test]
async fn foreign_record_is_caught() {
    assert_failures(
        Quirks {
            enr_of_other_key: true,
            ..Quirks::default()
        },
        &[("ENRRequest", "wrong node in ENRRESPONSE")],
    )
    .await;
}

#[tokio::test]
async fn garbage_fails_every_case_without_panicking() {
    let all: Vec<(&str, &str)> = cases().iter().map(|&name| (name, "undecodable")).collect();
    assert_failures(
        Quirks {
            garbage: true,
            ..Quirks::default()
        },
        &all,
    )
    .await;
}

#[tokio::test]
async fn unbindable_listen2_is_a_clear_error() {
    let (remote, node) = FakeNode::start(Quirks::default()).await;
    let mut config = config(remote);
    // TEST-NET-1: never a local address, so binding fails at once without any traffic.
    config.listen2 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let result = run_case("Amplification/WrongIP", &config).await.unwrap();
    assert!(!result.passed);
    assert!(
        result
            .detail
            .contains("cannot bind the listen2 UDP socket on 192.0.2.1:0"),
        "{}",
        result.detail
    );
    // The other cases do not need listen2 and still run.
    let basic = run_case("Ping/Basic", &config).await.unwrap();
    assert!(basic.passed, "{}", basic.detail);
    node.abort();
}

#[tokio::test]
async fn remote_without_endpoint_and_filters() {
    let (remote, node) = FakeNode::start(Quirks::default()).await;
    let mut config = config(remote);
    config.filter = Some("^Ping/Basic$|ENR".to_owned());
    let results = run_suite(&config).await;
    let names: Vec<_> = results.iter().map(|r| r.name).collect();
    assert_eq!(names, ["Ping/Basic", "ENRRequest"]);
    assert!(
        results.iter().all(|r| r.passed),
        "{}",
        format_results(&results)
    );

    config.remote.udp_port = 0;
    let result = run_case("Ping/Basic", &config).await.unwrap();
    assert!(!result.passed);
    assert!(
        result.detail.contains("no usable UDP endpoint"),
        "{}",
        result.detail
    );
    node.abort();
}
