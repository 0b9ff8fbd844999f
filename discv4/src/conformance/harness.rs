//! The test environment of one case: a fresh key, the tester sockets, sending packets,
//! reading replies with a deadline, checking PONGs, and bonding.
//!
//! Everything the remote sends is untrusted: undecodable datagrams, foreign signers and
//! socket errors all become failure messages, never panics.

use std::{fmt, net::SocketAddr, time::Duration};

use alloy_rlp::{Encodable, Header};
use secp256k1::SecretKey;
use tokio::net::UdpSocket;

use super::SuiteConfig;
use crate::proto::{
    self, expiration_after, is_expired, normalize_ip, now_unix_secs, DecodeError, Endpoint, Packet,
    Ping, Pong, DEFAULT_EXPIRATION, HEAD_SIZE,
};
use enode::PeerId;

/// A case's verdict: `Ok(note)` when passed, `Err(what went wrong)` otherwise.
pub(super) type Outcome = Result<String, String>;

/// Most packets a loop that skips tolerated packets reads before giving up, so that a
/// remote flooding the tester cannot keep a case running forever.
const MAX_READS: usize = 32;

/// Receive buffer: larger than any acceptable datagram, so oversized ones are seen whole
/// and reported as such rather than truncated.
const RECV_BUFFER: usize = 2048;

/// Which tester socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// The socket on `listen1`.
    L1,
    /// The socket on `listen2`.
    L2,
}

struct TesterSocket {
    socket: UdpSocket,
    local: SocketAddr,
}

/// A decoded packet that arrived at a tester socket.
pub(super) struct Received {
    pub(super) packet: Packet,
    pub(super) sender: PeerId,
    pub(super) hash: [u8; 32],
    pub(super) from: SocketAddr,
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} from {}", describe(&self.packet), self.from)
    }
}

/// What one read produced.
pub(super) enum Reply {
    Packet(Received),
    /// A datagram that is not a valid discv4 packet.
    Garbage {
        from: SocketAddr,
        len: usize,
        error: DecodeError,
    },
    /// Nothing within the read timeout.
    Timeout,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Packet(received) => received.fmt(f),
            Self::Garbage { from, len, error } => {
                write!(
                    f,
                    "an undecodable {len}-byte datagram from {from} ({error})"
                )
            }
            Self::Timeout => f.write_str("nothing"),
        }
    }
}

/// One case's tester: a fresh identity and its sockets.
pub(super) struct TestEnv<'a> {
    config: &'a SuiteConfig,
    key: SecretKey,
    l1: TesterSocket,
    l2: Option<TesterSocket>,
}

impl<'a> TestEnv<'a> {
    /// A fresh key and the `listen1` socket. The `listen2` socket is bound by
    /// [`TestEnv::bind_l2`] only in the case that needs it, so a host without a second
    /// loopback address still gets results for every other case.
    pub(super) async fn new(config: &'a SuiteConfig) -> Result<Self, String> {
        let remote = config.remote.udp_addr();
        if config.remote.udp_port == 0 || remote.ip().is_unspecified() {
            return Err(format!(
                "the remote node has no usable UDP endpoint ({remote}); give an enode URL or \
                 ENR with an IP address and UDP port"
            ));
        }
        let l1 = bind(config.listen1, "listen1", remote).await?;
        Ok(Self {
            config,
            key: SecretKey::new(&mut rand::thread_rng()),
            l1,
            l2: None,
        })
    }

    /// Binds the `listen2` socket.
    pub(super) async fn bind_l2(&mut self) -> Result<(), String> {
        if self.config.listen2 == self.config.listen1 {
            return Err(format!(
                "listen2 ({}) must be a different IP from listen1 ({})",
                self.config.listen2, self.config.listen1
            ));
        }
        let socket = bind(self.config.listen2, "listen2", self.remote_addr()).await?;
        self.l2 = Some(socket);
        Ok(())
    }

    fn socket(&self, side: Side) -> Result<&TesterSocket, String> {
        match side {
            Side::L1 => Ok(&self.l1),
            Side::L2 => self
                .l2
                .as_ref()
                .ok_or_else(|| "internal error: the listen2 socket is not bound".to_owned()),
        }
    }

    /// The read timeout, for messages.
    pub(super) fn wait(&self) -> Duration {
        self.config.read_timeout
    }

    /// The remote's UDP address.
    pub(super) fn remote_addr(&self) -> SocketAddr {
        self.config.remote.udp_addr()
    }

    /// The remote's identity.
    pub(super) fn remote_id(&self) -> PeerId {
        self.config.remote.id
    }

    /// The remote as a `to` endpoint: its UDP address with TCP port 0.
    pub(super) fn remote_endpoint(&self) -> Endpoint {
        Endpoint::from_udp(self.remote_addr(), 0)
    }

    /// A tester socket as a `from` endpoint: its address with TCP port 0.
    pub(super) fn local_endpoint(&self, side: Side) -> Result<Endpoint, String> {
        Ok(Endpoint::from_udp(self.socket(side)?.local, 0))
    }

    /// A valid PING from `from` to `to`, expiring in 20 s.
    pub(super) fn ping(&self, from: Endpoint, to: Endpoint) -> Ping {
        Ping {
            version: Ping::VERSION,
            from,
            to,
            expiration: future_expiration(),
            enr_seq: None,
        }
    }

    /// Encodes, signs and sends `packet` to the remote; returns its hash.
    pub(super) async fn send(&self, side: Side, packet: &Packet) -> Result<[u8; 32], String> {
        let (datagram, hash) = proto::encode(packet, &self.key).map_err(|error| {
            format!(
                "internal error: cannot encode {}: {error}",
                packet.kind().name()
            )
        })?;
        self.send_raw(side, packet.kind().name(), &datagram, self.remote_addr())
            .await?;
        Ok(hash)
    }

    /// Sends a hand-made packet: `packet_type` with the RLP list `payload`, signed with the
    /// case key.
    pub(super) async fn send_custom(
        &self,
        side: Side,
        what: &str,
        packet_type: u8,
        payload: &[u8],
    ) -> Result<[u8; 32], String> {
        let (datagram, hash) = proto::sign_packet(packet_type, payload, &self.key);
        self.send_raw(side, what, &datagram, self.remote_addr())
            .await?;
        Ok(hash)
    }

    async fn send_raw(
        &self,
        side: Side,
        what: &str,
        datagram: &[u8],
        to: SocketAddr,
    ) -> Result<(), String> {
        let socket = self.socket(side)?;
        match socket.socket.send_to(datagram, to).await {
            Ok(sent) if sent == datagram.len() => Ok(()),
            Ok(sent) => Err(format!(
                "sent only {sent} of {} bytes of {what} to {to} from {}",
                datagram.len(),
                socket.local
            )),
            Err(error) => Err(format!(
                "cannot send {what} to {to} from {}: {error}",
                socket.local
            )),
        }
    }

    /// Waits up to the read timeout for one datagram on `side`.
    pub(super) async fn read(&self, side: Side) -> Result<Reply, String> {
        let socket = self.socket(side)?;
        let mut buf = [0u8; RECV_BUFFER];
        let (len, from) =
            match tokio::time::timeout(self.wait(), socket.socket.recv_from(&mut buf)).await {
                Err(_elapsed) => return Ok(Reply::Timeout),
                Ok(Err(error)) => {
                    return Err(format!(
                        "receive error on the tester socket {} (is {} reachable?): {error}",
                        socket.local,
                        self.remote_addr()
                    ))
                }
                Ok(Ok(received)) => received,
            };
        let datagram = buf.get(..len).unwrap_or(&buf);
        Ok(match proto::decode(datagram) {
            Ok(decoded) => Reply::Packet(Received {
                packet: decoded.packet,
                sender: decoded.sender,
                hash: decoded.hash,
                from,
            }),
            Err(error) => Reply::Garbage { from, len, error },
        })
    }

    /// Reads one packet that must arrive: a timeout or an undecodable datagram is a
    /// failure naming `expected`.
    pub(super) async fn read_packet(&self, side: Side, expected: &str) -> Result<Received, String> {
        match self.read(side).await? {
            Reply::Packet(received) => Ok(received),
            Reply::Timeout => Err(format!(
                "expected {expected}, but nothing arrived within {:?}",
                self.wait()
            )),
            garbage => Err(format!("expected {expected}, got {garbage}")),
        }
    }

    /// Checks that `reply` is a valid PONG to the PING with hash `ping_hash` sent from
    /// `side`: signed by the remote, echoing the token, with `to` equal to the tester's
    /// address, and not expired.
    pub(super) fn check_pong(
        &self,
        side: Side,
        reply: &Received,
        ping_hash: &[u8; 32],
    ) -> Result<(), String> {
        let Packet::Pong(pong) = &reply.packet else {
            return Err(format!("expected a PONG, got {reply}"));
        };
        if reply.sender != self.remote_id() {
            return Err(format!(
                "PONG from {} is signed by {}, not by the node under test {} (wrong key in \
                 the remote's enode/ENR?)",
                reply.from,
                reply.sender,
                self.remote_id()
            ));
        }
        if pong.ping_hash != *ping_hash {
            return Err(format!(
                "PONG reply token mismatch: got {}, want {} (the hash of our PING)",
                hex::encode(pong.ping_hash),
                hex::encode(ping_hash)
            ));
        }
        let want = self.local_endpoint(side)?;
        if normalize_ip(pong.to.ip) != want.ip || pong.to.udp_port != want.udp_port {
            return Err(format!(
                "PONG 'to' endpoint mismatch: got {}, want {} (the UDP source address of our \
                 PING)",
                pong.to.udp_addr(),
                want.udp_addr()
            ));
        }
        let now = now_unix_secs();
        if is_expired(pong.expiration, now) {
            return Err(format!(
                "PONG is expired: expiration {} is not after now ({now})",
                pong.expiration
            ));
        }
        Ok(())
    }

    /// Answers a PING with a PONG carrying `token` (a wrong one for amplification tests).
    pub(super) async fn answer_ping_with_token(
        &self,
        side: Side,
        ping: &Received,
        token: [u8; 32],
    ) -> Result<(), String> {
        let tcp_port = match &ping.packet {
            Packet::Ping(p) => p.from.tcp_port,
            _ => 0,
        };
        let pong = Packet::Pong(Pong {
            to: Endpoint::from_udp(ping.from, tcp_port),
            ping_hash: token,
            expiration: future_expiration(),
            enr_seq: None,
        });
        let (datagram, _) = proto::encode(&pong, &self.key)
            .map_err(|error| format!("internal error: cannot encode PONG: {error}"))?;
        self.send_raw(side, "PONG", &datagram, ping.from).await
    }

    /// Performs the endpoint proof from `listen1`: PING the remote, wait for both its PONG
    /// (which must be valid) and its own PING, and answer that PING correctly.
    pub(super) async fn bond(&self) -> Result<(), String> {
        self.ping_and_answer(None)
            .await
            .map_err(|error| format!("bonding failed: {error}"))
    }

    /// PINGs the remote from `listen1` and waits for both its PONG and its PING, which is
    /// answered with a PONG carrying `token` (`None`: the correct one). The remote's PONG
    /// is checked only when bonding properly.
    pub(super) async fn ping_and_answer(&self, token: Option<[u8; 32]>) -> Result<(), String> {
        let from = self.local_endpoint(Side::L1)?;
        let ping_hash = self
            .send(
                Side::L1,
                &Packet::Ping(self.ping(from, self.remote_endpoint())),
            )
            .await?;
        let (mut got_ping, mut got_pong) = (false, false);
        for _ in 0..MAX_READS {
            if got_ping && got_pong {
                return Ok(());
            }
            let missing = match (got_ping, got_pong) {
                (false, false) => "the node's PONG and PING",
                (false, true) => "the node's PING (its PONG arrived)",
                _ => "the node's PONG (its PING arrived and was answered)",
            };
            let reply = self.read_packet(Side::L1, missing).await?;
            match reply.packet {
                Packet::Ping(_) => {
                    self.answer_ping_with_token(Side::L1, &reply, token.unwrap_or(reply.hash))
                        .await?;
                    got_ping = true;
                }
                Packet::Pong(_) => {
                    if token.is_none() {
                        self.check_pong(Side::L1, &reply, &ping_hash)?;
                    }
                    got_pong = true;
                }
                // Anything else (e.g. a FINDNODE from the node) is tolerated, as in geth.
                _ => {}
            }
        }
        if got_ping && got_pong {
            Ok(())
        } else {
            Err(format!(
                "gave up after {MAX_READS} packets without both a PONG and a PING"
            ))
        }
    }

    /// Reads until nothing arrives for one read timeout. Each packet for which
    /// `tolerated` returns true is skipped; any other datagram is returned as the
    /// failure message `"{unexpected}, got {it}"`.
    pub(super) async fn expect_silence(
        &self,
        side: Side,
        unexpected: &str,
        tolerated: impl Fn(&Packet) -> bool,
    ) -> Outcome {
        let mut skipped = Vec::new();
        for _ in 0..MAX_READS {
            match self.read(side).await? {
                Reply::Timeout => {
                    return Ok(if skipped.is_empty() {
                        format!("no reply within {:?}", self.wait())
                    } else {
                        format!("only tolerated packets arrived: {}", skipped.join(", "))
                    })
                }
                Reply::Packet(received) if tolerated(&received.packet) => {
                    skipped.push(received.packet.kind().name());
                }
                other => return Err(format!("{unexpected}, got {other}")),
            }
        }
        Err(format!(
            "{unexpected}: the node kept sending packets ({MAX_READS} without a pause)"
        ))
    }
}

async fn bind(
    ip: std::net::IpAddr,
    label: &str,
    remote: SocketAddr,
) -> Result<TesterSocket, String> {
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(format!(
            "{label} must be a concrete local IP address, not {ip}: the node's PONG `to` is \
             compared with it and the second IP must differ from the first"
        ));
    }
    if ip.is_ipv4() != remote.is_ipv4() {
        return Err(format!(
            "{label} address {ip} and the remote {remote} are of different IP families; \
             choose a {label} address of the remote's family"
        ));
    }
    let addr = SocketAddr::new(ip, 0);
    let socket = UdpSocket::bind(addr).await.map_err(|error| {
        let hint = if label == "listen2" {
            " (on macOS, add the address first: `sudo ifconfig lo0 alias 127.0.0.2`; or pick \
             another local IP with --listen2)"
        } else {
            ""
        };
        format!("cannot bind the {label} UDP socket on {addr}: {error}{hint}")
    })?;
    let local = socket
        .local_addr()
        .map_err(|error| format!("cannot read the {label} socket address: {error}"))?;
    Ok(TesterSocket { socket, local })
}

/// An expiration 20 s from now, as in every packet the tester sends.
pub(super) fn future_expiration() -> u64 {
    expiration_after(DEFAULT_EXPIRATION)
}

/// `2^64 - (now + 20)`: a "negative" expiration, in the past when read as signed.
pub(super) fn past_expiration() -> u64 {
    0u64.wrapping_sub(future_expiration())
}

/// A random 64-byte FINDNODE target.
pub(super) fn random_target() -> PeerId {
    PeerId::random()
}

/// The RLP list of `packet`'s fields followed by `extra` (already RLP-encoded items):
/// a packet from a newer protocol version (EIP-8).
pub(super) fn body_with_extra(
    packet: &Packet,
    extra: &[&dyn Encodable],
) -> Result<Vec<u8>, String> {
    let throwaway = SecretKey::new(&mut rand::thread_rng());
    let (datagram, _) = proto::encode(packet, &throwaway).map_err(|error| {
        format!(
            "internal error: cannot encode {}: {error}",
            packet.kind().name()
        )
    })?;
    let mut body = datagram.get(HEAD_SIZE + 1..).unwrap_or_default();
    let header = Header::decode(&mut body)
        .map_err(|error| format!("internal error: cannot re-read own packet: {error}"))?;
    let fields = body.get(..header.payload_length).unwrap_or_default();
    let extra_len: usize = extra.iter().map(|item| item.length()).sum();
    let mut out = Vec::with_capacity(fields.len() + extra_len + 4);
    Header {
        list: true,
        payload_length: fields.len() + extra_len,
    }
    .encode(&mut out);
    out.extend_from_slice(fields);
    for item in extra {
        item.encode(&mut out);
    }
    Ok(out)
}

/// A one-line description of a packet for failure messages.
pub(super) fn describe(packet: &Packet) -> String {
    fn endpoint(ep: &Endpoint) -> String {
        format!("{} tcp {}", ep.udp_addr(), ep.tcp_port)
    }
    match packet {
        Packet::Ping(p) => format!(
            "PING (version {}, from {}, to {}, expiration {})",
            p.version,
            endpoint(&p.from),
            endpoint(&p.to),
            p.expiration
        ),
        Packet::Pong(p) => format!(
            "PONG (to {}, reply token {}, expiration {})",
            endpoint(&p.to),
            hex::encode(p.ping_hash),
            p.expiration
        ),
        Packet::FindNode(p) => format!("FINDNODE (target {})", p.target),
        Packet::Neighbors(p) => format!("NEIGHBORS ({} nodes)", p.nodes.len()),
        Packet::EnrRequest(_) => "ENRREQUEST".to_owned(),
        Packet::EnrResponse(p) => format!(
            "ENRRESPONSE (reply token {}, record seq {})",
            hex::encode(p.request_hash),
            p.enr.seq()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_listen_addresses_are_clear_errors() {
        let remote: SocketAddr = "127.0.0.1:30303".parse().unwrap();
        let err = bind("0.0.0.0".parse().unwrap(), "listen1", remote)
            .await
            .err()
            .unwrap();
        assert!(err.contains("listen1 must be a concrete local IP"), "{err}");
        let err = bind("::1".parse().unwrap(), "listen2", remote)
            .await
            .err()
            .unwrap();
        assert!(err.contains("different IP families"), "{err}");
        assert!(bind("127.0.0.1".parse().unwrap(), "listen1", remote)
            .await
            .is_ok());
    }

    #[test]
    fn past_expiration_is_wrapped_negative() {
        let past = past_expiration();
        assert!(past > 1 << 63);
        assert!(is_expired(past, now_unix_secs()));
        let sum = past.wrapping_add(future_expiration());
        assert!(
            sum <= 1,
            "2^64 - (now+20) + (now+20) wraps to 0 (±1 s): {sum}"
        );
    }

    #[test]
    fn extra_elements_keep_the_packet_decodable() {
        let ping = Packet::Ping(Ping {
            version: 4,
            from: Endpoint::new([127, 0, 0, 1].into(), 1000, 0),
            to: Endpoint::new([127, 0, 0, 1].into(), 2000, 0),
            expiration: future_expiration(),
            enr_seq: None,
        });
        let junk: &[u8] = &[9, 8, 7];
        let body = body_with_extra(&ping, &[&42u64, &junk]).unwrap();
        let key = SecretKey::new(&mut rand::thread_rng());
        let (datagram, _) = proto::sign_packet(1, &body, &key);
        let (plain, _) = proto::encode(&ping, &key).unwrap();
        assert_eq!(datagram.len(), plain.len() + 1 + 4);
        let decoded = proto::decode(&datagram).unwrap();
        // 42 sits where EIP-868's enr-seq goes.
        let Packet::Ping(got) = decoded.packet else {
            panic!("not a ping")
        };
        assert_eq!(got.to, Endpoint::new([127, 0, 0, 1].into(), 2000, 0));
        assert_eq!(got.enr_seq, Some(42));
    }
}
