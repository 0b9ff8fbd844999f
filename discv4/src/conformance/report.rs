//! Presenting results: a human-readable list and TAP (`--tap`).

use std::fmt::Write as _;

use super::CaseResult;

/// Pass/fail counts of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
}

impl Summary {
    /// Counts the results.
    pub fn of(results: &[CaseResult]) -> Self {
        let passed = results.iter().filter(|result| result.passed).count();
        Self {
            passed,
            failed: results.len() - passed,
        }
    }

    /// True when nothing failed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }
}

/// One line per case (`-- PASS`/`-- FAIL`, name, duration), failure details indented
/// below, and a final count, in the style of go-ethereum's `utesting` output.
pub fn format_results(results: &[CaseResult]) -> String {
    let mut out = String::new();
    for result in results {
        let verdict = if result.passed { "PASS" } else { "FAIL" };
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "-- {verdict} {} ({:.3}s)",
            result.name,
            result.duration.as_secs_f64()
        );
        if !result.passed {
            for line in result.detail.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    let summary = Summary::of(results);
    let _ = writeln!(
        out,
        "{} of {} cases passed, {} failed",
        summary.passed,
        results.len(),
        summary.failed
    );
    out
}

/// The results in the Test Anything Protocol (version 13), as `devp2p --tap` prints them.
pub fn tap_report(results: &[CaseResult]) -> String {
    let mut out = format!("TAP version 13\n1..{}\n", results.len());
    for (number, result) in results.iter().enumerate() {
        let verdict = if result.passed { "ok" } else { "not ok" };
        let _ = writeln!(out, "{verdict} {} - {}", number + 1, result.name);
        if !result.passed {
            for line in result.detail.lines() {
                let _ = writeln!(out, "# {line}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn result(name: &'static str, passed: bool, detail: &str) -> CaseResult {
        CaseResult {
            name,
            passed,
            detail: detail.to_owned(),
            duration: Duration::from_millis(12),
        }
    }

    #[test]
    fn formats_and_counts() {
        let results = [
            result("Ping/Basic", true, "fine"),
            result("ENRRequest", false, "expected X\ngot Y"),
        ];
        assert_eq!(
            Summary::of(&results),
            Summary {
                passed: 1,
                failed: 1
            }
        );
        let text = format_results(&results);
        assert!(text.contains("-- PASS Ping/Basic (0.012s)"));
        assert!(text.contains("-- FAIL ENRRequest"));
        assert!(text.contains("      got Y"));
        assert!(text.ends_with("1 of 2 cases passed, 1 failed\n"));
        assert_eq!(
            tap_report(&results),
            "TAP version 13\n1..2\nok 1 - Ping/Basic\nnot ok 2 - ENRRequest\n# expected X\n# got Y\n"
        );
    }
}
