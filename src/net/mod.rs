//! The network under the node: a stream-transport seam and its TCP implementation.
//!
//! [`StreamTransport`] dials and binds; [`StreamListener`] accepts. Both are object safe:
//! the node holds an `Arc<dyn StreamTransport>`, and every stream is a [`BoxedStream`] that
//! `rlpx::session::{connect, accept}` take as is. [`TcpTransport`] is tokio TCP with
//! `TCP_NODELAY`.

mod tcp;
mod transport;

pub use tcp::{TcpStreamListener, TcpTransport};
pub use transport::{AsyncStream, BoxedListener, BoxedStream, StreamListener, StreamTransport};
