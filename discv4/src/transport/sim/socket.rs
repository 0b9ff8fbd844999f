//! A socket bound on a [`SimNetwork`](super::SimNetwork).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::ReadBuf;
use tokio::task::coop;

use super::inbox::{lock, Take};
use super::{NetInner, SocketShared, MAX_DATAGRAM};
use crate::transport::DatagramTransport;

/// A datagram socket on a simulated network; unbinds its address when dropped.
pub struct SimSocket {
    addr: SocketAddr,
    shared: Arc<SocketShared>,
    net: Arc<NetInner>,
    send_seq: AtomicU64,
}

impl fmt::Debug for SimSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimSocket")
            .field("addr", &self.addr)
            .field("queued", &lock(&self.shared.inbox).len())
            .finish()
    }
}

impl SimSocket {
    pub(super) fn new(addr: SocketAddr, shared: Arc<SocketShared>, net: Arc<NetInner>) -> Self {
        SimSocket {
            addr,
            shared,
            net,
            send_seq: AtomicU64::new(0),
        }
    }

    /// Datagrams in flight to this socket or waiting to be read.
    pub fn queued(&self) -> usize {
        lock(&self.shared.inbox).len()
    }
}

impl DatagramTransport for SimSocket {
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<SocketAddr>> {
        // Take part in tokio's cooperative budget like a real socket, so a node flooded
        // with due datagrams still lets the other simulated nodes run.
        let coop = ready!(coop::poll_proceed(cx));
        let taken = lock(&self.shared.inbox).take(
            cx.waker(),
            &self.shared.waiters,
            &self.shared.timer_waker,
        );
        match taken {
            Take::Ready(queued) => {
                // Like UDP: the part that does not fit is lost.
                let len = queued.data.len().min(buf.remaining());
                buf.put_slice(&queued.data[..len]);
                self.net.count_delivered();
                coop.made_progress();
                Poll::Ready(Ok(queued.from))
            }
            Take::Pending => Poll::Pending,
        }
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        let coop = ready!(coop::poll_proceed(cx));
        coop.made_progress();
        if buf.len() > MAX_DATAGRAM {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "datagram of {} bytes exceeds the {MAX_DATAGRAM}-byte UDP maximum",
                    buf.len()
                ),
            )));
        }
        let seq = self.send_seq.fetch_add(1, Ordering::Relaxed);
        self.net.route(self.addr, seq, target, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

impl Drop for SimSocket {
    fn drop(&mut self) {
        self.net.unbind(self.addr, &self.shared);
    }
}
