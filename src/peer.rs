//! One task per connected peer: it runs the application's protocol loops, one per shared
//! capability, and ends the peer on the first thing that ends any of them, with the right
//! Disconnect reason:
//!
//! | what ended it | Disconnect sent | verdict |
//! |---|---|---|
//! | a run loop returned `Ok(())` | 0x08 client quitting | transient |
//! | a run loop returned an error | its [`ProtocolError::disconnect_reason`] (0x02, 0x10) | the error's |
//! | a run loop panicked | 0x10 subprotocol error | transient (our bug) |
//! | the session ended (remote Disconnect, network error, idle timeout) | none | the end's |
//! | the node asked (`disconnect`, shutdown, a duplicate) | the reason asked for | transient |

use std::{sync::Arc, time::Duration};

use rlpx::{
    p2p::{DisconnectReason, SessionEnd},
    verdict::{HasVerdict, Verdict},
    Session,
};
use tokio::{sync::mpsc, task::JoinSet};

use crate::protocol::{PeerInfo, Protocol, ProtocolConn};

/// How long a peer that we disconnect gets to read our Disconnect before the socket closes.
pub(crate) const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

/// How a peer's session ended.
#[derive(Debug, Clone)]
pub struct PeerEnd {
    /// The Disconnect reason sent or received; `None` when the connection just broke.
    pub reason: Option<DisconnectReason>,
    /// True when the remote sent the Disconnect (or broke the connection).
    pub by_remote: bool,
    /// What the end says about the peer.
    pub verdict: Verdict,
    /// A human-readable account, for logs.
    pub detail: String,
}

/// The node's side of a running peer task.
#[derive(Debug)]
pub(crate) struct PeerControl {
    disconnect: mpsc::Sender<DisconnectReason>,
}

impl PeerControl {
    /// Asks the peer task to send Disconnect(`reason`) and end. Never waits.
    pub(crate) fn disconnect(&self, reason: DisconnectReason) {
        let _ = self.disconnect.try_send(reason);
    }
}

/// Starts the task of an established session. `info.traffic` must hold one counter per
/// shared capability, in the session's order. `on_end` receives the outcome exactly once, on
/// the peer's task.
pub(crate) fn spawn_peer<F>(
    session: Session,
    info: PeerInfo,
    protocols: &[Arc<dyn Protocol>],
    on_end: F,
) -> PeerControl
where
    F: FnOnce(PeerEnd) + Send + 'static,
{
    let (disconnect_tx, disconnect_rx) = mpsc::channel(1);
    let runs = start_run_loops(session, &info, protocols);
    tokio::spawn(async move {
        let end = supervise(runs, disconnect_rx).await;
        on_end(end);
    });
    PeerControl {
        disconnect: disconnect_tx,
    }
}

struct RunLoops {
    connection: rlpx::p2p::P2pConnection,
    loops: JoinSet<Result<(), crate::protocol::ProtocolError>>,
}

fn start_run_loops(
    mut session: Session,
    info: &PeerInfo,
    protocols: &[Arc<dyn Protocol>],
) -> RunLoops {
    let mut loops = JoinSet::new();
    let shared: Vec<_> = session.shared.iter().cloned().collect();
    for (index, cap) in shared.iter().enumerate() {
        let Some(handle) = session.connection.take_handle(&cap.name) else {
            continue;
        };
        let protocol = protocols.iter().find(|p| {
            let spec = p.spec();
            spec.name == cap.name && spec.version == cap.version
        });
        let (Some(protocol), Some(traffic)) = (protocol, info.traffic.get(index)) else {
            // Not ours to run (cannot happen after negotiation); its messages are discarded.
            drop(handle);
            continue;
        };
        let conn = ProtocolConn::new(handle, Arc::clone(traffic));
        loops.spawn(protocol.run(info.clone(), conn));
    }
    RunLoops {
        connection: session.connection,
        loops,
    }
}

async fn supervise(
    mut runs: RunLoops,
    mut disconnect: mpsc::Receiver<DisconnectReason>,
) -> PeerEnd {
    let outcome = if runs.loops.is_empty() {
        // Nothing to run: the node refuses such peers before they get here, but never hang.
        Outcome::Local(
            DisconnectReason::UselessPeer,
            Verdict::Incompatible,
            "no protocol to run".into(),
        )
    } else {
        tokio::select! {
            Some(joined) = runs.loops.join_next() => match joined {
                Ok(Ok(())) => Outcome::Local(
                    DisconnectReason::ClientQuitting,
                    Verdict::Transient,
                    "protocol returned".into(),
                ),
                Ok(Err(error)) => match error.disconnect_reason() {
                    Some(reason) => Outcome::Local(reason, error.verdict(), error.to_string()),
                    None => Outcome::Ended(runs.connection.closed().await),
                },
                Err(join) => Outcome::Local(
                    DisconnectReason::SubprotocolError,
                    Verdict::Transient,
                    format!("protocol task failed: {join}"),
                ),
            },
            end = runs.connection.closed() => Outcome::Ended(end),
            Some(reason) = disconnect.recv() => Outcome::Local(
                reason,
                Verdict::Transient,
                format!("disconnected by the node: {reason}"),
            ),
        }
    };
    let end = match outcome {
        Outcome::Local(reason, verdict, detail) => {
            runs.connection.disconnect(reason);
            // The session sends the Disconnect and waits (bounded) for the remote to close.
            let _ = tokio::time::timeout(DISCONNECT_GRACE, runs.connection.closed()).await;
            PeerEnd {
                reason: Some(reason),
                by_remote: false,
                verdict,
                detail,
            }
        }
        Outcome::Ended(end) => PeerEnd {
            reason: match &end {
                SessionEnd::Remote(r) | SessionEnd::Local(r) => Some(*r),
                SessionEnd::Timeout => Some(DisconnectReason::PingTimeout),
                SessionEnd::Error(_) => None,
            },
            by_remote: !matches!(end, SessionEnd::Local(_) | SessionEnd::Timeout),
            verdict: end.verdict(),
            detail: end.to_string(),
        },
    };
    runs.loops.abort_all();
    end
}

enum Outcome {
    Local(DisconnectReason, Verdict, String),
    Ended(SessionEnd),
}
