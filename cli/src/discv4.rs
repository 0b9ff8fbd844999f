//! `kadnode discv4 …`: discovery v4 probes, a listening node, a crawler and the conformance
//! suite (geth's `devp2p discv4`).

use std::{net::IpAddr, net::SocketAddr, str::FromStr};

use clap::{Args, Subcommand};
use discv4::conformance::{self, SuiteConfig};
use enode::{Enr, NodeRecord, PeerId};
use serde_json::{json, Value};

use super::{
    crawl, logging,
    node::{self, Defaults, NodeOptions},
    output, parse,
    probe::{client_node, ClientOptions, MAINNET_BOOTNODES},
    CliError,
};

/// `kadnode discv4` subcommands.
#[derive(Debug, Subcommand)]
pub enum Discv4Command {
    /// Send one PING and print the round-trip time (exit 1 when the node does not answer).
    Ping {
        /// The node (enode://… or enr:…).
        node: String,
        /// Local node flags.
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Ask a node for its ENR (EIP-868), bonding first.
    #[command(name = "requestenr")]
    RequestEnr {
        /// The node (enode://… or enr:…).
        node: String,
        /// Local node flags.
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Bond with a node, send FINDNODE and print the neighbours it returns.
    Findnode {
        /// The node (enode://… or enr:…).
        node: String,
        /// Lookup target: a 128-hex public key or a node URL (default: the node itself).
        target: Option<String>,
        /// Local node flags.
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Find the newest record of a node (ENR request, then a DHT lookup).
    Resolve {
        /// The node (enode://… or enr:…).
        node: String,
        /// Local node flags.
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Resolve every node of a nodes.json and write back the newer records.
    #[command(name = "resolve-json")]
    ResolveJson(super::resolve_json::ResolveJsonArgs),
    /// Run a long-lived discovery node and print its record (same flags as `bootnode`). It
    /// joins Ethereum mainnet through mainnet's bootnodes unless --bootnodes says otherwise,
    /// and keeps no data directory unless --datadir is given.
    Listen {
        /// Node flags.
        #[command(flatten)]
        node: Box<NodeOptions>,
    },
    /// Crawl the DHT with random walks and ENR requests, merging results into a nodes.json.
    Crawl(crawl::CrawlArgs),
    /// Run the discovery v4 conformance suite against a node.
    Test(TestArgs),
}

/// Flags of `discv4 test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The node under test (default: $REMOTE_ENODE).
    #[arg(long = "remote", value_name = "NODE")]
    pub remote_flag: Option<String>,
    /// The node under test (positional form of --remote).
    pub remote: Option<String>,
    /// Run only the cases matching this pattern (alternatives with |, ^ and $ anchors).
    #[arg(long, value_name = "PATTERN")]
    pub run: Option<String>,
    /// IP of the first tester socket.
    #[arg(long, default_value = "127.0.0.1")]
    pub listen1: IpAddr,
    /// IP of the second tester socket (must be another local IP).
    #[arg(long, default_value = "127.0.0.2")]
    pub listen2: IpAddr,
    /// Print the results in TAP format.
    #[arg(long)]
    pub tap: bool,
    /// Log level 0..5 (RUST_LOG overrides it).
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u8).range(0..=5))]
    pub verbosity: u8,
}

/// Runs a `discv4` subcommand.
pub fn run(command: Discv4Command, json_mode: bool) -> Result<(), CliError> {
    let runtime = super::runtime()?;
    match command {
        Discv4Command::Ping { node, client } => runtime.block_on(ping(&node, &client, json_mode)),
        Discv4Command::RequestEnr { node, client } => {
            runtime.block_on(request_enr(&node, &client, json_mode))
        }
        Discv4Command::Findnode {
            node,
            target,
            client,
        } => runtime.block_on(findnode(&node, target.as_deref(), &client, json_mode)),
        Discv4Command::Resolve { node, client } => {
            runtime.block_on(resolve(&node, &client, json_mode))
        }
        Discv4Command::ResolveJson(args) => {
            runtime.block_on(super::resolve_json::run(args, json_mode))
        }
        Discv4Command::Listen { node } => runtime.block_on(listen(&node, json_mode)),
        Discv4Command::Crawl(args) => runtime.block_on(crawl::run(args, json_mode)),
        Discv4Command::Test(args) => runtime.block_on(test(args, json_mode)),
    }
}

async fn target_node(text: &str) -> Result<(NodeRecord, Option<Enr>), CliError> {
    parse::node_resolving(text).await.map_err(CliError::Usage)
}

/// The probe's flags for talking to `node`: an IPv6 target gets an IPv6 socket when the local
/// address was left at its IPv4 default (an IPv4 socket cannot send to it).
fn client_for(client: &ClientOptions, node: &NodeRecord) -> ClientOptions {
    let mut client = client.clone();
    if node.address.is_ipv6() && client.addr.ip().is_unspecified() && client.addr.is_ipv4() {
        client.addr = SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), client.addr.port());
    }
    client
}

async fn ping(text: &str, client: &ClientOptions, json_mode: bool) -> Result<(), CliError> {
    let (node, _) = target_node(text).await?;
    let handle = client_node(&client_for(client, &node), false).await?;
    let result = handle.ping(node).await;
    handle.shutdown().await;
    match result {
        Ok(pong) => {
            let seq = pong
                .enr_seq
                .map_or_else(|| "none".to_owned(), |s| s.to_string());
            output::emit(
                json_mode,
                &format!(
                    "node responded to ping (RTT {:.2}ms, ENR seq {seq})",
                    pong.rtt.as_secs_f64() * 1000.0
                ),
                &json!({"node": node.enode_url(), "answered": true, "rttMillis": pong.rtt.as_secs_f64() * 1000.0, "enrSeq": pong.enr_seq}),
            );
            Ok(())
        }
        Err(e) => Err(CliError::failed(format!(
            "no answer to PING from {}: {e}",
            node.udp_addr()
        ))),
    }
}

async fn request_enr(text: &str, client: &ClientOptions, json_mode: bool) -> Result<(), CliError> {
    let (node, _) = target_node(text).await?;
    let handle = client_node(&client_for(client, &node), false).await?;
    let result = handle.request_enr(node).await;
    handle.shutdown().await;
    let enr =
        result.map_err(|e| CliError::failed(format!("no ENR from {}: {e}", node.udp_addr())))?;
    output::emit(
        json_mode,
        &format!("{}\n{}", enr.to_base64(), output::enr_human(&enr)),
        &output::enr_json(&enr),
    );
    Ok(())
}

fn parse_target(text: &str) -> Result<PeerId, CliError> {
    let text = text.trim();
    if text.starts_with("enode://") || text.starts_with("enr:") {
        return text
            .parse::<enode::NodeArg>()
            .and_then(|arg| arg.peer_id().map_err(Into::into))
            .map_err(|e| {
                CliError::usage(format!("invalid target {}: {e}", parse::abbreviate(text)))
            });
    }
    PeerId::from_str(text).map_err(|e| {
        CliError::usage(format!(
            "invalid target {}: {e}; want a 128-hex public key or a node URL",
            parse::abbreviate(text)
        ))
    })
}

async fn findnode(
    text: &str,
    target: Option<&str>,
    client: &ClientOptions,
    json_mode: bool,
) -> Result<(), CliError> {
    let (node, _) = target_node(text).await?;
    let target = match target {
        Some(target) => parse_target(target)?,
        None => node.id,
    };
    let handle = client_node(&client_for(client, &node), false).await?;
    let result = handle.findnode(node, target).await;
    handle.shutdown().await;
    let nodes = result
        .map_err(|e| CliError::failed(format!("FINDNODE to {} failed: {e}", node.udp_addr())))?;
    let human = if nodes.is_empty() {
        "node returned no neighbours".to_owned()
    } else {
        nodes
            .iter()
            .map(NodeRecord::enode_url)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let value = Value::Array(nodes.iter().map(|n| json!(n.enode_url())).collect());
    output::emit(json_mode, &human, &value);
    Ok(())
}

async fn resolve(text: &str, client: &ClientOptions, json_mode: bool) -> Result<(), CliError> {
    let (node, enr) = target_node(text).await?;
    let handle = client_node(client, true).await?;
    let result = handle.resolve(node).await;
    handle.shutdown().await;
    let (record, fresh) = result.map_err(|e| CliError::failed(format!("resolve failed: {e}")))?;
    match fresh {
        Some(enr) => output::emit(
            json_mode,
            &format!("{}\n{}", enr.to_base64(), output::enr_human(&enr)),
            &output::enr_json(&enr),
        ),
        // Another endpoint for the node, without a record: still news.
        None if record != node => output::emit(
            json_mode,
            &format!(
                "{}\n(no ENR: the node did not answer at its new endpoint)",
                record.enode_url()
            ),
            &json!({"enode": record.enode_url(), "enr": null}),
        ),
        None => {
            let given = if enr.is_some() {
                " (the record given is all there is)"
            } else {
                ""
            };
            return Err(CliError::failed(format!(
                "nothing found for {}: the node did not answer and no lookup found it{given}",
                record.enode_url()
            )));
        }
    }
    Ok(())
}

async fn listen(opts: &NodeOptions, json_mode: bool) -> Result<(), CliError> {
    logging::init_with(opts.verbosity, opts.log_format);
    let defaults = Defaults {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        use_default_datadir: false,
        bootnodes: MAINNET_BOOTNODES.iter().map(|s| (*s).to_owned()).collect(),
    };
    let running = node::start(opts, &defaults).await?;
    running.print_identity(json_mode).await?;
    running.run_until_signal().await
}

async fn test(args: TestArgs, json_mode: bool) -> Result<(), CliError> {
    logging::init(args.verbosity);
    let remote = args
        .remote_flag
        .or(args.remote)
        .or_else(|| {
            std::env::var("REMOTE_ENODE")
                .ok()
                .filter(|s| !s.trim().is_empty())
        })
        .ok_or_else(|| {
            CliError::usage("no node to test: give it as an argument, --remote or $REMOTE_ENODE")
        })?;
    let (remote, _) = target_node(&remote).await?;
    if args.listen1 == args.listen2 {
        return Err(CliError::usage(
            "--listen1 and --listen2 must be different IPs",
        ));
    }
    let config = SuiteConfig {
        filter: args.run.clone(),
        listen1: args.listen1,
        listen2: args.listen2,
        ..SuiteConfig::new(remote)
    };
    if let Some(pattern) = &args.run {
        if !conformance::cases()
            .iter()
            .any(|name| conformance::case_matches(name, pattern))
        {
            return Err(CliError::usage(format!(
                "--run {pattern:?} matches no case; cases: {}",
                conformance::cases().join(", ")
            )));
        }
    }
    let results = conformance::run_suite(&config).await;
    let summary = conformance::Summary::of(&results);
    if json_mode {
        let value = Value::Array(
            results
                .iter()
                .map(|r| json!({"name": r.name, "passed": r.passed, "detail": r.detail, "seconds": r.duration.as_secs_f64()}))
                .collect(),
        );
        output::emit(true, "", &value);
    } else if args.tap {
        output::emit(false, &conformance::tap_report(&results), &Value::Null);
    } else {
        output::emit(false, &conformance::format_results(&results), &Value::Null);
    }
    if summary.all_passed() {
        Ok(())
    } else {
        Err(CliError::failed(format!(
            "{} of {} cases failed",
            summary.failed,
            results.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_bootnodes_parse() {
        for url in MAINNET_BOOTNODES {
            parse::node(url).unwrap();
        }
    }

    #[test]
    fn targets() {
        assert!(parse_target(&"ab".repeat(64)).is_ok());
        assert!(parse_target("xyz").is_err());
    }
}
