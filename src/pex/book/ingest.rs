//! Taking in gossiped records. Every record arrives signed and verified (the wire decoder
//! checks signatures); the book decides whether it is usable, whether it is new, and whether
//! the caps let it in. A known id changes its record only for a higher sequence number, so
//! nobody but the owner can move an id to another address.

use std::time::Duration;

use enode::{enr_peer_id, enr_to_node_record, netutil::check_relay};
use tokio::time::Instant;

use super::{entry::Entry, group::Group, AddressBook};
use crate::pex::api::{GossipRecord, GossipSource, IngestReport};

/// Records counted from one batch (a Peers message carries at most 64).
pub(crate) const MAX_RECORDS_PER_BATCH: usize = 64;
const HOUR: Duration = Duration::from_secs(3600);

impl AddressBook {
    pub(super) fn ingest_records(
        &mut self,
        source: GossipSource,
        records: Vec<GossipRecord>,
        now: Instant,
    ) -> IngestReport {
        let mut report = IngestReport::default();
        if self.bans.is_banned(&source.id, now) {
            report.ignored = records.len();
            return report;
        }
        let source_group = Group::of(source.ip);
        for (n, gossip) in records.into_iter().enumerate() {
            let GossipRecord {
                record,
                had_session,
            } = gossip;
            if n >= MAX_RECORDS_PER_BATCH {
                report.ignored += 1;
                continue;
            }
            let (Ok(id), Ok(node)) = (enr_peer_id(&record), enr_to_node_record(&record)) else {
                report.invalid += 1;
                continue;
            };
            if Some(id) == self.local
                || self.bans.is_banned(&id, now)
                || self.bans.is_ip_banned(node.address, now)
                || node.tcp_port == 0
                // A loopback or LAN address is only believed from a peer on that network.
                || check_relay(source.ip, node.address).is_err()
            {
                report.ignored += 1;
                continue;
            }
            let own_status = id == source.id;
            // A peer vouching for itself says nothing.
            let vouched = had_session && !own_status;
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.last_seen = now;
                entry.note_claims(now, own_status, vouched);
                if record.seq() > entry.record.seq() {
                    if entry.node.address == node.address && entry.node.tcp_port == node.tcp_port {
                        entry.record = record;
                        entry.node = node;
                    } else {
                        self.replace_record(&id, record, node, now);
                        // The moved entry starts afresh; what this message says of it holds.
                        if let Some(entry) = self.entries.get_mut(&id) {
                            entry.note_claims(now, own_status, vouched);
                        }
                    }
                    report.updated += 1;
                } else {
                    report.ignored += 1;
                }
                if own_status && self.connected.contains(&id) {
                    // We dialed it and it proved its record in the session: verified.
                    self.promote(&id, now);
                } else if !own_status {
                    self.add_new_ref(&id, source_group, now);
                }
                continue;
            }
            if !own_status && !self.take_quota(source.id, now) {
                report.ignored += 1;
                continue;
            }
            let (per_ip, per_subnet) = self.cap_counts(node.address);
            if per_ip >= self.config.per_ip || per_subnet >= self.config.per_subnet {
                report.ignored += 1;
                continue;
            }
            let mut entry = Entry::new(record, node, source.id, source_group, now);
            entry.from_private = source.private || self.private.contains(&id);
            entry.note_claims(now, own_status, vouched);
            // A node we dialed before the book knew it (a configured seed): the Connected
            // outcome came first and found no entry; this Status completes it.
            let dialed = own_status && self.connected.contains(&id);
            if dialed {
                entry.dial_succeeded(now);
            }
            if self.insert_new(entry, now) {
                if dialed {
                    self.promote(&id, now);
                }
                report.added += 1;
            } else {
                report.ignored += 1;
            }
        }
        report
    }

    /// Counts one new entry against `source`'s hourly quota; false when it is used up.
    fn take_quota(&mut self, source: enode::PeerId, now: Instant) -> bool {
        if self.quotas.len() > self.config.per_source_per_hour.max(1024).saturating_mul(4) {
            self.quotas
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < HOUR);
        }
        let (start, count) = self.quotas.entry(source).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= HOUR {
            *start = now;
            *count = 0;
        }
        if *count >= self.config.per_source_per_hour {
            return false;
        }
        *count += 1;
        true
    }
}
