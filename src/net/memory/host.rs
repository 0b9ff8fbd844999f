//! One node's view of a memory network: its transport (dials from its IP, listeners on it)
//! and its listeners.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    sync::Weak,
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::{bump, lock, Incoming, Inner, ListenerEntry, MemoryNetwork, MemoryStream};
use crate::net::transport::{BoxedListener, BoxedStream, StreamListener, StreamTransport};

/// The [`StreamTransport`] of one host of a [`MemoryNetwork`]
/// ([`MemoryNetwork::host`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct MemoryTransport {
    net: MemoryNetwork,
    ip: IpAddr,
}

impl MemoryTransport {
    pub(super) fn new(net: MemoryNetwork, ip: IpAddr) -> Self {
        Self { net, ip }
    }

    /// The host's address.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The network this host is on.
    pub fn network(&self) -> &MemoryNetwork {
        &self.net
    }

    /// [`StreamTransport::dial`] returning the memory stream itself.
    pub async fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<MemoryStream> {
        let counters = &self.net.inner.counters;
        bump(&counters.dials);
        match tokio::time::timeout(timeout, self.net.connect(self.ip, addr)).await {
            Ok(result) => result,
            Err(_) => {
                bump(&counters.timed_out);
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("memory network: connect to {addr} timed out after {timeout:?}"),
                ))
            }
        }
    }

    /// [`StreamTransport::bind`] returning the memory listener itself.
    ///
    /// The IP must be the host's (or unspecified, meaning the host's); port 0 picks a free
    /// port. Fails with `AddrNotAvailable` for another IP or when no port is free, and with
    /// `AddrInUse` when the address is bound.
    pub fn listen(&self, addr: SocketAddr) -> io::Result<MemoryListener> {
        let ip = if addr.ip().is_unspecified() {
            self.ip
        } else if addr.ip() == self.ip {
            addr.ip()
        } else {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "memory network: host {} cannot bind {addr}, not its address",
                    self.ip
                ),
            ));
        };
        let inner = &self.net.inner;
        let mut state = lock(&inner.state);
        let port = match addr.port() {
            0 => state.free_port(ip)?,
            port => port,
        };
        let local = SocketAddr::new(ip, port);
        if state.listeners.contains_key(&local) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("memory network: {local} is already bound"),
            ));
        }
        let id = state.next_id();
        let (sender, backlog) = mpsc::channel(inner.backlog);
        state.listeners.insert(
            local,
            ListenerEntry {
                id,
                backlog: sender,
            },
        );
        Ok(MemoryListener {
            local,
            id,
            backlog,
            net: std::sync::Arc::downgrade(inner),
        })
    }
}

impl StreamTransport for MemoryTransport {
    fn dial(&self, addr: SocketAddr, timeout: Duration) -> BoxFuture<'_, io::Result<BoxedStream>> {
        Box::pin(async move { Ok(Box::new(self.connect(addr, timeout).await?) as BoxedStream) })
    }

    fn bind(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxedListener>> {
        Box::pin(async move { Ok(Box::new(self.listen(addr)?) as BoxedListener) })
    }
}

/// A listener on a [`MemoryNetwork`]. Dropping it unbinds its address; connections still
/// in its backlog are closed.
#[derive(Debug)]
pub struct MemoryListener {
    local: SocketAddr,
    id: u64,
    backlog: mpsc::Receiver<Incoming>,
    net: Weak<Inner>,
}

impl MemoryListener {
    /// [`StreamListener::accept`] returning the memory stream itself. Cancel safe. Fails
    /// with `NotConnected` once the network has killed the host
    /// ([`MemoryNetwork::kill`]), and on every call after that.
    pub async fn accept_memory(&mut self) -> io::Result<(MemoryStream, SocketAddr)> {
        self.backlog.recv().await.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                format!(
                    "memory network: listener {} was closed (host killed)",
                    self.local
                ),
            )
        })
    }
}

impl Drop for MemoryListener {
    fn drop(&mut self) {
        if let Some(net) = self.net.upgrade() {
            let mut state = lock(&net.state);
            if state
                .listeners
                .get(&self.local)
                .is_some_and(|l| l.id == self.id)
            {
                state.listeners.remove(&self.local);
            }
        }
    }
}

impl StreamListener for MemoryListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxedStream, SocketAddr)>> {
        Box::pin(async move {
            let (stream, remote) = self.accept_memory().await?;
            Ok((Box::new(stream) as BoxedStream, remote))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}
