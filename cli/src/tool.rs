//! The `kadnode` debugging tool's command line.

use clap::{Parser, Subcommand};

use super::{discv4::Discv4Command, key::KeyCommand, CliError};

/// Command line of `kadnode`.
#[derive(Debug, Parser)]
#[command(
    name = "kadnode",
    version,
    about = "Ethereum devp2p debugging tool: node keys, ENRs, discovery v4 probes and tests, RLPx probes"
)]
pub struct ToolArgs {
    /// Print results as JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: ToolCommand,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum ToolCommand {
    /// Node key files.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Node records (ENR).
    #[command(subcommand)]
    Enr(EnrCommand),
    /// Discovery v4 probes, a listening node, a crawler and the conformance suite.
    #[command(subcommand)]
    Discv4(Discv4Command),
    /// Node sets (a crawler's nodes.json): info and filter, as go-ethereum's `devp2p nodeset`.
    #[command(subcommand)]
    Nodeset(super::nodeset::NodesetCommand),
    /// RLPx probes.
    #[command(subcommand)]
    Rlpx(super::rlpx::RlpxCommand),
    /// A full devp2p node (discovery, dialer, server) holding --caps open and printing peer
    /// events.
    Node(Box<super::p2p::P2pNodeArgs>),
    /// Peer exchange (pex/1): dump a saved address book, ask a node for its addresses.
    #[command(subcommand)]
    Pex(super::pex::PexCommand),
}

/// `kadnode enr` subcommands.
#[derive(Debug, Subcommand)]
pub enum EnrCommand {
    /// Decode an ENR (enr:… or RLP hex): fields, seq, signature check, node id. A record
    /// whose signature does not verify is shown too (exit code 1).
    Decode {
        /// The record.
        #[arg(required_unless_present = "file")]
        record: Option<String>,
        /// Read the record from this file (its first non-empty line; `-` for stdin).
        #[arg(long, value_name = "FILE", conflicts_with = "record")]
        file: Option<std::path::PathBuf>,
    },
}

/// Runs the tool.
pub fn main(args: ToolArgs) -> Result<(), CliError> {
    match args.command {
        ToolCommand::Key(command) => super::key::run(command, args.json),
        ToolCommand::Enr(EnrCommand::Decode { record, file }) => {
            super::enr::run_decode(record.as_deref(), file.as_deref(), args.json)
        }
        ToolCommand::Discv4(command) => super::discv4::run(command, args.json),
        ToolCommand::Nodeset(command) => super::nodeset::run(command, args.json),
        ToolCommand::Rlpx(command) => super::rlpx::run(command, args.json),
        ToolCommand::Node(node) => super::p2p::main(*node, args.json),
        ToolCommand::Pex(command) => super::pex::run(command, args.json),
    }
}
