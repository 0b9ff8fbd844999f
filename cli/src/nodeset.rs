//! `kadnode nodeset info|filter`: go-ethereum's `devp2p nodeset` over a crawler's nodes.json.
//!
//! `info` counts the nodes, how many carry a valid record, the ENR keys they announce and the
//! score distribution; `filter` prints (stdout, nodes.json format) the nodes that pass every
//! filter given, best score first when `--limit` cuts the set, like geth's `-limit`.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, SystemTime},
};

use clap::{Args, Subcommand};
use enode::netutil::NetRestrict;
use serde_json::json;

use super::{
    nodes_json::{self, NodeEntry, NodeSet},
    output,
    parse::{self, parse_duration},
    timefmt::parse_rfc3339,
    CliError,
};

/// `kadnode nodeset` subcommands.
#[derive(Debug, Subcommand)]
pub enum NodesetCommand {
    /// Counts of a nodes.json: nodes, valid records, ENR keys announced, scores.
    Info {
        /// The nodes.json.
        file: PathBuf,
    },
    /// Print the nodes of a nodes.json that pass every filter given (nodes.json on stdout).
    Filter(FilterArgs),
}

/// Filters of `nodeset filter` (geth's `-limit`, `-ip`, `-min-age`, `-snap`, `-eth-network`
/// reduced to "has an `eth` entry").
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// The nodes.json.
    pub file: PathBuf,
    /// Keep at most N nodes, highest score first.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Keep nodes whose record's IP is in these networks (comma-separated CIDRs).
    #[arg(long, value_name = "CIDRS", value_parser = parse::netrestrict)]
    pub ip: Option<NetRestrict>,
    /// Keep nodes that first answered at least this long ago (e.g. 24h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub min_age: Option<Duration>,
    /// Keep nodes whose record has an `eth` entry.
    #[arg(long)]
    pub eth: bool,
    /// Keep nodes whose record has a `snap` entry.
    #[arg(long)]
    pub snap: bool,
    /// Keep nodes whose record has this key (repeatable).
    #[arg(long, value_name = "KEY")]
    pub has_key: Vec<String>,
}

/// Runs a `nodeset` subcommand.
pub fn run(command: NodesetCommand, json_mode: bool) -> Result<(), CliError> {
    match command {
        NodesetCommand::Info { file } => {
            let set = nodes_json::load(&file).map_err(CliError::Usage)?;
            info(&set, json_mode);
            Ok(())
        }
        NodesetCommand::Filter(args) => {
            let set = nodes_json::load(&args.file).map_err(CliError::Usage)?;
            let kept = filter(&set, &args, SystemTime::now());
            let text = serde_json::to_string_pretty(&kept)
                .map_err(|e| CliError::failed(format!("cannot encode nodes.json: {e}")))?;
            output::emit(false, &text, &json!(null));
            Ok(())
        }
    }
}

fn info(set: &NodeSet, json_mode: bool) {
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    let mut valid = 0;
    let mut scores = [0usize; 4]; // 0, 1-9, 10-99, 100+
    for entry in set.values() {
        scores[match entry.score {
            i64::MIN..=0 => 0,
            1..=9 => 1,
            10..=99 => 2,
            _ => 3,
        }] += 1;
        if let Some(enr) = entry.enr() {
            valid += 1;
            for (key, _) in enr.iter() {
                *keys
                    .entry(String::from_utf8_lossy(key).into_owned())
                    .or_default() += 1;
            }
        }
    }
    let mut human = format!(
        "Set contains {} nodes, {valid} with a valid record.\nScores: 0: {}, 1-9: {}, 10-99: {}, 100+: {}\nRecord keys:\n",
        set.len(),
        scores[0],
        scores[1],
        scores[2],
        scores[3]
    );
    for (key, count) in &keys {
        human.push_str(&format!("  {key:<12} {count}\n"));
    }
    output::emit(
        json_mode,
        &human,
        &json!({
            "nodes": set.len(), "validRecords": valid, "keys": keys,
            "scores": {"0": scores[0], "1-9": scores[1], "10-99": scores[2], "100+": scores[3]},
        }),
    );
}

fn passes(entry: &NodeEntry, args: &FilterArgs, now: SystemTime) -> bool {
    let Some(enr) = entry.enr() else { return false };
    let has = |key: &str| enr.iter().any(|(k, _)| k.as_slice() == key.as_bytes());
    if args.eth && !has("eth") || args.snap && !has("snap") {
        return false;
    }
    if !args.has_key.iter().all(|key| has(key)) {
        return false;
    }
    if let Some(restrict) = &args.ip {
        let ip = enr
            .ip4()
            .map(Into::into)
            .or_else(|| enr.ip6().map(Into::into));
        if !ip.is_some_and(|ip| restrict.contains(ip)) {
            return false;
        }
    }
    if let Some(min_age) = args.min_age {
        let first = entry.first_response.as_deref().and_then(parse_rfc3339);
        let old_enough = first
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= min_age);
        if !old_enough {
            return false;
        }
    }
    true
}

/// The nodes of `set` passing `args`' filters, cut to `--limit` by score (ties by id).
fn filter(set: &NodeSet, args: &FilterArgs, now: SystemTime) -> NodeSet {
    let mut kept: Vec<(&String, &NodeEntry)> =
        set.iter().filter(|(_, e)| passes(e, args, now)).collect();
    if let Some(limit) = args.limit {
        kept.sort_by(|a, b| b.1.score.cmp(&a.1.score).then_with(|| a.0.cmp(b.0)));
        kept.truncate(limit);
    }
    kept.into_iter()
        .map(|(k, e)| (k.clone(), e.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use enode::{build_enr, EndpointConfig, NodeKey};

    fn entry(ip: [u8; 4], score: i64, extra: Option<&str>) -> (String, NodeEntry) {
        let key = NodeKey::generate();
        let mut config = EndpointConfig {
            ip4: Some(ip.into()),
            udp4: Some(30303),
            ..EndpointConfig::default()
        };
        if let Some(name) = extra {
            config.extra.insert(name.to_owned(), vec![0xc0]);
        }
        let enr = build_enr(key.secret_key(), 1, &config).unwrap();
        let mut entry = NodeEntry::new(&enr);
        entry.score = score;
        (key.node_id().to_string(), entry)
    }

    fn args() -> FilterArgs {
        FilterArgs {
            file: PathBuf::new(),
            limit: None,
            ip: None,
            min_age: None,
            eth: false,
            snap: false,
            has_key: Vec::new(),
        }
    }

    #[test]
    fn filters_combine_and_limit_keeps_the_best() {
        let set: NodeSet = [
            entry([10, 0, 0, 1], 5, Some("eth")),
            entry([10, 0, 0, 2], 50, None),
            entry([192, 168, 0, 1], 7, Some("eth")),
        ]
        .into_iter()
        .collect();
        let now = SystemTime::now();
        let ten = FilterArgs {
            ip: Some("10.0.0.0/8".parse().unwrap()),
            ..args()
        };
        assert_eq!(filter(&set, &ten, now).len(), 2);
        let ten_eth = FilterArgs { eth: true, ..ten };
        assert_eq!(filter(&set, &ten_eth, now).len(), 1);
        let best = FilterArgs {
            limit: Some(1),
            ..args()
        };
        let kept = filter(&set, &best, now);
        assert_eq!(kept.values().next().unwrap().score, 50);
        let aged = FilterArgs {
            min_age: Some(Duration::from_secs(60)),
            ..args()
        };
        assert!(
            filter(&set, &aged, now).is_empty(),
            "never answered: not old enough"
        );
    }
}
