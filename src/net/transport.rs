//! The stream-transport seam: what the node needs from a network to dial and to accept.
//!
//! The node holds an `Arc<dyn StreamTransport>` rather than being generic over a transport.
//! A generic parameter would spread into the node, its handle, every task and every test
//! helper, and be compiled twice; the price of dynamic dispatch is one allocation per
//! connection and an indirect call per read or write, which disappears beside the ECIES
//! handshake and the per-frame AES and keccak work of an RLPx session.

use std::{fmt, io, net::SocketAddr, time::Duration};

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream to one remote: everything `rlpx::session::{connect, accept}` take.
///
/// Implemented for every type with the bounds; a TCP stream and a memory-network stream are
/// both `AsyncStream`s.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T> AsyncStream for T where T: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

/// A connected stream of any transport, as dials and accepts return it.
pub type BoxedStream = Box<dyn AsyncStream>;

/// A bound listener of any transport, as [`StreamTransport::bind`] returns it.
pub type BoxedListener = Box<dyn StreamListener>;

/// Opens connections and binds listeners: TCP in production
/// ([`TcpTransport`](super::TcpTransport)), an in-memory network on virtual time in
/// simulations ([`MemoryTransport`](super::MemoryTransport)).
///
/// Object safe: share one as `Arc<dyn StreamTransport>`. All methods take `&self`, so any
/// number of dials may run at once.
pub trait StreamTransport: fmt::Debug + Send + Sync + 'static {
    /// Connects to `addr`, giving up after `timeout` with [`io::ErrorKind::TimedOut`].
    /// A refused connection fails with [`io::ErrorKind::ConnectionRefused`].
    fn dial(&self, addr: SocketAddr, timeout: Duration) -> BoxFuture<'_, io::Result<BoxedStream>>;

    /// Binds a listener at `addr`; port 0 picks a free port ([`StreamListener::local_addr`]
    /// tells which).
    fn bind(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxedListener>>;
}

/// Accepts inbound connections on a bound address.
///
/// The listener stops listening when dropped.
pub trait StreamListener: fmt::Debug + Send + Sync + 'static {
    /// Waits for the next inbound connection and returns it with the remote's address (as
    /// the network reports it: an IPv4 peer may appear IPv4-mapped on a dual-stack socket).
    ///
    /// Cancel safe: dropping the future before it completes loses no connection, so it may
    /// sit in a `tokio::select!` beside a shutdown signal. An error is usually transient
    /// (out of file descriptors, a connection reset before it was accepted): back off briefly
    /// and accept again.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxedStream, SocketAddr)>>;

    /// The address the listener is bound to, with the port chosen for port 0.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}
