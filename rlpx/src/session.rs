//! One call from a connected socket to a running devp2p session: the ECIES handshake, then
//! the Hello exchange bound to the identity the handshake proved.
//!
//! [`connect`] is the dialling side (we know the remote's key from its enode/ENR), [`accept`]
//! the listening side (the remote's key is learnt from its auth message); [`dial`] adds the
//! TCP connect. Every failure is a [`SessionError`] that answers the dial scheduler's policy
//! questions (fatal? which backoff? ban?).
//!
//! A server that checks a peer between the two phases, as geth does (too many peers, already
//! connected, connected to self), uses [`authenticate_inbound`] / [`authenticate_outbound`]
//! and then [`Authenticated::exchange_hellos`] or [`Authenticated::reject`].
//!
//! ```no_run
//! # async fn example(remote: rlpx::PublicKey, key: enode::NodeKey) -> Result<(), rlpx::SessionError> {
//! use rlpx::{p2p::{DisconnectReason, Protocol}, session::{dial, SessionConfig}};
//!
//! let config = SessionConfig::new("kadnode/v0.1.0", vec![Protocol::new("snap", 1, 8)]);
//! let mut session = dial("127.0.0.1:30303".parse().unwrap(), &key, remote, &config).await?;
//! let mut snap = session.connection.take_handle("snap").expect("snap/1 was negotiated");
//! while let Some((code, payload)) = snap.recv().await {
//!     // handle snap message `code` (relative to snap's offset) …
//! #   let _ = (code, payload);
//! }
//! println!("session ended: {}", session.connection.closed().await);
//! # Ok(()) }
//! ```

mod error;

use std::{net::SocketAddr, time::Duration};

use enode::{NodeKey, PeerId};
use secp256k1::PublicKey;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

pub use error::SessionError;

use crate::{
    ecies::{HandshakeConfig, DEFAULT_HANDSHAKE_TIMEOUT},
    frame::{RlpxStream, UnauthedRlpx},
    p2p::{
        drain_until_closed, send_disconnect_and_close, DisconnectReason, Hello, MessageCodec,
        P2pConnection, Protocol, SharedCapabilities, UnauthedP2p, MAX_HELLO_SIZE,
    },
};

/// Largest first frame of a session: a Hello payload of [`MAX_HELLO_SIZE`] plus its message
/// code, with a little slack so that an oversize Hello still reaches the p2p layer's own
/// check. A peer that has only passed the ECIES handshake cannot make us buffer more.
const FIRST_FRAME_LIMIT: usize = MAX_HELLO_SIZE + 16;

/// How long [`dial`] waits for the TCP connection (geth's `defaultDialTimeout`).
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// What we announce and run on every session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Client name sent in our Hello, e.g. `"kadnode/v0.1.0/linux-x86_64/rust1.90"`.
    pub client_id: String,
    /// Sub-protocols we run; a peer sharing none of them is rejected as useless (0x03).
    /// Empty means "accept any peer" (a probe that only wants the Hello).
    pub protocols: Vec<Protocol>,
    /// TCP port announced in our Hello (0 = not announced, as geth does).
    pub listen_port: u16,
    /// Deadline for each of the two handshake phases (ECIES auth/ack, then the Hellos), as
    /// geth's `handshakeTimeout`. Default 5 s.
    pub handshake_timeout: Duration,
    /// Deadline for the TCP connect of [`dial`]. Default 15 s.
    pub dial_timeout: Duration,
}

impl SessionConfig {
    /// A configuration with geth's timeouts and no announced port.
    pub fn new(client_id: impl Into<String>, protocols: Vec<Protocol>) -> Self {
        Self {
            client_id: client_id.into(),
            protocols,
            listen_port: 0,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            dial_timeout: DEFAULT_DIAL_TIMEOUT,
        }
    }

    fn hello(&self, key: &NodeKey) -> Hello {
        Hello::for_protocols(
            self.client_id.clone(),
            key.peer_id(),
            &self.protocols,
            self.listen_port,
        )
    }
}

/// An established session: authenticated, Hellos exchanged, capabilities negotiated.
#[derive(Debug)]
pub struct Session {
    /// The running connection; take each capability's handle from it.
    pub connection: P2pConnection,
    /// The remote's Hello (client name, capabilities, announced port).
    pub remote_hello: Hello,
    /// The capabilities both sides run, with their message-id offsets.
    pub shared: SharedCapabilities,
    /// The remote's node id (public key without the 0x04 prefix), proven by the handshake.
    pub remote_id: PeerId,
    /// The remote's static public key, proven by the handshake.
    pub remote_public_key: PublicKey,
}

/// Opens a TCP connection to `addr` (with `config.dial_timeout`, `TCP_NODELAY` on) and runs
/// [`connect`] over it.
pub async fn dial(
    addr: SocketAddr,
    key: &NodeKey,
    remote: PublicKey,
    config: &SessionConfig,
) -> Result<Session, SessionError> {
    let tcp = match tokio::time::timeout(config.dial_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(source)) => return Err(SessionError::Connect { addr, source }),
        Err(_) => {
            return Err(SessionError::ConnectTimeout {
                addr,
                timeout: config.dial_timeout,
            })
        }
    };
    // Like Go's default: small frames (pings, Hellos, requests) must not wait for Nagle.
    tcp.set_nodelay(true)
        .map_err(|source| SessionError::Connect { addr, source })?;
    connect(tcp, key, remote, config).await
}

/// Runs the initiator side over a connected `io`: ECIES handshake against `remote` (whose key
/// we know from its enode/ENR), then the Hello exchange. Must run inside a tokio runtime.
pub async fn connect<Io>(
    io: Io,
    key: &NodeKey,
    remote: PublicKey,
    config: &SessionConfig,
) -> Result<Session, SessionError>
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    authenticate_outbound(io, key, remote, config)
        .await?
        .exchange_hellos(key, config)
        .await
}

/// Runs the recipient side over an accepted `io`: ECIES handshake (the remote's key comes from
/// its auth message), then the Hello exchange. Must run inside a tokio runtime. For TCP,
/// switch `TCP_NODELAY` on first, as [`dial`] does.
pub async fn accept<Io>(
    io: Io,
    key: &NodeKey,
    config: &SessionConfig,
) -> Result<Session, SessionError>
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    authenticate_inbound(io, key, config)
        .await?
        .exchange_hellos(key, config)
        .await
}

/// The first phase of [`connect`]: only the ECIES handshake (`config.handshake_timeout`).
pub async fn authenticate_outbound<Io>(
    io: Io,
    key: &NodeKey,
    remote: PublicKey,
    config: &SessionConfig,
) -> Result<Authenticated<Io>, SessionError>
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stream = UnauthedRlpx::with_local_key(io, key.clone())
        .with_config(handshake_config(config))
        .connect(remote)
        .await?;
    Ok(Authenticated { stream })
}

/// The first phase of [`accept`]: only the ECIES handshake (`config.handshake_timeout`).
pub async fn authenticate_inbound<Io>(
    io: Io,
    key: &NodeKey,
    config: &SessionConfig,
) -> Result<Authenticated<Io>, SessionError>
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stream = UnauthedRlpx::with_local_key(io, key.clone())
        .with_config(handshake_config(config))
        .accept()
        .await?;
    Ok(Authenticated { stream })
}

fn handshake_config(config: &SessionConfig) -> HandshakeConfig {
    HandshakeConfig {
        timeout: config.handshake_timeout,
    }
}

/// A connection whose ECIES handshake succeeded (the remote's key is proven) but whose Hellos
/// are not exchanged yet: the point where a server checks its peer limits.
pub struct Authenticated<Io> {
    stream: RlpxStream<Io>,
}

impl<Io> std::fmt::Debug for Authenticated<Io> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticated")
            .field("stream", &self.stream)
            .finish()
    }
}

impl<Io> Authenticated<Io>
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// The remote's node id, proven by the handshake.
    pub fn remote_id(&self) -> PeerId {
        self.stream.remote_id()
    }

    /// The remote's static public key, proven by the handshake.
    pub fn remote_public_key(&self) -> PublicKey {
        self.stream.remote_public_key()
    }

    /// The underlying transport (e.g. to read the peer's address).
    pub fn get_ref(&self) -> &Io {
        self.stream.get_ref()
    }

    /// The second phase: exchanges Hellos (`config.handshake_timeout`); the remote's Hello must
    /// carry the id the handshake proved. The first incoming frame is limited to the Hello
    /// size (2 KiB, refused from its header) so an unverified peer cannot make us buffer a
    /// 16 MiB frame.
    pub async fn exchange_hellos(
        self,
        key: &NodeKey,
        config: &SessionConfig,
    ) -> Result<Session, SessionError> {
        let mut stream = self.stream;
        let remote_id = stream.remote_id();
        let remote_public_key = stream.remote_public_key();
        stream.limit_next_frame(FIRST_FRAME_LIMIT);
        let (connection, remote_hello, shared) = UnauthedP2p::new(stream)
            .handshake_with_timeout(
                config.hello(key),
                remote_id,
                config.protocols.clone(),
                config.handshake_timeout,
            )
            .await?;
        Ok(Session {
            connection,
            remote_hello,
            shared,
            remote_id,
            remote_public_key,
        })
    }

    /// Turns the peer away before the Hellos: sends Disconnect(`reason`) (uncompressed, as
    /// snappy is not on yet) and closes our side within 1 s, then reads (discarding) until the
    /// peer closes too, for at most another second — the same path every Disconnect takes
    /// ([`P2pConnection`] and the Hello exchange use it). The peer's Hello is usually already
    /// on its way; closing the socket with it unread would reset the connection, and a reset
    /// can destroy our Disconnect in the peer's receive buffer before it reads it. Errors are
    /// ignored: the connection is going away either way.
    pub async fn reject(self, reason: DisconnectReason) {
        let mut stream = self.stream;
        // Nothing we read is used: keep the drain cheap against a hostile peer.
        stream.set_max_frame_size(FIRST_FRAME_LIMIT);
        // A fresh codec has snappy off, so the Disconnect goes out uncompressed.
        send_disconnect_and_close(&mut stream, &mut MessageCodec::default(), Some(reason)).await;
        drain_until_closed(&mut stream).await;
    }
}
