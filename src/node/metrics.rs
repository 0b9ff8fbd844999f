//! The node's counters, shared read-only with whoever exports them (the CLI's Prometheus
//! endpoint). Written only by the node service, read with relaxed atomics.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

use rlpx::{p2p::DisconnectReason, verdict::Verdict};

use crate::protocol::Direction;

/// Every verdict, in a fixed order for labels.
pub const VERDICTS: [Verdict; 8] = [
    Verdict::Busy,
    Verdict::Transient,
    Verdict::Timeout,
    Verdict::RemoteComplaint,
    Verdict::Corrupt,
    Verdict::Misbehaved,
    Verdict::Incompatible,
    Verdict::Impostor,
];

/// A label for a verdict (`busy`, `transient`, …).
pub fn verdict_label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Busy => "busy",
        Verdict::Transient => "transient",
        Verdict::Timeout => "timeout",
        Verdict::RemoteComplaint => "remote_complaint",
        Verdict::Corrupt => "corrupt",
        Verdict::Misbehaved => "misbehaved",
        Verdict::Incompatible => "incompatible",
        Verdict::Impostor => "impostor",
    }
}

fn verdict_index(verdict: Verdict) -> usize {
    VERDICTS.iter().position(|v| *v == verdict).unwrap_or(0)
}

/// Disconnect reason codes counted one by one; anything above lands in the last slot.
const REASON_SLOTS: usize = 0x12;

/// The node's counters and gauges.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    peers_inbound: AtomicU64,
    peers_outbound: AtomicU64,
    dials_started: AtomicU64,
    dials_connected: AtomicU64,
    dial_failures: [AtomicU64; 8],
    inbound_failures: [AtomicU64; 8],
    disconnects_local: [AtomicU64; REASON_SLOTS + 1],
    disconnects_remote: [AtomicU64; REASON_SLOTS + 1],
    disconnects_unannounced: AtomicU64,
    dialed_slots_used: AtomicU64,
    dialed_slots: AtomicU64,
    /// Payload bytes of peers that already left, per capability: (in, out).
    finished_traffic: Mutex<BTreeMap<String, (u64, u64)>>,
    /// Inbound connections refused before any handshake, by refusal label.
    inbound_refused: Mutex<BTreeMap<&'static str, u64>>,
}

impl NodeMetrics {
    /// Connected peers that dialed us / that we dialed.
    pub fn peers(&self, direction: Direction) -> u64 {
        match direction {
            Direction::Inbound => self.peers_inbound.load(Ordering::Relaxed),
            Direction::Outbound => self.peers_outbound.load(Ordering::Relaxed),
        }
    }

    /// Dials started.
    pub fn dials_started(&self) -> u64 {
        self.dials_started.load(Ordering::Relaxed)
    }

    /// Dials that became a peer.
    pub fn dials_connected(&self) -> u64 {
        self.dials_connected.load(Ordering::Relaxed)
    }

    /// Dials that failed (connect, handshake, Hello or our own checks), by verdict.
    pub fn dial_failures(&self, verdict: Verdict) -> u64 {
        self.dial_failures[verdict_index(verdict)].load(Ordering::Relaxed)
    }

    /// Inbound connections that failed before becoming a peer, by verdict.
    pub fn inbound_failures(&self, verdict: Verdict) -> u64 {
        self.inbound_failures[verdict_index(verdict)].load(Ordering::Relaxed)
    }

    /// Peers ended with a Disconnect `reason`, sent by us (`by_remote` false) or the remote.
    pub fn disconnects(&self, reason: DisconnectReason, by_remote: bool) -> u64 {
        let slot = usize::from(reason.code()).min(REASON_SLOTS);
        let table = if by_remote {
            &self.disconnects_remote
        } else {
            &self.disconnects_local
        };
        table[slot].load(Ordering::Relaxed)
    }

    /// Peers whose connection broke without a Disconnect.
    pub fn disconnects_unannounced(&self) -> u64 {
        self.disconnects_unannounced.load(Ordering::Relaxed)
    }

    /// Dialed slots in use (dialed peers plus dials in flight) and their number.
    pub fn dialed_slots(&self) -> (u64, u64) {
        (
            self.dialed_slots_used.load(Ordering::Relaxed),
            self.dialed_slots.load(Ordering::Relaxed),
        )
    }

    /// Payload bytes (in, out) per capability of peers that already left; add the live
    /// peers' [`crate::PeerInfo::traffic`] for the total.
    pub fn finished_traffic(&self) -> BTreeMap<String, (u64, u64)> {
        self.finished_traffic
            .lock()
            .map(|map| map.clone())
            .unwrap_or_default()
    }

    /// A peer joined over a connection in `direction`, holding a `slot` (see
    /// [`crate::PeerInfo::slot`]): the peer gauges count slots.
    pub(crate) fn peer_added(&self, direction: Direction, slot: Direction) {
        if direction == Direction::Outbound {
            self.dials_connected.fetch_add(1, Ordering::Relaxed);
        }
        match slot {
            Direction::Inbound => self.peers_inbound.fetch_add(1, Ordering::Relaxed),
            Direction::Outbound => self.peers_outbound.fetch_add(1, Ordering::Relaxed),
        };
    }

    pub(crate) fn peer_removed(
        &self,
        info: &crate::PeerInfo,
        reason: Option<DisconnectReason>,
        by_remote: bool,
    ) {
        let gauge = match info.slot {
            Direction::Inbound => &self.peers_inbound,
            Direction::Outbound => &self.peers_outbound,
        };
        let _ = gauge.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        match reason {
            Some(reason) => {
                let slot = usize::from(reason.code()).min(REASON_SLOTS);
                let table = if by_remote {
                    &self.disconnects_remote
                } else {
                    &self.disconnects_local
                };
                table[slot].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.disconnects_unannounced.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Ok(mut map) = self.finished_traffic.lock() {
            for (cap, traffic) in info.shared.iter().zip(info.traffic.iter()) {
                let entry = map.entry(cap.to_string()).or_default();
                entry.0 += traffic.bytes_in();
                entry.1 += traffic.bytes_out();
            }
        }
    }

    /// Inbound connections refused before any handshake (throttle, pending caps,
    /// netrestrict), by reason label.
    pub fn inbound_refused(&self) -> BTreeMap<&'static str, u64> {
        self.inbound_refused
            .lock()
            .map(|map| map.clone())
            .unwrap_or_default()
    }

    pub(crate) fn count_inbound_refused(&self, label: &'static str) {
        if let Ok(mut map) = self.inbound_refused.lock() {
            *map.entry(label).or_default() += 1;
        }
    }

    pub(crate) fn dial_started(&self) {
        self.dials_started.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_failed(&self, direction: Direction, verdict: Verdict) {
        let table = match direction {
            Direction::Outbound => &self.dial_failures,
            Direction::Inbound => &self.inbound_failures,
        };
        table[verdict_index(verdict)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_dialed_slots(&self, used: usize, total: usize) {
        self.dialed_slots_used.store(used as u64, Ordering::Relaxed);
        self.dialed_slots.store(total as u64, Ordering::Relaxed);
    }
}
