//! The endless random walk: back-to-back random lookups whose newly discovered nodes are
//! yielded as they arrive (geth's `RandomNodes` iterator). The dial scheduler consumes it.
//!
//! The lookups run in the service task; the walk's own task only submits them, one at a time
//! and at least `walk_lookup_spacing` apart, and hands on what the service could not deliver
//! while the consumer was slow. A lookup submitted while the table is empty waits in the
//! service (up to a minute) until a node arrives or the refresh it started ends.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures::Stream;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::{sleep_until, Instant},
};

use enode::{NodeRecord, PeerId};

use super::command::{Command, RequestError};

/// Nodes buffered ahead of the consumer; beyond it the service keeps a bounded backlog for the
/// running lookup, which the walk hands on before it starts the next one.
const WALK_BUFFER: usize = 32;

/// A stream of nodes found by random lookups. Dropping it stops the walk (and the running
/// lookup with it).
#[derive(Debug)]
pub struct RandomWalk {
    nodes: mpsc::Receiver<NodeRecord>,
    task: JoinHandle<()>,
}

impl RandomWalk {
    /// Starts walking through the service behind `commands`, starting lookups at least
    /// `spacing` apart.
    pub(crate) fn start(commands: mpsc::Sender<Command>, spacing: Duration) -> Self {
        let (tx, nodes) = mpsc::channel(WALK_BUFFER);
        let task = tokio::spawn(walk(commands, spacing, tx));
        Self { nodes, task }
    }
}

impl Stream for RandomWalk {
    type Item = NodeRecord;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<NodeRecord>> {
        self.nodes.poll_recv(cx)
    }
}

impl Drop for RandomWalk {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn walk(commands: mpsc::Sender<Command>, spacing: Duration, tx: mpsc::Sender<NodeRecord>) {
    let mut next_start = Instant::now();
    loop {
        sleep_until(next_start).await;
        next_start = Instant::now() + spacing;
        let (reply, answer) = oneshot::channel();
        let lookup = Command::Lookup {
            target: PeerId::random(),
            found: Some(tx.clone()),
            reply,
        };
        if commands.send(lookup).await.is_err() {
            return;
        }
        let outcome = match answer.await {
            Ok(Ok(outcome)) => outcome,
            // The service stopped, or dropped the lookup because the consumer is gone.
            Ok(Err(RequestError::ServiceStopped)) | Err(_) => return,
            // Too many lookups at once: try again after the spacing.
            Ok(Err(_)) => continue,
        };
        for node in outcome.undelivered {
            if tx.send(node).await.is_err() {
                return;
            }
        }
    }
}
