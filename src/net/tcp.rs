//! The production transport: TCP sockets on tokio, with `TCP_NODELAY` on both directions.

use std::{io, net::SocketAddr, time::Duration};

use futures::future::BoxFuture;
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use super::transport::{BoxedListener, BoxedStream, StreamListener, StreamTransport};

/// TCP over the operating system's network stack.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpTransport;

impl TcpTransport {
    /// A TCP transport.
    pub fn new() -> Self {
        Self
    }

    /// [`StreamTransport::dial`] returning the TCP stream itself.
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(connected) => connected?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("TCP connect to {addr} timed out after {timeout:?}"),
                ))
            }
        };
        // Like Go's default: small frames (pings, Hellos, requests) must not wait for Nagle.
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl StreamTransport for TcpTransport {
    fn dial(&self, addr: SocketAddr, timeout: Duration) -> BoxFuture<'_, io::Result<BoxedStream>> {
        Box::pin(async move { Ok(Box::new(Self::connect(addr, timeout).await?) as BoxedStream) })
    }

    fn bind(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxedListener>> {
        Box::pin(async move {
            let listener = TcpListener::bind(addr).await?;
            Ok(Box::new(TcpStreamListener { listener }) as BoxedListener)
        })
    }
}

/// A bound TCP listener; accepted streams have `TCP_NODELAY` on.
#[derive(Debug)]
pub struct TcpStreamListener {
    listener: TcpListener,
}

impl TcpStreamListener {
    /// Wraps a listener bound elsewhere (e.g. inherited from a supervisor).
    pub fn from_tokio(listener: TcpListener) -> Self {
        Self { listener }
    }

    /// [`StreamListener::accept`] returning the TCP stream itself. Cancel safe.
    pub async fn accept_tcp(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, remote) = self.listener.accept().await?;
        if let Err(error) = stream.set_nodelay(true) {
            // The socket still works, only with Nagle's delays; the handshake decides.
            debug!(target: "kadnode::net", %remote, %error, "TCP_NODELAY failed");
        }
        Ok((stream, remote))
    }
}

impl StreamListener for TcpStreamListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxedStream, SocketAddr)>> {
        Box::pin(async move {
            let (stream, remote) = self.accept_tcp().await?;
            Ok((Box::new(stream) as BoxedStream, remote))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    const BOUND: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn loopback_round_trip_on_port_zero() {
        let transport: std::sync::Arc<dyn StreamTransport> = std::sync::Arc::new(TcpTransport);
        let mut listener = transport.bind(LOOPBACK).await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(addr.ip(), LOOPBACK.ip());
        assert_ne!(addr.port(), 0, "port 0 must resolve to the chosen port");

        let server = tokio::spawn(async move {
            let (mut stream, remote) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(&buf).await.unwrap();
            stream.write_all(b"!").await.unwrap();
            remote
        });

        let mut client = transport.dial(addr, BOUND).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut echoed = [0u8; 6];
        tokio::time::timeout(BOUND, client.read_exact(&mut echoed))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&echoed, b"hello!");
        let remote = tokio::time::timeout(BOUND, server).await.unwrap().unwrap();
        assert_eq!(remote.ip(), LOOPBACK.ip());
    }

    #[tokio::test]
    async fn dialed_and_accepted_streams_have_nodelay() {
        let listener = TcpStreamListener::from_tokio(TcpListener::bind(LOOPBACK).await.unwrap());
        let addr = listener.local_addr().unwrap();
        let (dialed, accepted) = tokio::time::timeout(BOUND, async {
            tokio::join!(TcpTransport::connect(addr, BOUND), listener.accept_tcp())
        })
        .await
        .unwrap();
        let (dialed, (accepted, remote)) = (dialed.unwrap(), accepted.unwrap());
        assert!(dialed.nodelay().unwrap());
        assert!(accepted.nodelay().unwrap());
        assert_eq!(remote, dialed.local_addr().unwrap());
    }

    #[tokio::test]
    async fn dial_to_a_closed_port_is_refused() {
        // Bind and drop to find a loopback port nobody listens on.
        let addr = TcpListener::bind(LOOPBACK)
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let error = TcpTransport.dial(addr, BOUND).await.err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    }
}
