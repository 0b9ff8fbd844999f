//! `kadnode discv4 resolve-json FILE`: go-ethereum's `devp2p discv4 resolve-json`. Resolves
//! every node of a nodes.json (ENR request, then a lookup) and writes back the newer records;
//! nodes that answer nothing keep their entry.

use std::path::PathBuf;

use clap::Args;
use enode::{enr_node_id, enr_to_node_record, Enr, NodeRecord};
use futures::{stream, StreamExt};
use serde_json::json;

use super::{
    nodes_json::{self, NodeEntry},
    output,
    probe::{client_node, ClientOptions},
    CliError,
};

/// Flags of `discv4 resolve-json`.
#[derive(Debug, Args)]
pub struct ResolveJsonArgs {
    /// The nodes.json to update in place.
    pub file: PathBuf,
    /// Resolutions in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub parallel: u16,
    /// Local node flags.
    #[command(flatten)]
    pub client: ClientOptions,
}

/// Runs `resolve-json`.
pub async fn run(args: ResolveJsonArgs, json_mode: bool) -> Result<(), CliError> {
    let mut set = nodes_json::load(&args.file).map_err(CliError::Usage)?;
    let nodes: Vec<(String, NodeRecord)> = set
        .iter()
        .filter_map(|(id, entry)| {
            let record = enr_to_node_record(&entry.enr()?).ok()?;
            Some((id.clone(), record))
        })
        .collect();
    if nodes.is_empty() {
        return Err(CliError::usage(format!(
            "no input nodes: {} holds no node with a usable record",
            args.file.display()
        )));
    }
    let handle = client_node(&args.client, true).await?;
    let results: Vec<(String, NodeRecord, Option<Enr>)> = stream::iter(nodes)
        .map(|(id, node)| {
            let handle = handle.clone();
            async move {
                let fresh = handle.resolve(node).await.ok().and_then(|(_, enr)| enr);
                (id, node, fresh)
            }
        })
        .buffer_unordered(args.parallel.into())
        .collect()
        .await;
    handle.shutdown().await;
    let (mut updated, mut unchanged, mut no_answer) = (0usize, 0usize, 0usize);
    for (id, node, fresh) in results {
        match fresh {
            Some(enr) if enr_node_id(&enr) == node.node_id() => {
                let entry = set.entry(id).or_insert_with(|| NodeEntry::new(&enr));
                if enr.seq() > entry.seq {
                    entry.seq = enr.seq();
                    entry.record = enr.to_base64();
                    updated += 1;
                } else {
                    unchanged += 1;
                }
            }
            _ => no_answer += 1,
        }
    }
    nodes_json::save(&args.file, &set).map_err(CliError::Failed)?;
    output::emit(
        json_mode,
        &format!(
            "resolved {} nodes: {updated} newer records, {unchanged} unchanged, {no_answer} did not answer; saved {}",
            updated + unchanged + no_answer,
            args.file.display()
        ),
        &json!({"updated": updated, "unchanged": unchanged, "noAnswer": no_answer, "file": args.file.display().to_string()}),
    );
    Ok(())
}
