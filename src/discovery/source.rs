//! The seam between discovery and dialing: a [`CandidateSource`] yields dial
//! [`Candidate`]s and is told, through [`CandidateSource::report`], what became of each.
//!
//! Why a poll method and not an `async fn next()`: a poll method keeps the trait object safe
//! (a mix holds `Box<dyn CandidateSource + Send>` without boxing a future per call), it is
//! cancellation safe by construction (a `select!` branch that loses drops nothing, because
//! a source keeps its own state between polls), and back-pressure is simply not polling.

use std::{
    fmt,
    future::Future,
    task::{Context, Poll},
};

use enode::{NodeRecord, PeerId};
use rlpx::verdict::Verdict;
use tokio::time::Instant;

/// What a source knows about a candidate that makes it worth dialing before a stranger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CandidateHints {
    /// When the node last answered us on discovery (a PONG, NEIGHBORS or ENR response), if
    /// the source knows; a node that answered recently is likely up.
    pub answered_at: Option<Instant>,
    /// Sessions with this node that succeeded before, e.g. from the node database; 0 for a
    /// stranger.
    pub past_sessions: u32,
}

/// A node to dial, as a source offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Identity and endpoint; the dial goes to `record.tcp_addr()`.
    pub record: NodeRecord,
    /// What the source knows about the node.
    pub hints: CandidateHints,
}

impl Candidate {
    /// A candidate the source knows nothing more about.
    pub fn new(record: NodeRecord) -> Self {
        Self {
            record,
            hints: CandidateHints::default(),
        }
    }

    /// The same candidate with these hints.
    pub fn with_hints(self, hints: CandidateHints) -> Self {
        Self { hints, ..self }
    }
}

/// What happened to a candidate, reported back to the source that offered it so it can
/// learn (drop dead entries, rank useful ones first, stop offering incompatible ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The dial failed; the verdict says why and how bad it is.
    DialFailed(Verdict),
    /// The dial produced a session.
    Connected,
    /// The application found the peer useful (served data, on our chain).
    Useful,
    /// The peer can never serve us (other network, no shared capability).
    Incompatible,
    /// The peer broke the protocol.
    Misbehaved,
    /// A session with the peer ended, with this verdict.
    Disconnected(Verdict),
    /// The node dropped the dial for its own reasons (its dialed slots filled meanwhile):
    /// the candidate is exactly as good as before and may be offered again.
    Abandoned,
}

impl Outcome {
    /// True when offering this node again is pointless: a fatal dial failure, an
    /// incompatible or a misbehaving peer.
    pub fn is_fatal(self) -> bool {
        match self {
            Self::DialFailed(verdict) | Self::Disconnected(verdict) => {
                verdict.is_fatal() || verdict.should_ban()
            }
            Self::Incompatible | Self::Misbehaved => true,
            Self::Connected | Self::Useful | Self::Abandoned => false,
        }
    }

    /// The outcome for a session that ended with `verdict`: incompatible, misbehaved, or
    /// just disconnected.
    pub fn from_session_end(verdict: Verdict) -> Self {
        if verdict.should_ban() {
            Self::Misbehaved
        } else if verdict.is_fatal() {
            Self::Incompatible
        } else {
            Self::Disconnected(verdict)
        }
    }
}

/// A source of dial candidates: discv4's random walk, a fixed list, later PEX or DNS
/// lists.
///
/// The stream is endless and back-pressured: the consumer polls only when it wants a
/// candidate, and a source that has none returns `Pending` (registering the waker).
/// `Ready(None)` ends the source for good; a mix then drops it.
pub trait CandidateSource {
    /// A short name for logs and metrics ("discv4", "static", "pex").
    fn name(&self) -> &str;

    /// The next candidate, `Pending` until one is available, or `None` when the source has
    /// ended.
    fn poll_next_candidate(&mut self, cx: &mut Context<'_>) -> Poll<Option<Candidate>>;

    /// What became of a candidate this source offered. Must not block; a source that does
    /// not learn ignores it.
    fn report(&mut self, id: &PeerId, outcome: Outcome);
}

impl fmt::Debug for dyn CandidateSource + Send {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CandidateSource")
            .field("name", &self.name())
            .finish()
    }
}

/// Waits for `source`'s next candidate (`None` when it has ended).
pub fn next_candidate<S: CandidateSource + ?Sized>(
    source: &mut S,
) -> impl Future<Output = Option<Candidate>> + '_ {
    std::future::poll_fn(move |cx| source.poll_next_candidate(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ends_map_to_outcomes() {
        assert_eq!(
            Outcome::from_session_end(Verdict::Impostor),
            Outcome::Misbehaved
        );
        assert_eq!(
            Outcome::from_session_end(Verdict::Incompatible),
            Outcome::Incompatible
        );
        assert_eq!(
            Outcome::from_session_end(Verdict::Timeout),
            Outcome::Disconnected(Verdict::Timeout)
        );
        assert!(Outcome::DialFailed(Verdict::Incompatible).is_fatal());
        assert!(Outcome::DialFailed(Verdict::Misbehaved).is_fatal());
        assert!(!Outcome::DialFailed(Verdict::Timeout).is_fatal());
        assert!(!Outcome::Disconnected(Verdict::Transient).is_fatal());
        assert!(!Outcome::Connected.is_fatal() && !Outcome::Useful.is_fatal());
    }
}
