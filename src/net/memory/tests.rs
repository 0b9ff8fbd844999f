//! Memory-network tests, all on tokio's paused clock: elapsed times are virtual and exact.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    task::JoinSet,
    time::{timeout, Instant},
};

use super::*;
use crate::net::{StreamListener, StreamTransport};

/// Host `n` of the simulation: `127.0.0.0` + n.
fn host(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + n))
}

fn any_port(ip: IpAddr) -> SocketAddr {
    SocketAddr::new(ip, 0)
}

const DIAL: Duration = Duration::from_secs(5);
/// Bound on a whole test (virtual time, so it costs nothing; without it a wait that never
/// ends would leave the paused clock with no timer to jump to, and the test would hang).
const TEST: Duration = Duration::from_secs(3600);

async fn bounded<F: std::future::Future<Output = ()>>(test: F) {
    timeout(TEST, test)
        .await
        .expect("the test did not finish (virtual time)");
}
/// Bound on any single wait in these tests (virtual time).
const BOUND: Duration = Duration::from_secs(60);

/// A connected pair: (dialer's end, listener's end, listener).
async fn pair(
    net: &MemoryNetwork,
    from: IpAddr,
    to: IpAddr,
) -> (MemoryStream, MemoryStream, MemoryListener) {
    let mut listener = net.host(to).listen(any_port(to)).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = net.host(from);
    let (dialed, accepted) = tokio::join!(client.connect(addr, DIAL), listener.accept_memory());
    let (server, remote) = accepted.unwrap();
    let dialed = dialed.unwrap();
    assert_eq!(remote, dialed.local_addr());
    (dialed, server, listener)
}

#[tokio::test(start_paused = true)]
async fn dial_accept_echo_through_the_trait_objects() {
    bounded(async {
        let net = MemoryNetwork::default();
        let server: Arc<dyn StreamTransport> = Arc::new(net.host(host(1)));
        let client: Arc<dyn StreamTransport> = Arc::new(net.host(host(2)));
        let mut listener = server.bind(any_port(host(1))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(addr.ip(), host(1));
        assert_ne!(addr.port(), 0);

        let start = Instant::now();
        let (dialed, accepted) = tokio::join!(client.dial(addr, DIAL), listener.accept());
        assert_eq!(start.elapsed(), DEFAULT_CONNECT_LATENCY);
        let (mut c, (mut s, remote)) = (dialed.unwrap(), accepted.unwrap());
        assert_eq!(
            remote.ip(),
            host(2),
            "the listener sees the dialer's host address"
        );

        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        s.write_all(b"pong").await.unwrap();
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");

        let stats = net.stats();
        assert_eq!(
            (stats.dials, stats.established, stats.open_connections),
            (1, 1, 1)
        );
        drop((c, s));
        assert_eq!(
            net.stats().open_connections,
            0,
            "dropping both ends unregisters"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn binding_rules() {
    bounded(async {
        let net = MemoryNetwork::default();
        let h = net.host(host(1));
        let a = h.listen(any_port(host(1))).unwrap();
        let b = h.listen(any_port(host(1))).unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_ne!(
            a_addr.port(),
            b_addr.port(),
            "port 0 picks a free port each time"
        );

        let in_use = h.listen(a_addr).unwrap_err();
        assert_eq!(in_use.kind(), io::ErrorKind::AddrInUse);
        let foreign = h.listen(SocketAddr::new(host(2), 30303)).unwrap_err();
        assert_eq!(foreign.kind(), io::ErrorKind::AddrNotAvailable);
        let unspecified = h.listen("0.0.0.0:30303".parse().unwrap()).unwrap();
        assert_eq!(
            unspecified.local_addr().unwrap(),
            SocketAddr::new(host(1), 30303)
        );

        // Dropping a listener unbinds it: dials are refused and the address can be bound again.
        drop(a);
        let refused = net.host(host(2)).connect(a_addr, DIAL).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let again = h.listen(a_addr).unwrap();
        assert_eq!(again.local_addr().unwrap(), a_addr);
        assert_eq!(net.stats().listeners, 3);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dial_to_a_closed_port_is_refused_after_the_latency() {
    bounded(async {
        let net = MemoryNetwork::default();
        let start = Instant::now();
        let error = net
            .host(host(2))
            .connect(SocketAddr::new(host(1), 30303), DIAL)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(start.elapsed(), DEFAULT_CONNECT_LATENCY);
        assert_eq!(net.stats().refused, 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn refuse_mode_refuses_at_once_although_a_listener_is_bound() {
    bounded(async {
        let net = MemoryNetwork::default();
        let listener = net.host(host(1)).listen(any_port(host(1))).unwrap();
        net.set_reachability(host(1), Reachability::Refuse);
        assert_eq!(net.reachability(host(1)), Reachability::Refuse);
        let start = Instant::now();
        let error = net
            .host(host(2))
            .connect(listener.local_addr().unwrap(), DIAL)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(start.elapsed(), DEFAULT_CONNECT_LATENCY);
        assert_eq!(net.stats().established, 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn black_hole_dial_hangs_until_its_timeout() {
    bounded(async {
        let net = MemoryNetwork::default();
        let listener = net.host(host(1)).listen(any_port(host(1))).unwrap();
        net.set_reachability(host(1), Reachability::BlackHole);
        let start = Instant::now();
        let error = net
            .host(host(2))
            .connect(listener.local_addr().unwrap(), DIAL)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), DIAL);
        let stats = net.stats();
        assert_eq!(
            (stats.timed_out, stats.established, stats.refused),
            (1, 0, 0)
        );
        // Other hosts still reach the black-holed host's peers, and it can dial out.
        let other = net.host(host(3)).listen(any_port(host(3))).unwrap();
        let out = net
            .host(host(1))
            .connect(other.local_addr().unwrap(), DIAL)
            .await;
        assert!(out.is_ok());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn black_hole_lifted_during_a_dial_lets_it_connect() {
    bounded(async {
        let net = MemoryNetwork::default();
        let mut listener = net.host(host(1)).listen(any_port(host(1))).unwrap();
        let addr = listener.local_addr().unwrap();
        net.set_reachability(host(1), Reachability::BlackHole);
        let client = net.host(host(2));
        let start = Instant::now();
        let dial = tokio::spawn(async move { client.connect(addr, Duration::from_secs(30)).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!dial.is_finished());
        net.set_reachability(host(1), Reachability::Reachable);
        let (_server, _) = timeout(BOUND, listener.accept_memory())
            .await
            .unwrap()
            .unwrap();
        let _client = dial.await.unwrap().unwrap();
        // The retried "SYN" takes one more connect latency after the change.
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(1) + DEFAULT_CONNECT_LATENCY
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn kill_resets_both_ends_and_closes_the_listener() {
    bounded(async {
        let net = MemoryNetwork::default();
        let (mut client, mut server, mut listener) = pair(&net, host(2), host(1)).await;
        let addr = listener.local_addr().unwrap();
        // An unrelated connection survives.
        let (mut other_c, mut other_s, _other_l) = pair(&net, host(4), host(3)).await;

        // A read already waiting must be woken by the kill.
        let blocked = tokio::spawn(async move {
            let mut buf = [0u8; 1];
            client.read(&mut buf).await.map(|_| client)
        });
        tokio::task::yield_now().await;
        assert_eq!(net.kill(host(1)), 1);

        let error = timeout(BOUND, blocked).await.unwrap().unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
        let mut buf = [0u8; 1];
        assert_eq!(
            server.read(&mut buf).await.unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(
            server.write(b"x").await.unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
        let closed = timeout(BOUND, listener.accept_memory())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(closed.kind(), io::ErrorKind::NotConnected);
        let refused = net.host(host(2)).connect(addr, DIAL).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);

        other_c.write_all(b"y").await.unwrap();
        other_s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"y");
        assert_eq!(net.stats().killed, 1);

        // The node restarts on the same address; the dead listener's drop leaves it bound.
        let mut restarted = net.host(host(1)).listen(addr).unwrap();
        drop(listener);
        let client = net.host(host(2));
        let (dialed, accepted) =
            tokio::join!(client.connect(addr, DIAL), restarted.accept_memory());
        assert!(dialed.is_ok() && accepted.is_ok());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn partition_stalls_connections_and_dials_until_healed() {
    bounded(async {
        let net = MemoryNetwork::default();
        let (mut client, mut server, mut listener) = pair(&net, host(2), host(1)).await;
        let addr = listener.local_addr().unwrap();
        net.partition([host(2)], 1);
        assert_eq!((net.group(host(2)), net.group(host(1))), (1, 0));

        // Nothing crosses the cut: the write waits, the read gets nothing.
        let writer =
            tokio::spawn(async move { client.write_all(b"across").await.map(|()| client) });
        let mut buf = [0u8; 6];
        assert!(
            timeout(Duration::from_secs(10), server.read_exact(&mut buf))
                .await
                .is_err()
        );
        // A dial across the cut waits; a dial from the same side connects.
        let across = net.host(host(2));
        let dial = tokio::spawn(async move { across.connect(addr, Duration::from_secs(60)).await });
        let same_side = net.host(host(3));
        let (same_side, accepted) =
            tokio::join!(same_side.connect(addr, DIAL), listener.accept_memory());
        assert!(same_side.is_ok() && accepted.is_ok());
        assert!(!dial.is_finished());

        net.heal();
        assert_eq!(net.group(host(2)), 0);
        timeout(BOUND, server.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"across");
        assert!(timeout(BOUND, writer).await.unwrap().unwrap().is_ok());
        let (_, remote) = timeout(BOUND, listener.accept_memory())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(remote.ip(), host(2));
        assert!(timeout(BOUND, dial).await.unwrap().unwrap().is_ok());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_full_pipe_makes_the_writer_wait_for_the_reader() {
    bounded(async {
        let net = MemoryNetwork::new(MemoryConfig {
            buffer_size: 16,
            ..MemoryConfig::default()
        });
        let (mut client, mut server, _listener) = pair(&net, host(2), host(1)).await;
        let mut writer =
            tokio::spawn(async move { client.write_all(&[7u8; 64]).await.map(|()| client) });
        // Only 16 bytes fit: the writer cannot finish while nobody reads.
        assert!(timeout(Duration::from_secs(10), &mut writer).await.is_err());
        let mut buf = [0u8; 64];
        timeout(BOUND, server.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf, [7u8; 64]);
        assert!(timeout(BOUND, writer).await.unwrap().unwrap().is_ok());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_full_backlog_makes_dials_wait_for_an_accept() {
    bounded(async {
        let net = MemoryNetwork::new(MemoryConfig {
            backlog: 1,
            ..MemoryConfig::default()
        });
        let mut listener = net.host(host(1)).listen(any_port(host(1))).unwrap();
        let addr = listener.local_addr().unwrap();
        let first = net.host(host(2)).connect(addr, DIAL).await;
        assert!(
            first.is_ok(),
            "one connection fits the backlog before any accept"
        );
        let second_host = net.host(host(3));
        let mut second = tokio::spawn(async move { second_host.connect(addr, DIAL).await });
        assert!(timeout(Duration::from_secs(1), &mut second).await.is_err());
        let (_, remote) = listener.accept_memory().await.unwrap();
        assert_eq!(remote.ip(), host(2));
        assert!(timeout(BOUND, second).await.unwrap().unwrap().is_ok());
        let (_, remote) = listener.accept_memory().await.unwrap();
        assert_eq!(remote.ip(), host(3));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropping_one_end_gives_the_other_end_eof_and_broken_pipe() {
    bounded(async {
        let net = MemoryNetwork::default();
        let (mut client, server, _listener) = pair(&net, host(2), host(1)).await;
        drop(server);
        let mut buf = [0u8; 8];
        assert_eq!(client.read(&mut buf).await.unwrap(), 0);
        assert_eq!(
            client.write(b"x").await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        assert_eq!(net.stats().open_connections, 1);
        drop(client);
        assert_eq!(net.stats().open_connections, 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn degenerate_settings_are_clamped_and_huge_timeouts_work() {
    bounded(async {
        let net = MemoryNetwork::new(MemoryConfig {
            buffer_size: 0,
            backlog: 0,
            connect_latency: Duration::ZERO,
        });
        let mut listener = net.host(host(1)).listen(any_port(host(1))).unwrap();
        let addr = listener.local_addr().unwrap();
        let start = Instant::now();
        let client = net.host(host(2));
        let (dialed, accepted) = tokio::join!(
            client.connect(addr, Duration::MAX),
            listener.accept_memory()
        );
        assert_eq!(start.elapsed(), Duration::ZERO);
        let (mut c, (mut s, _)) = (dialed.unwrap(), accepted.unwrap());
        let (wrote, read) = tokio::join!(c.write_all(b"one byte at a time"), async {
            let mut buf = [0u8; 18];
            s.read_exact(&mut buf).await.map(|_| buf)
        });
        wrote.unwrap();
        assert_eq!(&read.unwrap(), b"one byte at a time");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_connections_finish_promptly() {
    bounded(async {
        const N: u32 = 1_000;
        let net = MemoryNetwork::default();
        let mut listener = net.host(host(1)).listen(any_port(host(1))).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut echoes = JoinSet::new();
            for _ in 0..N {
                let (mut stream, _) = listener.accept_memory().await?;
                echoes.spawn(async move {
                    let mut buf = [0u8; 256];
                    stream.read_exact(&mut buf).await?;
                    stream.write_all(&buf).await
                });
            }
            while let Some(echo) = echoes.join_next().await {
                echo??;
            }
            io::Result::Ok(())
        });

        let start = Instant::now();
        let mut clients = JoinSet::new();
        for n in 0..N {
            let transport = net.host(host(2 + n));
            clients.spawn(async move {
                let mut stream = transport.connect(addr, DIAL).await?;
                let sent = [n.to_le_bytes()[0]; 256];
                stream.write_all(&sent).await?;
                let mut back = [0u8; 256];
                stream.read_exact(&mut back).await?;
                assert_eq!(back, sent);
                io::Result::Ok(())
            });
        }
        let mut done = 0;
        while let Some(client) = timeout(BOUND, clients.join_next()).await.unwrap() {
            client.unwrap().unwrap();
            done += 1;
        }
        timeout(BOUND, server).await.unwrap().unwrap().unwrap();
        assert_eq!(done, N);
        // All connected in parallel: one connect latency, not a thousand of them.
        assert!(
            start.elapsed() < DEFAULT_CONNECT_LATENCY * 10,
            "{:?}",
            start.elapsed()
        );
        let stats = net.stats();
        assert_eq!(
            (stats.established, stats.refused, stats.timed_out),
            (1_000, 0, 0)
        );
        assert_eq!(stats.open_connections, 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_rlpx_session_runs_over_the_memory_network_on_paused_time() {
    bounded(async {
        use enode::NodeKey;
        use rlpx::session::{self, SessionConfig};

        let net = MemoryNetwork::default();
        let (server_key, client_key) = (NodeKey::generate(), NodeKey::generate());
        let config = SessionConfig::new("kadnode-test", vec![]);
        let (client, server, _listener) = pair(&net, host(2), host(1)).await;
        let (dialed, accepted) = timeout(BOUND, async {
            tokio::join!(
                session::connect(
                    Box::new(client) as crate::net::BoxedStream,
                    &client_key,
                    server_key.public_key(),
                    &config
                ),
                session::accept(
                    Box::new(server) as crate::net::BoxedStream,
                    &server_key,
                    &config
                ),
            )
        })
        .await
        .unwrap();
        assert_eq!(dialed.unwrap().remote_id, server_key.peer_id());
        assert_eq!(accepted.unwrap().remote_id, client_key.peer_id());
    })
    .await;
}
