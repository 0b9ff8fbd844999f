//! The network under the node: a stream-transport seam with a TCP and an in-memory
//! implementation.
//!
//! - [`StreamTransport`] dials and binds; [`StreamListener`] accepts. Both are object safe:
//!   the node holds an `Arc<dyn StreamTransport>`, and every stream is a [`BoxedStream`]
//!   that `rlpx::session::{connect, accept}` take as is.
//! - [`TcpTransport`]: tokio TCP with `TCP_NODELAY`.
//! - [`MemoryNetwork`]: thousands of nodes in one process on tokio's (paused) clock, each
//!   with its own IP ([`MemoryNetwork::host`]), with black holes, refusals, connect latency,
//!   killed nodes and partitions.

mod memory;
mod tcp;
mod transport;

pub use memory::{
    MemoryConfig, MemoryListener, MemoryNetwork, MemoryStats, MemoryStream, MemoryTransport,
    Reachability, DEFAULT_BACKLOG, DEFAULT_BUFFER_SIZE, DEFAULT_CONNECT_LATENCY,
};
pub use tcp::{TcpStreamListener, TcpTransport};
pub use transport::{AsyncStream, BoxedListener, BoxedStream, StreamListener, StreamTransport};
