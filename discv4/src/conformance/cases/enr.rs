//! ENRRequest (EIP-868): a bonded requester gets the node's signed record.

use crate::proto::{EnrRequest, Packet};

use enode::{enr_node_id, enr_peer_id};

use super::super::harness::{future_expiration, Outcome, Side, TestEnv};

/// ENRRequest: bond, then ask for the record. The first reply must be an ENRResponse
/// echoing the request hash, with a "v4" record of the node under test.
pub(super) async fn enr_request(env: &TestEnv<'_>) -> Outcome {
    env.bond().await?;
    let request = Packet::EnrRequest(EnrRequest {
        expiration: future_expiration(),
    });
    let hash = env.send(Side::L1, &request).await?;
    let reply = env.read_packet(Side::L1, "an ENRRESPONSE").await?;
    // The signature was verified by decoding; an invalid record is an undecodable packet.
    let Packet::EnrResponse(response) = &reply.packet else {
        return Err(format!("expected an ENRRESPONSE, got {reply}"));
    };
    if response.request_hash != hash {
        return Err(format!(
            "wrong reply token in ENRRESPONSE: got {}, want {} (the hash of our ENRREQUEST)",
            hex::encode(response.request_hash),
            hex::encode(hash)
        ));
    }
    let record_key = enr_peer_id(&response.enr)
        .map_err(|error| format!("invalid record in ENRRESPONSE: {error}"))?;
    let want = env.remote_id();
    if enr_node_id(&response.enr) != want.node_id() || record_key != want {
        return Err(format!(
            "wrong node in ENRRESPONSE: the record's key is {record_key}, want the node under \
             test {want}"
        ));
    }
    Ok(format!(
        "valid record, seq {}, {} bytes",
        response.enr.seq(),
        response.enr.size()
    ))
}
