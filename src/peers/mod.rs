//! Whom not to contact, and for how long: [`Backoffs`] after failures and [`BanList`] after
//! misbehaviour, each keyed by node id and by IP.
//!
//! Both are plain tables with injected time (`tokio::time::Instant` arguments), bounded in
//! memory (each table has a capacity; when full, the entry that ends first goes) and
//! decaying (a wait doubles while failures repeat; each quiet period after it ends undoes
//! one doubling). Neither is a reputation score, and neither touches one: a failure's
//! [`rlpx::verdict::Verdict`] alone decides the class of backoff and whether to ban. reth
//! once backed peers off by pushing their reputation under the ban threshold, so the unban
//! that ended a mere backoff also wiped whatever reputation the peer had earned or lost
//! (paradigmxyz/reth#2410); here a backoff or a ban ending changes nothing else.
//!
//! The dial scheduler ([`crate::dial::DialScheduler`]) owns one of each and consults them
//! when a candidate is offered and again when its dial starts; the node's admission code
//! reads the same ban list through the scheduler for inbound connections.

mod backoff;
mod bans;
mod escalation;
pub(crate) mod expiry;

pub use backoff::{
    BackoffConfig, Backoffs, DEFAULT_BACKOFF_CAPACITY, DEFAULT_BACKOFF_DECAY, DEFAULT_LONG_BACKOFF,
    DEFAULT_LONG_BACKOFF_MAX, DEFAULT_MEDIUM_BACKOFF, DEFAULT_MEDIUM_BACKOFF_MAX,
    DEFAULT_PRIVILEGED_BACKOFF_MAX, DEFAULT_SHORT_BACKOFF,
};
pub use bans::{
    BanConfig, BanList, DEFAULT_BAN, DEFAULT_BAN_CAPACITY, DEFAULT_BAN_DECAY, DEFAULT_BAN_MAX,
};
