//! One end of a memory-network connection: a bounded in-memory pipe that the network can
//! stall (a partition) or reset (a killed node) from outside.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU8, Ordering},
        Weak,
    },
    task::{Context, Poll},
};

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

use super::{lock, Inner};

/// Which end of a connection a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Dialer = 0,
    Listener = 1,
}

/// What both ends of one connection share with the network.
#[derive(Debug)]
pub(super) struct ConnShared {
    pub(super) id: u64,
    /// The dialer's and the listener's address.
    pub(super) ends: [SocketAddr; 2],
    killed: AtomicBool,
    stalled: AtomicBool,
    /// Ends not yet dropped; the last one out unregisters the connection.
    open: AtomicU8,
    /// The read and write wakers of both ends, indexed by `side * 2 + (0 read | 1 write)`.
    wakers: [AtomicWaker; 4],
}

impl ConnShared {
    pub(super) fn new(id: u64, dialer: SocketAddr, listener: SocketAddr) -> Self {
        Self {
            id,
            ends: [dialer, listener],
            killed: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            open: AtomicU8::new(2),
            wakers: Default::default(),
        }
    }

    /// Resets the connection: every pending and future read or write on either end fails.
    pub(super) fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.wake_all();
    }

    pub(super) fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// Stops (or resumes) all traffic in both directions.
    pub(super) fn set_stalled(&self, stalled: bool) {
        if self.stalled.swap(stalled, Ordering::SeqCst) != stalled {
            self.wake_all();
        }
    }

    fn wake_all(&self) {
        for waker in &self.wakers {
            waker.wake();
        }
    }

    /// Registers the task, then reports a reset, a stall, or nothing (go ahead).
    fn check(&self, side: Side, write: bool, cx: &Context<'_>) -> Poll<io::Result<()>> {
        self.wakers[side as usize * 2 + usize::from(write)].register(cx.waker());
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "memory connection reset: a node at one end was killed",
            )));
        }
        if self.stalled.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }
}

/// One end of a connection on a [`MemoryNetwork`](super::MemoryNetwork).
///
/// Reads and writes go through a bounded pipe (the network's buffer size per direction);
/// a writer waits while the pipe is full. When the other end is dropped, reads return the
/// remaining bytes and then end of file, and writes fail with `BrokenPipe`. When the network
/// kills either node, both ends fail with `ConnectionReset`; while the nodes are partitioned,
/// reads and writes wait.
#[derive(Debug)]
pub struct MemoryStream {
    pipe: DuplexStream,
    conn: std::sync::Arc<ConnShared>,
    side: Side,
    net: Weak<Inner>,
}

impl MemoryStream {
    pub(super) fn new(
        pipe: DuplexStream,
        conn: std::sync::Arc<ConnShared>,
        side: Side,
        net: Weak<Inner>,
    ) -> Self {
        Self {
            pipe,
            conn,
            side,
            net,
        }
    }

    /// This end's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.conn.ends[self.side as usize]
    }

    /// The other end's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.conn.ends[1 - self.side as usize]
    }
}

impl Drop for MemoryStream {
    fn drop(&mut self) {
        if self.conn.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(net) = self.net.upgrade() {
                lock(&net.state).conns.remove(&self.conn.id);
            }
        }
    }
}

impl AsyncRead for MemoryStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.conn.check(this.side, false, cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.pipe).poll_read(cx, buf),
            other => other,
        }
    }
}

impl AsyncWrite for MemoryStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.conn.check(this.side, true, cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.pipe).poll_write(cx, buf),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.conn.check(this.side, true, cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.pipe).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.conn.is_killed() {
            // Closing a reset connection succeeds, as on a socket.
            return Poll::Ready(Ok(()));
        }
        // A close passes a partition: the other end cannot read it before the cut heals.
        Pin::new(&mut this.pipe).poll_shutdown(cx)
    }
}
