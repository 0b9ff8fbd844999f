//! Prometheus text exposition of the PEX service's counters (`--pex` nodes and seeds).

use std::fmt::Write as _;

use kadnode::pex::PexMetrics;

/// Renders the address book by table, bans, sessions, gossip in and out, requests and
/// what was refused.
pub fn render(m: &PexMetrics) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, rows: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    gauge(
        "pex_book_entries",
        "Address book entries, by table.",
        "gauge",
        &[
            ("{table=\"new\"}", m.book_new()),
            ("{table=\"tried\"}", m.book_tried()),
        ],
    );
    gauge(
        "pex_book_bans",
        "Bans in force in the address book.",
        "gauge",
        &[("", m.book_banned())],
    );
    gauge(
        "pex_sessions",
        "Peers with a running pex/1 session.",
        "gauge",
        &[("", m.sessions())],
    );
    gauge(
        "pex_gossip_records_total",
        "Records received and sent in Peers messages.",
        "counter",
        &[
            ("{direction=\"in\"}", m.gossip_in()),
            ("{direction=\"out\"}", m.gossip_out()),
        ],
    );
    gauge(
        "pex_requests_total",
        "GetPeers sent, answered, over a peer's rate limit (answered empty), and unanswered in time.",
        "counter",
        &[
            ("{kind=\"sent\"}", m.requests_sent()),
            ("{kind=\"served\"}", m.requests_served()),
            ("{kind=\"rate_limited\"}", m.rate_limited()),
            ("{kind=\"timed_out\"}", m.request_timeouts()),
        ],
    );
    gauge(
        "pex_refused_total",
        "Unsolicited Peers messages and records that did not verify.",
        "counter",
        &[
            ("{kind=\"unsolicited\"}", m.unsolicited()),
            ("{kind=\"invalid_record\"}", m.invalid_records()),
        ],
    );
    gauge(
        "pex_bans_total",
        "Peers banned for misbehaviour.",
        "counter",
        &[("", m.bans())],
    );
    gauge(
        "pex_crawls_total",
        "Seed mode: entries handed out to be crawled.",
        "counter",
        &[("", m.crawls())],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_rendered() {
        let text = render(&PexMetrics::default());
        for family in [
            "pex_book_entries{table=\"new\"} 0",
            "pex_book_entries{table=\"tried\"} 0",
            "pex_book_bans 0",
            "pex_requests_total{kind=\"rate_limited\"} 0",
            "pex_gossip_records_total{direction=\"out\"} 0",
        ] {
            assert!(text.contains(family), "{family} missing in\n{text}");
        }
    }
}
