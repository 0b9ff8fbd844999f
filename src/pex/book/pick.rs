//! Choosing from the book: the next node to dial, the records to gossip, the entries a seed
//! crawls. Only dialable entries are ever offered (eligibility lives in the book), and
//! gossip carries only what was verified recently or is fresh, never private, incompatible
//! or terrible entries. Verified means one of our dials reached the node and it proved its
//! key: a session, or a refusal because it was full — a busy node's address works, and in a
//! network where everyone is full it is the only proof most entries ever get.

use std::time::Duration;

use enode::{Enr, PeerId};
use rand::{seq::SliceRandom, Rng, RngCore};
use tokio::time::Instant;

use super::{
    entry::{after, Entry, Table},
    AddressBook,
};
use crate::{
    discovery::{Candidate, CandidateHints},
    pex::api::GossipRecord,
};

/// Most records in one answer.
pub(crate) const MAX_GOSSIP: usize = 64;
/// An answer carries at least this many records when the book has them.
pub(crate) const MIN_GOSSIP: usize = 32;
/// Share of the eligible entries an answer carries, in percent.
pub(crate) const GOSSIP_PERCENT: usize = 23;
/// Most of an answer that may be unverified new entries, in percent. The design's 30 %
/// spread knowledge slowly; with 50 % the books of a 200-node simulation knew 98 % of the
/// network after 10 minutes instead of 92 %, with no more peers taken by eclipse attackers
/// (`BENCHMARKS.md`). Every record is still signed and counted against its sender's caps.
pub(crate) const MAX_NEW_GOSSIP_PERCENT: usize = 50;
/// A tried entry is gossiped while its last success is this recent, a new one while our
/// last dial that reached it (and saw its key) is.
pub(crate) const GOSSIP_VERIFIED_WITHIN: Duration = Duration::from_secs(24 * 3600);
/// A never-tried new entry is gossiped while it was first seen this recently.
pub(crate) const GOSSIP_NEW_WITHIN: Duration = Duration::from_secs(3600);
/// A seed crawls an entry again after this long.
pub(crate) const RECRAWL_AFTER: Duration = Duration::from_secs(120);
/// A peer's "had a session" hint counts this long: the hint's own horizon.
pub(crate) const VOUCH_VALID_FOR: Duration = GOSSIP_VERIFIED_WITHIN;
/// The dial pick's acceptance chance of a stranger nobody vouched for, against 1 for a
/// vouched stranger: vouched strangers go first more often, and a lying voucher can do no
/// more than that, because no other entry's chance depends on a hint.
pub(crate) const UNVOUCHED_STRANGER_CHANCE: f64 = 0.25;
/// Random probes into the chosen table before a full scan.
const PROBES: usize = 64;

impl AddressBook {
    /// May be offered to the dialer now.
    fn offerable(&self, entry: &Entry, now: Instant) -> bool {
        entry.is_dialable(now) && !self.connected.contains(&entry.id())
    }

    /// CometBFT's choice between the tables: weights √size × bias, where the bias toward
    /// new entries grows from 10 % with no outbound peer to 90 % with 8 or more (with few
    /// peers, prefer nodes known to work; with enough, explore). Inside the table, btcd's
    /// acceptance loop: an entry tried in the last 10 minutes is taken with 1 % chance, each
    /// consecutive failure divides the chance by 1.5, and the bar drops 1.2× per probe.
    pub(super) fn pick_candidate(
        &mut self,
        now: Instant,
        rng: &mut dyn RngCore,
    ) -> Option<Candidate> {
        let tried_n = self.tables.tried_len();
        let new_n = self.tables.new_len();
        if tried_n + new_n == 0 {
            return None;
        }
        let new_bias = (self.connected.len().min(8) * 10 + 10) as f64;
        let tried_weight = (tried_n as f64).sqrt() * (100.0 - new_bias);
        let new_weight = (new_n as f64).sqrt() * new_bias;
        let from_tried = rng.gen::<f64>() * (tried_weight + new_weight) < tried_weight;
        let sizes = self.tables.sizes();
        // Probe only buckets that hold something (CometBFT draws again on an empty one): in
        // a sparse table most probes would miss, and the uniform fallback below would
        // decide instead of the chances.
        let bucket_ids = |bucket: usize| {
            if from_tried {
                self.tables.tried_bucket_ids(bucket)
            } else {
                self.tables.new_bucket_ids(bucket)
            }
        };
        let buckets = if from_tried {
            sizes.tried_buckets
        } else {
            sizes.new_buckets
        };
        let used: Vec<usize> = (0..buckets)
            .filter(|b| !bucket_ids(*b).is_empty())
            .collect();
        let mut factor = 1.0f64;
        let mut chosen = None;
        for _ in 0..PROBES {
            let Some(bucket) = used.choose(rng) else {
                break;
            };
            let Some(id) = bucket_ids(*bucket).choose(rng).copied() else {
                continue;
            };
            let Some(entry) = self.entries.get(&id) else {
                continue;
            };
            if !self.offerable(entry, now) {
                continue;
            }
            let mut chance = 1.0f64;
            if entry
                .last_attempt
                .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(600))
            {
                chance *= 0.01;
            }
            chance /= 1.5f64.powi(entry.failures.min(64) as i32);
            if entry.is_stranger() && !entry.is_vouched_stranger(now, VOUCH_VALID_FOR) {
                chance *= UNVOUCHED_STRANGER_CHANCE;
            }
            if rng.gen::<f64>() < factor * chance {
                chosen = Some(id);
                break;
            }
            factor *= 1.2;
        }
        let id = match chosen {
            Some(id) => id,
            // Sparse tables or bad luck: any offerable entry, so one is never missed.
            None => {
                let offerable: Vec<PeerId> = self
                    .entries
                    .values()
                    .filter(|e| self.offerable(e, now))
                    .map(|e| e.id())
                    .collect();
                *offerable.choose(rng)?
            }
        };
        let timeout = self.config.hand_out_timeout;
        let entry = self.entries.get_mut(&id)?;
        entry.handed_out_until = Some(after(now, timeout));
        let hints = CandidateHints {
            answered_at: entry.status_at,
            past_sessions: u32::from(entry.last_success.is_some()),
        };
        Some(Candidate::new(entry.node).with_hints(hints))
    }

    /// When an entry that is not offerable now becomes so.
    pub(super) fn next_dialable_at(&self, now: Instant) -> Option<Instant> {
        self.entries
            .values()
            .filter(|e| !self.connected.contains(&e.id()))
            .filter_map(Entry::dialable_at)
            .min()
            .map(|at| at.max(now))
    }

    /// We had a session with `entry` in the last 24 hours (or have one now): the hint bit
    /// of an answer. Only our own sessions count, never another peer's hint.
    fn had_session(&self, entry: &Entry, now: Instant) -> bool {
        self.connected.contains(&entry.id())
            || entry
                .last_success
                .is_some_and(|at| now.saturating_duration_since(at) < GOSSIP_VERIFIED_WITHIN)
    }

    /// The records for one answer to `requester`, each with its hint.
    pub(super) fn select_gossip(
        &mut self,
        requester: &PeerId,
        limit: usize,
        now: Instant,
        rng: &mut dyn RngCore,
    ) -> Vec<GossipRecord> {
        let mut tried = Vec::new();
        let mut fresh = Vec::new();
        for entry in self.entries.values() {
            let id = entry.id();
            if id == *requester
                || Some(id) == self.local
                || entry.from_private
                || self.private.contains(&id)
                || entry.is_incompatible(now)
                || entry.is_terrible(now)
            {
                continue;
            }
            let since = |at: Instant| now.saturating_duration_since(at);
            // A session of ours that is up proves the address now, however old it is.
            let verified = if self.connected.contains(&id) {
                Some(now)
            } else {
                match entry.table {
                    Table::Tried => entry.last_success,
                    Table::New => entry.verified_at,
                }
            };
            match entry.table {
                _ if verified.is_some_and(|at| since(at) < GOSSIP_VERIFIED_WITHIN) => {
                    tried.push(entry);
                }
                Table::New
                    if entry.last_attempt.is_none()
                        && since(entry.first_seen) < GOSSIP_NEW_WITHIN =>
                {
                    fresh.push(entry);
                }
                _ => {}
            }
        }
        let eligible = tried.len() + fresh.len();
        let count = (eligible * GOSSIP_PERCENT / 100)
            .max(eligible.min(MIN_GOSSIP))
            .min(MAX_GOSSIP)
            .min(limit);
        let max_fresh = (count * MAX_NEW_GOSSIP_PERCENT).div_ceil(100);
        let fresh_n = fresh.len().min(max_fresh).min(count);
        let tried_n = tried.len().min(count - fresh_n);
        tried.shuffle(rng);
        fresh.shuffle(rng);
        tried
            .into_iter()
            .take(tried_n)
            .chain(fresh.into_iter().take(fresh_n))
            .map(|entry| GossipRecord {
                record: entry.record.clone(),
                had_session: self.had_session(entry, now),
            })
            .collect()
    }

    /// Seed mode: up to `max` entries not crawled for [`RECRAWL_AFTER`], never-verified new
    /// entries first (strangers a peer vouched for before the others), then tried entries
    /// whose last success is oldest.
    pub(super) fn crawl(&mut self, max: usize, now: Instant) -> Vec<Enr> {
        let mut due: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| self.offerable(e, now))
            .filter(|e| {
                e.crawled_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= RECRAWL_AFTER)
            })
            .collect();
        due.sort_by_key(|e| {
            let verified = e.table == Table::Tried || e.last_success.is_some();
            let unvouched = !e.is_vouched_stranger(now, VOUCH_VALID_FOR);
            (verified, unvouched, e.last_success, e.first_seen)
        });
        let ids: Vec<PeerId> = due.into_iter().take(max).map(Entry::id).collect();
        let timeout = self.config.hand_out_timeout;
        ids.iter()
            .filter_map(|id| {
                let entry = self.entries.get_mut(id)?;
                entry.crawled_at = Some(now);
                entry.handed_out_until = Some(after(now, timeout));
                Some(entry.record.clone())
            })
            .collect()
    }
}
