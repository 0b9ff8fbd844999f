//! What the dial scheduler reports about the book's candidates, and the periodic sweep.
//! Failures back an entry off inside the book (the candidate stream never yields an entry
//! in backoff); a never-successful entry is let go after 16 failures as unreachable, which
//! is not a ban; protocol breaches ban; another network marks the entry incompatible.

use enode::PeerId;
use rlpx::verdict::Backoff;
use tokio::time::Instant;

use super::{
    bans::BanReason,
    entry::{after, INCOMPATIBLE_FOR},
    AddressBook,
};
use crate::discovery::Outcome;

impl AddressBook {
    pub(super) fn apply_outcome(&mut self, id: &PeerId, outcome: Outcome, now: Instant) {
        let fatal = outcome.is_fatal();
        match outcome {
            Outcome::Connected => {
                self.connected.insert(*id);
                let Some(entry) = self.entries.get_mut(id) else {
                    return;
                };
                entry.dial_succeeded(now);
                let proved = entry.status_at.is_some_and(|at| {
                    now.saturating_duration_since(at) < self.config.hand_out_timeout
                });
                if proved {
                    self.promote(id, now);
                }
            }
            Outcome::Useful => self.promote(id, now),
            Outcome::DialFailed(verdict) => {
                if verdict.should_ban() {
                    self.ban(id, BanReason::Misbehaved, now);
                    return;
                }
                let Some(entry) = self.entries.get_mut(id) else {
                    return;
                };
                if verdict.backoff() == Backoff::Short {
                    // Busy (full, already connected): the address works; not a failure.
                    entry.dial_busy(now, self.config.busy_backoff);
                    return;
                }
                entry.dial_failed(now);
                if fatal {
                    entry.incompatible_until = Some(now + INCOMPATIBLE_FOR);
                }
                if entry.is_unreachable() {
                    tracing::debug!(target: "kadnode::pex", ?id, "unreachable after repeated failures; dropped");
                    self.remove_entry(id);
                }
            }
            Outcome::Disconnected(verdict) => {
                self.connected.remove(id);
                if verdict.should_ban() {
                    self.ban(id, BanReason::Misbehaved, now);
                } else if let Some(entry) = self.entries.get_mut(id) {
                    entry.handed_out_until = None;
                    entry.last_seen = now;
                    if fatal {
                        entry.incompatible_until = Some(now + INCOMPATIBLE_FOR);
                    }
                }
            }
            Outcome::Incompatible => {
                self.connected.remove(id);
                if let Some(entry) = self.entries.get_mut(id) {
                    entry.handed_out_until = None;
                    entry.incompatible_until = Some(now + INCOMPATIBLE_FOR);
                }
            }
            Outcome::Misbehaved => self.ban(id, BanReason::Misbehaved, now),
            Outcome::Abandoned => {
                if let Some(entry) = self.entries.get_mut(id) {
                    entry.handed_out_until = None;
                }
            }
        }
    }

    fn ban(&mut self, id: &PeerId, reason: BanReason, now: Instant) {
        self.bans.ban(*id, None, reason, now);
        self.forget_banned(id, now);
    }

    /// A banned peer leaves the book (and so does every entry at an IP banned with it).
    pub(super) fn forget_banned(&mut self, id: &PeerId, now: Instant) {
        self.remove_entry(id);
        let banned_ips: Vec<PeerId> = self
            .entries
            .values()
            .filter(|e| self.bans.is_ip_banned(e.node.address, now))
            .map(|e| e.id())
            .collect();
        for other in banned_ips {
            self.remove_entry(&other);
        }
    }

    /// Every sweep interval: drops terrible and unreachable entries (unless a session with
    /// them is up).
    pub(super) fn sweep_if_due(&mut self, now: Instant) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = after(now, self.config.sweep_interval);
        self.sweep(now);
    }

    pub(super) fn sweep(&mut self, now: Instant) -> usize {
        let doomed: Vec<PeerId> = self
            .entries
            .values()
            .filter(|e| !self.connected.contains(&e.id()))
            .filter(|e| e.is_terrible(now) || e.is_unreachable())
            .map(|e| e.id())
            .collect();
        for id in &doomed {
            self.remove_entry(id);
        }
        doomed.len()
    }
}
