//! The `bootnode` binary: a long-lived discovery-only node with geth's bootnode flags.

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;
use enode::NodeKey;

use super::{
    logging,
    node::{self, Defaults, NodeOptions},
    CliError,
};

/// Default UDP listen address (geth's bootnode default `:30301`).
pub const DEFAULT_ADDR: &str = "0.0.0.0:30301";

/// Long flags also accepted with one dash, as geth's Go flag parser did (`-nodekey f`).
pub const GETH_FLAGS: &[&str] = &[
    "addr",
    "genkey",
    "writeaddress",
    "nodekey",
    "nodekeyhex",
    "nat",
    "netrestrict",
    "verbosity",
    "datadir",
    "bootnodes",
    "tcp-port",
    "pex",
    "metrics",
    "rpc",
    "json",
    "config",
];

/// Command line of `bootnode`.
#[derive(Debug, Parser)]
#[command(
    name = "bootnode",
    version,
    about = "A discovery v4 bootnode: answers PING/FINDNODE/ENRRequest and keeps a persistent node table",
    long_about = "A discovery v4 bootnode: answers PING/FINDNODE/ENRRequest and keeps a persistent node table.\n\n\
        With no flags it keeps its key and node database in $XDG_DATA_HOME/kadnode (or ~/.local/share/kadnode) \
        and listens on UDP 0.0.0.0:30301. A bootnode only helps nodes find each other; it is not a peer."
)]
pub struct BootnodeArgs {
    /// Generate a node key, write it to FILE and exit (with --writeaddress, also print its public key).
    #[arg(long, value_name = "FILE")]
    pub genkey: Option<PathBuf>,
    /// Print the node's public key (128 hex characters) and exit.
    #[arg(long)]
    pub writeaddress: bool,
    /// Print the start-up information as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also be a PEX seed (pex/1 over RLPx) on the same key and port number (TCP beside
    /// UDP): answer one GetPeers per session, then hang up; crawl the address book, kept in
    /// the data directory. For networks that run PEX, discv4, or both.
    #[arg(long)]
    pub pex: bool,
    /// Node flags.
    #[command(flatten)]
    pub node: NodeOptions,
}

/// Runs the bootnode until SIGINT/SIGTERM.
pub fn main(args: BootnodeArgs) -> Result<(), CliError> {
    if let Some(path) = &args.genkey {
        // A bootnode's key is its identity in every network that lists it: never replace one.
        if path.exists() {
            return Err(CliError::usage(format!(
                "{} already exists; refusing to overwrite a node key (remove it first to replace it)",
                path.display()
            )));
        }
        let key = NodeKey::generate();
        key.save(path).map_err(CliError::usage)?;
        if args.writeaddress {
            println!("{}", key.peer_id());
        }
        return Ok(());
    }
    if args.writeaddress {
        let datadir = match &args.node.datadir {
            Some(dir) => Some(dir.clone()),
            None if args.node.nodekey.is_none() && args.node.nodekeyhex.is_none() => {
                kadnode::datadir::default_datadir()
            }
            None => None,
        };
        if args.node.nodekey.is_none() && args.node.nodekeyhex.is_none() {
            // Do not create a key just to print it.
            let exists = datadir
                .as_deref()
                .map(kadnode::datadir::nodekey_path)
                .is_some_and(|p| p.exists());
            if !exists {
                return Err(CliError::usage(
                    "--writeaddress needs a key: give --nodekey, --nodekeyhex or a --datadir that holds one",
                ));
            }
        }
        let key = node::key_source(&args.node)
            .load(datadir.as_deref())
            .map_err(CliError::usage)?;
        println!("{}", key.peer_id());
        return Ok(());
    }
    logging::init_with(args.node.verbosity, args.node.log_format);
    let defaults = Defaults {
        addr: DEFAULT_ADDR
            .parse::<SocketAddr>()
            .map_err(CliError::failed)?,
        use_default_datadir: true,
        bootnodes: Vec::new(),
    };
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let p2p = args.pex.then(|| kadnode::P2pConfig {
            pex: Some(super::pex::seed_config()),
            // A seed dials only to crawl its book, never the nodes discovery finds.
            dial_discovered: false,
            ..kadnode::P2pConfig::default()
        });
        let running = node::start_with_p2p(&args.node, &defaults, p2p).await?;
        running.print_identity(args.json).await?;
        if running.local_addr.ip().is_unspecified() && args.node.nat == super::parse::Nat::None {
            tracing::warn!(
                target: "kadnode",
                "listening on all interfaces without --nat extip:<IP>: the record carries no IP until \
                 peers report one, and the enode above shows 127.0.0.1; announce your public IP with --nat extip:<IP>"
            );
        }
        tracing::info!(
            target: "kadnode",
            "bootnode running; note that a bootnode only introduces nodes to each other, it is not a peer"
        );
        running.run_until_signal().await
    })
}
