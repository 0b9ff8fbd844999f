//! Configuration of the discv4 service, with go-ethereum's numbers as defaults.

use std::{net::IpAddr, time::Duration};

use crate::table::TableConfig;

use enode::{netutil::NetRestrict, NodeRecord};

use super::ratelimit::RateLimitConfig;

/// Everything the discv4 service can be tuned with. `Default` gives geth's behaviour.
#[derive(Debug, Clone)]
pub struct Discv4Config {
    /// Nodes contacted at start and on every refresh (geth's "nursery").
    pub bootnodes: Vec<NodeRecord>,
    /// Table limits and revalidation intervals.
    pub table: TableConfig,
    /// Deadline for a reply to one request (geth `respTimeout`): 500 ms.
    pub request_timeout: Duration,
    /// Expiration put into every outgoing packet: now + 20 s.
    pub packet_expiration: Duration,
    /// How long an endpoint proof (a valid PONG from an id and IP) counts: 24 h.
    pub bond_expiration: Duration,
    /// Bonding before a request: once our PING has ended, the request waits for the node's own
    /// PING (its proof of our endpoint, answered by our PONG) and goes out as soon as it
    /// arrives — or after this long when the node does not PING back (it may still hold a proof
    /// from earlier). geth always sleeps this long: 500 ms.
    pub bond_settle_delay: Duration,
    /// Refresh interval bounds: the timer is drawn uniformly from `[min, max)`.
    pub refresh_interval: (Duration, Duration),
    /// Minimum spacing between refreshes triggered because the table became empty.
    pub empty_table_refresh_spacing: Duration,
    /// Random lookups run by each refresh (after the self-lookup).
    pub refresh_random_lookups: usize,
    /// Minimum time between the starts of two random-walk lookups: 1 s.
    pub walk_lookup_spacing: Duration,
    /// Consecutive FINDNODE failures before a node is dropped (if its bucket has at least
    /// `min_bucket_for_failure_drop` entries).
    pub max_findnode_failures: u32,
    /// See `max_findnode_failures`: small networks keep their bootnode.
    pub min_bucket_for_failure_drop: usize,
    /// Nodes loaded from the database as seeds on each refresh: 30.
    pub seed_count: usize,
    /// Seeds must have answered within this window: 5 days.
    pub seed_max_age: Duration,
    /// How often the database drops nodes whose last PONG is older than 24 h: hourly.
    pub db_expiry_interval: Duration,
    /// Per-IP ingress rate limit, applied before signature verification.
    pub rate_limit: RateLimitConfig,
    /// PINGs we send back to unknown pingers, per second at most (with a burst of the same
    /// size). Each costs a signature (in the ingress workers, in parallel) and sends a packet
    /// to an address we have not verified: a flood of PINGs from fresh keys or spoofed
    /// sources (which defeat the per-IP limit) would otherwise turn the node's CPU into
    /// signatures and the node into a reflector. Pingers over the cap still get their PONG;
    /// the ping-back waits for their next PING. `0` disables the cap.
    pub max_ping_backs_per_second: u32,
    /// While the socket has a backlog (a flood), signature recoveries per second spent on
    /// senders whose endpoint has no proof with us; their other datagrams are dropped
    /// unverified (counted as `overloaded`), so the socket drains and bonded peers are still
    /// answered. Nothing is shed without a backlog. `0` disables shedding.
    pub overload_unknown_per_second: u32,
    /// Tasks that receive and verify packets in parallel (default: one per core).
    pub ingress_workers: usize,
    /// Verified packets buffered between the ingress workers and the service; when full,
    /// further packets are dropped (and counted), never queued without bound.
    pub ingress_queue: usize,
    /// Outstanding requests (pings, findnodes, ENR requests) the service keeps at once.
    pub max_pending_requests: usize,
    /// Optional CIDR allow-list for bootnodes and NEIGHBORS entries.
    pub netrestrict: Option<NetRestrict>,
    /// A static external IP for our record (`--nat extip:<IP>`); disables prediction of the IP.
    pub external_ip: Option<IpAddr>,
    /// TCP port announced in our record and PINGs (0: no TCP, e.g. a bootnode).
    pub tcp_port: u16,
    /// Application entries of our ENR (EIP-868): key and the RLP encoding of its value, e.g.
    /// `("eth", rlp([[fork hash, fork next]]))` so that go-ethereum's dialer, which dials only
    /// nodes with a matching `eth` entry, picks us. Keys of the record itself (`id`, `ip`,
    /// `udp`, …) are refused at start.
    pub enr_entries: Vec<(String, Vec<u8>)>,
    /// Capacity of the table-event broadcast channel; slow subscribers see `Lagged`.
    pub event_capacity: usize,
    /// Warn about clock skew when at least this share of recent packets arrived expired.
    pub skew_warning_ratio: f64,
}

impl Default for Discv4Config {
    fn default() -> Self {
        Self {
            bootnodes: Vec::new(),
            table: TableConfig::default(),
            request_timeout: Duration::from_millis(500),
            packet_expiration: Duration::from_secs(20),
            bond_expiration: Duration::from_secs(24 * 60 * 60),
            bond_settle_delay: Duration::from_millis(500),
            refresh_interval: (Duration::from_secs(15 * 60), Duration::from_secs(30 * 60)),
            empty_table_refresh_spacing: Duration::from_secs(10),
            refresh_random_lookups: 3,
            walk_lookup_spacing: Duration::from_secs(1),
            max_findnode_failures: 5,
            min_bucket_for_failure_drop: 4,
            seed_count: 30,
            seed_max_age: Duration::from_secs(5 * 24 * 60 * 60),
            db_expiry_interval: Duration::from_secs(60 * 60),
            rate_limit: RateLimitConfig::default(),
            max_ping_backs_per_second: 1000,
            overload_unknown_per_second: 500,
            ingress_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            ingress_queue: 1024,
            max_pending_requests: 4096,
            netrestrict: None,
            external_ip: None,
            tcp_port: 0,
            enr_entries: Vec::new(),
            event_capacity: 1024,
            skew_warning_ratio: 0.5,
        }
    }
}
