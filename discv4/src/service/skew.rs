//! Clock-skew detection. discv4 packets carry absolute expiration times, so a local clock that
//! is off by more than ~20 s makes every packet look expired and discovery silently dies — the
//! most confusing failure operators report. We count expired packets per interval and warn.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Packets needed in an interval before the ratio means anything.
const MIN_SAMPLES: u64 = 10;

/// Counters filled by the ingress workers and read by the service once per interval.
#[derive(Debug, Default)]
pub struct SkewDetector {
    total: AtomicU64,
    expired: AtomicU64,
    /// Sum of (expiration − now) in seconds over expired packets, for the drift estimate.
    expired_offset_sum: AtomicI64,
}

/// What the detector concluded for one interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkewReport {
    /// Packets with an expiration field seen in the interval.
    pub total: u64,
    /// Of those, expired.
    pub expired: u64,
    /// Estimated local clock lead in seconds (positive: our clock is ahead), assuming
    /// senders put now + 20 s into their packets.
    pub estimated_drift_secs: i64,
}

impl SkewDetector {
    /// Records one packet that carried an expiration; `offset_secs` = expiration − now.
    pub fn observe(&self, expired: bool, offset_secs: i64) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if expired {
            self.expired.fetch_add(1, Ordering::Relaxed);
            self.expired_offset_sum
                .fetch_add(offset_secs, Ordering::Relaxed);
        }
    }

    /// Ends the interval: returns a report when at least `ratio` of enough packets were
    /// expired, and resets the counters either way.
    pub fn take_report(&self, ratio: f64) -> Option<SkewReport> {
        let total = self.total.swap(0, Ordering::Relaxed);
        let expired = self.expired.swap(0, Ordering::Relaxed);
        let offset_sum = self.expired_offset_sum.swap(0, Ordering::Relaxed);
        if total < MIN_SAMPLES || (expired as f64) < ratio * total as f64 {
            return None;
        }
        let mean_offset = offset_sum / i64::try_from(expired.max(1)).unwrap_or(i64::MAX);
        // A sender's packet expires 20 s after it was sent; an offset of −x means our clock is
        // about x + 20 s ahead of the sender's.
        Some(SkewReport {
            total,
            expired,
            estimated_drift_secs: -mean_offset + 20,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_only_when_most_packets_are_expired() {
        let detector = SkewDetector::default();
        for _ in 0..20 {
            detector.observe(false, 19);
        }
        detector.observe(true, -100);
        assert_eq!(detector.take_report(0.5), None);

        for _ in 0..15 {
            detector.observe(true, -100);
        }
        for _ in 0..5 {
            detector.observe(false, 19);
        }
        let report = detector.take_report(0.5).unwrap();
        assert_eq!(report.expired, 15);
        assert_eq!(report.total, 20);
        assert_eq!(report.estimated_drift_secs, 120);
        // Counters were reset.
        assert_eq!(detector.take_report(0.0), None);
    }

    #[test]
    fn too_few_samples_never_warn() {
        let detector = SkewDetector::default();
        for _ in 0..5 {
            detector.observe(true, -1000);
        }
        assert_eq!(detector.take_report(0.5), None);
    }
}
