//! Log setup: `tracing` to stderr, level from `--verbosity` (geth's 0..5) unless `RUST_LOG`
//! is set, in which case `RUST_LOG` wins.

use std::io::IsTerminal;

use tracing_subscriber::{filter::LevelFilter, EnvFilter};

/// geth's default verbosity (info).
pub const DEFAULT_VERBOSITY: u8 = 3;

/// The level a geth verbosity stands for: 0 silent, 1 error, 2 warn, 3 info, 4 debug,
/// 5 trace.
pub fn level_for(verbosity: u8) -> LevelFilter {
    match verbosity {
        0 => LevelFilter::OFF,
        1 => LevelFilter::ERROR,
        2 => LevelFilter::WARN,
        3 => LevelFilter::INFO,
        4 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(verbosity: u8) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::builder()
            .with_default_directive(level_for(verbosity).into())
            .parse_lossy(spec),
        _ => EnvFilter::default().add_directive(level_for(verbosity).into()),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geth_levels() {
        assert_eq!(level_for(0), LevelFilter::OFF);
        assert_eq!(level_for(3), LevelFilter::INFO);
        assert_eq!(level_for(5), LevelFilter::TRACE);
    }
}
