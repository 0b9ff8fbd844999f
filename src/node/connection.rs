//! The I/O of one connection until it becomes a peer: the TCP connect (dialing side), the
//! encryption handshake, the first checkpoint, the Hello exchange. Each runs as its own task
//! and reports to the node service, which owns every decision.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use enode::{NodeKey, NodeRecord, PeerId};
use rlpx::{
    p2p::DisconnectReason,
    session::{authenticate_inbound, authenticate_outbound, SessionConfig},
    verdict::{HasVerdict, Verdict},
    Session, SessionError,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::{mpsc, oneshot},
};

use crate::{net::StreamTransport, protocol::Direction};

/// A connection's number, unique for the node's lifetime.
pub(crate) type ConnId = u64;

/// What connection tasks report to the node service.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// The encryption handshake proved `id`: may the connection go on to the Hellos?
    Authenticated {
        id: PeerId,
        direction: Direction,
        /// Where the connection comes from (bans cover addresses too).
        remote_ip: IpAddr,
        reply: oneshot::Sender<Result<(), DisconnectReason>>,
    },
    /// The Hellos are exchanged; the service adds the peer or disconnects it.
    Established {
        conn: ConnId,
        direction: Direction,
        remote_addr: SocketAddr,
        session: Box<Session>,
    },
    /// The connection failed before it became a peer.
    Failed {
        conn: ConnId,
        /// Known once the handshake proved it (always known when we dialed).
        id: Option<PeerId>,
        direction: Direction,
        /// The remote's address.
        remote_ip: IpAddr,
        verdict: Verdict,
        detail: String,
    },
}

/// What every connection task needs.
#[derive(Debug, Clone)]
pub(crate) struct ConnContext {
    pub(crate) key: Arc<NodeKey>,
    pub(crate) session: Arc<SessionConfig>,
    pub(crate) events: mpsc::Sender<ConnEvent>,
    pub(crate) transport: Arc<dyn StreamTransport>,
}

/// Dials `node` and runs the outbound side.
pub(crate) async fn dial(ctx: ConnContext, conn: ConnId, node: NodeRecord) {
    let addr = SocketAddr::new(node.address, node.tcp_port);
    let fail = |verdict, detail| ConnEvent::Failed {
        conn,
        id: Some(node.id),
        direction: Direction::Outbound,
        remote_ip: addr.ip(),
        verdict,
        detail,
    };
    let remote = match node.id.to_public_key() {
        Ok(key) => key,
        Err(e) => {
            let _ = ctx
                .events
                .send(fail(Verdict::Impostor, format!("bad node id: {e}")))
                .await;
            return;
        }
    };
    let stream = match ctx.transport.dial(addr, ctx.session.dial_timeout).await {
        Ok(stream) => stream,
        Err(source) => {
            let error = if source.kind() == std::io::ErrorKind::TimedOut {
                SessionError::ConnectTimeout {
                    addr,
                    timeout: ctx.session.dial_timeout,
                }
            } else {
                SessionError::Connect { addr, source }
            };
            let _ = ctx
                .events
                .send(fail(error.verdict(), error.to_string()))
                .await;
            return;
        }
    };
    let authenticated = authenticate_outbound(stream, &ctx.key, remote, &ctx.session).await;
    finish(
        ctx,
        conn,
        Direction::Outbound,
        addr,
        Some(node.id),
        authenticated,
    )
    .await;
}

/// Runs the inbound side of an accepted connection.
pub(crate) async fn accept<Io>(ctx: ConnContext, conn: ConnId, io: Io, remote_addr: SocketAddr)
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let authenticated = authenticate_inbound(io, &ctx.key, &ctx.session).await;
    finish(
        ctx,
        conn,
        Direction::Inbound,
        remote_addr,
        None,
        authenticated,
    )
    .await;
}

async fn finish<Io>(
    ctx: ConnContext,
    conn: ConnId,
    direction: Direction,
    remote_addr: SocketAddr,
    expected: Option<PeerId>,
    authenticated: Result<rlpx::Authenticated<Io>, SessionError>,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = |id, error: &SessionError| ConnEvent::Failed {
        conn,
        id,
        direction,
        remote_ip: remote_addr.ip(),
        verdict: error.verdict(),
        detail: error.to_string(),
    };
    let authenticated = match authenticated {
        Ok(authenticated) => authenticated,
        Err(error) => {
            let _ = ctx.events.send(failed(expected, &error)).await;
            return;
        }
    };
    let id = authenticated.remote_id();
    let (reply, answer) = oneshot::channel();
    let asked = ctx
        .events
        .send(ConnEvent::Authenticated {
            id,
            direction,
            remote_ip: remote_addr.ip(),
            reply,
        })
        .await;
    // A stopped service answers nothing: leave quietly, as when shutting down.
    let verdict = match (asked, answer.await) {
        (Ok(()), Ok(verdict)) => verdict,
        _ => Err(DisconnectReason::ClientQuitting),
    };
    if let Err(reason) = verdict {
        authenticated.reject(reason).await;
        let _ = ctx
            .events
            .send(ConnEvent::Failed {
                conn,
                id: Some(id),
                direction,
                remote_ip: remote_addr.ip(),
                verdict: refusal_verdict(reason),
                detail: format!("refused: {reason}"),
            })
            .await;
        return;
    }
    match authenticated.exchange_hellos(&ctx.key, &ctx.session).await {
        Ok(session) => {
            let _ = ctx
                .events
                .send(ConnEvent::Established {
                    conn,
                    direction,
                    remote_addr,
                    session: Box::new(session),
                })
                .await;
        }
        Err(error) => {
            let _ = ctx.events.send(failed(Some(id), &error)).await;
        }
    }
}

/// What our own refusal says about the peer, for the dial scheduler.
pub(crate) fn refusal_verdict(reason: DisconnectReason) -> Verdict {
    match reason {
        DisconnectReason::TooManyPeers | DisconnectReason::AlreadyConnected => Verdict::Busy,
        DisconnectReason::ConnectedToSelf | DisconnectReason::UselessPeer => Verdict::Incompatible,
        _ => Verdict::Transient,
    }
}
