//! What a failed dial, a refused connection or an ended session says about the peer, and
//! the policy answers derived from it: fatal? ban? which backoff?
//!
//! Every error in this crate that can end a peer or a dial answers with a [`Verdict`]
//! through [`HasVerdict`], so a dial scheduler never matches on error variants. This module
//! imports nothing from the rest of the crate: every layer may use it.

/// How long to wait before dialling a peer again, coarsely; the scheduler picks the durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backoff {
    /// The peer is fine but busy (too many peers, already connected): retry soon, e.g. after
    /// the dial history expires.
    Short,
    /// The attempt failed for a reason that may pass (network error, timeout, the remote
    /// quitting): retry after a while.
    Medium,
    /// The peer broke the protocol, complained that we did, or is incompatible: retry rarely,
    /// if at all.
    Long,
}

/// What a failure says about the peer; every policy answer derives from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Busy peer (too many peers, already connected): try again soon.
    Busy,
    /// Network trouble, the remote leaving, or a local decision: may pass.
    Transient,
    /// Nothing arrived in time.
    Timeout,
    /// The remote says we broke the protocol: be careful, but it is not proof against it.
    RemoteComplaint,
    /// Corrupted bytes a third party on the path could have caused: proves nothing.
    Corrupt,
    /// The peer sent what no correct implementation sends.
    Misbehaved,
    /// The two sides can never form a useful session (no shared capability, incompatible
    /// version, connected to self, the remote rejects our identity, an application protocol
    /// judged the peer to be on another chain).
    Incompatible,
    /// The peer's Hello contradicts the key it proved, or carries no valid identity.
    Impostor,
}

impl Verdict {
    /// True when retrying can never succeed with this peer and configuration.
    pub fn is_fatal(self) -> bool {
        matches!(self, Self::Incompatible | Self::Impostor)
    }

    /// How long to wait before dialling this peer again: short for busy peers, medium for
    /// network errors, timeouts and ordinary ends, long for protocol breaches (either side's)
    /// and fatal failures.
    pub fn backoff(self) -> Backoff {
        match self {
            Self::Busy => Backoff::Short,
            Self::Transient | Self::Timeout => Backoff::Medium,
            Self::RemoteComplaint
            | Self::Corrupt
            | Self::Misbehaved
            | Self::Incompatible
            | Self::Impostor => Backoff::Long,
        }
    }

    /// True when the peer did something no correct implementation does: worth banning its id
    /// and address for a while. Corruption is not counted (a third party on the path can
    /// cause it), nor is anything the remote told us.
    pub fn should_ban(self) -> bool {
        matches!(self, Self::Misbehaved | Self::Impostor)
    }
}

/// An error that can end a peer or a dial, judged for policy code.
pub trait HasVerdict {
    /// What this failure says about the peer.
    fn verdict(&self) -> Verdict;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_identity_and_incompatibility_are_fatal_and_only_breaches_ban() {
        use Verdict::*;
        let all = [
            Busy,
            Transient,
            Timeout,
            RemoteComplaint,
            Corrupt,
            Misbehaved,
            Incompatible,
            Impostor,
        ];
        let fatal: Vec<_> = all.iter().filter(|v| v.is_fatal()).collect();
        assert_eq!(fatal, [&Incompatible, &Impostor]);
        let ban: Vec<_> = all.iter().filter(|v| v.should_ban()).collect();
        assert_eq!(ban, [&Misbehaved, &Impostor]);
        assert_eq!(Busy.backoff(), Backoff::Short);
        assert_eq!(Timeout.backoff(), Backoff::Medium);
        for v in all.iter().filter(|v| v.is_fatal() || v.should_ban()) {
            assert_eq!(v.backoff(), Backoff::Long, "{v:?}");
        }
    }
}
