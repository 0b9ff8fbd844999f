//! How to build a chain client on kadnode: register `eth/68`, start a node, get every peer
//! that shares your chain delivered to your protocol's run loop.
//!
//! ```sh
//! cargo run --example eth68 -- 127.0.0.1:30303 [enode://… to dial]
//! cargo run --example eth68 -- 0.0.0.0:30303 --discover   # find mainnet peers through discv4
//! ```
//!
//! It runs a mainnet Status handshake (network id 1, mainnet genesis, the EIP-2124 fork id at
//! Shanghai) with every peer and prints the Status of each accepted one. With `--discover`
//! it joins mainnet's discv4 network with our fork id in the `eth` entry of its record (so
//! other clients' dialers pick it) and dials only nodes whose record carries a fork id our
//! chain accepts.

mod enr_entry;
mod status;

use std::sync::Arc;

use kadnode::{Node, NodeConfig, P2pConfig};
use status::{Chain, EthStatus};

/// Shanghai on mainnet: block 17,034,870 at 1,681,338,479 (after the fork's timestamp).
const HEAD: (u64, u64) = (17_034_870, 1_681_338_479);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:30303".into())
        .parse()?;
    let (flags, nodes): (Vec<String>, Vec<String>) = args.partition(|a| a.starts_with("--"));
    let discover = flags.iter().any(|f| f == "--discover");
    let statics = nodes
        .iter()
        .map(|url| enode::parse_node(url).map(|(record, _)| record.into()))
        .collect::<Result<Vec<_>, _>>()?;
    let chain = Chain::mainnet();
    let discovery = discover.then(|| discv4::service::Discv4Config {
        bootnodes: enode::bootnodes::MAINNET
            .iter()
            .filter_map(|url| url.parse().ok())
            .collect(),
        enr_entries: vec![(
            "eth".into(),
            enr_entry::eth_entry(chain.fork_id(HEAD.0, HEAD.1)),
        )],
        ..Default::default()
    });

    let (statuses, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let eth = EthStatus {
        chain: chain.clone(),
        head: HEAD,
        statuses,
    };
    let node = Node::start(NodeConfig {
        listen_addr: listen,
        discovery,
        p2p: Some(P2pConfig {
            protocols: vec![Arc::new(eth)],
            static_nodes: statics,
            enr_filter: Some(enr_entry::same_chain(chain, HEAD)),
            ..P2pConfig::default()
        }),
        ..NodeConfig::default()
    })
    .await?;
    println!("{}", node.enode_url());
    while let Some((peer, status)) = accepted.recv().await {
        println!(
            "{} ({}): network {}, fork id {}/{}",
            peer.id,
            peer.client_id,
            status.network_id,
            hex::encode(status.fork_id.hash),
            status.fork_id.next
        );
    }
    node.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::status::*;

    #[test]
    fn the_eth_entry_round_trips_and_the_filter_follows_eip_2124() {
        use super::enr_entry::{eth_entry, fork_id_of, same_chain};
        let chain = Chain::mainnet();
        let record = |entry: Option<Vec<u8>>| {
            let key = secp256k1::SecretKey::new(&mut rand::thread_rng());
            let mut endpoints = enode::EndpointConfig::default();
            if let Some(value) = entry {
                endpoints.extra.insert("eth".into(), value);
            }
            enode::build_enr(&key, 1, &endpoints).unwrap()
        };
        let ours = chain.fork_id(super::HEAD.0, super::HEAD.1);
        // go-ethereum's bytes for [[0xdce96c2d, 1710338135]] (Shanghai on mainnet).
        assert_eq!(hex::encode(eth_entry(ours)), "cbca84dce96c2d8465f1b057");
        assert_eq!(fork_id_of(&record(Some(eth_entry(ours)))), Some(ours));
        let filter = same_chain(chain, super::HEAD);
        assert!(filter(&record(Some(eth_entry(ours)))));
        let other_chain = ForkId {
            hash: [1, 2, 3, 4],
            next: 0,
        };
        assert!(!filter(&record(Some(eth_entry(other_chain)))));
        assert!(!filter(&record(None)), "a record without an eth entry");
        assert!(!filter(&record(Some(vec![0xc0]))), "an empty entry");
    }

    #[test]
    fn mainnet_fork_ids_match_eip_2124_and_geth() {
        let chain = Chain::mainnet();
        let id = |block, time| chain.fork_id(block, time);
        // EIP-2124's mainnet vectors.
        assert_eq!(
            id(0, 0),
            ForkId {
                hash: [0xfc, 0x64, 0xec, 0x04],
                next: 1_150_000
            }
        );
        assert_eq!(
            id(1_150_000, 0),
            ForkId {
                hash: [0x97, 0xc2, 0xc3, 0x4c],
                next: 1_920_000
            }
        );
        assert_eq!(
            id(4_370_000, 0),
            ForkId {
                hash: [0xa0, 0x0b, 0xc3, 0x24],
                next: 7_280_000
            }
        );
        // go-ethereum's forkid tests: Shanghai and Cancun.
        assert_eq!(
            id(20_000_000, 1_681_338_455),
            ForkId {
                hash: [0xdc, 0xe9, 0x6c, 0x2d],
                next: 1_710_338_135
            }
        );
        assert_eq!(
            id(20_000_000, 1_710_338_135),
            ForkId {
                hash: [0x9f, 0x3d, 0x22, 0x54],
                next: 1_746_612_311
            }
        );
    }

    #[test]
    fn validation_follows_eip_2124() {
        let chain = Chain::mainnet();
        let head = (20_000_000, 1_681_338_479); // Shanghai
        assert!(chain.accepts(head.0, head.1, chain.fork_id(head.0, head.1)));
        // Behind but aware of our next fork: fine. Behind and unaware: refused.
        let paris = chain.fork_id(15_050_000, 1_000);
        assert!(chain.accepts(head.0, head.1, paris));
        assert!(!chain.accepts(head.0, head.1, ForkId { next: 0, ..paris }));
        // Ahead on a fork we know (Cancun): fine. An unknown hash: refused.
        assert!(chain.accepts(head.0, head.1, chain.fork_id(head.0, 1_710_338_135)));
        assert!(!chain.accepts(
            head.0,
            head.1,
            ForkId {
                hash: [1, 2, 3, 4],
                next: 0
            }
        ));
    }

    #[test]
    fn status_round_trips() {
        let status = Status {
            version: 68,
            network_id: 1,
            total_difficulty: vec![1],
            head: [7; 32],
            genesis: Chain::mainnet().genesis,
            fork_id: Chain::mainnet().fork_id(0, 0),
        };
        assert_eq!(Status::decode(&status.encode()), Ok(status));
    }
}
