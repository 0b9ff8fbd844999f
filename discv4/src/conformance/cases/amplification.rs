//! Traffic amplification: FINDNODE must not be answered unless the endpoint proof was
//! completed with a matching PONG, from the very IP asking.

use crate::proto::{FindNode, Packet};

use super::super::harness::{future_expiration, random_target, Outcome, Reply, Side, TestEnv};

fn random_findnode() -> Packet {
    Packet::FindNode(FindNode {
        target: random_target(),
        expiration: future_expiration(),
    })
}

/// Amplification/InvalidPongHash: a PONG with a zero reply token proves nothing, so the
/// following FINDNODE gets no NEIGHBORS.
pub(super) async fn invalid_pong_hash(env: &TestEnv<'_>) -> Outcome {
    env.ping_and_answer(Some([0; 32]))
        .await
        .map_err(|error| format!("ping exchange failed: {error}"))?;
    env.send(Side::L1, &random_findnode()).await?;
    match env.read(Side::L1).await? {
        Reply::Packet(received) if matches!(received.packet, Packet::Neighbors(_)) => Err(format!(
            "got {received} after answering the node's PING with a PONG whose reply token \
                 is all zeros: the node accepts PONGs that do not match its PING"
        )),
        _ => Ok("no NEIGHBORS".to_owned()),
    }
}

/// Amplification/WrongIP: bond from listen1, FINDNODE with the same key from listen2.
/// Nothing at all may arrive on listen2.
pub(super) async fn wrong_ip(env: &mut TestEnv<'_>) -> Outcome {
    env.bind_l2().await?;
    env.bond().await?;
    env.send(Side::L2, &random_findnode()).await?;
    env.expect_silence(
        Side::L2,
        "expected no reply at all on the second IP: the endpoint proof was made from the \
         first IP only, so a FINDNODE from the second must be dropped silently",
        |_| false,
    )
    .await
}
