//! Packet expiration timestamps (Unix seconds) and the signed comparison geth uses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far in the future outgoing packets expire (geth: 20 s).
pub const DEFAULT_EXPIRATION: Duration = Duration::from_secs(20);

/// Current Unix time in whole seconds (0 if the clock is before 1970).
pub fn now_unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The expiration value for a packet sent now that should live for `ttl`.
///
/// Clamped to `i64::MAX` so that a huge `ttl` never wraps into the "past" half of the
/// signed range that [`is_expired`] uses.
pub fn expiration_after(ttl: Duration) -> u64 {
    now_unix_secs()
        .saturating_add(ttl.as_secs())
        .min(i64::MAX as u64)
}

/// True when a packet with this `expiration` must be dropped at `now_unix_secs`.
///
/// The value is read as a *signed* 64-bit second count, as geth does, so anything
/// `>= 2^63` is far in the past (the conformance suite sends `2^64 - (now + 20)`).
/// A timestamp equal to the current second is already expired: geth compares it with a
/// sub-second clock, which is later than the start of that second.
pub fn is_expired(expiration: u64, now_unix_secs: u64) -> bool {
    (expiration as i64) <= (now_unix_secs as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn future_is_not_expired_past_is() {
        let now = 1_700_000_000;
        assert!(!is_expired(now + 20, now));
        assert!(!is_expired(now + 1, now));
        assert!(is_expired(now, now));
        assert!(is_expired(now - 1, now));
        assert!(is_expired(0, now));
    }

    #[test]
    fn wrapped_negative_values_are_in_the_past() {
        let now = 1_700_000_000u64;
        assert!(is_expired(0u64.wrapping_sub(now + 20), now));
        assert!(is_expired(u64::MAX, now));
        assert!(is_expired(1 << 63, now));
        assert!(!is_expired((1 << 63) - 1, now));
    }

    #[test]
    fn expiration_after_is_in_the_future() {
        let now = now_unix_secs();
        let exp = expiration_after(DEFAULT_EXPIRATION);
        assert!(exp >= now + 20 && exp <= now + 21);
        assert!(!is_expired(exp, now));
        assert_eq!(expiration_after(Duration::MAX), i64::MAX as u64);
        assert!(!is_expired(expiration_after(Duration::MAX), now));
    }
}
