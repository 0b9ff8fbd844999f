//! Counting sets of subnets for the table's IP-diversity limits.

use std::{collections::HashMap, net::IpAddr};

use ipnet::IpNet;

use enode::netutil::subnet_key;

/// How many tracked addresses fall into each subnet, with a per-subnet limit.
#[derive(Debug, Clone)]
pub(crate) struct SubnetCounter {
    prefix: u8,
    limit: usize,
    counts: HashMap<IpNet, usize>,
}

impl SubnetCounter {
    pub(crate) fn new(prefix: u8, limit: usize) -> Self {
        Self {
            prefix,
            limit,
            counts: HashMap::new(),
        }
    }

    /// Counts `ip` unless its subnet is already at the limit.
    pub(crate) fn try_add(&mut self, ip: IpAddr) -> bool {
        let count = self.counts.entry(subnet_key(ip, self.prefix)).or_insert(0);
        if *count >= self.limit {
            return false;
        }
        *count += 1;
        true
    }

    pub(crate) fn remove(&mut self, ip: IpAddr) {
        let key = subnet_key(ip, self.prefix);
        if let Some(count) = self.counts.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&key);
            }
        }
    }

    /// The non-zero counts, for invariant checks.
    pub(crate) fn counts(&self) -> &HashMap<IpNet, usize> {
        &self.counts
    }

    pub(crate) fn prefix(&self) -> u8 {
        self.prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_per_subnet() {
        let mut set = SubnetCounter::new(24, 2);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(set.try_add(ip("8.8.8.1")));
        assert!(set.try_add(ip("8.8.8.2")));
        assert!(!set.try_add(ip("8.8.8.3")));
        assert!(set.try_add(ip("8.8.9.3")));
        set.remove(ip("8.8.8.1"));
        assert!(set.try_add(ip("8.8.8.3")));
        set.remove(ip("8.8.8.2"));
        set.remove(ip("8.8.8.3"));
        set.remove(ip("8.8.9.3"));
        assert!(set.counts().is_empty());
        // Removing something never added is harmless.
        set.remove(ip("1.1.1.1"));
        assert!(set.counts().is_empty());
    }
}
