//! The node's server under hostile TCP peers, on loopback with the production treatment of
//! local addresses (`exempt_lan = false`): a few addresses opening 1,000 silent connections
//! and 100 that trickle a handshake one byte per second cannot keep an honest peer out, and
//! every one of them is closed — refused at once over the per-IP caps, or by the handshake
//! timeout. The process's open file descriptors and RSS are measured before, during and
//! after the flood (printed with `--nocapture`): the descriptors stay under what the
//! admission caps allow and come back to the baseline.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod node_support;

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use kadnode::{net::InboundConfig, Node, NodeConfig, P2pConfig, PeerEvent};
use node_support::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    time::Instant,
};

const SILENT: usize = 1_000;
const TRICKLING: usize = 100;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Descriptors the honest node and the server's session with it may hold at once (listener,
/// dialed socket, accepted socket, the runtime's own), with room to spare.
const HONEST_FDS: usize = 16;
/// How far the count may stay above the baseline once everything closed.
const AFTER_MARGIN: usize = 4;

/// Open file descriptors of this process; `None` where `/proc` is missing.
fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(Iterator::count)
}

/// A `/proc/self/status` figure in KiB (`VmRSS`, `VmHWM`); 0 where `/proc` is missing.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Samples descriptors and RSS on its own thread (the runtime is busy with the flood)
/// until stopped; returns the highest of each.
struct PeakSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(usize, u64)>,
}

impl PeakSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (mut fds, mut rss) = (0, 0);
            while !flag.load(Ordering::Relaxed) {
                fds = fds.max(open_fds().unwrap_or(0));
                rss = rss.max(status_kib("VmRSS"));
                std::thread::sleep(Duration::from_millis(2));
            }
            (fds, rss)
        });
        Self { stop, thread }
    }

    fn finish(self) -> (usize, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

async fn connect_from(source: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Waits until the server closes `stream` (EOF or reset) and returns when that happened.
async fn closed(mut stream: TcpStream) -> Instant {
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_trickling_attackers_cannot_keep_an_honest_peer_out() {
    let inbound = InboundConfig {
        exempt_lan: false,
        ..InboundConfig::default()
    };
    let max_pending = inbound.max_pending;
    let server = start(|c| {
        c.handshake_timeout = HANDSHAKE_TIMEOUT;
        c.inbound = inbound;
    })
    .await;
    let target = server.node.tcp_addr().unwrap();
    let mut events = server.handle().subscribe();
    let attackers: [IpAddr; 2] = ["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()];

    let fds_before = open_fds();
    let rss_before = status_kib("VmRSS");
    let sampler = PeakSampler::start();
    let started = Instant::now();
    let mut silent = Vec::with_capacity(SILENT);
    for i in 0..SILENT {
        silent.push(connect_from(attackers[i % 2], target).await);
    }
    let mut trickling = Vec::with_capacity(TRICKLING);
    for i in 0..TRICKLING {
        let mut stream = connect_from(attackers[i % 2], target).await;
        trickling.push(tokio::spawn(async move {
            // A plausible start of an EIP-8 auth message, one byte per second.
            for byte in [0x01u8, 0x8b, 0x04].iter().cycle() {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Instant::now()
        }));
    }
    let waits: Vec<_> = silent
        .into_iter()
        .map(|s| tokio::spawn(closed(s)))
        .collect();

    // An honest node from another address dials the server meanwhile.
    let honest = Node::start(NodeConfig {
        listen_addr: "127.0.0.4:0".parse().unwrap(),
        discovery: None,
        p2p: Some(P2pConfig {
            protocols: vec![std::sync::Arc::new(KadTest {
                seen: tokio::sync::mpsc::unbounded_channel().0,
            })],
            static_nodes: vec![server.record().into()],
            ..P2pConfig::default()
        }),
        ..NodeConfig::default()
    })
    .await
    .unwrap();
    let honest_id = honest.peer_id();
    let admitted_at = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(PeerEvent::Added(info)) = events.recv().await {
                if info.id == honest_id {
                    return Instant::now();
                }
            }
        }
    })
    .await
    .expect("the honest peer was kept out");

    // Every attacker connection is closed by the server, none later than the handshake
    // timeout (plus scheduling slack) after the last one was opened. One still open when
    // the wait runs out is dropped on our side, so that the descriptor count below shows
    // what the server kept.
    let deadline = Instant::now() + WAIT;
    let mut last_close = started;
    let mut still_open = 0usize;
    for mut task in waits.into_iter().chain(trickling) {
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok(closed_at)) => last_close = last_close.max(closed_at),
            _ => {
                still_open += 1;
                task.abort();
                let _ = task.await;
            }
        }
    }
    let (fds_peak, rss_peak) = sampler.finish();
    let refused = server
        .handle()
        .metrics()
        .inbound_refused()
        .values()
        .sum::<u64>();
    eprintln!(
        "{SILENT} silent + {TRICKLING} trickling connections from 2 addresses: honest peer \
         admitted after {:?}; {refused} refused before any handshake; all closed after {:?}",
        admitted_at - started,
        last_close - started
    );
    honest.shutdown().await;
    // The server's session with the honest node ends too; then every socket is gone.
    wait_event(&mut events, |e| {
        matches!(e, PeerEvent::Dropped { id, .. } if *id == honest_id).then_some(())
    })
    .await;
    let fds_after = open_fds();
    let rss_after = status_kib("VmRSS");
    eprintln!(
        "file descriptors (server, honest node and the attackers' own sockets in one \
         process): before {fds_before:?}, peak {fds_peak}, after {fds_after:?}; RSS before \
         {rss_before} KiB, peak {rss_peak} KiB, after {rss_after} KiB, high-water mark {} KiB",
        status_kib("VmHWM")
    );
    if let (Some(before), Some(after)) = (fds_before, fds_after) {
        // At the peak: the flood's own client sockets, plus at most the pending cap on the
        // server's side (refused connections are closed at once, admitted ones by the
        // handshake timeout), plus the honest node and its session. A server that kept
        // connections it should have closed holds one descriptor per attacker socket.
        let bound = before + SILENT + TRICKLING + max_pending + HONEST_FDS;
        assert!(
            fds_peak <= bound,
            "peak {fds_peak} descriptors, bound {bound} (baseline {before})"
        );
        assert!(
            after <= before + AFTER_MARGIN,
            "{after} descriptors after the flood, {before} before: connections were kept"
        );
    }
    assert_eq!(
        still_open, 0,
        "attacker connections the server never closed"
    );
    // The caps did the work: all but a handful were refused before any handshake, and the
    // few admitted were closed by the handshake timeout.
    assert!(
        refused >= (SILENT + TRICKLING - 16) as u64,
        "refused {refused}"
    );
}
