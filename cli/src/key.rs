//! `kadnode key …`: node key files (geth's `devp2p key`).

use std::{net::IpAddr, path::PathBuf};

use clap::{Args, Subcommand};
use enode::{build_enr, unix_time_millis, EndpointConfig, NodeKey};
use serde_json::json;

use super::{output, CliError};

/// `kadnode key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a new node key and write it to FILE (refuses to overwrite).
    Generate {
        /// Where to write the key (64 hex characters, mode 0600).
        file: PathBuf,
    },
    /// Print the node id (keccak256 of the public key) of a key file.
    ToId {
        /// The key file.
        file: PathBuf,
    },
    /// Print the enode:// URL of a key file.
    ToEnode {
        /// The key file.
        file: PathBuf,
        /// Endpoint to put in the URL.
        #[command(flatten)]
        endpoint: EndpointArgs,
    },
    /// Print a signed ENR of a key file.
    ToEnr {
        /// The key file.
        file: PathBuf,
        /// Endpoint to put in the record.
        #[command(flatten)]
        endpoint: EndpointArgs,
        /// Sequence number (default: Unix time in milliseconds, like a fresh geth node).
        #[arg(long)]
        seq: Option<u64>,
    },
}

/// The endpoint flags of `to-enode` / `to-enr` (geth's defaults).
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// IP address.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// TCP port (0: none).
    #[arg(long, default_value_t = 30303)]
    pub tcp: u16,
    /// UDP port (0: none).
    #[arg(long, default_value_t = 30303)]
    pub udp: u16,
}

/// Runs a `key` subcommand.
pub fn run(command: KeyCommand, json_mode: bool) -> Result<(), CliError> {
    match command {
        KeyCommand::Generate { file } => {
            if file.exists() {
                return Err(CliError::usage(format!(
                    "{} already exists; refusing to overwrite a node key",
                    file.display()
                )));
            }
            let key = NodeKey::generate();
            key.save(&file).map_err(CliError::usage)?;
            let id = key.node_id().to_string();
            output::emit(
                json_mode,
                &format!(
                    "wrote new node key to {}\nnode id: {id}\npublic key: {}",
                    file.display(),
                    key.peer_id()
                ),
                &json!({"file": file.display().to_string(), "id": id, "pubkey": key.peer_id().to_string()}),
            );
        }
        KeyCommand::ToId { file } => {
            let key = NodeKey::load(&file).map_err(CliError::usage)?;
            let id = key.node_id().to_string();
            output::emit(json_mode, &id, &json!({"id": id}));
        }
        KeyCommand::ToEnode { file, endpoint } => {
            let key = NodeKey::load(&file).map_err(CliError::usage)?;
            let url = key.enode_url(endpoint.ip, endpoint.tcp, endpoint.udp);
            output::emit(json_mode, &url, &json!({"enode": url}));
        }
        KeyCommand::ToEnr {
            file,
            endpoint,
            seq,
        } => {
            let key = NodeKey::load(&file).map_err(CliError::usage)?;
            let mut config = EndpointConfig::default();
            match endpoint.ip {
                IpAddr::V4(ip) => {
                    config.ip4 = Some(ip);
                    config.udp4 = Some(endpoint.udp);
                    config.tcp4 = Some(endpoint.tcp);
                }
                IpAddr::V6(ip) => {
                    config.ip6 = Some(ip);
                    config.udp6 = Some(endpoint.udp);
                    config.tcp6 = Some(endpoint.tcp);
                }
            }
            let enr = build_enr(
                key.secret_key(),
                seq.unwrap_or_else(unix_time_millis),
                &config,
            )
            .map_err(CliError::usage)?;
            let text = enr.to_base64();
            output::emit(json_mode, &text, &json!({"enr": text}));
        }
    }
    Ok(())
}
