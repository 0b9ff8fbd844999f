//! PING handling: answers go to the UDP source, `to`/`from` are not validated, EIP-8
//! extra data is accepted, expired and unknown packets are dropped.

use std::net::{IpAddr, Ipv4Addr};

use crate::proto::{Endpoint, Packet, PacketKind};

use super::super::harness::{
    body_with_extra, past_expiration as expired_timestamp, Outcome, Side, TestEnv,
};

/// A type byte no discv4 version uses.
const WRONG_PACKET_TYPE: u8 = 66;

/// A bogus endpoint (TEST-NET-1, port 0) for `to`/`from` the node must not act on.
fn wrong_endpoint() -> Endpoint {
    Endpoint::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 0, 0)
}

const HINT_TO: &str = "our PING's `to` was 192.0.2.0:0; the node must not validate `to`";
const HINT_FROM: &str = "our PING's `from` was 192.0.2.0:0; replies must go to the PING's UDP \
                         source address, not to `from`";
const HINT_EIP8: &str = "our PING had two extra list elements, which EIP-8 says to ignore";
const HINT_EIP8_FROM: &str = "our PING had two extra list elements (EIP-8) and `from` \
                              192.0.2.0:0; replies must go to the UDP source address";

/// Junk fields appended to a PING: an integer and a byte string.
const JUNK_INT: u64 = 42;
const JUNK_BYTES: [u8; 9] = [9, 8, 7, 6, 5, 4, 3, 2, 1];

/// Ping/Basic: a valid PING gets a PONG and a PING back.
pub(super) async fn basic(env: &TestEnv<'_>) -> Outcome {
    let from = env.local_endpoint(Side::L1)?;
    let hash = env
        .send(
            Side::L1,
            &Packet::Ping(env.ping(from, env.remote_endpoint())),
        )
        .await?;
    check_ping_pong(env, &hash, "").await
}

/// Ping/WrongTo: the node must not validate `to`.
pub(super) async fn wrong_to(env: &TestEnv<'_>) -> Outcome {
    let from = env.local_endpoint(Side::L1)?;
    let hash = env
        .send(Side::L1, &Packet::Ping(env.ping(from, wrong_endpoint())))
        .await?;
    check_ping_pong(env, &hash, HINT_TO).await
}

/// Ping/WrongFrom: replies go to the UDP source address, not to `from`.
pub(super) async fn wrong_from(env: &TestEnv<'_>) -> Outcome {
    let ping = env.ping(wrong_endpoint(), env.remote_endpoint());
    let hash = env.send(Side::L1, &Packet::Ping(ping)).await?;
    check_ping_pong(env, &hash, HINT_FROM).await
}

/// Ping/ExtraData: extra list elements are ignored (EIP-8).
pub(super) async fn extra_data(env: &TestEnv<'_>) -> Outcome {
    let from = env.local_endpoint(Side::L1)?;
    send_junk_ping(env, from, HINT_EIP8).await
}

/// Ping/ExtraDataWrongFrom: extra elements plus a bogus `from`.
pub(super) async fn extra_data_wrong_from(env: &TestEnv<'_>) -> Outcome {
    send_junk_ping(env, wrong_endpoint(), HINT_EIP8_FROM).await
}

async fn send_junk_ping(env: &TestEnv<'_>, from: Endpoint, hint: &str) -> Outcome {
    let ping = Packet::Ping(env.ping(from, env.remote_endpoint()));
    let junk_bytes: &[u8] = &JUNK_BYTES;
    let body = body_with_extra(&ping, &[&JUNK_INT, &junk_bytes])?;
    let hash = env
        .send_custom(
            Side::L1,
            "PING with extra data",
            PacketKind::Ping.byte(),
            &body,
        )
        .await?;
    check_ping_pong(env, &hash, hint).await
}

/// Ping/PastExpiration: a PING expired as a signed number gets no reply at all.
pub(super) async fn past_expiration(env: &TestEnv<'_>) -> Outcome {
    let from = env.local_endpoint(Side::L1)?;
    let mut ping = env.ping(from, env.remote_endpoint());
    ping.expiration = expired_timestamp();
    env.send(Side::L1, &Packet::Ping(ping)).await?;
    env.expect_silence(
        Side::L1,
        &format!(
            "expected no reply to a PING with expiration {} (in the past when read as a signed \
             64-bit number)",
            ping.expiration
        ),
        |_| false,
    )
    .await
}

/// Ping/WrongPacketType: a ping-shaped packet of an unknown type gets no reply.
pub(super) async fn wrong_packet_type(env: &TestEnv<'_>) -> Outcome {
    let from = env.local_endpoint(Side::L1)?;
    let ping = Packet::Ping(env.ping(from, env.remote_endpoint()));
    let body = body_with_extra(&ping, &[])?;
    env.send_custom(Side::L1, "packet of type 66", WRONG_PACKET_TYPE, &body)
        .await?;
    env.expect_silence(
        Side::L1,
        &format!("expected no reply to a packet of unknown type {WRONG_PACKET_TYPE}"),
        |_| false,
    )
    .await
}

/// Ping/BondThenPingWithWrongFrom: after bonding, a PING with a bogus `from` still gets a
/// valid PONG at the source address. A FINDNODE from the node may come first.
pub(super) async fn bond_then_ping_with_wrong_from(env: &TestEnv<'_>) -> Outcome {
    env.bond().await?;
    let ping = env.ping(wrong_endpoint(), env.remote_endpoint());
    let hash = env.send(Side::L1, &Packet::Ping(ping)).await?;
    let mut findnodes = 0;
    loop {
        let reply = env
            .read_packet(Side::L1, "a PONG to the PING sent after bonding")
            .await?;
        match reply.packet {
            Packet::FindNode(_) if findnodes < 16 => findnodes += 1,
            Packet::Pong(_) => {
                env.check_pong(Side::L1, &reply, &hash)?;
                return Ok("valid PONG after bonding".to_owned());
            }
            _ => return Err(format!("expected a PONG after bonding, got {reply}")),
        }
    }
}

/// Reads two packets: exactly one must be a valid PONG to `ping_hash` and one a PING.
/// `hint` (if not empty) is appended to a failure to say what the case probes.
async fn check_ping_pong(env: &TestEnv<'_>, ping_hash: &[u8; 32], hint: &str) -> Outcome {
    read_ping_pong(env, ping_hash).await.map_err(|failure| {
        if hint.is_empty() {
            failure
        } else {
            format!("{failure} ({hint})")
        }
    })
}

async fn read_ping_pong(env: &TestEnv<'_>, ping_hash: &[u8; 32]) -> Outcome {
    let (mut pings, mut pongs) = (0, 0);
    for n in 1..=2 {
        let expected = match (pings, pongs) {
            (0, 0) => "a PONG and a PING",
            (0, _) => "a PING (the PONG arrived)",
            _ => "a PONG (the PING arrived)",
        };
        let reply = env
            .read_packet(Side::L1, &format!("{expected} (reply {n} of 2)"))
            .await?;
        match reply.packet {
            Packet::Pong(_) => {
                env.check_pong(Side::L1, &reply, ping_hash)?;
                pongs += 1;
            }
            Packet::Ping(_) => pings += 1,
            _ => return Err(format!("expected a PING or PONG, got {reply}")),
        }
    }
    if pings == 1 && pongs == 1 {
        Ok("got a valid PONG and a PING".to_owned())
    } else {
        Err(format!(
            "expected 1 PING (got {pings}) and 1 PONG (got {pongs})"
        ))
    }
}
