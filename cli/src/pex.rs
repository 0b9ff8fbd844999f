//! Peer exchange on the command line: the `--pex` flags of `kadnode node`, the settings of
//! `bootnode --pex` (a PEX seed on the bootnode's key and port), and the `kadnode pex` probes
//! (`book` dumps a saved address book, `getpeers` asks one node for its addresses).

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand};
use enode::{build_enr, EndpointConfig, Enr, NodeKey, NodeRecord, PeerId};
use kadnode::pex::{
    wire::{
        GetPeers, PexMessage, Status, FLAG_WANTS_ADDRESSES, MAX_RECORDS, PEERS, PEX_MESSAGES,
        PEX_NAME, PEX_VERSION, STATUS,
    },
    AddressBook, Ban, BookConfig, BookContext, BookEntry, BookStats, PexConfig, Table,
};
use rlpx::{p2p::Protocol, SessionConfig};
use serde_json::{json, Value};

use super::{output, parse, CliError};

/// PEX flags of `kadnode node`.
#[derive(Debug, Clone, Args)]
pub struct PexNodeOptions {
    /// Run peer exchange (`pex/1`) beside discovery: learn addresses from peers that speak
    /// it and share ours; the address book is kept in the data directory.
    #[arg(long)]
    pub pex: bool,
    /// Dial only what PEX finds: discovered nodes are not dialed (discovery still answers,
    /// so others can find us). Implies --pex.
    #[arg(long)]
    pub pex_only: bool,
    /// PEX seeds to bootstrap from while the address book is empty (comma-separated
    /// enode:// URLs or enr: records). Implies --pex.
    #[arg(long, value_name = "NODES")]
    pub pex_seeds: Option<String>,
}

impl PexNodeOptions {
    /// True when any PEX flag is given.
    pub fn enabled(&self) -> bool {
        self.pex || self.pex_only || self.pex_seeds.is_some()
    }

    /// The PEX settings the flags describe (`None` without PEX), seeds resolved.
    pub async fn config(&self) -> Result<Option<PexConfig>, CliError> {
        if !self.enabled() {
            return Ok(None);
        }
        Ok(Some(PexConfig {
            seeds: resolve_seeds(self.pex_seeds.as_deref().unwrap_or_default()).await?,
            ..PexConfig::default()
        }))
    }
}

/// The settings of `bootnode --pex`: a seed that answers one GetPeers per session and
/// crawls its book, on the bootnode's key and port number.
pub fn seed_config() -> PexConfig {
    PexConfig {
        seed_mode: true,
        ..PexConfig::default()
    }
}

async fn resolve_seeds(list: &str) -> Result<Vec<NodeRecord>, CliError> {
    let mut seeds = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let node = parse::tcp_node(entry)
            .await
            .map_err(|e| CliError::usage(format!("--pex-seeds: {e}")))?;
        seeds.push(node);
    }
    Ok(seeds)
}

/// `kadnode pex` subcommands.
#[derive(Debug, Subcommand)]
pub enum PexCommand {
    /// Print the PEX address book saved in a data directory (read only: the file is not
    /// changed, not even when damaged).
    Book {
        /// The node's data directory (default: the bootnode's).
        #[arg(long, value_name = "DIR")]
        datadir: Option<PathBuf>,
    },
    /// Open a `pex/1` session with a node, send Status and one GetPeers, and print the
    /// records it answers with (and its own, from its Status).
    Getpeers {
        /// The node (enode://… or enr:…; its TCP port is dialed).
        node: String,
        /// How long to wait for the answer, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 10)]
        timeout: u64,
    },
}

/// Runs a `kadnode pex` subcommand.
pub fn run(command: PexCommand, json: bool) -> Result<(), CliError> {
    match command {
        PexCommand::Book { datadir } => book(datadir, json),
        PexCommand::Getpeers { node, timeout } => {
            let runtime = super::runtime()?;
            runtime.block_on(getpeers(&node, Duration::from_secs(timeout), json))
        }
    }
}

fn book(datadir: Option<PathBuf>, json: bool) -> Result<(), CliError> {
    let dir = match datadir {
        Some(dir) => dir,
        None => kadnode::datadir::default_datadir().ok_or_else(|| {
            CliError::usage(
                "no default data directory (neither XDG_DATA_HOME nor HOME is set); pass --datadir",
            )
        })?,
    };
    let context = BookContext {
        datadir: Some(&dir),
        local_id: None,
        private_ids: &[],
        seed_mode: false,
    };
    let book = AddressBook::read(BookConfig::default(), &context, &dir)
        .map_err(CliError::failed)?
        .ok_or_else(|| {
            CliError::failed(format!(
                "{} holds no PEX address book ({}); a node saves it every 2 minutes and at shutdown",
                dir.display(),
                kadnode::pex::BOOK_FILE
            ))
        })?;
    let now = tokio::time::Instant::now();
    let mut entries = book.entries(now);
    entries.sort_by_key(|e| (e.table != Table::Tried, e.last_seen_ago));
    let stats = book.stats(now);
    let bans = book.bans(now);
    let mut human = format!(
        "{} entries ({} tried, {} new), {} bans\n",
        entries.len(),
        stats.tried,
        stats.new,
        bans.len()
    );
    for entry in &entries {
        human.push_str(&entry_line(entry));
        human.push('\n');
    }
    for (id, ban, left) in &bans {
        human.push_str(&format!(
            "banned {id} for {} more ({}, ban #{})\n",
            super::timefmt::duration(*left),
            ban.reason,
            ban.count
        ));
    }
    let value = book_json(&entries, &stats, &bans);
    output::emit(json, human.trim_end(), &value);
    Ok(())
}

/// A book as JSON: table sizes, entries and bans (`kadnode pex book --json`, `pex_book`).
pub fn book_json(
    entries: &[BookEntry],
    stats: &BookStats,
    bans: &[(PeerId, Ban, Duration)],
) -> Value {
    json!({
        "tried": stats.tried,
        "new": stats.new,
        "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
        "bans": bans.iter().map(|(id, ban, left)| json!({
            "id": id.to_string(),
            "reason": ban.reason.to_string(),
            "count": ban.count,
            "secondsLeft": left.as_secs(),
        })).collect::<Vec<_>>(),
    })
}

fn entry_endpoint(record: &Enr) -> (String, String) {
    let id = enode::enr_peer_id(record).map_or_else(|_| "?".to_owned(), |id| id.to_string());
    let addr = enode::enr_to_node_record(record)
        .map_or_else(|_| "no endpoint".to_owned(), |n| n.tcp_addr().to_string());
    (id, addr)
}

fn entry_line(entry: &BookEntry) -> String {
    let (id, addr) = entry_endpoint(&entry.record);
    let table = match entry.table {
        Table::Tried => "tried",
        Table::New => "new  ",
    };
    let mut line = format!(
        "{table} {id} {addr} seq {} seen {} ago",
        entry.record.seq(),
        super::timefmt::duration(entry.last_seen_ago)
    );
    if let Some(ago) = entry.last_success_ago {
        line.push_str(&format!(
            ", dialed ok {} ago",
            super::timefmt::duration(ago)
        ));
    }
    if let Some(ago) = entry.verified_ago {
        line.push_str(&format!(
            ", address verified {} ago",
            super::timefmt::duration(ago)
        ));
    }
    if let Some(ago) = entry.vouched_ago {
        line.push_str(&format!(
            ", vouched for {} ago",
            super::timefmt::duration(ago)
        ));
    }
    if entry.failures > 0 {
        line.push_str(&format!(", {} failures", entry.failures));
    }
    if !entry.eligible_in.is_zero() {
        line.push_str(&format!(
            ", next dial in {}",
            super::timefmt::duration(entry.eligible_in)
        ));
    }
    if entry.incompatible_for.is_some() {
        line.push_str(", incompatible");
    }
    if entry.from_private {
        line.push_str(", private");
    }
    line
}

fn entry_json(entry: &BookEntry) -> Value {
    let (id, addr) = entry_endpoint(&entry.record);
    json!({
        "id": id,
        "enr": entry.record.to_base64(),
        "tcp": addr,
        "seq": entry.record.seq(),
        "table": match entry.table { Table::Tried => "tried", Table::New => "new" },
        "source": entry.source.to_string(),
        "firstSeenSecondsAgo": entry.first_seen_ago.as_secs(),
        "lastSeenSecondsAgo": entry.last_seen_ago.as_secs(),
        "lastAttemptSecondsAgo": entry.last_attempt_ago.map(|d| d.as_secs()),
        "lastSuccessSecondsAgo": entry.last_success_ago.map(|d| d.as_secs()),
        "verifiedSecondsAgo": entry.verified_ago.map(|d| d.as_secs()),
        "vouchedSecondsAgo": entry.vouched_ago.map(|d| d.as_secs()),
        "failures": entry.failures,
        "eligibleInSeconds": entry.eligible_in.as_secs(),
        "private": entry.from_private,
        "incompatibleForSeconds": entry.incompatible_for.map(|d| d.as_secs()),
    })
}

async fn getpeers(text: &str, timeout: Duration, json: bool) -> Result<(), CliError> {
    let node = parse::tcp_node(text).await.map_err(CliError::Usage)?;
    let remote_key = node
        .id
        .to_public_key()
        .map_err(|e| CliError::usage(format!("invalid node key: {e}")))?;
    let key = NodeKey::generate();
    let config = SessionConfig::new(
        concat!("kadnode/v", env!("CARGO_PKG_VERSION")),
        vec![Protocol::new(PEX_NAME, PEX_VERSION, PEX_MESSAGES)],
    );
    let addr = node.tcp_addr();
    let session = rlpx::dial(addr, &key, remote_key, &config)
        .await
        .map_err(|e| {
            let hint = match &e {
                rlpx::SessionError::P2p(rlpx::p2p::P2pError::UselessPeer { .. }) => {
                    ": the node does not speak pex/1"
                }
                _ => "",
            };
            CliError::failed(format!("session with {addr} failed: {e}{hint}"))
        })?;
    let mut connection = session.connection;
    let Some(mut pex) = connection.take_handles().into_iter().next() else {
        return Err(CliError::failed(format!(
            "{addr} does not speak pex/1 (its capabilities: {})",
            session
                .remote_hello
                .capabilities
                .iter()
                .map(|c| format!("{}/{}", c.name, c.version))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    // A record without endpoints: we are a probe, not a node to dial back.
    let own = build_enr(key.secret_key(), 1, &EndpointConfig::default())
        .map_err(|e| CliError::failed(format!("cannot sign our record: {e}")))?;
    let send = |message: PexMessage| {
        let pex = &pex;
        async move {
            pex.send(message.code(), message.encode())
                .await
                .map_err(|e| CliError::failed(format!("sending to {addr} failed: {e}")))
        }
    };
    send(PexMessage::Status(Status {
        version: u64::from(PEX_VERSION),
        flags: FLAG_WANTS_ADDRESSES,
        enr: own,
        max_records: MAX_RECORDS as u64,
    }))
    .await?;
    send(PexMessage::GetPeers(GetPeers {
        request_id: 1,
        limit: MAX_RECORDS as u64,
    }))
    .await?;
    let mut status = None;
    let answer = tokio::time::timeout(timeout, async {
        while let Some((code, payload)) = pex.recv().await {
            let message = PexMessage::decode(code, &payload).map_err(|e| {
                CliError::failed(format!("{addr} sent an invalid pex/1 message: {e}"))
            })?;
            match message {
                PexMessage::Status(theirs) if code == STATUS => status = Some(theirs),
                PexMessage::Peers(peers) if code == PEERS && peers.request_id == 1 => {
                    return Ok(peers);
                }
                // Its own GetPeers (we do not answer: a probe has nothing to share), or an
                // answer to another request.
                _ => {}
            }
        }
        Err(CliError::failed(format!(
            "{addr} ended the session before answering: {}",
            connection.closed().await
        )))
    })
    .await
    .map_err(|_| CliError::failed(format!("no Peers from {addr} within {timeout:?}")))??;
    let mut human = String::new();
    if let Some(status) = &status {
        human.push_str(&format!(
            "status: version {}, {}, announces {}\n",
            status.version,
            if status.is_seed() {
                "seed"
            } else {
                "not a seed"
            },
            status.enr.to_base64()
        ));
    }
    human.push_str(&format!(
        "{} records{}\n",
        answer.records.len(),
        if answer.invalid > 0 {
            format!(" ({} more did not verify)", answer.invalid)
        } else {
            String::new()
        }
    ));
    for record in &answer.records {
        let (id, tcp) = entry_endpoint(record);
        human.push_str(&format!("{} {id} {tcp}\n", record.to_base64()));
    }
    let value = json!({
        "status": status.as_ref().map(|s| json!({
            "version": s.version, "seed": s.is_seed(), "enr": s.enr.to_base64(),
            "maxRecords": s.max_records,
        })),
        "records": answer.records.iter().map(|r| {
            let (id, tcp) = entry_endpoint(r);
            json!({"enr": r.to_base64(), "id": id, "tcp": tcp})
        }).collect::<Vec<_>>(),
        "invalid": answer.invalid,
    });
    output::emit(json, human.trim_end(), &value);
    Ok(())
}
