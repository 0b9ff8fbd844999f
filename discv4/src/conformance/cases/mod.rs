//! The fifteen cases, grouped as go-ethereum groups them.

mod amplification;
mod enr;
mod findnode;
mod ping;

use super::{
    harness::{Outcome, TestEnv},
    SuiteConfig,
};

/// Runs the case `name` (one of [`super::cases`]) in a fresh environment.
pub(super) async fn run(name: &str, config: &SuiteConfig) -> Outcome {
    let mut env = TestEnv::new(config).await?;
    match name {
        "Ping/Basic" => ping::basic(&env).await,
        "Ping/WrongTo" => ping::wrong_to(&env).await,
        "Ping/WrongFrom" => ping::wrong_from(&env).await,
        "Ping/ExtraData" => ping::extra_data(&env).await,
        "Ping/ExtraDataWrongFrom" => ping::extra_data_wrong_from(&env).await,
        "Ping/PastExpiration" => ping::past_expiration(&env).await,
        "Ping/WrongPacketType" => ping::wrong_packet_type(&env).await,
        "Ping/BondThenPingWithWrongFrom" => ping::bond_then_ping_with_wrong_from(&env).await,
        "ENRRequest" => enr::enr_request(&env).await,
        "Findnode/WithoutEndpointProof" => findnode::without_endpoint_proof(&env).await,
        "Findnode/BasicFindnode" => findnode::basic(&env).await,
        "Findnode/UnsolicitedNeighbors" => findnode::unsolicited_neighbors(&env).await,
        "Findnode/PastExpiration" => findnode::past_expiration(&env).await,
        "Amplification/InvalidPongHash" => amplification::invalid_pong_hash(&env).await,
        "Amplification/WrongIP" => amplification::wrong_ip(&mut env).await,
        other => Err(format!("internal error: no case named {other:?}")),
    }
}
