//! [`DatagramTransport`] for real UDP sockets: a plain tokio [`UdpSocket`] (one datagram per
//! system call), and [`UdpTransport`], which receives and sends a batch per system call.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::task::{Context, Poll};

use quinn_udp::{RecvMeta, UdpSocketState};
use tokio::io::{Interest, ReadBuf};
use tokio::net::UdpSocket;

use super::{
    batch::{Filled, RecvBatch, BUFFER_LEN},
    DatagramTransport, SendBatch, SendReport, TransportFuture,
};

impl DatagramTransport for UdpSocket {
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<SocketAddr>> {
        UdpSocket::poll_recv_from(self, cx, buf)
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        UdpSocket::poll_send_to(self, cx, buf, target)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        UdpSocket::local_addr(self)
    }

    // tokio's async methods keep one waiter per call, so they stay correct with many
    // concurrent receivers where the single-waker `poll_*` methods would lose wake-ups.
    fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> TransportFuture<'a, io::Result<(usize, SocketAddr)>> {
        Box::pin(UdpSocket::recv_from(self, buf))
    }

    fn send_to<'a>(
        &'a self,
        buf: &'a [u8],
        target: SocketAddr,
    ) -> TransportFuture<'a, io::Result<usize>> {
        Box::pin(UdpSocket::send_to(self, buf, target))
    }
}

/// Kernel receive buffer asked for: at ~2 KiB of kernel memory per queued datagram this holds
/// a few thousand, ~100 ms of a busy node's traffic, where the common 208 KiB default overflows
/// within a few milliseconds of a burst. Linux caps it at `net.core.rmem_max` unless the
/// process may exceed that; what the kernel granted is in [`UdpTransport::recv_buffer_size`].
pub const RECV_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// A UDP socket that receives many datagrams per system call (`recvmmsg` on Linux, with
/// UDP GRO where the kernel offers it, via `quinn-udp`; one datagram per call elsewhere) and
/// sends a [`SendBatch`] to any number of destinations per call (`sendmmsg` on Linux; one
/// datagram per call elsewhere).
///
/// `quinn-udp` also sets the socket to never fragment (`IP_PMTUDISC_PROBE`): discv4 datagrams
/// are at most 1280 bytes, within every IPv6 path and every IPv4 path in practice.
#[derive(Debug)]
pub struct UdpTransport {
    socket: UdpSocket,
    state: UdpSocketState,
    /// IPv4 destinations must be IPv4-mapped on an IPv6 (dual-stack) socket.
    ipv6: bool,
}

impl UdpTransport {
    /// Wraps a bound socket, asking the kernel for a [`RECV_BUFFER_BYTES`] receive buffer
    /// (a refusal is not an error: the socket keeps the system default).
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        let state = UdpSocketState::new((&socket).into())?;
        if let Err(error) = state.set_recv_buffer_size((&socket).into(), RECV_BUFFER_BYTES) {
            tracing::debug!(target: "discv4", %error, "cannot enlarge the UDP receive buffer");
        }
        let ipv6 = socket.local_addr()?.is_ipv6();
        Ok(Self {
            socket,
            state,
            ipv6,
        })
    }

    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        Self::new(UdpSocket::bind(addr).await?)
    }

    /// The kernel's receive buffer for this socket, in bytes (Linux reports twice what was
    /// asked, its bookkeeping overhead included).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        self.state.recv_buffer_size((&self.socket).into())
    }

    fn try_recv_batch(&self, batch: &mut RecvBatch) -> io::Result<()> {
        let mut slices: Vec<IoSliceMut<'_>> = batch
            .buffers
            .iter_mut()
            .take(quinn_udp::BATCH_SIZE)
            .map(|buffer| IoSliceMut::new(buffer))
            .collect();
        let mut metas = vec![RecvMeta::default(); slices.len()];
        let received = self
            .state
            .recv((&self.socket).into(), &mut slices, &mut metas)?;
        batch.filled.clear();
        batch
            .filled
            .extend(metas.iter().take(received).map(|meta| Filled {
                len: meta.len,
                stride: meta.stride,
                src: meta.addr,
            }));
        Ok(())
    }
}

impl DatagramTransport for UdpTransport {
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<SocketAddr>> {
        self.socket.poll_recv_from(cx, buf)
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.socket.poll_send_to(cx, buf, target)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> TransportFuture<'a, io::Result<(usize, SocketAddr)>> {
        Box::pin(self.socket.recv_from(buf))
    }

    fn recv_batch_capacity(&self) -> usize {
        quinn_udp::BATCH_SIZE
    }

    fn recv_buffer_len(&self) -> usize {
        // GRO coalesces datagrams of one sender into one buffer.
        BUFFER_LEN
    }

    fn recv_batch<'a>(&'a self, batch: &'a mut RecvBatch) -> TransportFuture<'a, io::Result<()>> {
        Box::pin(async move {
            // Like tokio's own `recv_from`: one waiter per call, so concurrent receivers each
            // get a wake-up; `WouldBlock` clears readiness and waits again.
            self.socket
                .async_io(Interest::READABLE, || self.try_recv_batch(batch))
                .await
        })
    }

    #[cfg(target_os = "linux")]
    fn send_batch<'a>(&'a self, batch: &'a SendBatch) -> TransportFuture<'a, SendReport> {
        use std::os::fd::AsRawFd;
        Box::pin(async move {
            let mut report = SendReport::default();
            let fd = self.socket.as_raw_fd();
            let mut next = 0;
            while next < batch.len() {
                // `WouldBlock` (a full socket buffer) waits for room; any other error belongs
                // to the datagram at `next` alone, which is skipped.
                let result = self
                    .socket
                    .async_io(Interest::WRITABLE, || {
                        super::mmsg::send(fd, batch, next, self.ipv6)
                    })
                    .await;
                match result {
                    Ok(sent) if sent > 0 => {
                        report.sent += sent;
                        next += sent;
                    }
                    Ok(_) => {
                        report
                            .failed
                            .push((next, io::Error::other("sendmmsg sent nothing")));
                        next += 1;
                    }
                    Err(error) => {
                        report.failed.push((next, error));
                        next += 1;
                    }
                }
            }
            report
        })
    }

    fn send_to<'a>(
        &'a self,
        buf: &'a [u8],
        target: SocketAddr,
    ) -> TransportFuture<'a, io::Result<usize>> {
        Box::pin(self.socket.send_to(buf, target))
    }
}
