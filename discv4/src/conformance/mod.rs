//! The discv4 conformance suite: a black-box test of any remote discovery v4 node,
//! equivalent to go-ethereum's `devp2p discv4 test` (`cmd/devp2p/internal/v4test`).
//!
//! The suite is a pure client on raw UDP sockets; it uses only the wire codec
//! ([`crate::proto`]) and never the discv4 service, so it can test geth, reth, Nethermind
//! or this crate alike. Every case opens fresh sockets on [`SuiteConfig::listen1`] (and
//! [`SuiteConfig::listen2`] when it needs a second IP) and signs with a fresh key, so the
//! node under test has never seen the tester before.
//!
//! Cases run one after another; keep the node under test off the public DHT while it
//! runs, since unrelated traffic can make the strict "first reply" cases fail.

mod cases;
mod harness;
mod report;

use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use enode::NodeRecord;

pub use report::{format_results, tap_report, Summary};

/// Default address of the first tester socket.
pub const DEFAULT_LISTEN1: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// Default address of the second tester socket (must be another IP of the same host; on
/// macOS add it first with `sudo ifconfig lo0 alias 127.0.0.2`).
pub const DEFAULT_LISTEN2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// How long each read waits for a packet (go-ethereum: 300 ms).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_millis(300);

/// The case names, in the order the suite runs them.
const CASE_NAMES: [&str; 15] = [
    "Ping/Basic",
    "Ping/WrongTo",
    "Ping/WrongFrom",
    "Ping/ExtraData",
    "Ping/ExtraDataWrongFrom",
    "Ping/PastExpiration",
    "Ping/WrongPacketType",
    "Ping/BondThenPingWithWrongFrom",
    "ENRRequest",
    "Findnode/WithoutEndpointProof",
    "Findnode/BasicFindnode",
    "Findnode/UnsolicitedNeighbors",
    "Findnode/PastExpiration",
    "Amplification/InvalidPongHash",
    "Amplification/WrongIP",
];

/// What to test and how.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// The node under test; its UDP address is contacted and its key is expected to sign
    /// the replies.
    pub remote: NodeRecord,
    /// IP of the first tester socket (port chosen by the OS).
    pub listen1: IpAddr,
    /// IP of the second tester socket, used by `Amplification/WrongIP`; must differ from
    /// `listen1` and reach the remote.
    pub listen2: IpAddr,
    /// How long each read waits for a packet.
    pub read_timeout: Duration,
    /// Which cases to run (`--run`): `None` runs all. See [`case_matches`] for the syntax.
    pub filter: Option<String>,
}

impl SuiteConfig {
    /// The go-ethereum defaults: 127.0.0.1 and 127.0.0.2, 300 ms per read, all cases.
    pub fn new(remote: NodeRecord) -> Self {
        Self {
            remote,
            listen1: DEFAULT_LISTEN1,
            listen2: DEFAULT_LISTEN2,
            read_timeout: DEFAULT_READ_TIMEOUT,
            filter: None,
        }
    }
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case name, e.g. `Ping/Basic`.
    pub name: &'static str,
    /// Whether the node behaved as required.
    pub passed: bool,
    /// On failure: what was expected and what arrived (or why the case could not run).
    /// On success: a short note of what was observed.
    pub detail: String,
    /// Wall time the case took.
    pub duration: Duration,
}

/// The names of all cases, in the order [`run_suite`] runs them.
pub fn cases() -> &'static [&'static str] {
    &CASE_NAMES
}

/// True when case `name` is selected by the `--run` `pattern`.
///
/// The pattern is a case-sensitive subset of the regular expressions go-ethereum's
/// `--run` takes: alternatives separated by `|`, each matching as a substring, optionally
/// anchored with a leading `^` and/or a trailing `$`. An empty pattern selects every case.
pub fn case_matches(name: &str, pattern: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    pattern.split('|').any(|alternative| {
        let (start, rest) = match alternative.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, alternative),
        };
        let (end, needle) = match rest.strip_suffix('$') {
            Some(needle) => (true, needle),
            None => (false, rest),
        };
        match (start, end) {
            (true, true) => name == needle,
            (true, false) => name.starts_with(needle),
            (false, true) => name.ends_with(needle),
            (false, false) => name.contains(needle),
        }
    })
}

/// Runs every case selected by `config.filter`, one after another, in [`cases`] order.
pub async fn run_suite(config: &SuiteConfig) -> Vec<CaseResult> {
    let mut results = Vec::new();
    for &name in CASE_NAMES.iter() {
        if config
            .filter
            .as_deref()
            .is_none_or(|pattern| case_matches(name, pattern))
        {
            results.push(run_named(name, config).await);
        }
    }
    results
}

/// Runs the case called exactly `name` (ignoring `config.filter`); `None` if there is no
/// such case.
pub async fn run_case(name: &str, config: &SuiteConfig) -> Option<CaseResult> {
    let name = CASE_NAMES.iter().copied().find(|&known| known == name)?;
    Some(run_named(name, config).await)
}

async fn run_named(name: &'static str, config: &SuiteConfig) -> CaseResult {
    let started = Instant::now();
    let outcome = cases::run(name, config).await;
    let (passed, detail) = match outcome {
        Ok(note) => (true, note),
        Err(failure) => (false, failure),
    };
    CaseResult {
        name,
        passed,
        detail,
        duration: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_syntax() {
        assert!(case_matches("Ping/Basic", ""));
        assert!(case_matches("Ping/Basic", "Ping"));
        assert!(case_matches("Findnode/PastExpiration", "PastExpiration"));
        assert!(!case_matches("Ping/Basic", "ping"));
        assert!(case_matches("Ping/Basic", "^Ping/Basic$"));
        assert!(!case_matches("Ping/BasicX", "^Ping/Basic$"));
        assert!(case_matches("ENRRequest", "Amplification|ENR"));
        assert!(!case_matches("Ping/WrongTo", "Amplification|ENR"));
        assert!(case_matches("Ping/WrongIP", "IP$"));
        assert!(!case_matches("Findnode/Basic", "^Ping"));
    }

    #[test]
    fn names_are_unique_and_match_geth() {
        let mut names = cases().to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 15);
        assert_eq!(cases()[0], "Ping/Basic");
        assert_eq!(cases()[14], "Amplification/WrongIP");
    }

    #[tokio::test]
    async fn unknown_case_is_none() {
        let remote = NodeRecord {
            address: DEFAULT_LISTEN1,
            udp_port: 1,
            tcp_port: 0,
            id: enode::PeerId([1; 64]),
        };
        assert!(run_case("Ping/Nope", &SuiteConfig::new(remote))
            .await
            .is_none());
    }
}
