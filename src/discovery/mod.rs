//! Where dial candidates come from: the [`CandidateSource`] trait (an endless,
//! back-pressured stream of [`Candidate`]s plus a synchronous [`CandidateSource::report`] of
//! each [`Outcome`]), geth's [`FairMix`] over several sources, and two simple sources:
//! [`FixedList`] (bootstrap or static lists, in a paced loop) and [`StreamSource`] (any
//! stream of node records).
//!
//! The node's service task owns one [`FairMix`], polls it while the dial scheduler wants
//! candidates, hands each [`MixedCandidate`] to [`crate::dial::DialScheduler::offer`], and
//! routes the scheduler's reports back with [`FairMix::report`]:
//!
//! ```
//! use std::time::Duration;
//!
//! use enode::{NodeRecord, PeerId};
//! use kadnode::discovery::{FairMix, FixedList, Outcome};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let boot = NodeRecord {
//!     address: "10.0.0.1".parse().unwrap(),
//!     udp_port: 30303,
//!     tcp_port: 30303,
//!     id: PeerId([7; 64]),
//! };
//! let mut mix = FairMix::new(Duration::from_millis(100));
//! mix.add_source(Box::new(FixedList::new("bootnodes", [boot]))).unwrap();
//! let next = mix.next_candidate().await;
//! assert_eq!(next.candidate.record, boot);
//! // Later, what became of it goes back to its source:
//! mix.report(next.source, &boot.id, Outcome::Connected);
//! # }
//! ```

mod clock;
mod discv4;
mod fixed;
mod liveness;
mod mix;
mod source;
mod stream;

pub use discv4::{Discv4Source, EnrFilter, ENR_FILTER_PARALLELISM, REJECTED_MEMORY};
pub use fixed::{FixedList, DEFAULT_ROUND_INTERVAL, MAX_FIXED_ENTRIES};
pub use liveness::{LIVENESS_CAPACITY, LIVENESS_MEMORY, LIVENESS_REFRESH};
pub use mix::{FairMix, MixError, MixedCandidate, SourceId, DEFAULT_MIX_TIMEOUT, MAX_MIX_SOURCES};
pub use source::{next_candidate, Candidate, CandidateHints, CandidateSource, Outcome};
pub use stream::StreamSource;
