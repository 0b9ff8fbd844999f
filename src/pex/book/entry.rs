//! One entry of the address book: the latest signed record of a node and what the book
//! knows about dialing it. Eligibility and "terrible" are decided here, from the entry alone.

use std::time::Duration;

use enode::{Enr, NodeRecord, PeerId};
use tokio::time::Instant;

use super::group::Group;

/// Longest wait between dials of a failing entry.
pub const BACKOFF_CAP: Duration = Duration::from_secs(6 * 3600);
/// Default wait before a busy node (full, already connected) is offered again: geth's dial
/// history, the inbound throttle a busy node applies plus 5 s.
pub const BUSY_BACKOFF: Duration = Duration::from_secs(35);
/// A never-successful entry is dropped as unreachable (not banned) after this many failures.
pub const MAX_FAILURES: u32 = 16;
/// An entry not seen for this long is terrible.
pub const STALE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);
/// A marked-incompatible entry is neither dialed nor gossiped for this long.
pub const INCOMPATIBLE_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where an entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Heard of, not (yet) verified by a useful session of ours; in 1 to 4 new buckets.
    New,
    /// Verified: we dialed it and it proved useful; in one tried bucket.
    Tried,
}

/// What the book holds about one node.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) record: Enr,
    pub(crate) node: NodeRecord,
    pub(crate) group: Group,
    /// The peer that told us first, and its network group.
    pub(crate) source: PeerId,
    pub(crate) source_group: Group,
    pub(crate) first_seen: Instant,
    /// The last time anyone announced it (or it announced itself).
    pub(crate) last_seen: Instant,
    pub(crate) last_attempt: Option<Instant>,
    pub(crate) last_success: Option<Instant>,
    /// Failed dials since the last success.
    pub(crate) failures: u32,
    pub(crate) eligible_at: Instant,
    pub(crate) table: Table,
    /// New buckets holding it (0 when tried).
    pub(crate) new_refs: u8,
    /// Learned from a private peer: never gossiped.
    pub(crate) from_private: bool,
    /// Handed to the dialer and not reported yet: not offered again before this.
    pub(crate) handed_out_until: Option<Instant>,
    pub(crate) incompatible_until: Option<Instant>,
    /// Seed mode: when it was last crawled.
    pub(crate) crawled_at: Option<Instant>,
    /// When it last proved its record in a `pex/1` Status of a session.
    pub(crate) status_at: Option<Instant>,
    /// When a dial of ours last reached it and it proved its key (a session, or a refusal
    /// because it was busy): its address is known to work, so it may be gossiped.
    pub(crate) verified_at: Option<Instant>,
    /// When a peer last sent it with the "had a session" hint. Advisory (anyone can claim
    /// it): it only orders this entry before other strangers; not saved with the book.
    pub(crate) vouched_at: Option<Instant>,
}

impl Entry {
    pub(crate) fn new(
        record: Enr,
        node: NodeRecord,
        source: PeerId,
        source_group: Group,
        now: Instant,
    ) -> Self {
        Self {
            group: Group::of(node.address),
            record,
            node,
            source,
            source_group,
            first_seen: now,
            last_seen: now,
            last_attempt: None,
            last_success: None,
            failures: 0,
            eligible_at: now,
            table: Table::New,
            new_refs: 0,
            from_private: false,
            handed_out_until: None,
            incompatible_until: None,
            crawled_at: None,
            status_at: None,
            verified_at: None,
            vouched_at: None,
        }
    }

    pub(crate) fn id(&self) -> PeerId {
        self.node.id
    }

    pub(crate) fn is_incompatible(&self, now: Instant) -> bool {
        self.incompatible_until.is_some_and(|until| until > now)
    }

    /// May be dialed now: out of backoff, not handed out, not incompatible.
    pub(crate) fn is_dialable(&self, now: Instant) -> bool {
        self.eligible_at <= now
            && self.handed_out_until.is_none_or(|until| until <= now)
            && !self.is_incompatible(now)
    }

    /// When [`Entry::is_dialable`] turns true.
    pub(crate) fn dialable_at(&self) -> Option<Instant> {
        let mut at = self.eligible_at;
        for until in [self.handed_out_until, self.incompatible_until]
            .into_iter()
            .flatten()
        {
            at = at.max(until);
        }
        Some(at)
    }

    /// btcd's and CometBFT's "bad" entry, judged by last seen: not tried in the last minute,
    /// and not seen for a week, or never successful after 3 failures, or not successful for
    /// a week after 10.
    pub(crate) fn is_terrible(&self, now: Instant) -> bool {
        let since = |at: Instant| now.saturating_duration_since(at);
        if self
            .last_attempt
            .is_some_and(|at| since(at) < Duration::from_secs(60))
        {
            return false;
        }
        if since(self.last_seen) > STALE_AFTER {
            return true;
        }
        match self.last_success {
            None => self.failures >= 3,
            Some(at) => since(at) > STALE_AFTER && self.failures >= 10,
        }
    }

    /// What a message just said of this entry: it came in the node's own Status
    /// (`own_status`), or a peer vouched for it with the "had a session" hint.
    pub(crate) fn note_claims(&mut self, now: Instant, own_status: bool, vouched: bool) {
        if own_status {
            self.status_at = Some(now);
        }
        if vouched {
            self.vouched_at = Some(now);
        }
    }

    /// Never dialed by us, in the new table: all the book knows is that someone announced
    /// it.
    pub(crate) fn is_stranger(&self) -> bool {
        self.table == Table::New && self.last_attempt.is_none()
    }

    /// A stranger some peer vouched for (the hint of a Peers answer) in the last `within`.
    pub(crate) fn is_vouched_stranger(&self, now: Instant, within: Duration) -> bool {
        self.is_stranger()
            && self
                .vouched_at
                .is_some_and(|at| now.saturating_duration_since(at) < within)
    }

    /// Never successful after [`MAX_FAILURES`]: the book lets it go.
    pub(crate) fn is_unreachable(&self) -> bool {
        self.last_success.is_none() && self.failures >= MAX_FAILURES
    }

    /// Records a failed dial: backs off 2^failures s (at most 6 h) plus up to 1 s of jitter
    /// drawn from the id, so entries that failed together do not return together.
    pub(crate) fn dial_failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.last_attempt = Some(now);
        self.handed_out_until = None;
        self.eligible_at = now + backoff(self.failures, &self.id());
    }

    /// Records a dial that reached a busy node: the address works, so no failure counts,
    /// but the node is not tried again for `wait` (plus jitter).
    pub(crate) fn dial_busy(&mut self, now: Instant, wait: Duration) {
        self.last_attempt = Some(now);
        self.last_seen = now;
        self.verified_at = Some(now);
        self.handed_out_until = None;
        let jitter = backoff(0, &self.id()).saturating_sub(Duration::from_secs(1));
        self.eligible_at = after(now, wait.saturating_add(jitter));
    }

    pub(crate) fn dial_succeeded(&mut self, now: Instant) {
        self.failures = 0;
        self.last_attempt = Some(now);
        self.last_success = Some(now);
        self.last_seen = now;
        self.verified_at = Some(now);
        self.handed_out_until = None;
        self.eligible_at = now;
    }
}

pub(crate) use crate::pex::after;

/// The wait after the `failures`th consecutive failure.
pub(crate) fn backoff(failures: u32, id: &PeerId) -> Duration {
    let base = if failures >= 15 {
        BACKOFF_CAP
    } else {
        Duration::from_secs(1u64 << failures).min(BACKOFF_CAP)
    };
    let jitter_ms =
        u64::from(u16::from_be_bytes([id.0[1], id.0[2]]) ^ (failures as u16).wrapping_mul(40_503))
            % 1000;
    base + Duration::from_millis(jitter_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_six_hours() {
        let id = PeerId([7; 64]);
        let secs = |n| backoff(n, &id).as_secs();
        assert_eq!(secs(1), 2);
        assert_eq!(secs(2), 4);
        assert_eq!(secs(10), 1024);
        assert_eq!(secs(15), 6 * 3600);
        assert_eq!(secs(u32::MAX), 6 * 3600);
        assert!(backoff(3, &id) < Duration::from_secs(9));
    }
}
