//! `kadnode rlpx …`: RLPx probes (`ping`: read a node's Hello; `listen`: accept sessions).

use clap::Subcommand;

use super::CliError;

/// `kadnode rlpx` subcommands.
#[derive(Debug, Subcommand)]
pub enum RlpxCommand {
    /// Connect, do the RLPx handshake with a throwaway key and print the remote's Hello.
    Ping {
        /// The node (enode://… or enr:…).
        node: String,
    },
}

/// Runs an `rlpx` subcommand.
pub fn run(command: RlpxCommand, _json_mode: bool) -> Result<(), CliError> {
    match command {
        RlpxCommand::Ping { .. } => Err(CliError::failed(
            "rlpx commands need the ECIES handshake layer, which is not in this build yet",
        )),
    }
}
