//! `kadnode discv4 crawl`: go-ethereum's crawler. First re-checks every node of the input
//! set, then walks the DHT with random lookups and requests the ENR of every node seen.
//! Nodes checked in the last [`RECHECK_AFTER`] are skipped; an answer adds 1 to the score,
//! a failure halves it (0 removes the node); a node that never answered is not added.

use std::{
    collections::HashSet,
    io::{IsTerminal, Write},
    path::PathBuf,
    time::{Duration, Instant, SystemTime},
};

use clap::Args;
use discv4::service::Discv4Handle;
use enode::{
    NodeRecord, {enr_node_id, enr_to_node_record},
};
use futures::{stream::FuturesUnordered, StreamExt};
use serde_json::json;
use tracing::{debug, info};

use super::{
    nodes_json::{self, NodeEntry, NodeSet},
    output,
    parse::parse_duration,
    probe::{client_node, ClientOptions},
    CliError,
};

/// A node checked more recently than this is not checked again.
pub const RECHECK_AFTER: Duration = Duration::from_secs(10 * 60);
/// How often the set is saved while crawling.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(60);

/// Flags of `discv4 crawl`.
#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// The nodes.json to read and update (created if missing).
    pub file: PathBuf,
    /// How long to crawl.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// ENR requests in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub parallel: u16,
    /// Local node flags.
    #[command(flatten)]
    pub client: ClientOptions,
}

/// How often a crawl whose stderr is not a terminal logs its progress (geth: 8 s).
pub const LOG_PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Where progress goes: one rewritten line on a terminal, else a log line every few seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Terminal,
    Log,
}

/// With an empty input set the crawl starts from the bootnodes alone: when none answers there
/// is nothing to crawl, and waiting out `--timeout` would only hide it (geth: "no input nodes").
async fn any_bootnode_answers(handle: &Discv4Handle, client: &ClientOptions) -> bool {
    let bootnodes: Vec<NodeRecord> = match &client.bootnodes {
        Some(list) => list.clone(),
        None => super::probe::MAINNET_BOOTNODES
            .iter()
            .filter_map(|url| super::parse::node(url).ok().map(|(record, _)| record))
            .collect(),
    };
    let mut pings: FuturesUnordered<_> = bootnodes
        .into_iter()
        .map(|node| {
            let handle = handle.clone();
            async move { handle.ping(node).await.is_ok() }
        })
        .collect();
    while let Some(answered) = pings.next().await {
        if answered {
            return true;
        }
    }
    false
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    checked: usize,
    added: usize,
    updated: usize,
    removed: usize,
    skipped: usize,
    never_answered: usize,
}

/// Runs the crawl.
pub async fn run(args: CrawlArgs, json_mode: bool) -> Result<(), CliError> {
    let mut signals = super::node::Signals::install()?;
    let mut set = nodes_json::load(&args.file).map_err(CliError::Usage)?;
    let input: Vec<NodeRecord> = set
        .values()
        .filter_map(|entry| entry.enr())
        .filter_map(|enr| enr_to_node_record(&enr).ok())
        .collect();
    if input.is_empty() && args.client.bootnodes.as_ref().is_some_and(Vec::is_empty) {
        return Err(CliError::usage(format!(
            "no input nodes: {} holds none and --bootnodes is empty",
            args.file.display()
        )));
    }
    let handle = client_node(&args.client, true).await?;
    if input.is_empty() && !any_bootnode_answers(&handle, &args.client).await {
        handle.shutdown().await;
        return Err(CliError::failed(format!(
            "no input nodes: {} holds none and no bootnode answered a PING",
            args.file.display()
        )));
    }
    info!(target: "kadnode", nodes = input.len(), file = %args.file.display(), "crawl starting");
    let deadline = Instant::now() + args.timeout;
    let mut stats = Stats::default();
    let progress = if std::io::stderr().is_terminal() {
        Progress::Terminal
    } else {
        Progress::Log
    };

    let crawl = crawl_loop(
        &handle,
        &mut set,
        input,
        args.parallel.into(),
        &mut stats,
        progress,
        &args.file,
    );
    tokio::select! {
        () = crawl => {}
        () = tokio::time::sleep_until(deadline.into()) => {}
        () = signals.wait() => { info!(target: "kadnode", "interrupted, saving"); }
    }
    handle.shutdown().await;
    if progress == Progress::Terminal {
        eprintln!();
    }
    nodes_json::save(&args.file, &set).map_err(CliError::Failed)?;
    output::emit(
        json_mode,
        &format!(
            "crawl done: checked {}, added {}, updated {}, removed {}, skipped {} recent, {} never answered; {} nodes in {}",
            stats.checked, stats.added, stats.updated, stats.removed, stats.skipped, stats.never_answered,
            set.len(), args.file.display()
        ),
        &json!({
            "checked": stats.checked, "added": stats.added, "updated": stats.updated,
            "removed": stats.removed, "skipped": stats.skipped, "neverAnswered": stats.never_answered,
            "nodes": set.len(), "file": args.file.display().to_string(),
        }),
    );
    Ok(())
}

async fn crawl_loop(
    handle: &Discv4Handle,
    set: &mut NodeSet,
    input: Vec<NodeRecord>,
    parallel: usize,
    stats: &mut Stats,
    progress: Progress,
    file: &std::path::Path,
) {
    let mut queue = input.into_iter();
    let mut walk = handle.random_walk();
    let mut in_flight = FuturesUnordered::new();
    let mut seen_this_run: HashSet<enode::NodeId> = HashSet::new();
    let mut last_save = Instant::now();
    let mut last_progress = Instant::now();
    let mut walk_done = false;
    loop {
        while in_flight.len() < parallel {
            let Some(node) = queue.next() else { break };
            if let Some(node) = admit(node, set, &mut seen_this_run, stats) {
                in_flight.push(check(handle.clone(), node));
            }
        }
        tokio::select! {
            Some((node, result)) = in_flight.next(), if !in_flight.is_empty() => {
                apply(set, node, result, stats);
            }
            next = walk.next(), if in_flight.len() < parallel && !walk_done => {
                match next {
                    Some(node) => {
                        if let Some(node) = admit(node, set, &mut seen_this_run, stats) {
                            in_flight.push(check(handle.clone(), node));
                        }
                    }
                    None => walk_done = true,
                }
            }
            else => return,
        }
        let every = match progress {
            Progress::Terminal => Duration::from_millis(500),
            Progress::Log => LOG_PROGRESS_INTERVAL,
        };
        if last_progress.elapsed() >= every {
            last_progress = Instant::now();
            match progress {
                Progress::Terminal => {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(
                        err,
                        "\rchecked {} | added {} | updated {} | removed {} | skipped {} | in flight {} | nodes {}   ",
                        stats.checked, stats.added, stats.updated, stats.removed, stats.skipped, in_flight.len(), set.len()
                    );
                    let _ = err.flush();
                }
                Progress::Log => info!(
                    target: "kadnode",
                    checked = stats.checked, added = stats.added, updated = stats.updated,
                    removed = stats.removed, skipped = stats.skipped, in_flight = in_flight.len(),
                    nodes = set.len(), "crawling"
                ),
            }
        }
        if last_save.elapsed() >= SAVE_INTERVAL {
            last_save = Instant::now();
            if let Err(e) = nodes_json::save(file, set) {
                tracing::warn!(target: "kadnode", "{e}");
            }
        }
    }
}

/// Decides whether to check `node` now.
fn admit(
    node: NodeRecord,
    set: &NodeSet,
    seen: &mut HashSet<enode::NodeId>,
    stats: &mut Stats,
) -> Option<NodeRecord> {
    let id = node.node_id();
    if !seen.insert(id) {
        return None;
    }
    let recent = set
        .get(&id.to_string())
        .and_then(NodeEntry::last_check_time)
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < RECHECK_AFTER);
    if recent {
        stats.skipped += 1;
        return None;
    }
    Some(node)
}

async fn check(handle: Discv4Handle, node: NodeRecord) -> (NodeRecord, Result<enode::Enr, String>) {
    let result = handle.request_enr(node).await.map_err(|e| e.to_string());
    (node, result)
}

fn apply(
    set: &mut NodeSet,
    node: NodeRecord,
    result: Result<enode::Enr, String>,
    stats: &mut Stats,
) {
    stats.checked += 1;
    let now = SystemTime::now();
    let key = node.node_id().to_string();
    match result {
        Ok(enr) if enr_node_id(&enr) == node.node_id() => match set.get_mut(&key) {
            Some(entry) => {
                entry.on_success(&enr, now);
                stats.updated += 1;
            }
            None => {
                let mut entry = NodeEntry::new(&enr);
                entry.on_success(&enr, now);
                set.insert(key, entry);
                stats.added += 1;
            }
        },
        Ok(_) => debug!(target: "kadnode", node = %node, "ENR response for another node ignored"),
        Err(error) => match set.get_mut(&key) {
            Some(entry) if entry.score > 0 => {
                if !entry.on_failure(now) {
                    set.remove(&key);
                    stats.removed += 1;
                }
            }
            Some(_) => {
                set.remove(&key);
                stats.removed += 1;
            }
            None => {
                debug!(target: "kadnode", node = %node, %error, "node never answered; not added");
                stats.never_answered += 1;
            }
        },
    }
}
