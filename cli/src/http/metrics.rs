//! Prometheus text exposition (format 0.0.4) of the discovery counters and table.

use std::fmt::Write as _;

use discv4::service::{metrics::PACKET_KINDS, BucketDump, DropReason, Metrics};

/// Content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders counters and the per-bucket table sizes.
pub fn render(metrics: &Metrics, buckets: &[BucketDump]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "# HELP discv4_packets_in_total Verified discv4 packets received, by type."
    );
    let _ = writeln!(out, "# TYPE discv4_packets_in_total counter");
    for kind in PACKET_KINDS {
        let _ = writeln!(
            out,
            "discv4_packets_in_total{{type=\"{}\"}} {}",
            kind.name().to_ascii_lowercase(),
            metrics.packets_in_total(kind)
        );
    }
    let _ = writeln!(
        out,
        "# HELP discv4_packets_out_total discv4 packets sent, by type."
    );
    let _ = writeln!(out, "# TYPE discv4_packets_out_total counter");
    for kind in PACKET_KINDS {
        let _ = writeln!(
            out,
            "discv4_packets_out_total{{type=\"{}\"}} {}",
            kind.name().to_ascii_lowercase(),
            metrics.packets_out_total(kind)
        );
    }
    let _ = writeln!(
        out,
        "# HELP discv4_dropped_packets_total Incoming datagrams dropped, by reason."
    );
    let _ = writeln!(out, "# TYPE discv4_dropped_packets_total counter");
    for reason in DropReason::ALL {
        let _ = writeln!(
            out,
            "discv4_dropped_packets_total{{reason=\"{}\"}} {}",
            reason.label(),
            metrics.dropped_total(reason)
        );
    }
    let _ = writeln!(out, "# HELP discv4_lookups_total Lookups started.");
    let _ = writeln!(out, "# TYPE discv4_lookups_total counter");
    let _ = writeln!(out, "discv4_lookups_total {}", metrics.lookups_total());
    let _ = writeln!(
        out,
        "# HELP discv4_send_errors_total Packets the socket failed to send."
    );
    let _ = writeln!(out, "# TYPE discv4_send_errors_total counter");
    let _ = writeln!(
        out,
        "discv4_send_errors_total {}",
        metrics.send_errors_total()
    );
    let _ = writeln!(
        out,
        "# HELP discv4_table_nodes Nodes in the table, by bucket."
    );
    let _ = writeln!(out, "# TYPE discv4_table_nodes gauge");
    let mut total = 0;
    for bucket in buckets {
        total += bucket.entries.len();
        let _ = writeln!(
            out,
            "discv4_table_nodes{{bucket=\"{}\"}} {}",
            bucket.index,
            bucket.entries.len()
        );
    }
    let _ = writeln!(
        out,
        "# HELP discv4_table_replacements Nodes on replacement lists, by bucket."
    );
    let _ = writeln!(out, "# TYPE discv4_table_replacements gauge");
    for bucket in buckets {
        let _ = writeln!(
            out,
            "discv4_table_replacements{{bucket=\"{}\"}} {}",
            bucket.index, bucket.replacements
        );
    }
    let _ = writeln!(out, "# HELP discv4_table_nodes_total Nodes in the table.");
    let _ = writeln!(out, "# TYPE discv4_table_nodes_total gauge");
    let _ = writeln!(out, "discv4_table_nodes_total {total}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_present() {
        let metrics = Metrics::default();
        metrics.dropped(DropReason::Expired);
        let buckets = vec![BucketDump {
            index: 16,
            entries: vec![],
            replacements: 2,
        }];
        let text = render(&metrics, &buckets);
        assert!(text.contains("discv4_packets_in_total{type=\"ping\"} 0"));
        assert!(text.contains("discv4_packets_out_total{type=\"enrresponse\"} 0"));
        assert!(text.contains("discv4_dropped_packets_total{reason=\"expired\"} 1"));
        assert!(text.contains("discv4_table_nodes{bucket=\"16\"} 0"));
        assert!(text.contains("discv4_table_replacements{bucket=\"16\"} 2"));
        assert!(text.contains("discv4_lookups_total 0"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "{line}");
        }
    }
}
