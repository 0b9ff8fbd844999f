//! `kadnode rlpx …`: RLPx probes. `ping` dials a node, does the handshake with a throwaway
//! key and prints the first message (its Hello, or its Disconnect) without sending a Hello
//! of its own (geth's `devp2p rlpx ping`). `listen` accepts sessions, prints each remote's
//! Hello and every capability message, keeps the sessions alive (the p2p layer pings) and
//! prints why each ended.

use enode::NodeKey;
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use alloy_rlp::Decodable;
use clap::{Args, Subcommand};

use futures::StreamExt;
use rlpx::{
    frame::UnauthedRlpx,
    p2p::{decode_disconnect, message_id, Hello, Protocol, HELLO_TIMEOUT, MAX_HELLO_SIZE},
    session::{authenticate_inbound, Session, SessionConfig},
};
use serde_json::{json, Value};
use tokio::{net::TcpStream, sync::Semaphore};

use super::{logging, output, parse, CliError};

/// Deadline for the TCP connect of `rlpx ping`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Sessions `rlpx listen` serves at once; further connections are closed.
pub const MAX_SESSIONS: usize = 64;
/// Connections still in their encryption handshake, in all (the node server's default).
pub const MAX_PENDING_HANDSHAKES: usize = kadnode::DEFAULT_MAX_PENDING;

/// `kadnode rlpx` subcommands.
#[derive(Debug, Subcommand)]
pub enum RlpxCommand {
    /// Connect, do the RLPx handshake with a throwaway key and print the remote's Hello
    /// (or its Disconnect reason).
    Ping {
        /// The node (enode://… or enr:…; its TCP port is dialled).
        node: String,
        /// Log level 0..5 (RUST_LOG overrides it).
        #[arg(long, value_name = "N", default_value_t = 2,
              value_parser = clap::value_parser!(u8).range(0..=5))]
        verbosity: u8,
    },
    /// Accept RLPx sessions and print each remote's Hello, messages and disconnect reason.
    Listen(ListenArgs),
}

/// Flags of `rlpx listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// TCP listen address.
    #[arg(long, default_value = "0.0.0.0:30303", value_parser = parse::listen_addr)]
    pub addr: SocketAddr,
    /// Read the node key from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "nodekeyhex")]
    pub nodekey: Option<PathBuf>,
    /// The node key as 64 hex characters (default: a random key).
    #[arg(long, value_name = "HEX")]
    pub nodekeyhex: Option<String>,
    /// Capabilities to announce: name/version[/length], comma-separated.
    #[arg(long, value_name = "CAPS", default_value = "eth/68,snap/1", value_parser = parse_caps)]
    pub caps: Caps,
    /// Client id sent in our Hello.
    #[arg(long, default_value = concat!("kadnode/v", env!("CARGO_PKG_VERSION")))]
    pub client_id: String,
    /// Apply the per-IP throttle and the per-IP and per-/24 handshake caps to LAN and
    /// loopback addresses too. They are exempt by default (local tools, co-located nodes);
    /// turn this on behind a local proxy that forwards internet traffic, or to try the
    /// production behaviour on one machine.
    #[arg(long)]
    pub limit_local: bool,
    /// Log level 0..5 (RUST_LOG overrides it).
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u8).range(0..=5))]
    pub verbosity: u8,
}

/// A parsed `--caps` list.
#[derive(Debug, Clone)]
pub struct Caps(pub Vec<Protocol>);

/// Message counts of well-known capabilities (the `length` of a Protocol).
fn known_length(name: &str, version: u32) -> Option<u64> {
    Some(match (name, version) {
        ("eth", 66..=68) => 17,
        ("eth", 69) => 18,
        ("snap", 1) => 8,
        ("les", _) => 24,
        ("wit", 0) => 4,
        _ => return None,
    })
}

/// Parses `name/version[/length],…`.
pub fn parse_caps(text: &str) -> Result<Caps, String> {
    let mut caps = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = entry.split('/');
        let (Some(name), Some(version)) = (parts.next(), parts.next()) else {
            return Err(format!(
                "invalid capability {entry:?}; want name/version, e.g. eth/68"
            ));
        };
        if name.is_empty() || name.len() > 8 || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "invalid capability name {name:?}; want 1-8 letters or digits"
            ));
        }
        let version: u32 = version
            .parse()
            .map_err(|_| format!("invalid capability version in {entry:?}"))?;
        let length = match parts.next() {
            Some(length) => length
                .parse::<u64>()
                .ok()
                .filter(|l| (1..=256).contains(l))
                .ok_or_else(|| format!("invalid message count in {entry:?}; want 1-256"))?,
            None => known_length(name, version).ok_or_else(|| {
                format!(
                    "unknown capability {entry:?}: give its message count as name/version/length"
                )
            })?,
        };
        if parts.next().is_some() {
            return Err(format!(
                "invalid capability {entry:?}; want name/version[/length]"
            ));
        }
        caps.push(Protocol::new(name, version, length));
    }
    if caps.is_empty() {
        return Err("no capabilities given".to_owned());
    }
    Ok(Caps(caps))
}

/// Runs an `rlpx` subcommand.
pub fn run(command: RlpxCommand, json_mode: bool) -> Result<(), CliError> {
    let runtime = super::runtime()?;
    match command {
        RlpxCommand::Ping { node, verbosity } => {
            logging::init(verbosity);
            runtime.block_on(ping(&node, json_mode))
        }
        RlpxCommand::Listen(args) => {
            logging::init(args.verbosity);
            runtime.block_on(listen(args, json_mode))
        }
    }
}

/// The Hello as text and JSON.
pub fn hello_output(hello: &Hello) -> (String, Value) {
    let caps: Vec<String> = hello
        .capabilities
        .iter()
        .map(|c| format!("{}/{}", c.name, c.version))
        .collect();
    let id = hex::encode(hello.id);
    let human = format!(
        "client id:    {}\nversion:      {}\ncapabilities: {}\nlisten port:  {}\nid:           {id}",
        hello.client_id,
        hello.protocol_version,
        caps.join(", "),
        hello.listen_port
    );
    let value = json!({
        "clientId": hello.client_id,
        "version": hello.protocol_version,
        "capabilities": caps,
        "listenPort": hello.listen_port,
        "id": id,
    });
    (human, value)
}

async fn ping(text: &str, json_mode: bool) -> Result<(), CliError> {
    let node = parse::tcp_node(text).await.map_err(CliError::Usage)?;
    let remote_key = node
        .id
        .to_public_key()
        .map_err(|e| CliError::usage(format!("invalid node key: {e}")))?;
    let addr = node.tcp_addr();
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| CliError::failed(format!("TCP connect to {addr} timed out")))?
        .map_err(|e| CliError::failed(format!("TCP connect to {addr} failed: {e}")))?;
    let throwaway = NodeKey::generate();
    let mut stream = UnauthedRlpx::new(tcp, *throwaway.secret_key())
        .connect(remote_key)
        .await
        .map_err(|e| CliError::failed(format!("RLPx handshake with {addr} failed: {e}")))?;
    stream.set_max_frame_size(MAX_HELLO_SIZE.max(1024));
    let frame = tokio::time::timeout(HELLO_TIMEOUT, stream.next())
        .await
        .map_err(|_| CliError::failed(format!("no message from {addr} within {HELLO_TIMEOUT:?}")))?
        .ok_or_else(|| {
            CliError::failed(format!("{addr} closed the connection after the handshake"))
        })?
        .map_err(|e| {
            CliError::failed(format!("reading the first message from {addr} failed: {e}"))
        })?;
    let mut view: &[u8] = &frame;
    let code = u64::decode(&mut view).map_err(|e| {
        CliError::failed(format!(
            "first message has no valid code: {e}; raw {}",
            hex::encode(&frame)
        ))
    })?;
    match code {
        message_id::HELLO => {
            let hello = Hello::decode(view).map_err(|e| {
                CliError::failed(format!("invalid Hello ({e}); raw {}", hex::encode(view)))
            })?;
            let (human, value) = hello_output(&hello);
            output::emit(json_mode, &human, &json!({"hello": value}));
            Ok(())
        }
        message_id::DISCONNECT => {
            let (human, value) = match decode_disconnect(view, None) {
                Some(reason) => (
                    format!("disconnected: {reason}"),
                    json!({"disconnect": reason.code(), "reason": reason.to_string()}),
                ),
                None => (
                    format!(
                        "disconnected (undecodable reason, raw {})",
                        hex::encode(view)
                    ),
                    json!({"disconnect": null, "raw": hex::encode(view)}),
                ),
            };
            output::emit(json_mode, &human, &value);
            Ok(())
        }
        other => Err(CliError::failed(format!(
            "expected Hello or Disconnect, got message code {other:#x} ({} bytes)",
            view.len()
        ))),
    }
}

fn listen_key(args: &ListenArgs) -> Result<NodeKey, CliError> {
    if let Some(hex) = &args.nodekeyhex {
        return NodeKey::from_hex(hex.trim()).map_err(CliError::usage);
    }
    if let Some(path) = &args.nodekey {
        return NodeKey::load(path).map_err(CliError::usage);
    }
    Ok(NodeKey::generate())
}

async fn listen(args: ListenArgs, json_mode: bool) -> Result<(), CliError> {
    let key = listen_key(&args)?;
    let mut signals = super::node::Signals::install()?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                CliError::usage(format!(
                    "cannot listen on TCP {}: address already in use",
                    args.addr
                ))
            } else {
                CliError::usage(format!("cannot listen on TCP {}: {e}", args.addr))
            }
        })?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::failed(format!("cannot read the bound address: {e}")))?;
    let shown_ip = if local.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        local.ip()
    };
    let enode = key.enode_url(shown_ip, local.port(), local.port());
    output::emit(
        json_mode,
        &format!("{enode}\nlistening on tcp {local}"),
        &json!({"event": "listening", "enode": enode, "tcp": local.to_string()}),
    );
    // Every accepted connection goes through `rlpx::session`, like any other listener: the
    // handshake and Hello timeouts and the 2 KiB cap on the first frame come with it.
    let mut session_config = SessionConfig::new(args.client_id.clone(), args.caps.0.clone());
    session_config.listen_port = local.port();
    let session_config = Arc::new(session_config);
    let key = Arc::new(key);
    let slots = Arc::new(Semaphore::new(MAX_SESSIONS));
    // The node server's admission before any handshake work: per-IP throttle (30 s; LAN and
    // loopback exempt unless --limit-local), per-IP and per-/24 caps on connections still in
    // their handshake, a global cap on those. A few addresses cannot hold every session slot.
    let mut admission = kadnode::net::InboundLimits::new(kadnode::net::InboundConfig {
        max_pending: MAX_PENDING_HANDSHAKES,
        exempt_lan: !args.limit_local,
        ..kadnode::net::InboundConfig::default()
    });
    let accept = async {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::debug!(target: "kadnode", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let pending = match admission.try_admit(peer.ip(), tokio::time::Instant::now()) {
                Ok(pending) => pending,
                Err(refusal) => {
                    event(
                        json_mode,
                        &format!("{peer}: refused ({refusal}), closing"),
                        json!({"event": "rejected", "remote": peer.to_string(), "reason": refusal.label()}),
                    );
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                event(
                    json_mode,
                    &format!("{peer}: too many sessions, closing"),
                    json!({"event": "rejected", "remote": peer.to_string()}),
                );
                continue;
            };
            let key = Arc::clone(&key);
            let config = Arc::clone(&session_config);
            tokio::spawn(async move {
                serve_session(tcp, peer, &key, &config, json_mode, pending).await;
                drop(permit);
            });
        }
    };
    tokio::select! {
        () = accept => Ok(()),
        () = signals.wait() => Ok(()),
    }
}

fn event(json_mode: bool, human: &str, value: Value) {
    output::emit(json_mode, human, &value);
}

async fn serve_session(
    tcp: TcpStream,
    peer: SocketAddr,
    key: &NodeKey,
    config: &SessionConfig,
    json_mode: bool,
    pending: kadnode::net::PendingPermit,
) {
    // Small frames (pings, Hellos) must not wait for Nagle, as on the dialling side.
    let _ = tcp.set_nodelay(true);
    let authenticated = authenticate_inbound(tcp, key, config).await;
    // The handshake is over: the connection no longer counts against the pending caps.
    drop(pending);
    let authenticated = match authenticated {
        Ok(authenticated) => authenticated,
        Err(e) => {
            event(
                json_mode,
                &format!("{peer}: RLPx handshake failed: {e}"),
                json!({"event": "handshake-failed", "remote": peer.to_string(), "error": e.to_string()}),
            );
            return;
        }
    };
    let remote_id = authenticated.remote_id();
    let Session {
        mut connection,
        remote_hello: hello,
        shared,
        ..
    } = match authenticated.exchange_hellos(key, config).await {
        Ok(session) => session,
        Err(e) => {
            let reason = e.remote_disconnect_reason().map(|r| r.to_string());
            event(
                json_mode,
                &format!("{peer}: session not established: {e}"),
                json!({"event": "session-failed", "remote": peer.to_string(), "id": remote_id.to_string(), "error": e.to_string(), "remoteReason": reason}),
            );
            return;
        }
    };
    let (human, value) = hello_output(&hello);
    let shared_names: Vec<String> = shared
        .iter()
        .map(|c| {
            let cap = c.capability();
            format!("{}/{}", cap.name, cap.version)
        })
        .collect();
    event(
        json_mode,
        &format!(
            "{peer}: Hello\n{human}\nshared:       {}",
            shared_names.join(", ")
        ),
        json!({"event": "hello", "remote": peer.to_string(), "hello": value, "shared": shared_names}),
    );
    for mut handle in connection.take_handles() {
        let cap = handle.capability().capability();
        let name = format!("{}/{}", cap.name, cap.version);
        tokio::spawn(async move {
            while let Some((code, payload)) = handle.recv().await {
                event(
                    json_mode,
                    &format!(
                        "{peer}: {name} message code {code:#04x}, {} bytes",
                        payload.len()
                    ),
                    json!({"event": "message", "remote": peer.to_string(), "protocol": name, "code": code, "size": payload.len()}),
                );
            }
        });
    }
    let end = connection.closed().await;
    event(
        json_mode,
        &format!("{peer}: session ended: {end}"),
        json!({"event": "disconnect", "remote": peer.to_string(), "reason": end.disconnect_reason().code(), "reasonName": end.disconnect_reason().to_string(), "byRemote": end.is_remote(), "detail": end.to_string()}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_syntax() {
        assert_eq!(parse_caps("eth/68,snap/1").unwrap().0.len(), 2);
        assert!(parse_caps("foo/1/3").is_ok());
        assert!(parse_caps("foo/1").unwrap_err().contains("message count"));
        assert!(parse_caps("eth").is_err());
        assert!(parse_caps("eth/x").is_err());
        assert!(parse_caps("").is_err());
        assert!(parse_caps("e th/1/2").is_err());
    }
}
