//! The service's view of the node database. A storage error must not stop discovery: the
//! service goes on with what it has in memory (a missing timestamp just means one more PING),
//! and the error is logged — the first one and then every 1000th, so a failing disk cannot
//! flood the log.
//!
//! The endpoint state every packet consults (last PING, last PONG, FINDNODE failures per id and
//! IP) is cached in a bounded LRU in front of the database: every PING asks whether its sender
//! is bonded, and opening a database read transaction per packet cost ~1–2% of a loaded node's
//! CPU. Writes go to both (the database buffers and flushes them as before); a value absent from
//! the database is cached too, so a flood of PINGs from fresh keys reads each key once.
//! An in-memory database (simulations, nodes without a data directory) is read directly: it
//! is a map lookup already, and a cache in front of it would hold every row twice.

use std::{
    net::IpAddr,
    num::NonZeroUsize,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use lru::LruCache;
use tracing::warn;

use crate::{
    db::{DbError, NodeDb},
    table::NodeInfo,
};

use enode::{
    NodeId, {Enr, NodeRecord},
};

/// Endpoints whose state is kept in memory: ~100 bytes each, so ~6.5 MiB when full; beyond the
/// table's few hundred nodes this holds the recently active pingers.
const CACHED_ENDPOINTS: NonZeroUsize = NonZeroUsize::new(65_536).unwrap();

/// What the database says about one endpoint; `None`: not read yet.
#[derive(Debug, Default, Clone, Copy)]
struct CachedEndpoint {
    last_ping: Option<Option<u64>>,
    last_pong: Option<Option<u64>>,
    findnode_failures: Option<u32>,
}

/// Node database access that logs errors instead of returning them.
#[derive(Debug)]
pub(crate) struct Store {
    db: NodeDb,
    local: NodeId,
    errors: AtomicU64,
    /// `None` in front of an in-memory database.
    endpoints: Option<LruCache<(NodeId, IpAddr), CachedEndpoint>>,
    /// Endpoint reads that had to go to the database (for tests).
    db_reads: u64,
}

impl Store {
    pub(crate) fn new(db: NodeDb, local: NodeId) -> Self {
        let capacity = db.path().is_some().then_some(CACHED_ENDPOINTS);
        Self::with_cache_capacity(db, local, capacity)
    }

    fn with_cache_capacity(db: NodeDb, local: NodeId, capacity: Option<NonZeroUsize>) -> Self {
        Self {
            db,
            local,
            errors: AtomicU64::new(0),
            // `sparse`: grows with the endpoints actually seen.
            endpoints: capacity.map(LruCache::sparse),
            db_reads: 0,
        }
    }

    fn cached(&mut self, id: &NodeId, ip: IpAddr) -> Option<&mut CachedEndpoint> {
        self.endpoints
            .as_mut()
            .map(|cache| cache.get_or_insert_mut((*id, ip), CachedEndpoint::default))
    }

    /// Updates what the cache holds for an endpoint (nothing without a cache).
    fn remember(&mut self, id: &NodeId, ip: IpAddr, update: impl FnOnce(&mut CachedEndpoint)) {
        if let Some(cached) = self.cached(id, ip) {
            update(cached);
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

    pub(crate) fn last_ping(&mut self, id: &NodeId, ip: IpAddr) -> Option<u64> {
        if let Some(known) = self.cached(id, ip).and_then(|c| c.last_ping) {
            return known;
        }
        self.db_reads += 1;
        let result = self.db.last_ping(id, ip);
        // A failed read is not cached: the next packet tries the database again.
        let value = self.ok("read", result)?;
        self.remember(id, ip, |c| c.last_ping = Some(value));
        value
    }

    pub(crate) fn set_last_ping(&mut self, id: &NodeId, ip: IpAddr, t: u64) {
        self.remember(id, ip, |c| c.last_ping = Some(Some(t)));
        let result = self.db.set_last_ping(id, ip, t);
        self.ok("write", result);
    }

    pub(crate) fn last_pong(&mut self, id: &NodeId, ip: IpAddr) -> Option<u64> {
        if let Some(known) = self.cached(id, ip).and_then(|c| c.last_pong) {
            return known;
        }
        self.db_reads += 1;
        let result = self.db.last_pong(id, ip);
        let value = self.ok("read", result)?;
        self.remember(id, ip, |c| c.last_pong = Some(value));
        value
    }

    pub(crate) fn set_last_pong(&mut self, id: &NodeId, ip: IpAddr, t: u64) {
        self.remember(id, ip, |c| c.last_pong = Some(Some(t)));
        let result = self.db.set_last_pong(id, ip, t);
        self.ok("write", result);
    }

    pub(crate) fn findnode_failures(&mut self, id: &NodeId, ip: IpAddr) -> u32 {
        if let Some(known) = self.cached(id, ip).and_then(|c| c.findnode_failures) {
            return known;
        }
        self.db_reads += 1;
        let result = self.db.findnode_failures(id, ip);
        let Some(value) = self.ok("read", result) else {
            return 0;
        };
        self.remember(id, ip, |c| c.findnode_failures = Some(value));
        value
    }

    pub(crate) fn set_findnode_failures(&mut self, id: &NodeId, ip: IpAddr, failures: u32) {
        self.remember(id, ip, |c| c.findnode_failures = Some(failures));
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
        // Expiry deletes endpoints from the database; forget what the cache says about them.
        if let Some(cache) = &mut self.endpoints {
            cache.clear();
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

    fn store(capacity: usize) -> Store {
        let db = NodeDb::in_memory().unwrap();
        let capacity = NonZeroUsize::new(capacity).unwrap();
        Store::with_cache_capacity(db, NodeId([0; 32]), Some(capacity))
    }

    #[test]
    fn repeated_reads_of_one_endpoint_go_to_the_database_once() {
        let mut store = store(16);
        let id = NodeId([1; 32]);
        for _ in 0..100 {
            assert_eq!(store.last_pong(&id, IP), None);
            assert_eq!(store.last_ping(&id, IP), None);
        }
        assert_eq!(store.db_reads, 2);
        store.set_last_pong(&id, IP, 42);
        store.flush();
        assert_eq!(store.last_pong(&id, IP), Some(42));
        assert_eq!(store.db_reads, 2);
    }

    #[test]
    fn an_evicted_endpoint_is_read_back_from_the_database() {
        let mut store = store(2);
        let id = NodeId([1; 32]);
        store.set_last_pong(&id, IP, 7);
        store.set_findnode_failures(&id, IP, 3);
        store.flush();
        for i in 2..10u8 {
            store.set_last_ping(&NodeId([i; 32]), IP, 1);
        }
        assert_eq!(store.last_pong(&id, IP), Some(7));
        assert_eq!(store.findnode_failures(&id, IP), 3);
        assert_eq!(store.db_reads, 2);
        assert!(store
            .endpoints
            .as_ref()
            .is_some_and(|cache| cache.len() <= 2));
    }

    #[test]
    fn an_in_memory_database_is_read_directly_and_a_file_is_cached() {
        let mut store = Store::new(NodeDb::in_memory().unwrap(), NodeId([0; 32]));
        assert!(store.endpoints.is_none());
        let id = NodeId([1; 32]);
        store.set_last_pong(&id, IP, 42);
        store.set_findnode_failures(&id, IP, 2);
        for _ in 0..10 {
            assert_eq!(store.last_pong(&id, IP), Some(42));
            assert_eq!(store.findnode_failures(&id, IP), 2);
        }
        assert_eq!(store.db_reads, 20);

        let dir = std::env::temp_dir().join(format!("kadnode-store-cache-{}", std::process::id()));
        let (db, _) = NodeDb::open(&dir).unwrap();
        let mut store = Store::new(db, NodeId([0; 32]));
        assert!(store.endpoints.is_some());
        store.set_last_pong(&id, IP, 42);
        for _ in 0..10 {
            assert_eq!(store.last_pong(&id, IP), Some(42));
        }
        assert_eq!(store.db_reads, 0);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
