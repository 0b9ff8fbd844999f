//! FINDNODE: answered only after an endpoint proof, never with nodes learnt from
//! unsolicited NEIGHBORS, and never when expired.

use std::net::{IpAddr, Ipv4Addr};

use secp256k1::SecretKey;

use crate::proto::{FindNode, Neighbors, Packet};

use enode::{NodeRecord, PeerId};

use super::super::harness::{
    future_expiration, past_expiration as expired_timestamp, random_target, Outcome, Side, TestEnv,
};

fn findnode(target: PeerId, expiration: u64) -> Packet {
    Packet::FindNode(FindNode { target, expiration })
}

/// Findnode/WithoutEndpointProof: no NEIGHBORS (or anything but a PING) before bonding.
pub(super) async fn without_endpoint_proof(env: &TestEnv<'_>) -> Outcome {
    env.send(Side::L1, &findnode(random_target(), future_expiration()))
        .await?;
    env.expect_silence(
        Side::L1,
        "expected no reply (a PING is fine) to a FINDNODE without endpoint proof",
        |packet| matches!(packet, Packet::Ping(_)),
    )
    .await
}

/// Findnode/BasicFindnode: after bonding, the first reply to FINDNODE is NEIGHBORS.
pub(super) async fn basic(env: &TestEnv<'_>) -> Outcome {
    env.bond().await?;
    env.send(Side::L1, &findnode(random_target(), future_expiration()))
        .await?;
    let reply = env
        .read_packet(Side::L1, "NEIGHBORS in reply to FINDNODE after bonding")
        .await?;
    match &reply.packet {
        Packet::Neighbors(neighbors) => {
            Ok(format!("NEIGHBORS with {} nodes", neighbors.nodes.len()))
        }
        _ => Err(format!(
            "expected NEIGHBORS as the first reply to FINDNODE after bonding, got {reply}"
        )),
    }
}

/// Findnode/UnsolicitedNeighbors: nodes from a NEIGHBORS nobody asked for must not be
/// handed out.
pub(super) async fn unsolicited_neighbors(env: &TestEnv<'_>) -> Outcome {
    env.bond().await?;
    let fake_id = PeerId::from_secret_key(&SecretKey::new(&mut rand::thread_rng()));
    let fake = NodeRecord {
        address: IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)),
        udp_port: 30303,
        tcp_port: 30303,
        id: fake_id,
    };
    let neighbors = Packet::Neighbors(Neighbors {
        nodes: vec![fake],
        expiration: future_expiration(),
    });
    env.send(Side::L1, &neighbors).await?;
    env.send(Side::L1, &findnode(fake_id, future_expiration()))
        .await?;
    let reply = env
        .read_packet(Side::L1, "NEIGHBORS in reply to FINDNODE after bonding")
        .await?;
    let Packet::Neighbors(neighbors) = &reply.packet else {
        return Err(format!(
            "expected NEIGHBORS as the first reply to FINDNODE after bonding, got {reply}"
        ));
    };
    if neighbors.nodes.iter().any(|node| node.id == fake_id) {
        return Err(format!(
            "NEIGHBORS contains the fake node {} from our earlier unsolicited NEIGHBORS: \
             the node trusts packets it never asked for",
            fake.enode_url()
        ));
    }
    Ok(format!(
        "NEIGHBORS with {} nodes, fake node absent",
        neighbors.nodes.len()
    ))
}

/// Findnode/PastExpiration: an expired FINDNODE from a bonded node gets no NEIGHBORS.
pub(super) async fn past_expiration(env: &TestEnv<'_>) -> Outcome {
    env.bond().await?;
    let expiration = expired_timestamp();
    env.send(Side::L1, &findnode(random_target(), expiration))
        .await?;
    env.expect_silence(
        Side::L1,
        &format!(
            "expected no NEIGHBORS for a FINDNODE with expiration {expiration} (in the past \
             when read as a signed 64-bit number)"
        ),
        |packet| !matches!(packet, Packet::Neighbors(_)),
    )
    .await
}
