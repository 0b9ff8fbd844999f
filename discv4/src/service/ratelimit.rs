//! Per-IP ingress rate limit: a token bucket per source IP, checked before any signature is
//! verified, so a flood from one address costs a hash-map lookup, not an ECDSA recovery.
//!
//! The set of tracked IPs is an LRU of bounded size: a flood from many spoofed addresses
//! evicts old buckets instead of growing memory. Evicting a bucket can only make the limiter
//! more lenient for that address, never stricter.

use std::{net::IpAddr, num::NonZeroUsize, time::Duration};

use lru::LruCache;
use tokio::time::Instant;

/// Configuration of the per-IP ingress limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Sustained packets per second allowed from one IP. `0` disables the limit.
    pub packets_per_second: u32,
    /// Burst size (bucket capacity) in packets.
    pub burst: u32,
    /// How many source IPs are tracked at once.
    pub max_tracked_ips: usize,
    /// Loopback sources are not limited (local tools, tests and co-located nodes).
    pub exempt_loopback: bool,
}

impl Default for RateLimitConfig {
    /// 50 packets/s with bursts of 200: a lookup's NEIGHBORS replies and a busy peer's
    /// revalidation fit easily; a flood does not.
    fn default() -> Self {
        Self {
            packets_per_second: 50,
            burst: 200,
            max_tracked_ips: 65_536,
            exempt_loopback: true,
        }
    }
}

impl RateLimitConfig {
    /// True when packets from `ip` are never limited (limit disabled, or an exempt loopback
    /// source): callers can skip the shared limiter, and its lock, altogether.
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        self.packets_per_second == 0 || (self.exempt_loopback && ip.is_loopback())
    }

    /// `packets_per_second` from each IP with bursts of four times that (the default's ratio),
    /// loopback exempt; `0` disables the limit.
    pub fn per_ip(packets_per_second: u32) -> Self {
        Self {
            packets_per_second,
            burst: packets_per_second.saturating_mul(4),
            ..Self::default()
        }
    }

    /// A configuration that lets everything through.
    pub const fn unlimited() -> Self {
        Self {
            packets_per_second: 0,
            burst: 0,
            max_tracked_ips: 1,
            exempt_loopback: true,
        }
    }
}

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    updated: Instant,
    rate: f64,
    burst: f64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_second: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            tokens: burst,
            updated: now,
            rate: f64::from(rate_per_second),
            burst,
        }
    }

    /// Tokens in the bucket at `now`, refilled since the last take and capped at the burst.
    fn tokens_at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated);
        (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst)
    }

    /// Whether the bucket has refilled to its burst by `now`: then it is no different from a
    /// new one and need not be kept.
    pub fn is_full(&self, now: Instant) -> bool {
        self.tokens_at(now) >= self.burst
    }

    /// Whether [`take`](Self::take) would find a token at `now`, without taking it.
    pub fn has_token(&self, now: Instant) -> bool {
        self.tokens_at(now) >= 1.0
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.tokens = self.tokens_at(now);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Tracked IPs below which refilled buckets are not swept.
const MIN_SWEEP_LEN: usize = 256;

/// Token buckets per source IP.
#[derive(Debug)]
pub struct IpRateLimiter {
    config: RateLimitConfig,
    buckets: LruCache<IpAddr, TokenBucket>,
    /// When the map reaches this size, buckets that have refilled are dropped.
    sweep_at: usize,
}

impl IpRateLimiter {
    /// A limiter with the given configuration.
    pub fn new(config: RateLimitConfig) -> Self {
        let capacity = NonZeroUsize::new(config.max_tracked_ips).unwrap_or(NonZeroUsize::MIN);
        Self {
            config,
            // `sparse`: the map grows with the IPs actually seen. `new` would allocate room for
            // all `max_tracked_ips` up front (~2 MiB at the default 65,536) in every service.
            buckets: LruCache::sparse(capacity),
            sweep_at: MIN_SWEEP_LEN,
        }
    }

    /// Takes one token for `ip`; false means drop the packet.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.config.is_exempt(ip) {
            return true;
        }
        if self.buckets.len() >= self.sweep_at {
            self.sweep(now);
        }
        let (rate, burst) = (self.config.packets_per_second, self.config.burst);
        self.buckets
            .get_or_insert_mut(ip, || TokenBucket::new(rate, burst, now))
            .take(now)
    }

    /// Drops the buckets that have refilled (a new bucket would be the same), so the map holds
    /// the IPs sending now rather than every IP ever seen up to `max_tracked_ips`. Runs when
    /// the map has doubled since the last sweep: amortised O(1) per packet.
    fn sweep(&mut self, now: Instant) {
        let refilled: Vec<IpAddr> = self
            .buckets
            .iter()
            .filter(|(_, bucket)| bucket.is_full(now))
            .map(|(ip, _)| *ip)
            .collect();
        for ip in refilled {
            self.buckets.pop(&ip);
        }
        self.sweep_at = (2 * self.buckets.len()).max(MIN_SWEEP_LEN);
    }

    /// Number of IPs currently tracked.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// Time for a drained bucket to allow one packet again (for documentation and tests).
pub fn refill_interval(config: &RateLimitConfig) -> Option<Duration> {
    (config.packets_per_second > 0)
        .then(|| Duration::from_secs_f64(1.0 / f64::from(config.packets_per_second)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8));

    #[tokio::test(start_paused = true)]
    async fn burst_then_sustained_rate() {
        let config = RateLimitConfig {
            packets_per_second: 10,
            burst: 5,
            ..Default::default()
        };
        let mut limiter = IpRateLimiter::new(config);
        let now = Instant::now();
        assert_eq!((0..10).filter(|_| limiter.allow(IP, now)).count(), 5);
        let later = now + refill_interval(&config).unwrap();
        assert!(limiter.allow(IP, later));
        assert!(!limiter.allow(IP, later));
        // Other addresses have their own bucket.
        assert!(limiter.allow(IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4)), later));
    }

    #[tokio::test(start_paused = true)]
    async fn loopback_exempt_and_disabled_limit() {
        let config = RateLimitConfig {
            packets_per_second: 1,
            burst: 1,
            ..Default::default()
        };
        let mut limiter = IpRateLimiter::new(config);
        let now = Instant::now();
        assert!((0..100).all(|_| limiter.allow(IpAddr::V4(Ipv4Addr::LOCALHOST), now)));
        let mut open = IpRateLimiter::new(RateLimitConfig::unlimited());
        assert!((0..100).all(|_| open.allow(IP, now)));
    }

    #[tokio::test(start_paused = true)]
    async fn loopback_is_limited_when_not_exempt() {
        let config = RateLimitConfig {
            exempt_loopback: false,
            ..RateLimitConfig::per_ip(1)
        };
        assert_eq!(config.burst, 4);
        assert!(!config.is_exempt(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let mut limiter = IpRateLimiter::new(config);
        let now = Instant::now();
        for ip in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            assert_eq!((0..100).filter(|_| limiter.allow(ip, now)).count(), 4);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn refilled_buckets_are_swept_and_busy_ones_kept() {
        let config = RateLimitConfig {
            packets_per_second: 10,
            burst: 5,
            ..Default::default()
        };
        let mut limiter = IpRateLimiter::new(config);
        let start = Instant::now();
        let ip = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        // A busy IP drains its bucket.
        assert_eq!((0..10).filter(|_| limiter.allow(IP, start)).count(), 5);
        for i in 0..MIN_SWEEP_LEN as u32 - 1 {
            limiter.allow(ip(i), start);
        }
        assert_eq!(limiter.tracked(), MIN_SWEEP_LEN);
        // 0.2 s later the one-packet buckets have refilled (10/s, burst 5); the busy one has not.
        let later = start + Duration::from_millis(200);
        limiter.allow(ip(9999), later);
        assert_eq!(limiter.tracked(), 2);
        // The drained bucket was kept: two refills, not a fresh burst of five.
        assert_eq!((0..10).filter(|_| limiter.allow(IP, later)).count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn tracked_ips_are_bounded() {
        let config = RateLimitConfig {
            max_tracked_ips: 100,
            ..Default::default()
        };
        let mut limiter = IpRateLimiter::new(config);
        let now = Instant::now();
        for i in 0..10_000u32 {
            limiter.allow(IpAddr::V4(Ipv4Addr::from(0x0800_0000 + i)), now);
        }
        assert_eq!(limiter.tracked(), 100);
    }
}
