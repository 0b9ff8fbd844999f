//! `kadnode node`: a full devp2p node — discovery, dialer and server — that holds the
//! capabilities given with `--caps` open on every peer (a no-op run loop, or with `--echo` a
//! greet-and-echo test protocol) and prints peer events. Useful to test clients: they see a
//! real peer that stays connected.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use alloy_rlp::Bytes;
use clap::Args;
use enode::PeerId;
use kadnode::{
    P2pConfig, PeerEvent, PeerInfo, Protocol, ProtocolConn, ProtocolFuture, ProtocolSpec,
    DEFAULT_MAX_PEERS, DEFAULT_MAX_PENDING,
};
use serde_json::json;

use super::{
    logging,
    node::{self, Defaults, NodeOptions},
    output, parse, rlpx, CliError,
};

/// Flags of `kadnode node`.
#[derive(Debug, Args)]
pub struct P2pNodeArgs {
    /// Discovery and node flags (the bootnode's).
    #[command(flatten)]
    pub node: NodeOptions,
    /// Capabilities to advertise and hold open, e.g. eth/68,snap/1 (name/version[/messages]).
    #[arg(long, value_name = "CAPS", value_parser = rlpx::parse_caps, default_value = "eth/68")]
    pub caps: rlpx::Caps,
    /// Maximum number of peers (geth's --maxpeers).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PEERS)]
    pub maxpeers: usize,
    /// Maximum number of concurrent inbound handshakes (geth's --maxpendpeers).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PENDING)]
    pub maxpendpeers: usize,
    /// Never dial; accept inbound peers only (geth's --nodial).
    #[arg(long)]
    pub nodial: bool,
    /// Do not feed the dialer from discovery (static peers are still dialed; geth's
    /// --nodiscover also stops answering discovery, which `bootnode` does not need).
    #[arg(long)]
    pub nodiscover: bool,
    /// Static peers, comma-separated enode:// URLs or enr: records (kept connected).
    #[arg(long = "static", value_name = "NODES")]
    pub static_nodes: Option<String>,
    /// A file with one static peer per line (# comments allowed).
    #[arg(long, value_name = "FILE")]
    pub static_file: Option<PathBuf>,
    /// Trusted peers (admitted above the limits), comma-separated enode URLs, records or ids.
    #[arg(long = "trusted", value_name = "NODES")]
    pub trusted_nodes: Option<String>,
    /// A file with one trusted peer per line (# comments allowed).
    #[arg(long, value_name = "FILE")]
    pub trusted_file: Option<PathBuf>,
    /// Test behaviour on every --caps capability (e.g. kadtest/1/2, as go-ethereum's
    /// kadpeer harness speaks it): send message code 0 carrying the RLP string "hello from
    /// <client id>" when a session starts, answer every code 0 with a code 1 carrying the
    /// same payload, and print every message received (event `message`).
    #[arg(long)]
    pub echo: bool,
    /// Peer exchange.
    #[command(flatten)]
    pub pex: super::pex::PexNodeOptions,
    /// Client name sent in the Hello.
    #[arg(long, value_name = "NAME", default_value = concat!("kadnode/v", env!("CARGO_PKG_VERSION")))]
    pub client_id: String,
}

/// Holds a capability open: reads its messages until the session ends, dropping them, or
/// with `--echo` greeting, echoing and printing them.
struct HoldOpen {
    spec: ProtocolSpec,
    echo: Option<Echo>,
}

/// What `--echo` needs: the greeting's payload and how to print.
#[derive(Clone)]
struct Echo {
    greeting: Bytes,
    json: bool,
}

impl Echo {
    fn new(client_id: &str, json: bool) -> Self {
        let mut greeting = Vec::new();
        alloy_rlp::Encodable::encode(format!("hello from {client_id}").as_bytes(), &mut greeting);
        Self {
            greeting: greeting.into(),
            json,
        }
    }

    fn print(&self, peer: &PeerInfo, cap: &str, code: u64, payload: &[u8]) {
        // The payload as text when it is one RLP string of UTF-8 (kadtest/1's messages).
        let text = <Bytes as alloy_rlp::Decodable>::decode(&mut &payload[..])
            .ok()
            .and_then(|b| String::from_utf8(b.to_vec()).ok());
        let shown = &payload[..payload.len().min(MAX_PRINTED_PAYLOAD)];
        output::emit(
            self.json,
            &format!(
                "message from {}: {cap} code {code:#04x}, {} bytes{}",
                peer.id,
                payload.len(),
                text.as_deref()
                    .map(|t| format!(" {t:?}"))
                    .unwrap_or_default()
            ),
            &json!({"event": "message", "id": peer.id.to_string(), "cap": cap, "code": code,
                "size": payload.len(), "payload": hex::encode(shown), "text": text}),
        );
    }
}

/// `--echo` prints at most this many bytes of a payload (in hex).
const MAX_PRINTED_PAYLOAD: usize = 1024;

impl Protocol for HoldOpen {
    fn spec(&self) -> ProtocolSpec {
        self.spec.clone()
    }

    fn run(&self, peer: PeerInfo, mut conn: ProtocolConn) -> ProtocolFuture {
        let echo = self.echo.clone();
        let cap = self.spec.capability().to_string();
        Box::pin(async move {
            let Some(echo) = echo else {
                loop {
                    conn.recv().await?;
                }
            };
            conn.send(0, echo.greeting.clone()).await?;
            loop {
                let (code, payload) = conn.recv().await?;
                echo.print(&peer, &cap, code, &payload);
                if code == 0 {
                    conn.send(1, payload).await?;
                }
            }
        })
    }
}

fn entries(list: Option<&str>, file: Option<&PathBuf>) -> Result<Vec<String>, CliError> {
    let mut out: Vec<String> = list
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
        out.extend(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or_default().trim())
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    Ok(out)
}

fn trusted_ids(entries: &[String]) -> Result<Vec<PeerId>, CliError> {
    entries
        .iter()
        .map(|entry| match entry.parse::<PeerId>() {
            Ok(id) => Ok(id),
            Err(_) => {
                parse::node_id(entry).map_err(|e| CliError::usage(format!("trusted node: {e}")))
            }
        })
        .collect()
}

/// Runs the node until SIGINT/SIGTERM.
pub fn main(args: P2pNodeArgs, json: bool) -> Result<(), CliError> {
    logging::init_with(args.node.verbosity, args.node.log_format);
    let runtime = super::runtime()?;
    runtime.block_on(run(args, json))
}

async fn run(args: P2pNodeArgs, json: bool) -> Result<(), CliError> {
    let static_nodes = entries(args.static_nodes.as_deref(), args.static_file.as_ref())?
        .iter()
        .map(|entry| {
            parse::static_node(entry).map_err(|e| CliError::usage(format!("static node: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let trusted_nodes = trusted_ids(&entries(
        args.trusted_nodes.as_deref(),
        args.trusted_file.as_ref(),
    )?)?;
    let protocols: Vec<Arc<dyn Protocol>> = args
        .caps
        .0
        .iter()
        .map(|spec| {
            Arc::new(HoldOpen {
                spec: spec.clone(),
                echo: args.echo.then(|| Echo::new(&args.client_id, json)),
            }) as Arc<dyn Protocol>
        })
        .collect();
    let p2p = P2pConfig {
        client_id: args.client_id.clone(),
        protocols,
        max_peers: args.maxpeers,
        max_pending: args.maxpendpeers,
        static_nodes,
        trusted_nodes,
        no_dial: args.nodial,
        // Discovery keeps answering (others can still find us); the dialer only uses static
        // nodes (and PEX's candidates).
        dial_discovered: !args.nodiscover && !args.pex.pex_only,
        pex: args.pex.config().await?,
        ..P2pConfig::default()
    };
    let defaults = Defaults {
        addr: SocketAddr::from(([0, 0, 0, 0], 30303)),
        use_default_datadir: false,
        bootnodes: Vec::new(),
    };
    let running = node::start_with_p2p(&args.node, &defaults, Some(p2p)).await?;
    running.print_identity(json).await?;
    let Some(handle) = running.node.p2p().cloned() else {
        return Err(CliError::failed("the server did not start"));
    };
    if let Some(tcp) = running.node.tcp_addr() {
        output::emit(
            json,
            &format!("listening on tcp {tcp}"),
            &json!({"event": "listening", "tcp": tcp.to_string()}),
        );
    }
    let json_mode = json;
    // Subscribe before listing: a peer added meanwhile shows up in both, and is printed once.
    let mut events = handle.subscribe();
    let mut printed: std::collections::HashSet<PeerId> = std::collections::HashSet::new();
    let mut backlog = std::collections::VecDeque::new();
    for info in handle.peers().await.unwrap_or_default() {
        backlog.push_back(PeerEvent::Added(info));
    }
    let printer = tokio::spawn(async move {
        loop {
            let next = match backlog.pop_front() {
                Some(event) => Ok(event),
                None => events.recv().await,
            };
            match next {
                Ok(PeerEvent::Added(info)) => {
                    if !printed.insert(info.id) {
                        continue;
                    }
                    let caps: Vec<String> = info.shared.iter().map(ToString::to_string).collect();
                    output::emit(
                        json_mode,
                        &format!(
                            "peer added: {} {} {} {} [{}]",
                            info.id,
                            info.direction,
                            info.remote_addr,
                            info.client_id,
                            caps.join(", ")
                        ),
                        &json!({"event": "peer-added", "id": info.id.to_string(),
                            "direction": info.direction.to_string(),
                            "remote": info.remote_addr.to_string(), "clientId": info.client_id,
                            "caps": caps, "static": info.is_static, "trusted": info.is_trusted}),
                    );
                }
                Ok(PeerEvent::Dropped { id, end }) => {
                    printed.remove(&id);
                    let reason = end.reason.map(|r| r.to_string());
                    output::emit(
                        json_mode,
                        &format!(
                            "peer dropped: {id} ({}{})",
                            end.detail,
                            if end.by_remote { ", by remote" } else { "" }
                        ),
                        &json!({"event": "peer-dropped", "id": id.to_string(),
                            "reason": end.reason.map(|r| r.code()), "reasonName": reason,
                            "byRemote": end.by_remote, "verdict": format!("{:?}", end.verdict),
                            "detail": end.detail}),
                    );
                }
                Ok(PeerEvent::ConnectionFailed {
                    id,
                    direction,
                    verdict,
                    detail,
                }) => {
                    tracing::debug!(target: "kadnode", ?id, %direction, ?verdict, %detail, "connection failed");
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(target: "kadnode", missed = n, "peer event printer fell behind");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let result = running.run_until_signal().await;
    printer.abort();
    result
}
