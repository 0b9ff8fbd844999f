//! Whom to dial, and when: the dial scheduler (in progress).

mod action;
mod config;
mod history;
mod memory;
mod ranking;
mod refusal;
mod snapshot;
mod statics;

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
pub use snapshot::{DialMemorySnapshot, SnapshotEntry, SnapshotError, MAX_SNAPSHOT_ENTRIES};
pub use statics::{StaticAddress, StaticNode};
