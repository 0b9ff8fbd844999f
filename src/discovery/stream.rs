//! Any `Stream` of node records as a [`CandidateSource`] that does not learn from reports:
//! the quickest way to plug an existing discovery stream (e.g. the discv4 random walk) into
//! a mix.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use enode::{NodeRecord, PeerId};
use futures::Stream;

use super::source::{Candidate, CandidateSource, Outcome};

/// A [`CandidateSource`] over a stream of [`NodeRecord`]s (candidates without hints);
/// reports are ignored.
pub struct StreamSource<S> {
    name: String,
    stream: S,
}

impl<S> StreamSource<S> {
    /// Wraps `stream` under `name`.
    pub fn new(name: impl Into<String>, stream: S) -> Self {
        Self {
            name: name.into(),
            stream,
        }
    }
}

impl<S> fmt::Debug for StreamSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSource")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<S: Stream<Item = NodeRecord> + Unpin> CandidateSource for StreamSource<S> {
    fn name(&self) -> &str {
        &self.name
    }

    fn poll_next_candidate(&mut self, cx: &mut Context<'_>) -> Poll<Option<Candidate>> {
        Pin::new(&mut self.stream)
            .poll_next(cx)
            .map(|record| record.map(Candidate::new))
    }

    fn report(&mut self, _id: &PeerId, _outcome: Outcome) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::next_candidate;

    #[tokio::test]
    async fn yields_the_stream_then_ends() {
        let record = NodeRecord {
            address: "10.0.0.1".parse().unwrap(),
            udp_port: 30303,
            tcp_port: 30303,
            id: PeerId([1; 64]),
        };
        let mut source = StreamSource::new("test", futures::stream::iter([record]));
        assert_eq!(source.name(), "test");
        assert_eq!(
            next_candidate(&mut source).await,
            Some(Candidate::new(record))
        );
        assert_eq!(next_candidate(&mut source).await, None);
    }
}
