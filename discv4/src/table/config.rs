//! Table sizes, limits and revalidation intervals.

use std::time::Duration;

/// Number of buckets: log-distances ≤ 240 share bucket 0, 241..=256 get one bucket each.
pub const N_BUCKETS: usize = 17;
/// Log-distances up to and including this value all go to bucket 0.
pub const BUCKET_MIN_DISTANCE: u32 = 240;
/// Entries per bucket (Kademlia k). Also the number of nodes a FINDNODE answer carries.
pub const BUCKET_SIZE: usize = 16;
/// Replacement-list length per bucket.
pub const MAX_REPLACEMENTS: usize = 10;

/// Tunables of the [`Table`](super::Table). `Default` gives go-ethereum's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    /// Live entries per bucket. Default 16.
    pub bucket_size: usize,
    /// Replacement-list length per bucket (newest first; the oldest falls off). Default 10.
    pub max_replacements: usize,
    /// Nodes (entries + replacements) per subnet in one bucket. Default 2.
    pub bucket_ip_limit: usize,
    /// Nodes (entries + replacements) per subnet in the whole table. Default 10.
    pub table_ip_limit: usize,
    /// Prefix length of the subnets the IP limits count by, applied to IPv4 and IPv6 alike
    /// (as geth does). Default 24.
    pub ip_subnet_prefix: u8,
    /// Exempt LAN and loopback addresses from the IP limits. Default true.
    pub exempt_lan_from_ip_limits: bool,
    /// Interval of the fast revalidation list (new or recently failed nodes). Default 3 s
    /// (geth's `PingInterval`).
    pub fast_revalidation_interval: Duration,
    /// Interval of the slow revalidation list (nodes that answered their last check).
    /// Default 9 s.
    pub slow_revalidation_interval: Duration,
    /// A new bucket entry is not checked before it has been in the bucket this long.
    /// Default 5 s.
    pub revalidation_grace: Duration,
    /// A node that answers a check is reported as worth persisting when it is live and its
    /// liveness-check count is strictly greater than this. Default 5.
    pub persist_min_liveness_checks: u32,
    /// Bound on the queue of undrained [`TableEvent`](super::TableEvent)s; the oldest are
    /// dropped (and counted) beyond it. Default 4096.
    pub max_pending_events: usize,
}

impl Default for TableConfig {
    fn default() -> Self {
        Self {
            bucket_size: BUCKET_SIZE,
            max_replacements: MAX_REPLACEMENTS,
            bucket_ip_limit: 2,
            table_ip_limit: 10,
            ip_subnet_prefix: 24,
            exempt_lan_from_ip_limits: true,
            fast_revalidation_interval: Duration::from_secs(3),
            slow_revalidation_interval: Duration::from_secs(9),
            revalidation_grace: Duration::from_secs(5),
            persist_min_liveness_checks: 5,
            max_pending_events: 4096,
        }
    }
}
