//! Whom to dial, and when: the [`DialScheduler`].
//!
//! # Design
//!
//! **What it is.** A pure state machine: no I/O, no tasks, no clock of its own. Every
//! method that depends on time takes `now: tokio::time::Instant`; the one random choice
//! (which due static node to dial, as geth picks at random) takes an `R: rand::Rng`. So the
//! whole policy is deterministic under test and runs unchanged on tokio's paused clock in
//! whole-network simulations.
//!
//! **Who drives it.** The node's service task owns one scheduler next to the peer set and
//! the discovery [`crate::discovery::FairMix`]. After every input it calls
//! [`DialScheduler::poll`] until `None`, performs each [`DialAction`], and sleeps until the
//! next input or [`DialScheduler::next_wakeup`].
//!
//! **What comes in.**
//! - candidates: [`DialScheduler::offer`] (record + source + [`crate::discovery::CandidateHints`]),
//!   while [`DialScheduler::wants_candidates`] says so (that is the back-pressure on the mix);
//! - dial results: [`DialScheduler::dial_finished`] with [`DialOutcome::Connected`] or
//!   [`DialOutcome::Failed`] carrying the failure's [`rlpx::verdict::Verdict`] — the
//!   scheduler never looks at error variants, only at the verdict's `backoff()`,
//!   `is_fatal()` and `should_ban()`;
//! - the peer set: [`DialScheduler::peer_added`] (inbound or outbound),
//!   [`DialScheduler::peer_removed`] (with the end's verdict), [`DialScheduler::peer_useful`],
//!   and inbound handshakes in progress ([`DialScheduler::inbound_pending`] /
//!   [`DialScheduler::inbound_done`]);
//! - static and trusted nodes at run time ([`DialScheduler::add_static`] with a known
//!   endpoint, a DNS name or no address; [`DialScheduler::add_trusted`]; their removals);
//! - resolution results: [`DialScheduler::node_looked_up`] (discovery) and
//!   [`DialScheduler::dns_resolved`].
//!
//! **What goes out.**
//! - [`DialAction::Dial`]: a dial to start now;
//! - [`DialAction::LookUp`] / [`DialAction::ResolveDns`]: resolve a static node first (the
//!   caller does it with discv4's `resolve` or a DNS lookup bounded by
//!   [`enode::RESOLVE_TIMEOUT`], and reports back);
//! - [`DialAction::Report`]: what became of a candidate, for the source it came from;
//! - [`DialRefusal`]s: returned by `offer`, and counted with every refusal found when a dial
//!   is due, in [`DialStats::refusals`] (stable labels for metrics);
//! - [`DialScheduler::next_wakeup`]: when time alone will change something.
//!
//! **Rules (geth's `dial.go`, plus what geth lacks).** `max_peers / dial_ratio` dialed
//! slots; at most `min(2 × free dialed slots, max_active_dials)` attempts at once (an
//! attempt resolving a static node counts). Static nodes first, then candidates; no
//! candidate is dialed while every peer slot is taken (inbound peers included: the server
//! would refuse one more non-static peer). A node is
//! refused when it is us, has no TCP port or an unusable address, is banned, already being
//! dialed, connected, connecting inbound, outside netrestrict, dialed within the history
//! (35 s), backed off, or (ranked) at an address no dial ever reached, after a few tries
//! ([`UnreachableConfig`]). Those rules are checked when a candidate is offered *and again*
//! when its dial starts, and bans once more when a resolved static dial is handed out, so
//! no ban can slip in between. Failures back the node off by their verdict's class (and
//! its IP, for network failures of a dial) and ban it (id and IP) when the verdict says it
//! misbehaved; see [`crate::peers`]. Static and trusted nodes are never banned by a verdict
//! and wait at most [`crate::peers::BackoffConfig::privileged_max`].
//!
//! **Ranking (better than geth at finding peers).** Candidates wait in a bounded queue and
//! the best goes first: a node with a past session (remembered by the scheduler's
//! [`DialMemory`], or hinted by the source from the node database) before one that answered
//! discovery recently, before a stranger, before one whose dials failed at that address,
//! before one whose address no dial ever reached (discovery answers do not lift it: a node
//! behind a NAT answers discovery and black-holes TCP);
//! among equals the freshest find goes first (the first finds of a walk are the ones every
//! nearby node dials first). A node with every dialed slot taken takes no candidates.
//! The memory persists across restarts as a compact [`DialMemorySnapshot`]. The
//! [`DialPolicy::GethLike`] mode (arrival order, history only) exists to measure the gain.
//!
//! **Wedge-proofing.** Every table is bounded. An attempt the caller never reports ends
//! after [`DialConfig::dial_deadline`] as a timeout; a pending-inbound mark expires after
//! [`DialConfig::pending_inbound_timeout`]; reports the caller does not take are dropped
//! (oldest first, counted) beyond [`DialConfig::report_capacity`].
//!
//! # Driving it
//!
//! ```
//! use std::time::Duration;
//!
//! use enode::{NodeRecord, PeerId};
//! use kadnode::{
//!     dial::{DialAction, DialConfig, DialOutcome, DialScheduler, PeerConnection, StaticNode},
//!     discovery::{Candidate, SourceId},
//!     Direction,
//! };
//! use rlpx::verdict::Verdict;
//! use tokio::time::Instant;
//!
//! let node = |n: u8| NodeRecord {
//!     address: std::net::IpAddr::from([192, 0, 2, n]),
//!     udp_port: 30303,
//!     tcp_port: 30303,
//!     id: PeerId([n; 64]),
//! };
//! let mut rng = rand::thread_rng();
//! let mut scheduler = DialScheduler::new(PeerId([0; 64]), DialConfig::default());
//! let now = Instant::now();
//!
//! // Inputs: a static node, and a candidate from discovery source 0 (a FairMix's id).
//! scheduler.add_static(StaticNode::at(node(1))).unwrap();
//! let discv4 = SourceId::from_raw(0);
//! if scheduler.wants_candidates() {
//!     scheduler.offer(now, discv4, Candidate::new(node(2))).unwrap();
//! }
//!
//! // Outputs: the static node first, then the candidate.
//! let mut dials = Vec::new();
//! while let Some(action) = scheduler.poll(now, &mut rng) {
//!     match action {
//!         DialAction::Dial(task) => dials.push(task), // spawn the dial of task.record
//!         DialAction::LookUp { .. } => {}             // discv4 resolve, then node_looked_up
//!         DialAction::ResolveDns { .. } => {}         // DNS (5 s), then dns_resolved
//!         DialAction::Report(report) => {}            // mix.report(report.source, ...)
//!     }
//! }
//! assert_eq!(dials.iter().map(|t| t.record.id).collect::<Vec<_>>(), [node(1).id, node(2).id]);
//!
//! // The dial results come back as they happen.
//! scheduler.peer_added(now, PeerConnection {
//!     id: node(1).id,
//!     remote: node(1).tcp_addr(),
//!     slot: Direction::Outbound,
//! });
//! scheduler.dial_finished(now, &node(2).id, DialOutcome::Failed(Verdict::Timeout));
//! assert_eq!(scheduler.dialed_peers(), 1);
//!
//! // The failure goes back to its source, and backs the node off for a minute.
//! assert!(matches!(scheduler.poll(now, &mut rng), Some(DialAction::Report(_))));
//! assert!(scheduler.backoffs().is_backed_off(now, &node(2).id, None));
//! let later = now + Duration::from_secs(61);
//! assert!(scheduler.poll(later, &mut rng).is_none());
//! ```

mod action;
mod config;
mod history;
mod memory;
mod ranking;
mod refusal;
mod scheduler;
mod snapshot;
mod statics;
mod unreachable;

pub use action::{
    DialAction, DialKind, DialOutcome, DialTask, PeerClass, PeerConnection, SourceReport,
};
pub use config::{
    DialConfig, DialPolicy, DEFAULT_CANDIDATE_TTL, DEFAULT_DIAL_DEADLINE, DEFAULT_DIAL_HISTORY,
    DEFAULT_FRESH_ANSWER, DEFAULT_HISTORY_CAPACITY, DEFAULT_MAX_ACTIVE_DIALS,
    DEFAULT_MAX_STATIC_NODES, DEFAULT_MAX_TRUSTED_NODES, DEFAULT_MEMORY_CAPACITY,
    DEFAULT_MEMORY_RETENTION, DEFAULT_PENDING_INBOUND_CAPACITY, DEFAULT_PENDING_INBOUND_TIMEOUT,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_REPORT_CAPACITY, DEFAULT_RESOLVE_DELAY,
    DEFAULT_RESOLVE_DELAY_MAX,
};
pub use history::DialHistory;
pub use memory::{DialMemory, DialRecord};
pub use ranking::CandidateTier;
pub use refusal::{DialRefusal, RefusalCounts};
pub use scheduler::{DialError, DialScheduler, DialStats};
pub use snapshot::{DialMemorySnapshot, SnapshotEntry, SnapshotError, MAX_SNAPSHOT_ENTRIES};
pub use statics::{StaticAddress, StaticNode};
pub use unreachable::{
    UnreachableConfig, DEFAULT_UNREACHABLE_AFTER, DEFAULT_UNREACHABLE_QUARANTINE,
    DEFAULT_UNREACHABLE_QUARANTINE_MAX, UNREACHABLE_TIER_AFTER,
};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
