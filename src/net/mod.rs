//! The network under the node: a stream-transport seam with a TCP and an in-memory
//! implementation, and the admission limits an accept loop applies before any handshake.
//!
//! - [`StreamTransport`] dials and binds; [`StreamListener`] accepts. Both are object safe:
//!   the node holds an `Arc<dyn StreamTransport>`, and every stream is a [`BoxedStream`]
//!   that `rlpx::session::{connect, accept}` take as is.
//! - [`TcpTransport`]: tokio TCP with `TCP_NODELAY`.
//! - [`MemoryNetwork`]: thousands of nodes in one process on tokio's (paused) clock, each
//!   with its own IP ([`MemoryNetwork::host`]), with black holes, refusals, connect latency,
//!   killed nodes and partitions.
//! - [`InboundLimits`]: netrestrict, geth's 30 s per-IP throttle, and caps on pending
//!   connections globally, per IP and per /24 or /64; admission returns a [`PendingPermit`]
//!   that frees its slots when dropped.
//!
//! An accept loop on this seam (here on the memory network, with a full RLPx handshake; in
//! production the transport is `Arc::new(TcpTransport)` and nothing else changes):
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//!
//! use enode::NodeKey;
//! use kadnode::net::{InboundConfig, InboundLimits, MemoryNetwork, StreamTransport};
//! use rlpx::session::{self, SessionConfig};
//! use tokio::time::{timeout, Instant};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let net = MemoryNetwork::default();
//! let server: Arc<dyn StreamTransport> = Arc::new(net.host("127.0.0.1".parse()?));
//! let client: Arc<dyn StreamTransport> = Arc::new(net.host("127.0.0.2".parse()?));
//! let (server_key, client_key) = (NodeKey::generate(), NodeKey::generate());
//! let server_public = server_key.public_key();
//! let config = SessionConfig::new("example/v1", vec![]);
//!
//! // The server: admit (or refuse) before any handshake work, then handshake in a task that
//! // holds the permit, so the pending slot is freed whatever the outcome.
//! let mut listener = server.bind("127.0.0.1:0".parse()?).await?;
//! let addr = listener.local_addr()?;
//! let server_config = config.clone();
//! tokio::spawn(async move {
//!     let mut limits = InboundLimits::new(InboundConfig::default());
//!     loop {
//!         let (stream, remote) = match listener.accept().await {
//!             Ok(accepted) => accepted,
//!             Err(_) => {
//!                 // Transient (e.g. out of file descriptors): back off, accept again.
//!                 tokio::time::sleep(Duration::from_millis(100)).await;
//!                 continue;
//!             }
//!         };
//!         let permit = match limits.try_admit(remote.ip(), Instant::now()) {
//!             Ok(permit) => permit,
//!             Err(refusal) => {
//!                 // Count `refusal.label()` in metrics; dropping the stream closes it.
//!                 eprintln!("refused {remote}: {refusal}");
//!                 continue;
//!             }
//!         };
//!         let (key, config) = (server_key.clone(), server_config.clone());
//!         tokio::spawn(async move {
//!             let session = session::accept(stream, &key, &config).await;
//!             drop(permit); // the handshake is over: the connection is no longer pending
//!             if let Ok(session) = session {
//!                 println!("inbound peer {}", session.remote_id);
//!                 // … the server's checks, then the peer's protocols
//!             }
//!         });
//!     }
//! });
//!
//! // The dialer.
//! let stream = client.dial(addr, Duration::from_secs(5)).await?;
//! let session = timeout(
//!     Duration::from_secs(10),
//!     session::connect(stream, &client_key, server_public, &config),
//! )
//! .await??;
//! assert_eq!(session.remote_public_key, server_public);
//! # Ok(()) }
//! ```

mod inbound;
mod memory;
mod tcp;
mod transport;

pub use inbound::{
    InboundConfig, InboundLimits, PendingPermit, Refusal, DEFAULT_INBOUND_THROTTLE,
    DEFAULT_MAX_PENDING_PER_IP, DEFAULT_MAX_PENDING_PER_SUBNET, DEFAULT_THROTTLE_CAPACITY,
    MAX_INBOUND_THROTTLE, SUBNET_PREFIX_V4, SUBNET_PREFIX_V6,
};
pub use memory::{
    MemoryConfig, MemoryListener, MemoryNetwork, MemoryStats, MemoryStream, MemoryTransport,
    Reachability, DEFAULT_BACKLOG, DEFAULT_BUFFER_SIZE, DEFAULT_CONNECT_LATENCY,
};
pub use tcp::{TcpStreamListener, TcpTransport};
pub use transport::{AsyncStream, BoxedListener, BoxedStream, StreamListener, StreamTransport};
