//! The short-lived local discovery node that the probes (`ping`, `requestenr`, `findnode`,
//! `resolve`, `crawl`) run, and its flags.

use std::net::SocketAddr;

use clap::Args;
use discv4::{
    db::NodeDb,
    service::{self, Discv4Config, Discv4Handle},
};
use enode::{NodeKey, NodeRecord};

use super::{logging, parse, CliError};

/// Ethereum mainnet's bootnodes (go-ethereum v1.17.10 `params.MainnetBootnodes`), the default
/// of `--bootnodes` for `resolve`, `crawl` and `listen`.
pub use enode::bootnodes::MAINNET as MAINNET_BOOTNODES;

/// Flags of the short-lived local node the probes run.
#[derive(Debug, Clone, Args)]
pub struct ClientOptions {
    /// Local UDP address.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:0", value_parser = parse::listen_addr)]
    pub addr: SocketAddr,
    /// Local node key as 64 hex characters (default: a random key).
    #[arg(long, value_name = "HEX")]
    pub nodekeyhex: Option<String>,
    /// Bootnodes for lookups (comma-separated; empty: none). Default: Ethereum mainnet's
    /// (used by resolve and crawl only).
    #[arg(long, value_name = "NODES", value_parser = parse::node_list)]
    pub bootnodes: Option<NodeList>,
    /// Log level 0..5 (RUST_LOG overrides it).
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u8).range(0..=5))]
    pub verbosity: u8,
}

/// A parsed node list flag.
pub type NodeList = Vec<NodeRecord>;

/// Starts a short-lived node for a probe.
pub async fn client_node(
    client: &ClientOptions,
    use_bootnodes: bool,
) -> Result<Discv4Handle, CliError> {
    logging::init(client.verbosity);
    let key = match &client.nodekeyhex {
        Some(hex) => NodeKey::from_hex(hex.trim()).map_err(CliError::usage)?,
        None => NodeKey::generate(),
    };
    let bootnodes = match (&client.bootnodes, use_bootnodes) {
        (_, false) => Vec::new(),
        (Some(list), true) => list.clone(),
        (None, true) => MAINNET_BOOTNODES
            .iter()
            .filter_map(|url| parse::node(url).ok().map(|(record, _)| record))
            .collect(),
    };
    let config = Discv4Config {
        bootnodes,
        ..Discv4Config::default()
    };
    let transport = service::bind_udp(client.addr)
        .await
        .map_err(|e| CliError::usage(format!("cannot listen on UDP {}: {e}", client.addr)))?;
    let db = NodeDb::in_memory().map_err(CliError::failed)?;
    service::spawn(config, *key.secret_key(), transport, db)
        .map_err(|e| CliError::failed(format!("cannot start discovery: {e}")))
}
