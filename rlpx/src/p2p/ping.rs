//! Ping (0x02) / Pong (0x03) and the liveness timers.

use std::time::Duration;

/// How often we ping the remote (geth's `pingInterval`).
pub const PING_INTERVAL: Duration = Duration::from_secs(15);

/// A session with no inbound message for this long ends with reason 0x0b (geth's
/// `frameReadTimeout`). Any message resets it, so the remote's pongs keep it alive.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Ping and Pong payloads: an empty RLP list (before compression).
pub(crate) const EMPTY_LIST: [u8; 1] = [0xc0];
