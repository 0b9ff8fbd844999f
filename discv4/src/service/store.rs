//! The service's view of the node database. A storage error must not stop discovery: the
//! service goes on with what it has in memory (a missing timestamp just means one more PING),
//! and the error is logged — the first one and then every 1000th, so a failing disk cannot
//! flood the log.

use std::{
    net::IpAddr,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use tracing::warn;

use crate::{
    db::{DbError, NodeDb},
    table::NodeInfo,
};

use enode::{
    NodeId, {Enr, NodeRecord},
};

/// Node database access that logs errors instead of returning them.
#[derive(Debug)]
pub(crate) struct Store {
    db: NodeDb,
    local: NodeId,
    errors: AtomicU64,
}

impl Store {
    pub(crate) fn new(db: NodeDb, local: NodeId) -> Self {
        Self {
            db,
            local,
            errors: AtomicU64::new(0),
        }
    }

    fn ok<T>(&self, what: &str, result: Result<T, DbError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                let n = self.errors.fetch_add(1, Ordering::Relaxed);
                if n.is_multiple_of(1000) {
                    warn!(target: "discv4", %error, errors = n + 1, "node database {what} failed");
                }
                None
            }
        }
    }

    pub(crate) fn last_ping(&self, id: &NodeId, ip: IpAddr) -> Option<u64> {
        self.ok("read", self.db.last_ping(id, ip)).flatten()
    }

    pub(crate) fn set_last_ping(&mut self, id: &NodeId, ip: IpAddr, t: u64) {
        let result = self.db.set_last_ping(id, ip, t);
        self.ok("write", result);
    }

    pub(crate) fn last_pong(&self, id: &NodeId, ip: IpAddr) -> Option<u64> {
        self.ok("read", self.db.last_pong(id, ip)).flatten()
    }

    pub(crate) fn set_last_pong(&mut self, id: &NodeId, ip: IpAddr, t: u64) {
        let result = self.db.set_last_pong(id, ip, t);
        self.ok("write", result);
    }

    pub(crate) fn findnode_failures(&self, id: &NodeId, ip: IpAddr) -> u32 {
        self.ok("read", self.db.findnode_failures(id, ip))
            .unwrap_or(0)
    }

    pub(crate) fn set_findnode_failures(&mut self, id: &NodeId, ip: IpAddr, failures: u32) {
        let result = self.db.set_findnode_failures(id, ip, failures);
        self.ok("write", result);
    }

    pub(crate) fn local_seq(&self) -> Option<u64> {
        self.ok("read", self.db.local_seq(&self.local)).flatten()
    }

    pub(crate) fn set_local_seq(&mut self, seq: u64) {
        let local = self.local;
        let result = self.db.set_local_seq(&local, seq);
        self.ok("write", result);
    }

    pub(crate) fn update_node(&mut self, record: &NodeRecord, enr: Option<&Enr>) {
        let result = self.db.update_node(record, enr);
        self.ok("write", result);
    }

    pub(crate) fn seeds(&mut self, n: usize, max_age: Duration, now: u64) -> Vec<NodeInfo> {
        let result = self.db.seeds(n, max_age, now, &mut rand::thread_rng());
        self.ok("seed query", result).unwrap_or_default()
    }

    pub(crate) fn expire(&mut self, now: u64) -> usize {
        let result = self.db.expire(now);
        self.ok("expiry", result).map_or(0, |stats| stats.total())
    }

    pub(crate) fn flush_if_due(&mut self) {
        if self.db.needs_flush() {
            self.flush();
        }
    }

    pub(crate) fn flush(&mut self) {
        let result = self.db.flush();
        self.ok("flush", result);
    }
}
