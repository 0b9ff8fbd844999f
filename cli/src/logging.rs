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

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable text (colours on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `t` (RFC 3339 UTC), `level`, `target`, `msg` and the
    /// event's fields, for log collectors (journald, Loki, Elasticsearch).
    Json,
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(verbosity: u8) {
    init_with(verbosity, LogFormat::Text);
}

/// [`init`] with a choice of format.
pub fn init_with(verbosity: u8, format: LogFormat) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::builder()
            .with_default_directive(level_for(verbosity).into())
            .parse_lossy(spec),
        _ => EnvFilter::default().add_directive(level_for(verbosity).into()),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.with_ansi(false).event_format(JsonLines).try_init(),
    };
}

/// The JSON line formatter (tracing-subscriber's own needs an extra crate; this one uses
/// serde_json, already a dependency).
struct JsonLines;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut object = serde_json::Map::new();
        object.insert(
            "t".to_owned(),
            crate::timefmt::format_rfc3339(std::time::SystemTime::now()).into(),
        );
        object.insert(
            "level".to_owned(),
            meta.level().as_str().to_ascii_lowercase().into(),
        );
        object.insert("target".to_owned(), meta.target().into());
        event.record(&mut JsonFields(&mut object));
        writeln!(writer, "{}", serde_json::Value::Object(object))
    }
}

/// Collects an event's fields; `message` becomes `msg`.
struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl JsonFields<'_> {
    fn put(&mut self, field: &tracing::field::Field, value: serde_json::Value) {
        let name = match field.name() {
            "message" => "msg",
            name => name,
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl tracing::field::Visit for JsonFields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.put(field, value.into());
    }
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
