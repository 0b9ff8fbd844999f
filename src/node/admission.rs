//! The server's checks on a new connection, at geth's two checkpoints: after the encryption
//! handshake (the remote's key is proven) and again after the Hellos (the peer is about to be
//! added; the peer set may have changed meanwhile). Pure functions over a view of the peer
//! set, so every rule is unit-tested.

use enode::PeerId;
use rlpx::p2p::DisconnectReason;

use crate::protocol::Direction;

/// The limits the checks enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// All peers (geth's `MaxPeers`).
    pub(crate) max_peers: usize,
    /// Inbound peers: `max_peers` minus the dialed slots.
    pub(crate) max_inbound: usize,
    /// Dialed peers. Unlike geth, a hard cap: the scheduler runs up to twice as many dials
    /// as free slots, and in a small network keeping every one that succeeds eats the
    /// inbound slots of the others until some nodes can find no peer at all.
    pub(crate) max_dialed: usize,
}

/// The connection being checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub(crate) id: PeerId,
    pub(crate) direction: Direction,
    /// Trusted peers, and static peers we dialed, bypass the peer limits (as in geth).
    pub(crate) privileged: bool,
}

/// What the peer set looks like now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerCounts {
    pub(crate) total: usize,
    pub(crate) inbound: usize,
    pub(crate) outbound: usize,
}

/// What to do with a connection to a peer that is already connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Duplicate {
    /// Keep the existing session; refuse the new one with Disconnect 0x05.
    KeepExisting,
    /// The new connection wins: disconnect the existing one with 0x05 and add this one.
    ReplaceExisting,
}

/// The checks of both checkpoints. `existing` is the direction of an established session
/// with the same peer, if any.
pub(crate) fn check(
    local: PeerId,
    limits: Limits,
    counts: PeerCounts,
    candidate: Candidate,
    existing: Option<Direction>,
) -> Result<Option<Duplicate>, DisconnectReason> {
    if candidate.id == local {
        return Err(DisconnectReason::ConnectedToSelf);
    }
    if let Some(existing) = existing {
        return match simultaneous_dial_winner(local, candidate.id, existing, candidate.direction) {
            Duplicate::KeepExisting => Err(DisconnectReason::AlreadyConnected),
            Duplicate::ReplaceExisting => Ok(Some(Duplicate::ReplaceExisting)),
        };
    }
    if !candidate.privileged {
        if counts.total >= limits.max_peers {
            return Err(DisconnectReason::TooManyPeers);
        }
        if candidate.direction == Direction::Inbound && counts.inbound >= limits.max_inbound {
            return Err(DisconnectReason::TooManyPeers);
        }
        if candidate.direction == Direction::Outbound && counts.outbound >= limits.max_dialed {
            return Err(DisconnectReason::TooManyPeers);
        }
    }
    Ok(None)
}

/// Of two connections between the same two nodes, the one dialed by the node with the lower
/// id survives. Both nodes know both ids, so both keep the same TCP connection whatever order
/// the connections were established in; connections dialed by the same side keep the older.
pub(crate) fn simultaneous_dial_winner(
    local: PeerId,
    remote: PeerId,
    existing: Direction,
    new: Direction,
) -> Duplicate {
    if existing == new {
        return Duplicate::KeepExisting;
    }
    let dialer = |direction| match direction {
        Direction::Outbound => local,
        Direction::Inbound => remote,
    };
    if dialer(new) < dialer(existing) {
        Duplicate::ReplaceExisting
    } else {
        Duplicate::KeepExisting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_peers: 3,
        max_inbound: 2,
        max_dialed: 2,
    };

    fn id(byte: u8) -> PeerId {
        PeerId([byte; 64])
    }

    fn candidate(byte: u8, direction: Direction, privileged: bool) -> Candidate {
        Candidate {
            id: id(byte),
            direction,
            privileged,
        }
    }

    fn counts(total: usize, inbound: usize) -> PeerCounts {
        PeerCounts {
            total,
            inbound,
            outbound: total - inbound,
        }
    }

    #[test]
    fn self_is_refused_even_when_trusted() {
        let c = candidate(1, Direction::Inbound, true);
        assert_eq!(
            check(id(1), LIMITS, counts(0, 0), c, None),
            Err(DisconnectReason::ConnectedToSelf)
        );
    }

    #[test]
    fn full_node_refuses_all_but_privileged() {
        for direction in [Direction::Inbound, Direction::Outbound] {
            let c = candidate(2, direction, false);
            assert_eq!(
                check(id(1), LIMITS, counts(3, 0), c, None),
                Err(DisconnectReason::TooManyPeers)
            );
            let trusted = candidate(2, direction, true);
            assert_eq!(check(id(1), LIMITS, counts(3, 2), trusted, None), Ok(None));
        }
    }

    #[test]
    fn inbound_slots_are_separate_from_the_total() {
        let inbound = candidate(2, Direction::Inbound, false);
        let outbound = candidate(2, Direction::Outbound, false);
        assert_eq!(
            check(id(1), LIMITS, counts(2, 2), inbound, None),
            Err(DisconnectReason::TooManyPeers)
        );
        assert_eq!(check(id(1), LIMITS, counts(2, 2), outbound, None), Ok(None));
        assert_eq!(check(id(1), LIMITS, counts(1, 1), inbound, None), Ok(None));
    }

    #[test]
    fn dialed_slots_are_a_hard_cap_except_for_privileged_peers() {
        let outbound = candidate(2, Direction::Outbound, false);
        assert_eq!(
            check(id(1), LIMITS, counts(2, 0), outbound, None),
            Err(DisconnectReason::TooManyPeers)
        );
        assert_eq!(check(id(1), LIMITS, counts(2, 1), outbound, None), Ok(None));
        let static_dial = candidate(2, Direction::Outbound, true);
        assert_eq!(
            check(id(1), LIMITS, counts(2, 0), static_dial, None),
            Ok(None)
        );
    }

    #[test]
    fn simultaneous_dials_keep_the_same_connection_on_both_sides() {
        let (low, high) = (id(1), id(9));
        // Seen from each side, in either arrival order, the connection dialed by `low`
        // survives. `low` dialed → it is outbound at `low`, inbound at `high`.
        for (local, remote, low_dialed) in [
            (low, high, Direction::Outbound),
            (high, low, Direction::Inbound),
        ] {
            let high_dialed = match low_dialed {
                Direction::Outbound => Direction::Inbound,
                Direction::Inbound => Direction::Outbound,
            };
            assert_eq!(
                simultaneous_dial_winner(local, remote, high_dialed, low_dialed),
                Duplicate::ReplaceExisting
            );
            assert_eq!(
                simultaneous_dial_winner(local, remote, low_dialed, high_dialed),
                Duplicate::KeepExisting
            );
        }
        // Same dialer twice: the older connection stays.
        assert_eq!(
            simultaneous_dial_winner(low, high, Direction::Outbound, Direction::Outbound),
            Duplicate::KeepExisting
        );
    }

    #[test]
    fn duplicate_is_decided_before_limits() {
        // A full node still lets the winning connection replace the losing one.
        let c = candidate(0, Direction::Inbound, false);
        assert_eq!(
            check(id(5), LIMITS, counts(3, 2), c, Some(Direction::Outbound)),
            Ok(Some(Duplicate::ReplaceExisting))
        );
        let c = candidate(9, Direction::Inbound, false);
        assert_eq!(
            check(id(5), LIMITS, counts(3, 2), c, Some(Direction::Outbound)),
            Err(DisconnectReason::AlreadyConnected)
        );
    }
}
