//! [`DatagramTransport`] for a real tokio UDP socket.

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

use super::{DatagramTransport, TransportFuture};

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
