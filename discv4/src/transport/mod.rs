//! The datagram transport seam: real UDP sockets and an in-memory simulated network.
//!
//! The discv4 service talks to the network only through [`DatagramTransport`], so the same
//! service code runs over a tokio [`UdpSocket`](tokio::net::UdpSocket) in production and over
//! a [`SimNetwork`] with thousands of nodes on tokio's paused clock in tests.

mod batch;
#[cfg(target_os = "linux")]
mod mmsg;
mod send_batch;
mod sim;
mod udp;

/// Receive buffer for one datagram: longer than the longest datagram discv4 accepts (1,500
/// bytes), so a longer one arrives cut but still too long, and is refused as such.
pub const DATAGRAM_BUFFER_LEN: usize = 2048;

pub use batch::RecvBatch;
pub use send_batch::{SendBatch, SendReport};
pub use sim::{SimConfig, SimNetwork, SimSocket, SimStats};
pub use udp::{UdpTransport, RECV_BUFFER_BYTES};

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;

/// A boxed, sendable future borrowed from a transport.
pub type TransportFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A connectionless datagram socket (UDP or simulated).
///
/// All methods take `&self`, and any number of tasks may send and receive on one transport at
/// the same time: share it as `Arc<dyn DatagramTransport>`.
///
/// Tasks that receive concurrently must use [`recv_from`](Self::recv_from), which every
/// implementation makes safe for many simultaneous callers. The `poll_*` methods follow
/// tokio's rule for sockets: with several tasks polling the same direction, only the waker of
/// the most recent poll is guaranteed a wake-up (the simulated socket wakes them all).
///
/// Datagrams longer than the receive buffer are truncated, as the operating system does for
/// UDP; discv4 callers read with a 1500-byte buffer.
pub trait DatagramTransport: Send + Sync + 'static {
    /// Polls for one datagram, copying it into `buf` and returning its sender.
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<SocketAddr>>;

    /// Polls to send `buf` as one datagram to `target`, returning the number of bytes sent.
    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>>;

    /// The address this transport is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// Receives one datagram into `buf`, returning its length and sender.
    ///
    /// Safe to call from many tasks at once; each datagram goes to exactly one caller.
    fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> TransportFuture<'a, io::Result<(usize, SocketAddr)>> {
        Box::pin(async move {
            let mut read_buf = ReadBuf::new(buf);
            let from = std::future::poll_fn(|cx| self.poll_recv_from(cx, &mut read_buf)).await?;
            Ok((read_buf.filled().len(), from))
        })
    }

    /// How many receive buffers [`recv_batch`](Self::recv_batch) can fill in one call; a
    /// receiver allocates that many, so a transport that receives one datagram per call keeps
    /// the default of one.
    fn recv_batch_capacity(&self) -> usize {
        1
    }

    /// Bytes per receive buffer. The default, [`DATAGRAM_BUFFER_LEN`], holds any datagram
    /// discv4 accepts and shows a longer one as too long; a transport that coalesces datagrams
    /// into one buffer (UDP GRO) needs 64 KiB.
    fn recv_buffer_len(&self) -> usize {
        DATAGRAM_BUFFER_LEN
    }

    /// Receives one or more datagrams into `batch` (replacing what it held), waiting for the
    /// first. Transports that can receive many datagrams per system call (`recvmmsg`) do; the
    /// default receives one.
    ///
    /// Safe to call from many tasks at once, like [`recv_from`](Self::recv_from).
    fn recv_batch<'a>(&'a self, batch: &'a mut RecvBatch) -> TransportFuture<'a, io::Result<()>> {
        Box::pin(async move {
            batch.filled.clear();
            let buffer = batch
                .buffers
                .first_mut()
                .ok_or_else(|| io::Error::other("receive batch without buffers"))?;
            let (len, src) = self.recv_from(buffer).await?;
            batch.filled.push(batch::Filled {
                len,
                stride: len,
                src,
            });
            Ok(())
        })
    }

    /// Sends every datagram of `batch`, in order; a datagram the system refuses does not stop
    /// the others. Transports that can send many datagrams per system call (`sendmmsg`) do;
    /// the default sends one at a time.
    fn send_batch<'a>(&'a self, batch: &'a SendBatch) -> TransportFuture<'a, SendReport> {
        Box::pin(async move {
            let mut report = SendReport::default();
            for (index, (datagram, to)) in batch.datagrams().enumerate() {
                match self.send_to(datagram, to).await {
                    Ok(_) => report.sent += 1,
                    Err(error) => report.failed.push((index, error)),
                }
            }
            report
        })
    }

    /// Sends `buf` as one datagram to `target`, returning the number of bytes sent.
    fn send_to<'a>(
        &'a self,
        buf: &'a [u8],
        target: SocketAddr,
    ) -> TransportFuture<'a, io::Result<usize>> {
        Box::pin(std::future::poll_fn(move |cx| {
            self.poll_send_to(cx, buf, target)
        }))
    }
}
