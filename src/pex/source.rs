//! The book's candidates as a [`CandidateSource`] for the node's fair mix: candidates come
//! from the PEX service over a one-slot channel (the service asks the book only when the mix
//! takes one), outcomes go back over a bounded channel without ever blocking the node.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use enode::PeerId;
use tokio::sync::mpsc;

use super::metrics::{bump, PexMetrics};
use crate::discovery::{Candidate, CandidateSource, Outcome};

/// Outcomes that may wait for the service; more are dropped and counted.
pub(crate) const REPORT_QUEUE: usize = 1024;

/// The PEX address book as a dial-candidate source (name "pex").
#[derive(Debug)]
pub struct PexSource {
    pub(crate) candidates: mpsc::Receiver<Candidate>,
    pub(crate) reports: mpsc::Sender<(PeerId, Outcome)>,
    pub(crate) metrics: Arc<PexMetrics>,
}

impl CandidateSource for PexSource {
    fn name(&self) -> &str {
        "pex"
    }

    fn poll_next_candidate(&mut self, cx: &mut Context<'_>) -> Poll<Option<Candidate>> {
        self.candidates.poll_recv(cx)
    }

    fn report(&mut self, id: &PeerId, outcome: Outcome) {
        if self.reports.try_send((*id, outcome)).is_err() {
            bump(&self.metrics.dropped_reports, 1);
        }
    }
}
