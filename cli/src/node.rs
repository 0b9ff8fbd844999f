//! A long-lived discovery node as run by `bootnode` and `kadnode discv4 listen`: flags,
//! start-up (key, database, socket, HTTP endpoints) and shutdown on SIGINT/SIGTERM.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use clap::Args;
use discv4::{
    service::{Discv4Config, Discv4Handle, RateLimitConfig},
    table::TableEvent,
};
use enode::{netutil::NetRestrict, Enr, NodeArg, NodeKey, NodeRecord};
use kadnode::{KeySource, Node, NodeConfig, NodeError, P2pConfig, Storage};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::{
    parse::{self, Nat},
    CliError,
};
use crate::http;
use kadnode::datadir;

/// Flags of a long-lived discovery node (geth's bootnode flags plus kadnode's own).
#[derive(Debug, Clone, Args)]
pub struct NodeOptions {
    /// Read flags from this TOML file (keys are flag names without dashes, e.g.
    /// `maxpeers = 50`, `bootnodes = ["enode://…"]`); flags on the command line win.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// UDP listen address (ip:port, [ipv6]:port or :port).
    #[arg(long, value_name = "ADDR", value_parser = parse::listen_addr)]
    pub addr: Option<SocketAddr>,
    /// Read the node key from this file (64 hex characters).
    #[arg(long, value_name = "FILE", conflicts_with = "nodekeyhex")]
    pub nodekey: Option<PathBuf>,
    /// The node key as 64 hex characters.
    #[arg(long, value_name = "HEX", value_parser = parse_key_hex)]
    pub nodekeyhex: Option<NodeKey>,
    /// NAT mode: none, or extip:<IP> to announce a fixed external IP.
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = parse::nat)]
    pub nat: Nat,
    /// Only nodes in these networks (comma-separated CIDRs) enter the table, are returned in
    /// NEIGHBORS and are contacted; as in go-ethereum, requests from elsewhere are still
    /// answered (use a firewall to refuse them).
    #[arg(long, value_name = "CIDRS", value_parser = parse::netrestrict)]
    pub netrestrict: Option<NetRestrict>,
    /// Log level 0 (silent) to 5 (trace); RUST_LOG overrides it.
    #[arg(long, value_name = "N", default_value_t = super::logging::DEFAULT_VERBOSITY,
          value_parser = clap::value_parser!(u8).range(0..=5))]
    pub verbosity: u8,
    /// Log format on stderr: text, or json (one object per line).
    #[arg(
        long = "log.format",
        value_name = "FORMAT",
        default_value = "text",
        value_enum
    )]
    pub log_format: super::logging::LogFormat,
    /// Data directory holding `nodekey` and the node database `nodes.sqlite`.
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Upstream bootnodes (comma-separated enode:// URLs or enr: records).
    #[arg(long, value_name = "NODES", value_parser = parse_node_args)]
    pub bootnodes: Option<NodeArgs>,
    /// TCP port to announce in the record (0: none, a discovery-only node).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub tcp_port: u16,
    /// Put an `eth` entry (EIP-2124 fork id) in our ENR, as go-ethereum's eth protocol does:
    /// <fork hash, 8 hex digits>[:<fork next>], e.g. 9f3d2254:0. Nodes that filter on the
    /// fork id (go-ethereum's dialer) then consider us.
    #[arg(long, value_name = "HASH:NEXT", value_parser = parse::eth_fork_id)]
    pub enr_eth_forkid: Option<parse::EthForkId>,
    /// Serve Prometheus metrics over HTTP on this address (path /metrics).
    #[arg(long, value_name = "ADDR", value_parser = parse::listen_addr)]
    pub metrics: Option<SocketAddr>,
    /// Serve JSON-RPC 2.0 over HTTP POST on this address (discv4_self, discv4_buckets,
    /// discv4_lookupRandom).
    #[arg(long, value_name = "ADDR", value_parser = parse::listen_addr)]
    pub rpc: Option<SocketAddr>,
    /// Incoming discovery packets allowed per second from one IP address (bursts of four times
    /// that), checked before any signature; 0 turns the limit off.
    #[arg(long = "udp.ratelimit", value_name = "PACKETS",
          default_value_t = RateLimitConfig::default().packets_per_second)]
    pub udp_ratelimit: u32,
    /// Apply --udp.ratelimit to loopback sources too. They are exempt by default (local tools,
    /// co-located nodes); turn this on behind a local proxy that forwards internet traffic.
    #[arg(long = "udp.ratelimit.loopback")]
    pub udp_ratelimit_loopback: bool,
}

/// A parsed comma-separated list of node arguments (DNS names are resolved at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeArgs(pub Vec<(String, NodeArg)>);

fn parse_key_hex(text: &str) -> Result<NodeKey, String> {
    NodeKey::from_hex(text.trim()).map_err(|e| e.to_string())
}

fn parse_node_args(text: &str) -> Result<NodeArgs, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<NodeArg>()
                .map(|arg| (entry.to_owned(), arg))
                .map_err(|e| format!("invalid bootnode {}: {e}", parse::abbreviate(entry)))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(NodeArgs)
}

/// What a node kind does when a flag is absent.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// Listen address without `--addr`.
    pub addr: SocketAddr,
    /// Use the default data directory without `--datadir` (else: in-memory database and
    /// a random key unless one is given).
    pub use_default_datadir: bool,
    /// Bootnodes without `--bootnodes`.
    pub bootnodes: Vec<String>,
}

/// A started node.
#[derive(Debug)]
pub struct RunningNode {
    /// The node (the library's [`kadnode::Node`]).
    pub node: Node,
    /// The discovery service.
    pub handle: Discv4Handle,
    /// The bound UDP address.
    pub local_addr: SocketAddr,
    /// The data directory in use, if any.
    pub datadir: Option<PathBuf>,
    /// The bound metrics address.
    pub metrics_addr: Option<SocketAddr>,
    /// The bound RPC address.
    pub rpc_addr: Option<SocketAddr>,
    /// TCP port announced.
    pub tcp_port: u16,
    tasks: Vec<JoinHandle<()>>,
    signals: Signals,
}

/// Which key the flags name: `--nodekeyhex`, else `--nodekey`, else `<datadir>/nodekey`
/// (created on first start), else a fresh random key.
pub fn key_source(opts: &NodeOptions) -> KeySource {
    if let Some(key) = &opts.nodekeyhex {
        KeySource::Key(key.clone())
    } else if let Some(path) = &opts.nodekey {
        KeySource::File(path.clone())
    } else {
        KeySource::FromStorage
    }
}

fn node_error(error: NodeError) -> CliError {
    if error.is_configuration() {
        CliError::usage(error)
    } else {
        CliError::failed(error)
    }
}

/// Starts the node: checks the flags, binds the HTTP ports, then starts the library's
/// [`Node`] (key, database, UDP socket, discovery) and the HTTP endpoints.
pub async fn start(opts: &NodeOptions, defaults: &Defaults) -> Result<RunningNode, CliError> {
    start_with_p2p(opts, defaults, None).await
}

/// Like [`start`], also running the devp2p server and dialer when `p2p` is given.
pub async fn start_with_p2p(
    opts: &NodeOptions,
    defaults: &Defaults,
    p2p: Option<P2pConfig>,
) -> Result<RunningNode, CliError> {
    let signals = Signals::install()?;
    let datadir = match &opts.datadir {
        Some(dir) => Some(dir.clone()),
        None if defaults.use_default_datadir => Some(datadir::default_datadir().ok_or_else(|| {
            CliError::usage("no default data directory (neither XDG_DATA_HOME nor HOME is set); pass --datadir")
        })?),
        None => None,
    };
    let datadir = datadir.map(|dir| checked_datadir(&dir)).transpose()?;
    let key_file = match key_source(opts) {
        KeySource::File(path) => Some(path),
        KeySource::FromStorage => datadir.as_deref().map(datadir::nodekey_path),
        KeySource::Key(_) => None,
    };
    let key_existed = key_file.as_deref().is_some_and(std::path::Path::exists);
    let mut discovery = Discv4Config {
        netrestrict: opts.netrestrict.clone(),
        tcp_port: opts.tcp_port,
        external_ip: match opts.nat {
            Nat::None => None,
            Nat::ExtIp(ip) => Some(ip),
        },
        enr_entries: opts
            .enr_eth_forkid
            .iter()
            .map(|id| ("eth".to_owned(), id.enr_value()))
            .collect(),
        rate_limit: RateLimitConfig {
            exempt_loopback: !opts.udp_ratelimit_loopback,
            ..RateLimitConfig::per_ip(opts.udp_ratelimit)
        },
        ..Discv4Config::default()
    };
    discovery.bootnodes = resolve_bootnodes(opts, defaults).await?;
    let has_bootnodes = !discovery.bootnodes.is_empty();
    // Bind the HTTP ports before starting discovery so a taken port fails fast.
    let metrics_listener = match opts.metrics {
        Some(addr) => Some(http::bind(addr, "metrics").await.map_err(CliError::Usage)?),
        None => None,
    };
    let rpc_listener = match opts.rpc {
        Some(addr) => Some(http::bind(addr, "RPC").await.map_err(CliError::Usage)?),
        None => None,
    };
    let client_id = p2p
        .as_ref()
        .map(|p| p.client_id.clone())
        .unwrap_or_default();
    let config = NodeConfig {
        listen_addr: opts.addr.unwrap_or(defaults.addr),
        storage: datadir.clone().map_or(Storage::InMemory, Storage::Dir),
        key: key_source(opts),
        discovery: Some(discovery),
        p2p,
        discovery_transport: None,
    };
    let node = Node::start(config).await.map_err(node_error)?;
    log_key_and_datadir(key_file.as_deref(), key_existed, datadir.as_deref());
    if let Some(warning) = node.storage_warning() {
        warn!(target: "kadnode", "{warning}");
    }
    let (Some(handle), Some(local_addr)) = (node.discv4().cloned(), node.udp_addr()) else {
        return Err(CliError::failed("discovery did not start"));
    };
    let mut tasks = vec![tokio::spawn(log_table_events(handle.clone()))];
    let mut metrics_addr = None;
    if let Some(listener) = metrics_listener {
        metrics_addr = listener.local_addr().ok();
        tasks.push(tokio::spawn(http::serve(
            listener,
            metrics_handler(
                handle.clone(),
                node.p2p().cloned(),
                node.pex().map(|pex| std::sync::Arc::clone(pex.metrics())),
                has_bootnodes,
            ),
        )));
    }
    let mut rpc_addr = None;
    if let Some(listener) = rpc_listener {
        rpc_addr = listener.local_addr().ok();
        tasks.push(tokio::spawn(http::serve(
            listener,
            http::rpc::handler_with(http::rpc::RpcContext {
                discv4: handle.clone(),
                node: node.p2p().cloned(),
                client_id: client_id.clone(),
                pex: node.pex().cloned(),
            }),
        )));
    }
    Ok(RunningNode {
        node,
        handle,
        local_addr,
        datadir,
        metrics_addr,
        rpc_addr,
        tcp_port: opts.tcp_port,
        tasks,
        signals,
    })
}

/// The data directory made absolute (the start-up line and the logs name it unambiguously),
/// refusing a path that exists but is not a directory with a message that says so.
fn checked_datadir(dir: &std::path::Path) -> Result<PathBuf, CliError> {
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::usage(format!(
            "--datadir {}: not a directory (it is a file); give a directory, it is created if missing",
            dir.display()
        )));
    }
    std::path::absolute(dir)
        .map_err(|e| CliError::usage(format!("--datadir {}: {e}", dir.display())))
}

/// One start-up line saying where the key came from and which data directory is in use, and
/// a warning when the key file is readable by others.
fn log_key_and_datadir(
    key_file: Option<&std::path::Path>,
    existed: bool,
    datadir: Option<&std::path::Path>,
) {
    let dir = datadir.map_or_else(
        || "none (in-memory node database)".to_owned(),
        |d| d.display().to_string(),
    );
    match key_file {
        Some(path) if existed => {
            info!(target: "kadnode", key = %path.display(), datadir = %dir, "node key loaded")
        }
        Some(path) => {
            info!(target: "kadnode", key = %path.display(), datadir = %dir, "new node key generated")
        }
        None => info!(target: "kadnode", datadir = %dir, "node key from --nodekeyhex or random"),
    }
    #[cfg(unix)]
    if let Some(path) = key_file {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                warn!(
                    target: "kadnode",
                    "node key {} is readable by other users (mode {mode:o}); run: chmod 600 {}",
                    path.display(),
                    path.display()
                );
            }
        }
    }
}

async fn resolve_bootnodes(
    opts: &NodeOptions,
    defaults: &Defaults,
) -> Result<Vec<NodeRecord>, CliError> {
    let args = match &opts.bootnodes {
        Some(NodeArgs(args)) => args.clone(),
        None => defaults
            .bootnodes
            .iter()
            .filter_map(|text| text.parse::<NodeArg>().ok().map(|arg| (text.clone(), arg)))
            .collect(),
    };
    let mut nodes = Vec::with_capacity(args.len());
    for (text, arg) in args {
        let (record, _) = arg
            .resolve()
            .await
            .map_err(|e| CliError::usage(format!("bootnode {}: {e}", parse::abbreviate(&text))))?;
        nodes.push(record);
    }
    Ok(nodes)
}

fn metrics_handler(
    handle: Discv4Handle,
    node: Option<kadnode::NodeHandle>,
    pex: Option<Arc<kadnode::pex::PexMetrics>>,
    has_bootnodes: bool,
) -> http::Handler {
    let started = tokio::time::Instant::now();
    Arc::new(move |request: http::Request| {
        let handle = handle.clone();
        let node = node.clone();
        let pex = pex.clone();
        Box::pin(async move {
            if request.method != "GET" && request.method != "HEAD" {
                return http::Response::error(405, "use GET").with_header("Allow", "GET");
            }
            if request.path == "/health" {
                return http::health::respond(&handle, started.elapsed(), has_bootnodes).await;
            }
            if request.path != "/metrics" && request.path != "/" {
                return http::Response::error(404, "not found; try /metrics or /health");
            }
            let buckets = handle.buckets().await.unwrap_or_default();
            let mut text = http::metrics::render(&handle.metrics(), &buckets);
            text.push_str(&http::process::render(started.elapsed()));
            if let Some(node) = node {
                let peers = node.peers().await.unwrap_or_default();
                text.push_str(&http::node_metrics::render(node.metrics(), &peers));
            }
            if let Some(pex) = pex {
                text.push_str(&http::pex_metrics::render(&pex));
            }
            http::Response::new(200, http::metrics::CONTENT_TYPE, text)
        })
    })
}

async fn log_table_events(handle: Discv4Handle) {
    let mut events = handle.subscribe();
    loop {
        match events.recv().await {
            Ok(TableEvent::NodeAdded(node)) => {
                debug!(target: "kadnode", id = %node.node_id(), enode = %node, "table: node added")
            }
            Ok(TableEvent::NodeRemoved(node)) => {
                debug!(target: "kadnode", id = %node.node_id(), enode = %node, "table: node removed")
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                debug!(target: "kadnode", missed = n, "table event log fell behind")
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

impl RunningNode {
    /// Our current record and the enode URL to print for it.
    pub async fn identity(&self) -> Result<(NodeRecord, Enr), CliError> {
        self.node
            .local_record()
            .await
            .ok_or_else(|| CliError::failed("cannot read the local record: discovery stopped"))
    }

    /// Prints our enode URL, ENR and addresses (human-readable or JSON), as the first output
    /// of every long-running node so scripts and tests can read it.
    pub async fn print_identity(&self, json: bool) -> Result<(), CliError> {
        let (record, enr) = self.identity().await?;
        let (human, value) = super::output::node_identity(
            &record,
            &enr,
            self.local_addr,
            self.metrics_addr,
            self.rpc_addr,
            self.datadir.as_deref(),
        );
        super::output::emit(json, &human, &value);
        Ok(())
    }

    /// Waits for SIGINT or SIGTERM, then stops the service and flushes the database.
    pub async fn run_until_signal(mut self) -> Result<(), CliError> {
        self.signals.wait().await;
        info!(target: "kadnode", "shutting down");
        self.shutdown().await;
        Ok(())
    }

    /// Stops the HTTP endpoints and the service (flushing the database).
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        self.node.shutdown().await;
        info!(target: "kadnode", "node database flushed, bye");
    }
}

/// SIGINT/SIGTERM handlers, installed up front so a signal that arrives right after the
/// node printed its identity is not lost (the default action would kill the process
/// without flushing).
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    /// SIGHUP is caught so it neither kills the node (its default action, without a flush)
    /// nor reopens anything: there are no log files to reopen, the log goes to stderr.
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> Result<Self, CliError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let install = |kind, name| {
                signal(kind).map_err(|e| {
                    CliError::failed(format!("cannot install the {name} handler: {e}"))
                })
            };
            Ok(Self {
                interrupt: install(SignalKind::interrupt(), "SIGINT")?,
                terminate: install(SignalKind::terminate(), "SIGTERM")?,
                hangup: install(SignalKind::hangup(), "SIGHUP")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Resolves when SIGINT or SIGTERM arrives.
    pub async fn wait(&mut self) {
        #[cfg(unix)]
        {
            loop {
                tokio::select! {
                    _ = self.interrupt.recv() => return,
                    _ = self.terminate.recv() => return,
                    _ = self.hangup.recv() => {
                        info!(target: "kadnode", "SIGHUP ignored: nothing to reload (stop with SIGTERM)");
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
