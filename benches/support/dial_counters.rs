//! Counts the dial scheduler's and the node's dial events (refusals by label, queue
//! occupancy at each dial, backoffs by verdict) through a minimal `tracing` subscriber, so
//! a simulation can say *why* nodes did or did not dial, not only how often.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use tracing::{
    field::{Field, Visit},
    span, Event, Metadata, Subscriber,
};

/// Counts per event message and key field; shared between the subscriber and the report.
#[derive(Debug, Default)]
pub(crate) struct DialCounters {
    counts: Mutex<BTreeMap<String, u64>>,
    queued_sum: AtomicU64,
    queued_max: AtomicU64,
    queued_samples: AtomicU64,
}

impl DialCounters {
    pub(crate) fn reset(&self) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.clear();
        }
        self.queued_sum.store(0, Ordering::Relaxed);
        self.queued_max.store(0, Ordering::Relaxed);
        self.queued_samples.store(0, Ordering::Relaxed);
    }

    /// One line per counter, and the queue occupancy at dial time.
    pub(crate) fn report(&self) -> String {
        let mut out = String::new();
        if let Ok(counts) = self.counts.lock() {
            for (key, n) in counts.iter() {
                let _ = writeln!(out, "    {key}: {n}");
            }
        }
        let samples = self.queued_samples.load(Ordering::Relaxed).max(1);
        let _ = writeln!(
            out,
            "    queue occupancy at candidate dials: mean {:.1}, max {}",
            self.queued_sum.load(Ordering::Relaxed) as f64 / samples as f64,
            self.queued_max.load(Ordering::Relaxed)
        );
        out
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    refusal: Option<String>,
    verdict: Option<String>,
    tier: Option<String>,
    queued: Option<u64>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "refusal" => self.refusal = Some(format!("{value:?}")),
            "verdict" => self.verdict = Some(format!("{value:?}")),
            "tier" => self.tier = Some(format!("{value:?}")),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "refusal" => self.refusal = Some(value.to_owned()),
            "verdict" => self.verdict = Some(value.to_owned()),
            _ => self.record_debug(field, &value),
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "queued" {
            self.queued = Some(value);
        }
    }
}

/// The subscriber: interested only in `kadnode::dial` events.
pub(crate) struct CountingSubscriber(pub Arc<DialCounters>);

impl Subscriber for CountingSubscriber {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if meta.is_event() && meta.target() == "kadnode::dial" {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.is_event() && meta.target() == "kadnode::dial"
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Some(queued) = fields.queued {
            self.0.queued_sum.fetch_add(queued, Ordering::Relaxed);
            self.0.queued_samples.fetch_add(1, Ordering::Relaxed);
            self.0.queued_max.fetch_max(queued, Ordering::Relaxed);
        }
        let mut key = fields.message;
        if let Some(refusal) = fields.refusal {
            let _ = write!(key, " [{refusal}]");
        }
        if let Some(tier) = fields.tier {
            let _ = write!(key, " [{tier}]");
        }
        if let Some(verdict) = fields.verdict {
            let _ = write!(key, " [{verdict}]");
        }
        if let Ok(mut counts) = self.0.counts.lock() {
            *counts.entry(key).or_default() += 1;
        }
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}
