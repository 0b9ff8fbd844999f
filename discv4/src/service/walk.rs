//! The endless random walk: back-to-back random lookups whose newly discovered nodes are
//! yielded as they arrive (geth's `RandomNodes` iterator). The dial scheduler consumes it.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures::Stream;
use tokio::{
    sync::mpsc,
    task::JoinHandle,
    time::{sleep_until, Instant},
};

use enode::NodeRecord;

use super::handle::{Discv4Handle, RequestError};
use enode::PeerId;

/// Nodes buffered ahead of the consumer; the walk pauses when the buffer is full.
const WALK_BUFFER: usize = 32;
/// How long a walk waits for the table to hold a node before looking up anyway.
const EMPTY_TABLE_WAIT: Duration = Duration::from_secs(60);

/// A stream of nodes found by random lookups. Dropping it stops the walk.
#[derive(Debug)]
pub struct RandomWalk {
    nodes: mpsc::Receiver<NodeRecord>,
    task: JoinHandle<()>,
}

impl RandomWalk {
    pub(crate) fn start(handle: Discv4Handle) -> Self {
        let (tx, nodes) = mpsc::channel(WALK_BUFFER);
        let task = tokio::spawn(walk(handle, tx));
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

async fn walk(handle: Discv4Handle, tx: mpsc::Sender<NodeRecord>) {
    let mut next_start = Instant::now();
    loop {
        sleep_until(next_start).await;
        next_start = Instant::now() + handle.walk_lookup_spacing;
        match handle.table_state().await {
            Ok((0, _)) => {
                if handle.wait_for_nodes(EMPTY_TABLE_WAIT).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
        // Nodes are handed on as the lookup discovers them. The intermediate queue is bounded
        // by the lookup itself (at most 16 nodes per answered FINDNODE).
        let (found_tx, mut found_rx) = mpsc::unbounded_channel();
        let lookup = async {
            let result = handle
                .run_lookup(PeerId::random(), |fresh| {
                    for node in fresh {
                        let _ = found_tx.send(*node);
                    }
                })
                .await;
            drop(found_tx);
            result
        };
        let forward = async {
            while let Some(node) = found_rx.recv().await {
                if tx.send(node).await.is_err() {
                    return false;
                }
            }
            true
        };
        let (result, consumer_alive) = tokio::join!(lookup, forward);
        if !consumer_alive {
            return;
        }
        if matches!(result, Err(RequestError::ServiceStopped)) {
            return;
        }
    }
}
