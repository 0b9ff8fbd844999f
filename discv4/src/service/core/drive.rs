//! How the service drives lookups and the refresh (which is a sequence of lookups).
//!
//! The service asks each lookup (plain state in `service/lookups.rs`) for its next queries and
//! sends each FINDNODE itself — at once to a bonded node, behind a bond otherwise (see
//! `service/bonding.rs`) — and feeds the answers back as they complete. Nothing sleeps: a
//! query to a bonded node costs one FINDNODE and its NEIGHBORS.
//!
//! A lookup submitted while the table is empty is parked: the service starts a refresh and
//! starts the lookup as soon as the table holds a node, the refresh ends without one, or a
//! minute passes (geth's iterator waits the same minute).
//!
//! The refresh (geth's `doRefresh`) seeds the table from the node database and the bootnodes,
//! then runs a self-lookup and a few random lookups one after the other, like any other
//! lookup. When the last one ends the table counts as initialised and the next refresh is
//! scheduled.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::{lookup::RESULT_SIZE, table::NodeInfo};

use enode::PeerId;

use super::{
    super::{
        command::{LookupOutcome, RequestError},
        lookups::{FoundSink, Owner, MAX_LOOKUPS},
        pending::{LookupId, NeighborsWaiter},
    },
    Refresh, Service,
};

/// How long a lookup submitted with an empty table waits for a node.
const EMPTY_TABLE_WAIT: Duration = Duration::from_secs(60);

impl Service {
    /// A handle submitted a lookup.
    pub(super) fn submit_lookup(&mut self, target: PeerId, owner: Owner) {
        if self.lookups.client_count() >= MAX_LOOKUPS {
            if let Owner::Client { reply, .. } = owner {
                let _ = reply.send(Err(RequestError::TooManyRequests));
            }
            return;
        }
        if self.table.is_empty() {
            // A refresh puts the seeds and bootnodes in; when it has none, it ends at once.
            self.start_refresh();
            if self.table.is_empty() && self.is_refreshing() {
                self.lookups
                    .park(target, owner, Instant::now() + EMPTY_TABLE_WAIT);
                return;
            }
        }
        self.start_lookup(target, owner);
    }

    /// Starts a lookup seeded with the table's closest nodes.
    pub(super) fn start_lookup(&mut self, target: PeerId, owner: Owner) {
        self.metrics.lookup_started();
        let seeds = self
            .table
            .closest(&target.node_id(), RESULT_SIZE, false)
            .into_iter()
            .map(|e| e.record)
            .collect();
        self.lookups
            .start(target, self.local.peer_id().node_id(), seeds, owner);
    }

    /// Starts the parked lookups that may go: the table has a node, no refresh runs any more,
    /// or their wait ended. Returns whether any started.
    pub(super) fn unpark_lookups(&mut self) -> bool {
        let ready = !self.table.is_empty() || !self.is_refreshing();
        let go = self.lookups.unpark(ready, Instant::now());
        let started = !go.is_empty();
        for (target, owner) in go {
            self.start_lookup(target, owner);
        }
        started
    }

    /// Sends the next queries of a lookup, and reports it when it has finished.
    pub(super) async fn drive_lookup(&mut self, id: LookupId) {
        let Some((target, queries)) = self.lookups.next_queries(id) else {
            return;
        };
        for node in queries {
            self.findnode(node, target, NeighborsWaiter::Lookup(id), true)
                .await;
        }
        let Some(finished) = self.lookups.take_if_done(id) else {
            return;
        };
        match finished.owner {
            Owner::Client { reply, found } => {
                let undelivered = found.map(FoundSink::into_undelivered).unwrap_or_default();
                let _ = reply.send(Ok(LookupOutcome {
                    closest: finished.closest,
                    undelivered,
                }));
            }
            Owner::Refresh => self.refresh_lookup_done(),
        }
    }

    // ---------------------------------------------------------------- refresh

    /// Whether a refresh is running.
    pub(super) const fn is_refreshing(&self) -> bool {
        self.refresh.is_some()
    }

    /// Draws the time of the next refresh.
    pub(super) fn schedule_refresh(&mut self) {
        let (min, max) = self.config.refresh_interval;
        let wait = if max > min {
            rand::thread_rng().gen_range(min..max)
        } else {
            min
        };
        self.next_refresh = Instant::now() + wait;
    }

    /// Seeds the table from the database and the bootnodes, then starts the self-lookup (no-op
    /// when a refresh is running).
    pub(super) fn start_refresh(&mut self) {
        if self.is_refreshing() {
            return;
        }
        self.refresh = Some(Refresh {
            random_lookups_left: self.config.refresh_random_lookups,
        });
        let now = Instant::now();
        self.last_refresh_start = Some(now);
        // Far in the future until the refresh ends and schedules the next one.
        self.next_refresh = now + self.config.refresh_interval.1;
        let seeds = self.db.seeds(
            self.config.seed_count,
            self.config.seed_max_age,
            self.clock.now_secs(),
        );
        let seed_count = seeds.len();
        for seed in seeds {
            let _ = self.table.add_found(seed, now);
        }
        for bootnode in self.config.bootnodes.clone() {
            if self.allowed_by_netrestrict(bootnode.address) {
                let _ = self.table.add_found(NodeInfo::new(bootnode), now);
            } else {
                warn!(target: "discv4", node = %bootnode.enode_url(), "bootnode outside --netrestrict ignored");
            }
        }
        debug!(target: "discv4", seeds = seed_count, bootnodes = self.config.bootnodes.len(), "refreshing table");
        self.start_lookup(self.local.peer_id(), Owner::Refresh);
    }

    /// One lookup of the refresh ended: start the next, or finish the refresh.
    pub(super) fn refresh_lookup_done(&mut self) {
        let Some(refresh) = &mut self.refresh else {
            return;
        };
        if refresh.random_lookups_left > 0 {
            refresh.random_lookups_left -= 1;
            self.start_lookup(PeerId::random(), Owner::Refresh);
            return;
        }
        self.refresh = None;
        if !self.table.is_init_done() {
            info!(target: "discv4", nodes = self.table.len(), "initial table refresh done");
        }
        self.table.set_init_done();
        self.schedule_refresh();
    }
}
