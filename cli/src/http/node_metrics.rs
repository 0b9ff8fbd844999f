//! Prometheus text exposition of the node's peer counters (`kadnode node --metrics`).

use std::{collections::BTreeMap, fmt::Write as _};

use kadnode::{verdict_label, Direction, NodeMetrics, PeerInfo, VERDICTS};
use rlpx::p2p::DisconnectReason;

/// Renders peers by direction, dial outcomes, handshake failures, disconnects by reason and
/// side, payload bytes per capability and dialed-slot use.
pub fn render(metrics: &NodeMetrics, peers: &[PeerInfo]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP p2p_peers Connected peers, by direction.");
    let _ = writeln!(out, "# TYPE p2p_peers gauge");
    for (label, direction) in [
        ("inbound", Direction::Inbound),
        ("outbound", Direction::Outbound),
    ] {
        let _ = writeln!(
            out,
            "p2p_peers{{direction=\"{label}\"}} {}",
            metrics.peers(direction)
        );
    }
    let _ = writeln!(out, "# HELP p2p_dials_total Dial attempts, by outcome.");
    let _ = writeln!(out, "# TYPE p2p_dials_total counter");
    let _ = writeln!(
        out,
        "p2p_dials_total{{outcome=\"started\"}} {}",
        metrics.dials_started()
    );
    let _ = writeln!(
        out,
        "p2p_dials_total{{outcome=\"connected\"}} {}",
        metrics.dials_connected()
    );
    for verdict in VERDICTS {
        let _ = writeln!(
            out,
            "p2p_dials_total{{outcome=\"{}\"}} {}",
            verdict_label(verdict),
            metrics.dial_failures(verdict)
        );
    }
    let _ = writeln!(
        out,
        "# HELP p2p_inbound_failures_total Inbound connections that failed before becoming a peer, by verdict."
    );
    let _ = writeln!(out, "# TYPE p2p_inbound_failures_total counter");
    for verdict in VERDICTS {
        let _ = writeln!(
            out,
            "p2p_inbound_failures_total{{verdict=\"{}\"}} {}",
            verdict_label(verdict),
            metrics.inbound_failures(verdict)
        );
    }
    let _ = writeln!(
        out,
        "# HELP p2p_disconnects_total Ended peers, by Disconnect reason and the side that sent it."
    );
    let _ = writeln!(out, "# TYPE p2p_disconnects_total counter");
    for code in 0u8..=0x10 {
        let reason = DisconnectReason::from(code);
        for (side, by_remote) in [("local", false), ("remote", true)] {
            let _ = writeln!(
                out,
                "p2p_disconnects_total{{reason=\"{code:#04x}\",side=\"{side}\"}} {}",
                metrics.disconnects(reason, by_remote)
            );
        }
    }
    let _ = writeln!(
        out,
        "p2p_disconnects_total{{reason=\"none\",side=\"network\"}} {}",
        metrics.disconnects_unannounced()
    );
    let mut traffic: BTreeMap<String, (u64, u64)> = metrics.finished_traffic();
    for peer in peers {
        for (cap, counters) in peer.shared.iter().zip(peer.traffic.iter()) {
            let entry = traffic.entry(cap.to_string()).or_default();
            entry.0 += counters.bytes_in();
            entry.1 += counters.bytes_out();
        }
    }
    let _ = writeln!(
        out,
        "# HELP p2p_bytes_total Capability payload bytes, by capability and direction."
    );
    let _ = writeln!(out, "# TYPE p2p_bytes_total counter");
    for (cap, (bytes_in, bytes_out)) in traffic {
        let _ = writeln!(
            out,
            "p2p_bytes_total{{cap=\"{cap}\",direction=\"in\"}} {bytes_in}"
        );
        let _ = writeln!(
            out,
            "p2p_bytes_total{{cap=\"{cap}\",direction=\"out\"}} {bytes_out}"
        );
    }
    let (used, total) = metrics.dialed_slots();
    let _ = writeln!(out, "# HELP p2p_dial_slots Dialed slots in use (peers we dialed and dials in flight) and available.");
    let _ = writeln!(out, "# TYPE p2p_dial_slots gauge");
    let _ = writeln!(out, "p2p_dial_slots{{state=\"used\"}} {used}");
    let _ = writeln!(out, "p2p_dial_slots{{state=\"total\"}} {total}");
    out
}
