//! UDP flood: a discv4 node (a child process) is flooded from many loopback source addresses
//! while an honest peer PINGs it; reports the honest peer's loss and RTT, the node's accepted
//! packet rate, kernel drops and memory.
//!
//! ```text
//! cargo bench -p discv4 --bench udp_flood -- [--seconds 5] [--sources 1000] [--keys 10000]
//!     [--garbage 100000] [--signed 100000] [--threads 2] [--rate 0] [--honest-rate 20]
//!     [--limit-loopback] [--ratelimit 50] [--workers 2] [--unknown-budget N]
//! ```
//!
//! The flood: `--garbage` random datagrams (20–1280 bytes) and `--signed` validly signed PINGs
//! and FINDNODEs from `--keys` keys (each key signs one of each, replayed round-robin), sent
//! from `--sources` sockets on distinct addresses in 127.0.0.0/8 by `--threads` threads as fast
//! as they can (or, with `--rate N`, at most N datagrams per second in all: the same flood for
//! builds that leave the generator different shares of the CPU), for `--seconds`. By default the node exempts loopback from its per-IP limit
//! (the shipped default); `--limit-loopback` applies it, as for internet sources.
//!
//! Kernel drops are counted twice over the run: at the node's own socket (the `drops` column of
//! `/proc/net/udp`: datagrams that arrived while its receive buffer was full, the figure that
//! says whether the node kept up) and machine-wide (`RcvbufErrors` of `/proc/net/snmp`, which
//! also counts the flood sockets' unread PONGs and other programs' drops). RSS is the node
//! process's peak (`VmHWM`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Write},
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use discv4::{
    db::NodeDb,
    proto::{self, expiration_after, Endpoint, FindNode, Packet, PacketKind, Ping},
    service::{self, Discv4Config, DropReason, RateLimitConfig},
};
use enode::{PeerId, SecretKey};
use rand::{Rng, RngCore};

#[derive(Debug, Clone)]
struct Args {
    seconds: f64,
    sources: usize,
    keys: usize,
    garbage: usize,
    signed: usize,
    threads: usize,
    /// Datagrams per second in all; 0: as fast as the threads can.
    rate: u64,
    honest_rate: u64,
    limit_loopback: bool,
    ratelimit: u32,
    workers: usize,
    unknown_budget: Option<u32>,
    node: bool,
}

impl Args {
    fn parse() -> Self {
        let mut args = Args {
            seconds: 5.0,
            sources: 1000,
            keys: 10_000,
            garbage: 100_000,
            signed: 100_000,
            threads: 2,
            rate: 0,
            honest_rate: 20,
            limit_loopback: false,
            ratelimit: RateLimitConfig::default().packets_per_second,
            workers: 2,
            unknown_budget: None,
            node: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
            match flag.as_str() {
                "--seconds" => args.seconds = value().parse().expect("--seconds"),
                "--sources" => args.sources = value().parse().expect("--sources"),
                "--keys" => args.keys = value().parse().expect("--keys"),
                "--garbage" => args.garbage = value().parse().expect("--garbage"),
                "--signed" => args.signed = value().parse().expect("--signed"),
                "--threads" => args.threads = value().parse().expect("--threads"),
                "--rate" => args.rate = value().parse().expect("--rate"),
                "--honest-rate" => args.honest_rate = value().parse().expect("--honest-rate"),
                "--ratelimit" => args.ratelimit = value().parse().expect("--ratelimit"),
                "--workers" => args.workers = value().parse().expect("--workers"),
                "--unknown-budget" => {
                    args.unknown_budget = Some(value().parse().expect("--unknown-budget"));
                }
                "--limit-loopback" => args.limit_loopback = true,
                "--node" => args.node = true,
                _ => {}
            }
        }
        args.sources = args.sources.clamp(1, 65_000);
        args.keys = args.keys.max(1);
        args.threads = args.threads.max(1);
        args
    }
}

fn main() {
    let args = Args::parse();
    if args.node {
        return run_node(&args);
    }
    println!("udp_flood: {args:?}");
    flood(&args);
}

// ------------------------------------------------------------------ the node (child process)

/// Runs a node on 127.0.0.1, prints `PORT <n>`, and on a line on stdin prints its counters.
fn run_node(args: &Args) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let transport = service::bind_udp("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let port = transport.local_addr().unwrap().port();
        let config = Discv4Config {
            rate_limit: RateLimitConfig {
                exempt_loopback: !args.limit_loopback,
                ..RateLimitConfig::per_ip(args.ratelimit)
            },
            ingress_workers: args.workers,
            overload_unknown_per_second: args
                .unknown_budget
                .unwrap_or(Discv4Config::default().overload_unknown_per_second),
            ..Discv4Config::default()
        };
        let key = SecretKey::new(&mut rand::thread_rng());
        let handle = service::spawn(config, key, transport, NodeDb::in_memory().unwrap()).unwrap();
        println!("PORT {port} {}", handle.local_id());
        std::io::stdout().flush().unwrap();
        let metrics = handle.metrics();
        let mut line = String::new();
        tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        let kinds = [
            PacketKind::Ping,
            PacketKind::Pong,
            PacketKind::FindNode,
            PacketKind::Neighbors,
            PacketKind::EnrRequest,
            PacketKind::EnrResponse,
        ];
        let accepted: u64 = kinds.iter().map(|k| metrics.packets_in_total(*k)).sum();
        let sent: u64 = kinds.iter().map(|k| metrics.packets_out_total(*k)).sum();
        let (table, _) = handle.table_state().await.unwrap();
        println!(
            "STATS accepted={accepted} sent={sent} rate_limited={} malformed={} unknown_type={} \
             expired={} queue_full={} not_bonded={} ping_back_limited={} overloaded={} table={table} vmhwm_kib={}",
            metrics.dropped_total(DropReason::RateLimited),
            metrics.dropped_total(DropReason::Malformed),
            metrics.dropped_total(DropReason::UnknownType),
            metrics.dropped_total(DropReason::Expired),
            metrics.dropped_total(DropReason::QueueFull),
            metrics.dropped_total(DropReason::NotBonded),
            metrics.dropped_total(DropReason::PingBackLimited),
            metrics.dropped_total(DropReason::Overloaded),
            proc_status_kib("VmHWM").unwrap_or(0),
        );
        std::io::stdout().flush().unwrap();
    });
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Drops at the IPv4 UDP socket bound to `addr`: the last column of its /proc/net/udp line.
fn socket_drops(addr: SocketAddr) -> Option<u64> {
    let SocketAddr::V4(addr) = addr else {
        return None;
    };
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (ip, port) = fields.get(1)?.split_once(':')?;
        // The kernel prints the address as the integer its four bytes make in host order.
        let ip = Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.to_ne_bytes());
        let port = u16::from_str_radix(port, 16).ok()?;
        (ip == *addr.ip() && port == addr.port())
            .then(|| fields.last()?.parse().ok())
            .flatten()
    })
}

/// `RcvbufErrors` and `InErrors` of the Udp line in /proc/net/snmp.
fn udp_rcvbuf_errors() -> Option<(u64, u64)> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = udp.next()?.split_whitespace().collect();
    let values: Vec<&str> = udp.next()?.split_whitespace().collect();
    let get = |name: &str| -> Option<u64> {
        let i = names.iter().position(|n| *n == name)?;
        values.get(i)?.parse().ok()
    };
    Some((get("RcvbufErrors")?, get("InErrors")?))
}

// ------------------------------------------------------------------ the flood (parent)

fn flood(args: &Args) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(std::env::args().skip(1))
        .arg("--node")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let mut words = line.split_whitespace().skip(1);
    let port: u16 = words.next().unwrap().parse().unwrap();
    let node_id: PeerId = words.next().unwrap().parse().unwrap();
    let node = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
    let _ = node_id;

    let started = Instant::now();
    let load = Arc::new(build_load(args, node));
    println!(
        "flood load: {} garbage + {} signed datagrams from {} keys, built in {:.1} s",
        args.garbage,
        load.signed.len(),
        args.keys.min(args.signed.div_ceil(2).max(1)),
        started.elapsed().as_secs_f64()
    );
    let sockets: Arc<Vec<UdpSocket>> = Arc::new(
        (0..args.sources)
            .map(|i| {
                let ip = Ipv4Addr::from(0x7f01_0000 + i as u32 + 1);
                UdpSocket::bind(SocketAddr::new(ip.into(), 0)).unwrap()
            })
            .collect(),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let honest = {
        let stop = Arc::clone(&stop);
        let rate = args.honest_rate;
        thread::spawn(move || honest_peer(node, rate, &stop))
    };
    // Let the honest peer bond before the flood starts.
    thread::sleep(Duration::from_millis(300));
    let drops_before = udp_rcvbuf_errors();
    let node_drops_before = socket_drops(node);
    let flood_start = Instant::now();
    let flooders: Vec<_> = (0..args.threads)
        .map(|t| {
            let (stop, sent, load, sockets) = (
                Arc::clone(&stop),
                Arc::clone(&sent),
                Arc::clone(&load),
                Arc::clone(&sockets),
            );
            let threads = args.threads;
            let per_thread_rate = args.rate as f64 / threads as f64;
            thread::spawn(move || {
                let mut i = t;
                let mut n = 0u64;
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    // Paced: every 256 datagrams, sleep off any lead over the schedule.
                    if per_thread_rate > 0.0 && n.is_multiple_of(256) {
                        let due = Duration::from_secs_f64(n as f64 / per_thread_rate);
                        if let Some(lead) = due.checked_sub(started.elapsed()) {
                            thread::sleep(lead);
                        }
                    }
                    let packet = load.packet(i);
                    let socket = &sockets[i % sockets.len()];
                    if socket.send_to(packet, node).is_ok() {
                        n += 1;
                    }
                    i += threads;
                }
                sent.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    thread::sleep(Duration::from_secs_f64(args.seconds));
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    let flood_seconds = flood_start.elapsed().as_secs_f64();
    let drops_after = udp_rcvbuf_errors();
    let node_drops_after = socket_drops(node);
    let honest = honest.join().unwrap();

    child.stdin.take().unwrap().write_all(b"stats\n").unwrap();
    let mut stats = String::new();
    stdout.read_line(&mut stats).unwrap();
    let _ = child.wait();
    let stats: HashMap<&str, u64> = stats
        .split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k, v.parse().unwrap_or(0)))
        .collect();

    let sent = sent.load(Ordering::Relaxed);
    println!(
        "flood: {sent} datagrams in {flood_seconds:.1} s = {:.0}/s from {} sources ({} threads); loopback {}",
        sent as f64 / flood_seconds,
        args.sources,
        args.threads,
        if args.limit_loopback { "rate-limited" } else { "exempt from the per-IP limit" }
    );
    println!(
        "node: accepted (verified) {} = {:.0}/s; dropped: rate-limited {}, malformed {}, unknown type {}, \
         expired {}, queue full {}, ping-back capped {}, shed unverified (overloaded) {}; table {} nodes; peak RSS {:.1} MiB",
        stats["accepted"],
        stats["accepted"] as f64 / flood_seconds,
        stats["rate_limited"],
        stats["malformed"],
        stats["unknown_type"],
        stats["expired"],
        stats["queue_full"],
        stats["ping_back_limited"],
        stats.get("overloaded").copied().unwrap_or(0),
        stats["table"],
        stats["vmhwm_kib"] as f64 / 1024.0
    );
    match (node_drops_before, node_drops_after) {
        (Some(before), Some(after)) => println!(
            "kernel: dropped at the node's socket (buffer full) +{} during the flood",
            after - before
        ),
        _ => println!("kernel: the node's socket is not in /proc/net/udp"),
    }
    match (drops_before, drops_after) {
        (Some(before), Some(after)) => println!(
            "kernel: RcvbufErrors +{} (InErrors +{}) machine-wide during the flood",
            after.0 - before.0,
            after.1 - before.1
        ),
        _ => println!("kernel: /proc/net/snmp not readable"),
    }
    honest.print();
}

/// What the flood sends: garbage and signed packets, interleaved.
struct Load {
    garbage: Vec<Vec<u8>>,
    signed: Vec<Vec<u8>>,
}

impl Load {
    fn packet(&self, i: usize) -> &[u8] {
        // Alternate, so both kinds keep arriving all the time.
        if (i.is_multiple_of(2) && !self.garbage.is_empty()) || self.signed.is_empty() {
            &self.garbage[(i / 2) % self.garbage.len().max(1)]
        } else {
            &self.signed[(i / 2) % self.signed.len()]
        }
    }
}

fn build_load(args: &Args, node: SocketAddr) -> Load {
    let mut rng = rand::thread_rng();
    let garbage = (0..args.garbage)
        .map(|_| {
            let mut bytes = vec![0u8; rng.gen_range(20..=1280)];
            rng.fill_bytes(&mut bytes);
            bytes
        })
        .collect();
    // One PING and one FINDNODE per key, signed on all threads; replayed to make `--signed`.
    let keys = args.keys.min(args.signed.div_ceil(2).max(1));
    let per_thread = keys.div_ceil(args.threads.max(1));
    let expiration = expiration_after(Duration::from_secs(3600));
    let unique: Vec<Vec<u8>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..args.threads.max(1))
            .map(|t| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for k in (t * per_thread)..((t + 1) * per_thread).min(keys) {
                        let key = SecretKey::new(&mut rand::thread_rng());
                        let from = SocketAddr::new(
                            Ipv4Addr::from(0x7f01_0000 + k as u32 % 60_000 + 1).into(),
                            30303,
                        );
                        let ping = Packet::Ping(Ping {
                            version: Ping::VERSION,
                            from: Endpoint::from_udp(from, 0),
                            to: Endpoint::from_udp(node, 0),
                            expiration,
                            enr_seq: None,
                        });
                        let findnode = Packet::FindNode(FindNode {
                            target: PeerId::from_secret_key(&key),
                            expiration,
                        });
                        out.push(proto::encode(&ping, &key).unwrap().0);
                        out.push(proto::encode(&findnode, &key).unwrap().0);
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let signed = (0..args.signed)
        .map(|i| unique[i % unique.len()].clone())
        .collect();
    Load { garbage, signed }
}

// ------------------------------------------------------------------ the honest peer

struct Honest {
    sent: u64,
    rtts: Vec<Duration>,
    /// When each unanswered (or over 1 s late) PING was sent, from the honest peer's start.
    lost_at: Vec<Duration>,
}

impl Honest {
    fn print(&self) {
        let mut rtts = self.rtts.clone();
        rtts.sort();
        let pct = |p: f64| {
            rtts.get(((rtts.len() as f64 * p) as usize).min(rtts.len().saturating_sub(1)))
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
        };
        let lost = self.sent.saturating_sub(rtts.len() as u64);
        println!(
            "honest peer: {} PINGs, {} PONGs, lost {} = {:.2}%; RTT p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.sent,
            rtts.len(),
            lost,
            100.0 * lost as f64 / self.sent.max(1) as f64,
            pct(0.50),
            pct(0.99),
            rtts.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
        );
        if !self.lost_at.is_empty() {
            let at: Vec<String> = self
                .lost_at
                .iter()
                .map(|d| format!("{:.2} s", d.as_secs_f64()))
                .collect();
            println!(
                "  lost PINGs were sent at {} after the honest peer started",
                at.join(", ")
            );
        }
    }
}

/// PINGs the node `rate` times a second from 127.0.0.1 until `stop`, matching PONGs by hash.
/// A PING whose PONG has not come within 1 s counts as lost.
fn honest_peer(node: SocketAddr, rate: u64, stop: &AtomicBool) -> Honest {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let from = socket.local_addr().unwrap();
    let key = SecretKey::new(&mut rand::thread_rng());
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut outstanding: HashMap<[u8; 32], Instant> = HashMap::new();
    let mut result = Honest {
        sent: 0,
        rtts: Vec::new(),
        lost_at: Vec::new(),
    };
    let started = Instant::now();
    let mut next = Instant::now();
    let mut stopping: Option<Instant> = None;
    let mut buf = [0u8; 1500];
    loop {
        let now = Instant::now();
        if stopping.is_none() && stop.load(Ordering::Relaxed) {
            stopping = Some(now);
        }
        if stopping.is_some_and(|s| now > s + Duration::from_secs(1)) {
            break;
        }
        if stopping.is_none() && now >= next {
            // Signatures are deterministic and the expiration counts seconds: without a
            // varying field, the PINGs of one second would be identical and their PONGs
            // indistinguishable (a late PONG would be matched to a later PING).
            let tcp_port = (result.sent % u64::from(u16::MAX)) as u16 + 1;
            let ping = Packet::Ping(Ping {
                version: Ping::VERSION,
                from: Endpoint::from_udp(from, tcp_port),
                to: Endpoint::from_udp(node, 0),
                expiration: expiration_after(Duration::from_secs(20)),
                enr_seq: None,
            });
            let (bytes, hash) = proto::encode(&ping, &key).unwrap();
            socket.send_to(&bytes, node).unwrap();
            outstanding.insert(hash, Instant::now());
            result.sent += 1;
            next += interval;
        }
        if let Ok((len, _)) = socket.recv_from(&mut buf) {
            if let Ok(decoded) = proto::decode(&buf[..len]) {
                match decoded.packet {
                    Packet::Pong(pong) => {
                        if let Some(at) = outstanding.remove(&pong.ping_hash) {
                            let rtt = at.elapsed();
                            if rtt <= Duration::from_secs(1) {
                                result.rtts.push(rtt);
                            } else {
                                result.lost_at.push(at - started);
                            }
                        }
                    }
                    // Answer the node's ping-back, so we bond like a real peer.
                    Packet::Ping(_) => {
                        let pong = Packet::Pong(proto::Pong {
                            to: Endpoint::from_udp(node, 0),
                            ping_hash: decoded.hash,
                            expiration: expiration_after(Duration::from_secs(20)),
                            enr_seq: None,
                        });
                        let (bytes, _) = proto::encode(&pong, &key).unwrap();
                        let _ = socket.send_to(&bytes, node);
                    }
                    _ => {}
                }
            }
        }
    }
    result
        .lost_at
        .extend(outstanding.values().map(|at| *at - started));
    result.lost_at.sort();
    result
}
