//! PEX: Tendermint-style peer exchange over the RLPx capability `pex/1`, a second discovery
//! backend beside discv4 (design: `../shared/reference/pex-design.md` §8).
//!
//! The [`PexBook`] trait is the seam between the address book (a pure data structure that
//! stores signed ENRs, decides eligibility and picks gossip) and the `pex/1` protocol and
//! service that feed it and ask it.

mod api;
pub mod wire;

pub use api::{GossipSource, IngestReport, Misbehaviour, PersistError, PexBook};
