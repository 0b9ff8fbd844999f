//! [`FairMix`]: candidates from several sources, taken in turn, as geth's `enode.FairMix`.
//!
//! The mix takes a candidate from each source in round-robin order. It waits a bounded time
//! for the source whose turn it is (default 100 ms); when that source has nothing by then,
//! its wait is halved for its next turn and the mix takes the first candidate any source
//! has. A source gets its full wait back when it delivers on its turn. So a slow or idle
//! source (a DNS list that is done, a PEX book still empty) costs less and less latency,
//! while every source that has candidates gets its share.
//!
//! Each source holds at most one candidate ready ahead (what geth's per-source goroutine
//! holds), so nothing is pulled from discovery that the consumer did not ask for. Sources
//! can be added and removed at run time; a source that ends is dropped. Reports go back to
//! the source a candidate came from ([`FairMix::report`]). The mix itself never ends: with
//! no source it is simply pending.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use enode::PeerId;
use futures::Stream;
use tokio::time::{Instant, Sleep};

use super::clock::deadline_after;
use super::source::{Candidate, CandidateSource, Outcome};

/// How long the mix waits for the source whose turn it is (geth's eth backend uses 100 ms).
pub const DEFAULT_MIX_TIMEOUT: Duration = Duration::from_millis(100);
/// The most sources one mix holds.
pub const MAX_MIX_SOURCES: usize = 32;

/// Names a source within a mix; never reused by the same mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(u32);

impl SourceId {
    /// An id from its number (for callers that drive the dial scheduler without a mix).
    pub const fn from_raw(raw: u32) -> Self {
        Self(raw)
    }

    /// The id's number.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "source#{}", self.0)
    }
}

/// A candidate and the source it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixedCandidate {
    /// The source to report the outcome to.
    pub source: SourceId,
    /// The candidate.
    pub candidate: Candidate,
}

/// Why a source was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    /// The mix already holds [`MAX_MIX_SOURCES`] sources.
    #[error("the mix already holds {limit} sources")]
    TooManySources {
        /// The cap.
        limit: usize,
    },
}

#[derive(Debug)]
struct Member {
    id: SourceId,
    source: Box<dyn CandidateSource + Send>,
    /// The one candidate taken from the source ahead of time.
    ready: Option<Candidate>,
    /// How long the mix waits for this source on its turn.
    wait: Duration,
}

/// Whose candidate the mix is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The source at the cursor, until the deadline.
    Turn { deadline: Option<Instant> },
    /// Any source: the one whose turn it was took too long.
    Any,
}

/// Round-robin mix of candidate sources with a bounded wait per source.
#[derive(Debug)]
pub struct FairMix {
    members: Vec<Member>,
    /// Index of the source whose turn it is.
    cursor: usize,
    phase: Phase,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    next_id: u32,
    /// The task waiting while the mix had nothing; woken when a source is added.
    waiting: Option<Waker>,
}

impl Default for FairMix {
    fn default() -> Self {
        Self::new(DEFAULT_MIX_TIMEOUT)
    }
}

impl FairMix {
    /// An empty mix that waits up to `timeout` for the source whose turn it is.
    pub fn new(timeout: Duration) -> Self {
        Self {
            members: Vec::new(),
            cursor: 0,
            phase: Phase::Turn { deadline: None },
            timeout,
            timer: None,
            next_id: 0,
            waiting: None,
        }
    }

    /// Adds a source; it takes its turn after the ones already there.
    pub fn add_source(
        &mut self,
        source: Box<dyn CandidateSource + Send>,
    ) -> Result<SourceId, MixError> {
        if self.members.len() >= MAX_MIX_SOURCES {
            return Err(MixError::TooManySources {
                limit: MAX_MIX_SOURCES,
            });
        }
        let id = SourceId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        self.members.push(Member {
            id,
            source,
            ready: None,
            wait: self.timeout,
        });
        if let Some(waker) = self.waiting.take() {
            waker.wake();
        }
        Ok(id)
    }

    /// Removes a source and hands it back (with any candidate it had ready dropped).
    pub fn remove_source(&mut self, id: SourceId) -> Option<Box<dyn CandidateSource + Send>> {
        let index = self.members.iter().position(|m| m.id == id)?;
        Some(self.remove_at(index).source)
    }

    /// Routes a report to the source `source`; false when that source is gone.
    pub fn report(&mut self, source: SourceId, id: &PeerId, outcome: Outcome) -> bool {
        match self.members.iter_mut().find(|m| m.id == source) {
            Some(member) => {
                member.source.report(id, outcome);
                true
            }
            None => false,
        }
    }

    /// The sources, in turn order, with their names.
    pub fn sources(&self) -> impl Iterator<Item = (SourceId, &str)> {
        self.members.iter().map(|m| (m.id, m.source.name()))
    }

    /// How long the mix will wait for `source` on its next turn.
    pub fn wait_of(&self, source: SourceId) -> Option<Duration> {
        self.members.iter().find(|m| m.id == source).map(|m| m.wait)
    }

    /// Number of sources.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when the mix holds no source.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Waits for the next candidate. Cancellation safe: a candidate is only taken out of
    /// the mix when the future completes.
    pub fn next_candidate(&mut self) -> impl Future<Output = MixedCandidate> + '_ {
        std::future::poll_fn(move |cx| self.poll_next_candidate(cx))
    }

    /// The next candidate, or `Pending` (never ends).
    pub fn poll_next_candidate(&mut self, cx: &mut Context<'_>) -> Poll<MixedCandidate> {
        loop {
            self.fill(cx);
            if self.members.is_empty() {
                self.waiting = Some(cx.waker().clone());
                return Poll::Pending;
            }
            self.cursor %= self.members.len();
            match self.phase {
                Phase::Turn { deadline: due } => {
                    let turn = &mut self.members[self.cursor];
                    if let Some(candidate) = turn.ready.take() {
                        turn.wait = self.timeout;
                        return Poll::Ready(self.deliver(self.cursor, candidate));
                    }
                    let due = due.unwrap_or_else(|| deadline_after(Instant::now(), turn.wait));
                    self.phase = Phase::Turn {
                        deadline: Some(due),
                    };
                    if !self.timer_elapsed(cx, due) {
                        self.waiting = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                    turn_timed_out(&mut self.members[self.cursor]);
                    self.phase = Phase::Any;
                }
                Phase::Any => {
                    let len = self.members.len();
                    let found = (0..len)
                        .map(|k| (self.cursor + k) % len)
                        .find_map(|i| self.members[i].ready.take().map(|c| (i, c)));
                    return match found {
                        Some((index, candidate)) => Poll::Ready(self.deliver(index, candidate)),
                        None => {
                            self.waiting = Some(cx.waker().clone());
                            Poll::Pending
                        }
                    };
                }
            }
        }
    }

    /// Polls every source that has no candidate ready (registering the waker of those that
    /// have none), and drops the sources that ended.
    fn fill(&mut self, cx: &mut Context<'_>) {
        let mut index = 0;
        while index < self.members.len() {
            let member = &mut self.members[index];
            if member.ready.is_none() {
                match member.source.poll_next_candidate(cx) {
                    Poll::Ready(Some(candidate)) => member.ready = Some(candidate),
                    Poll::Ready(None) => {
                        self.remove_at(index);
                        continue;
                    }
                    Poll::Pending => {}
                }
            }
            index += 1;
        }
    }

    fn remove_at(&mut self, index: usize) -> Member {
        let member = self.members.remove(index);
        if index < self.cursor {
            self.cursor -= 1;
        } else if index == self.cursor {
            // The source whose turn it was is gone: the next one starts a fresh turn.
            self.phase = Phase::Turn { deadline: None };
        }
        if self.cursor >= self.members.len() {
            self.cursor = 0;
        }
        member
    }

    /// Hands out a candidate of the source at `index` and moves the turn on.
    fn deliver(&mut self, index: usize, candidate: Candidate) -> MixedCandidate {
        let source = self.members[index].id;
        self.cursor = (self.cursor + 1) % self.members.len().max(1);
        self.phase = Phase::Turn { deadline: None };
        MixedCandidate { source, candidate }
    }

    /// True once `due` has passed; otherwise arms the timer to wake the task at `due`.
    fn timer_elapsed(&mut self, cx: &mut Context<'_>, due: Instant) -> bool {
        if Instant::now() >= due {
            return true;
        }
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if timer.deadline() != due {
            timer.as_mut().reset(due);
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

/// The source whose turn it was delivered nothing in time: wait half as long next time.
fn turn_timed_out(member: &mut Member) {
    member.wait /= 2;
}

impl Stream for FairMix {
    type Item = MixedCandidate;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_candidate(cx).map(Some)
    }
}

#[cfg(test)]
mod tests;
