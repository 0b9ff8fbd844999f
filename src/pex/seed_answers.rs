//! A seed answers each remote IP at most once per [`SEED_ANSWER_INTERVAL`], across sessions:
//! CometBFT forgets a remote when it disconnects, so a client that reconnects in a loop gets
//! a fresh answer, a fresh shuffle of the book, every time. LAN and loopback addresses are
//! exempt, as from the inbound throttle (a test network on one machine is one IP).

use std::{collections::HashMap, net::IpAddr, time::Duration};

use enode::netutil::{is_lan, normalize_ip};
use tokio::time::Instant;

/// How often a seed answers one remote IP.
pub const SEED_ANSWER_INTERVAL: Duration = Duration::from_secs(60);
/// IPs remembered at most; older answers are forgotten first.
const MAX_REMEMBERED: usize = 16 * 1024;

/// The IPs a seed answered recently.
#[derive(Debug, Default)]
pub(crate) struct SeedAnswers {
    answered: HashMap<IpAddr, Instant>,
}

impl SeedAnswers {
    /// True when `ip` may be answered now (and records the answer).
    pub(crate) fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        let ip = normalize_ip(ip);
        if is_lan(ip) {
            return true;
        }
        if self
            .answered
            .get(&ip)
            .is_some_and(|at| now.saturating_duration_since(*at) < SEED_ANSWER_INTERVAL)
        {
            return false;
        }
        if self.answered.len() >= MAX_REMEMBERED {
            self.answered
                .retain(|_, at| now.saturating_duration_since(*at) < SEED_ANSWER_INTERVAL);
            if self.answered.len() >= MAX_REMEMBERED {
                // Every entry is recent: under a flood of distinct IPs forget the oldest.
                if let Some(oldest) = self
                    .answered
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(ip, _)| *ip)
                {
                    self.answered.remove(&oldest);
                }
            }
        }
        self.answered.insert(ip, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_answer_per_ip_per_minute_lan_exempt() {
        let mut answers = SeedAnswers::default();
        let now = Instant::now();
        let remote: IpAddr = "1.2.3.4".parse().unwrap();
        assert!(answers.allow(remote, now));
        assert!(!answers.allow(remote, now + Duration::from_secs(59)));
        // The same IP in its IPv4-mapped IPv6 form is the same remote.
        assert!(!answers.allow("::ffff:1.2.3.4".parse().unwrap(), now));
        assert!(answers.allow("1.2.3.5".parse().unwrap(), now));
        assert!(answers.allow(remote, now + SEED_ANSWER_INTERVAL));
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(answers.allow(local, now));
        assert!(answers.allow(local, now));
    }

    #[test]
    fn memory_is_bounded() {
        let mut answers = SeedAnswers::default();
        let now = Instant::now();
        for n in 0..(MAX_REMEMBERED as u32 + 10) {
            let ip = IpAddr::from((0x0100_0000u32 + n).to_be_bytes());
            assert!(answers.allow(ip, now));
        }
        assert!(answers.answered.len() <= MAX_REMEMBERED);
    }
}
