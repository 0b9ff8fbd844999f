//! Build-info, uptime and process metrics (RSS, open file descriptors, CPU time) in the
//! Prometheus text format, read from `/proc/self` (Linux; elsewhere only build info and
//! uptime are reported).

use std::{fmt::Write as _, time::Duration};

/// Linux's USER_HZ: `/proc/<pid>/stat` counts CPU time in these ticks. It is 100 on every
/// architecture Linux supports for user space (the ABI fixes it, whatever CONFIG_HZ is).
const USER_HZ: f64 = 100.0;

/// Renders `kadnode_build_info`, `kadnode_uptime_seconds` and the `process_*` metrics.
pub fn render(uptime: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP kadnode_build_info Build of the running binary (value 1)."
    );
    let _ = writeln!(out, "# TYPE kadnode_build_info gauge");
    let _ = writeln!(
        out,
        "kadnode_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        out,
        "# HELP kadnode_uptime_seconds Seconds since the node started."
    );
    let _ = writeln!(out, "# TYPE kadnode_uptime_seconds gauge");
    let _ = writeln!(out, "kadnode_uptime_seconds {:.3}", uptime.as_secs_f64());
    if let Some(rss) = resident_bytes() {
        let _ = writeln!(
            out,
            "# HELP process_resident_memory_bytes Resident memory size in bytes."
        );
        let _ = writeln!(out, "# TYPE process_resident_memory_bytes gauge");
        let _ = writeln!(out, "process_resident_memory_bytes {rss}");
    }
    if let Some(fds) = open_fds() {
        let _ = writeln!(
            out,
            "# HELP process_open_fds Number of open file descriptors."
        );
        let _ = writeln!(out, "# TYPE process_open_fds gauge");
        let _ = writeln!(out, "process_open_fds {fds}");
    }
    if let Some(cpu) = cpu_seconds() {
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds."
        );
        let _ = writeln!(out, "# TYPE process_cpu_seconds_total counter");
        let _ = writeln!(out, "process_cpu_seconds_total {cpu:.2}");
    }
    out
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Entries of `/proc/self/fd`.
fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

/// utime + stime of `/proc/self/stat`, in seconds.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / USER_HZ)
}

/// The command name (field 2) may hold spaces and parentheses: fields are counted after the
/// last `)`. utime and stime are fields 14 and 15.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            parse_vm_rss("Name:\tx\nVmRSS:\t  2048 kB\n"),
            Some(2048 * 1024)
        );
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        let stat = "42 (a (b) c) S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }

    #[test]
    fn renders_build_info_and_uptime() {
        let text = render(Duration::from_secs(3));
        assert!(text.contains("kadnode_build_info{version=\""));
        assert!(text.contains("kadnode_uptime_seconds 3.000"));
        #[cfg(target_os = "linux")]
        {
            assert!(text.contains("process_resident_memory_bytes "));
            assert!(text.contains("process_open_fds "));
            assert!(text.contains("process_cpu_seconds_total "));
        }
    }
}
