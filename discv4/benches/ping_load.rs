//! PING load: blasts pre-signed PINGs from many keys at a node on loopback and counts the
//! valid PONGs per second, next to the raw crypto ceiling measured in the same process.
//!
//! ```text
//! cargo bench -p discv4 --bench ping_load -- [--seconds 5] [--warmup 1] [--sockets 2]
//!     [--window 32] [--keys 64] [--packets 4096] [--workers 2|1,2] [--poll-us 0]
//!     [--mode bonded|unbonded|both] [--repeat 1] [--crypto-only SECONDS] [--interleave 1]
//! ```
//!
//! `--crypto-only S` only measures the per-PING crypto on one thread, then on two, for S
//! seconds each (wall clock), and prints how it scales on this host.
//!
//! Each run's ratio divides by the one-core crypto rate measured for one second right before
//! and right after it (the mean of the two); `--repeat N` runs each mode N times.
//!
//! `--interleave S` measures the reference inside the run instead: the load runs in slices of
//! S seconds, and after each slice the generator pauses, the node goes idle, and the reference
//! runs for a quarter of a slice on one thread. The node's PONGs per CPU-second (over the load
//! slices only) are divided by the reference over its slices, so a host whose speed drifts
//! from second to second slows both alike.
//!
//! `--window` is the in-flight bound per generator socket, `--workers` the node's ingress
//! workers, `--poll-us N` makes the generator poll its sockets (napping N µs) instead of
//! blocking in `recv`.
//!
//! `--workers 1,2` runs each worker count in turn (within each repeat, so a drift of the host
//! hits both alike) and ends with how the node scales: PONGs/s of the last count over the
//! first, as measured and with each run first divided by the one-core rate around it.
//!
//! Per PING the node must hash the datagram, recover the sender (keccak + ECDSA recover) and
//! sign a PONG (keccak + ECDSA sign); that is the ceiling measured on one core and doubled for
//! the node's two runtime threads. The generator spends no ECDSA during the run: PINGs are
//! signed beforehand and PONGs are matched by their reply token (plus the packet hash), so its
//! cost is only syscalls. It still shares the machine's cores with the node, so the report
//! also gives the node's own CPU time (from /proc) and the PONG rate per node-CPU-second:
//! on a busy machine that ratio, not the wall-clock one, says how close the node gets to its
//! crypto. The one-core crypto rate is likewise taken per CPU-second of the measuring thread.
//! What the node spends beyond the crypto is mostly the kernel's UDP path: one `recvfrom` and
//! one `sendto` per PING (on loopback the `sendto` also delivers the datagram).
//!
//! Modes:
//! - `bonded`: every key has completed an endpoint proof before the run (a PING, the node's
//!   ping-back, our signed PONG), so the node only records the PING and answers it.
//! - `unbonded`: each PING comes from a key the node has never bonded with, so besides the
//!   PONG the node pings the sender back (one more signature, by the ingress workers, within
//!   `max_ping_backs_per_second`) unless a ping-back to that endpoint is outstanding; those
//!   PINGs go unanswered. "ingress queue drops" counts verified PINGs the service task could
//!   not take (their PONGs were already sent by the workers).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    collections::HashSet,
    net::{SocketAddr, UdpSocket},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use discv4::{
    db::NodeDb,
    proto::{self, now_unix_secs, Endpoint, Packet, PacketKind, Ping, Pong, HEAD_SIZE},
    service::{self, Discv4Config, Discv4Handle, RateLimitConfig},
};

use enode::{
    crypto::{keccak256, recover, sign_recoverable},
    SecretKey,
};

/// Name prefix of the node's runtime threads (to read their CPU time from /proc).
const NODE_THREAD: &str = "node-rt";
/// Name prefix of the generator's threads.
const GEN_THREAD: &str = "loadgen";

#[derive(Debug, Clone)]
struct Args {
    seconds: f64,
    warmup: f64,
    sockets: usize,
    window: usize,
    keys: usize,
    packets: usize,
    workers: Vec<usize>,
    poll_us: u64,
    modes: Vec<Mode>,
    repeat: usize,
    crypto_seconds: f64,
    /// Slice length for an interleaved reference; 0: before and after the run.
    interleave: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bonded,
    Unbonded,
}

impl Args {
    fn parse() -> Self {
        let mut args = Args {
            seconds: 5.0,
            warmup: 1.0,
            sockets: 2,
            window: 32,
            keys: 64,
            packets: 4096,
            workers: vec![2],
            poll_us: 0,
            modes: vec![Mode::Bonded, Mode::Unbonded],
            repeat: 1,
            crypto_seconds: 0.0,
            interleave: 0.0,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            // `cargo bench` passes `--bench`; anything unknown is ignored the same way.
            let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
            match flag.as_str() {
                "--seconds" => args.seconds = value().parse().expect("--seconds"),
                "--warmup" => args.warmup = value().parse().expect("--warmup"),
                "--sockets" => args.sockets = value().parse().expect("--sockets"),
                "--window" => args.window = value().parse().expect("--window"),
                "--keys" => args.keys = value().parse().expect("--keys"),
                "--packets" => args.packets = value().parse().expect("--packets"),
                "--workers" => {
                    args.workers = value()
                        .split(',')
                        .map(|count| count.parse::<usize>().expect("--workers").max(1))
                        .collect();
                }
                "--poll-us" => args.poll_us = value().parse().expect("--poll-us"),
                "--repeat" => args.repeat = value().parse().expect("--repeat"),
                "--crypto-only" => args.crypto_seconds = value().parse().expect("--crypto-only"),
                "--interleave" => args.interleave = value().parse().expect("--interleave"),
                "--mode" => {
                    args.modes = match value().as_str() {
                        "bonded" => vec![Mode::Bonded],
                        "unbonded" => vec![Mode::Unbonded],
                        "both" => vec![Mode::Bonded, Mode::Unbonded],
                        other => panic!("unknown mode {other}"),
                    }
                }
                _ => {}
            }
        }
        args.sockets = args.sockets.max(1);
        args.window = args.window.max(1);
        args.keys = args.keys.max(args.sockets);
        args.packets = args.packets.max(args.keys);
        args
    }
}

fn main() {
    let args = Args::parse();
    println!("ping_load: {args:?}");
    if args.crypto_seconds > 0.0 {
        // How the crypto alone scales on this host: the bound for the node's scaling.
        let duration = Duration::from_secs_f64(args.crypto_seconds);
        let (one, _) = crypto_rate(duration, 1);
        let (two, _) = crypto_rate(duration, 2);
        println!(
            "crypto per PING over {:.0} s: one thread {one:.0}/s, two threads {two:.0}/s = {:.2}x",
            args.crypto_seconds,
            two / one
        );
        return;
    }
    let (single_wall, single_cpu) = crypto_rate(Duration::from_millis(2000), 1);
    let (parallel_wall, _) = crypto_rate(Duration::from_millis(1000), 2);
    // Per CPU-second when /proc is readable: other load on the machine does not skew it.
    let single = single_cpu.unwrap_or(single_wall);
    let ceiling = 2.0 * single;
    println!(
        "crypto per PING (keccak + recover + keccak + sign): one core {single:.0}/s \
         (wall clock {single_wall:.0}/s); two-core ceiling {ceiling:.0}/s \
         (two threads, wall clock: {parallel_wall:.0}/s)"
    );
    // The host's speed drifts over seconds (other tenants, frequency), so each run is divided
    // by the one-core rate measured right before and right after it, not by the one above.
    for mode in args.modes.clone() {
        // Per worker count: (PONGs/s, PONGs/s over the one-core rate around the run).
        let mut rates: Vec<Vec<(f64, f64)>> = vec![Vec::new(); args.workers.len()];
        for _ in 0..args.repeat.max(1) {
            for (index, &workers) in args.workers.iter().enumerate() {
                // The reference the run is divided by, and the line that says where it came from.
                let (report, around, reference) = if args.interleave > 0.0 {
                    let report = run(&args, mode, workers);
                    let (mean, least, most) = report.reference.unwrap_or_default();
                    let line = format!(
                        "interleaved with the load: {mean:.0}/s ({least:.0}–{most:.0}/s over its slices)"
                    );
                    (report, mean, line)
                } else {
                    let before = one_core_rate();
                    let report = run(&args, mode, workers);
                    let after = one_core_rate();
                    let around = (before + after) / 2.0;
                    let drifted = if (after - before).abs() / around > 0.1 {
                        " (drifted over 10 %: the host's speed changed, read this run with care)"
                    } else {
                        ""
                    };
                    let line = format!(
                        "around this run: {before:.0}/s before, {after:.0}/s after{drifted}"
                    );
                    (report, around, line)
                };
                report.print(mode, workers, around, 2.0 * around);
                println!("  one-core crypto rate {reference}");
                let rate = report.pongs as f64 / report.seconds;
                rates[index].push((rate, rate / around));
            }
        }
        print_scaling(mode, &args.workers, &rates);
    }
}

/// How the PONG rate grows from the first worker count to each other one, as measured and
/// relative to the one-core rate around each run.
fn print_scaling(mode: Mode, workers: &[usize], rates: &[Vec<(f64, f64)>]) {
    let (Some(&first), Some(base)) = (workers.first(), rates.first()) else {
        return;
    };
    if workers.len() < 2 || base.is_empty() {
        return;
    }
    let mean = |runs: &[(f64, f64)], pick: fn(&(f64, f64)) -> f64| {
        runs.iter().map(pick).sum::<f64>() / runs.len().max(1) as f64
    };
    println!("\n== scaling, mode {mode:?} ({} runs each)", base.len());
    for (&count, runs) in workers.iter().zip(rates).skip(1) {
        println!(
            "  {count} vs {first} workers: {:.2}x PONGs/s as measured ({:.0} vs {:.0}/s), \
             {:.2}x with each run divided by the one-core rate around it ({:.2} vs {:.2} cores' worth)",
            mean(runs, |r| r.0) / mean(base, |r| r.0),
            mean(runs, |r| r.0),
            mean(base, |r| r.0),
            mean(runs, |r| r.1) / mean(base, |r| r.1),
            mean(runs, |r| r.1),
            mean(base, |r| r.1),
        );
    }
}

/// One second of [`crypto_rate`] on one thread, per CPU-second where /proc tells.
fn one_core_rate() -> f64 {
    let (wall, cpu) = crypto_rate(Duration::from_millis(1000), 1);
    cpu.unwrap_or(wall)
}

// ------------------------------------------------------------------------ crypto ceiling

/// The node's per-PING crypto on `threads` threads: keccak of the PING body, recover the
/// signer, keccak of a PONG body, sign it. Returns operations per wall-clock second and per
/// CPU-second of the measuring threads (the latter holds on a busy machine too).
fn crypto_rate(duration: Duration, threads: usize) -> (f64, Option<f64>) {
    let pings: Vec<Vec<u8>> = (0..64u8)
        .map(|i| sign_ping(&key(i), u64::from(i), loopback(30303)).0)
        .collect();
    let pong = Packet::Pong(Pong {
        to: Endpoint::new([127, 0, 0, 1].into(), 40000, 0),
        ping_hash: [7; 32],
        expiration: now_unix_secs() + 20,
        enr_seq: Some(1),
    });
    let (pong_bytes, _) = proto::encode(&pong, &key(200)).unwrap();
    let pong_body = pong_bytes[HEAD_SIZE..].to_vec();
    let node_key = key(201);
    let pings = Arc::new(pings);
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let pings = Arc::clone(&pings);
            let pong_body = pong_body.clone();
            thread::spawn(move || {
                let cpu_start = own_thread_cpu();
                let mut done = 0u64;
                while start.elapsed() < duration {
                    for ping in pings.iter() {
                        let digest = keccak256(&ping[HEAD_SIZE..]);
                        let signature: &[u8; 65] = ping[32..HEAD_SIZE].try_into().unwrap();
                        std::hint::black_box(recover(signature, &digest).unwrap());
                        let pong_digest = keccak256(std::hint::black_box(&pong_body));
                        std::hint::black_box(sign_recoverable(&pong_digest, &node_key));
                    }
                    done += pings.len() as u64;
                }
                let cpu = own_thread_cpu()
                    .zip(cpu_start)
                    .map(|(end, start)| end - start);
                (done, cpu)
            })
        })
        .collect();
    let results: Vec<(u64, Option<f64>)> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let wall = start.elapsed().as_secs_f64();
    let done: u64 = results.iter().map(|r| r.0).sum();
    let cpu: Option<f64> = results.iter().map(|r| r.1).sum();
    (
        done as f64 / wall,
        cpu.filter(|&c| c > 0.0).map(|c| done as f64 / c),
    )
}

// ------------------------------------------------------------------------ packets

fn key(i: u8) -> SecretKey {
    let mut bytes = [0x11; 32];
    bytes[31] = i;
    bytes[0] = 0x21;
    SecretKey::from_byte_array(&bytes).unwrap()
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A PING that stays valid for the whole run; `nonce` makes each packet (and its hash)
/// unique, since signatures are deterministic.
fn sign_ping(key: &SecretKey, nonce: u64, to: SocketAddr) -> (Vec<u8>, [u8; 32]) {
    let ping = Packet::Ping(Ping {
        version: Ping::VERSION,
        from: Endpoint::new([127, 0, 0, 1].into(), 30303, 0),
        to: Endpoint::from_udp(to, 0),
        expiration: now_unix_secs() + 3600 + nonce,
        enr_seq: Some(1),
    });
    proto::encode(&ping, key).unwrap()
}

/// The reply token of a PONG, after checking its packet hash; no signature check.
fn pong_token(datagram: &[u8]) -> Option<[u8; 32]> {
    let head = datagram.get(..32)?;
    if datagram.get(HEAD_SIZE) != Some(&PacketKind::Pong.byte())
        || keccak256(datagram.get(32..)?) != *head
    {
        return None;
    }
    let body = datagram.get(HEAD_SIZE + 1..)?;
    let (list_header, _) = rlp_span(body, true)?;
    let items = body.get(list_header..)?;
    // Skip the `to` endpoint list, then read the 32-byte hash.
    let (to_header, to_len) = rlp_span(items, true)?;
    let hash = items.get(to_header + to_len..)?;
    if hash.first() != Some(&0xa0) {
        return None;
    }
    hash.get(1..33)?.try_into().ok()
}

/// Header length and payload length of the RLP item at the start of `buf` (lists or
/// strings as asked; short and long forms).
fn rlp_span(buf: &[u8], list: bool) -> Option<(usize, usize)> {
    let (&first, rest) = buf.split_first()?;
    let (short_base, long_base) = if list { (0xc0, 0xf7) } else { (0x80, 0xb7) };
    if first < short_base {
        return None;
    }
    if first <= long_base {
        return Some((1, usize::from(first - short_base)));
    }
    let len_of_len = usize::from(first - long_base);
    if len_of_len > 4 || (list && first < 0xf8) || (!list && first > 0xbf) {
        return None;
    }
    let len = rest
        .get(..len_of_len)?
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Some((1 + len_of_len, len))
}

// ------------------------------------------------------------------------ the node

struct Node {
    runtime: tokio::runtime::Runtime,
    handle: Discv4Handle,
    addr: SocketAddr,
}

fn start_node(workers: usize) -> Node {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(NODE_THREAD)
        .enable_all()
        .build()
        .unwrap();
    let (handle, addr) = runtime.block_on(async {
        let transport = service::bind_udp(loopback(0)).await.unwrap();
        let addr = transport.local_addr().unwrap();
        let config = Discv4Config {
            rate_limit: RateLimitConfig::unlimited(),
            // Capacity, not flood behaviour: verify every PING even with a backlog.
            overload_unknown_per_second: 0,
            ingress_workers: workers,
            ..Default::default()
        };
        let handle =
            service::spawn(config, key(250), transport, NodeDb::in_memory().unwrap()).unwrap();
        (handle, addr)
    });
    Node {
        runtime,
        handle,
        addr,
    }
}

/// Completes an endpoint proof for `key` from `socket`: PING, wait for the node's ping-back,
/// answer it with a PONG signed by `key`.
fn bond(socket: &UdpSocket, key: &SecretKey, node: &Node, nonce: u64) {
    let node_id = node.handle.local_id();
    let (ping, _) = sign_ping(key, nonce, node.addr);
    let mut buf = [0u8; 1500];
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    for _attempt in 0..5 {
        socket.send_to(&ping, node.addr).unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            let Ok((len, _)) = socket.recv_from(&mut buf) else {
                break;
            };
            let Ok(decoded) = proto::decode(&buf[..len]) else {
                continue;
            };
            if decoded.sender != node_id {
                continue;
            }
            if let Packet::Ping(_) = decoded.packet {
                let pong = Packet::Pong(Pong {
                    to: Endpoint::from_udp(node.addr, 0),
                    ping_hash: decoded.hash,
                    expiration: now_unix_secs() + 3600,
                    enr_seq: None,
                });
                let (bytes, _) = proto::encode(&pong, key).unwrap();
                socket.send_to(&bytes, node.addr).unwrap();
                return;
            }
        }
    }
    panic!("the node never pinged back key {nonce}");
}

// ------------------------------------------------------------------------ the load

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    pongs: AtomicU64,
    pings_from_node: AtomicU64,
    invalid: AtomicU64,
    timeouts: AtomicU64,
}

struct Report {
    seconds: f64,
    sent: u64,
    pongs: u64,
    pings_from_node: u64,
    invalid: u64,
    timeouts: u64,
    node_cpu: Option<f64>,
    gen_cpu: Option<f64>,
    dropped_queue_full: u64,
    /// The interleaved one-core reference: mean, least and most over its slices.
    reference: Option<(f64, f64, f64)>,
}

impl Report {
    fn print(&self, mode: Mode, workers: usize, single: f64, ceiling: f64) {
        let rate = self.pongs as f64 / self.seconds;
        println!(
            "\n== mode {mode:?}, {workers} ingress workers ({:.1} s measured)",
            self.seconds
        );
        println!(
            "  PINGs sent {:.0}/s, valid PONGs {rate:.0}/s = {:.1}% of the two-core ceiling \
             ({ceiling:.0}/s)",
            self.sent as f64 / self.seconds,
            100.0 * rate / ceiling
        );
        println!(
            "  node PINGs (ping-backs) received {:.0}/s; invalid replies {}; window timeouts {}; \
             ingress queue drops {}",
            self.pings_from_node as f64 / self.seconds,
            self.invalid,
            self.timeouts,
            self.dropped_queue_full
        );
        if let (Some(node_cpu), Some(gen_cpu)) = (self.node_cpu, self.gen_cpu) {
            let per_cpu = self.pongs as f64 / node_cpu;
            println!(
                "  CPU: node {:.2} cores, generator {:.2} cores; PONGs per node-CPU-second \
                 {per_cpu:.0} = {:.1}% of the one-core crypto rate ({single:.0}/s)",
                node_cpu / self.seconds,
                gen_cpu / self.seconds,
                100.0 * per_cpu / single
            );
        }
    }
}

/// The packets one generator socket cycles through, and the hashes their PONGs must echo.
type SocketLoad = (Vec<Vec<u8>>, HashSet<[u8; 32]>);

fn run(args: &Args, mode: Mode, workers: usize) -> Report {
    let node = start_node(workers);
    let sockets: Vec<UdpSocket> = (0..args.sockets)
        .map(|_| UdpSocket::bind(loopback(0)).unwrap())
        .collect();

    // Keys and packets per socket. Unbonded: one fresh key per packet, so the node meets
    // unknown senders all the time.
    let (key_count, per_key) = match mode {
        Mode::Bonded => (args.keys, args.packets.div_ceil(args.keys)),
        Mode::Unbonded => (args.packets, 1),
    };
    let keys: Vec<SecretKey> = (0..key_count)
        .map(|_| SecretKey::new(&mut rand::thread_rng()))
        .collect();
    if mode == Mode::Bonded {
        for (i, key) in keys.iter().enumerate() {
            bond(&sockets[i % args.sockets], key, &node, i as u64);
        }
    }
    let mut loads: Vec<SocketLoad> = (0..args.sockets).map(|_| Default::default()).collect();
    let mut nonce = 1_000_000u64;
    for (i, key) in keys.iter().enumerate() {
        let (packets, tokens) = &mut loads[i % args.sockets];
        for _ in 0..per_key {
            let (bytes, hash) = sign_ping(key, nonce, node.addr);
            nonce += 1;
            packets.push(bytes);
            tokens.insert(hash);
        }
    }

    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let paused = Arc::new(AtomicBool::new(false));
    let generators: Vec<_> = sockets
        .into_iter()
        .zip(loads)
        .enumerate()
        .map(|(i, (socket, (packets, tokens)))| {
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            let paused = Arc::clone(&paused);
            let target = node.addr;
            let window = args.window;
            let poll = (args.poll_us > 0).then(|| Duration::from_micros(args.poll_us));
            thread::Builder::new()
                .name(format!("{GEN_THREAD}-{i}"))
                .spawn(move || {
                    generate(
                        &socket, target, &packets, &tokens, window, poll, &counters, &stop, &paused,
                    )
                })
                .unwrap()
        })
        .collect();

    thread::sleep(Duration::from_secs_f64(args.warmup));
    let snapshot = |c: &Counters| {
        [
            c.sent.load(Ordering::Relaxed),
            c.pongs.load(Ordering::Relaxed),
            c.pings_from_node.load(Ordering::Relaxed),
            c.invalid.load(Ordering::Relaxed),
            c.timeouts.load(Ordering::Relaxed),
        ]
    };
    let metrics = node.handle.metrics();
    let drops_before = metrics.dropped_total(service::DropReason::QueueFull);
    let cpu = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
    // The load in slices (one slice unless interleaved), each followed by a pause in which the
    // reference runs while the node is idle.
    let slice = if args.interleave > 0.0 {
        args.interleave.min(args.seconds)
    } else {
        args.seconds
    };
    let slices = (args.seconds / slice).round().max(1.0) as usize;
    let mut totals = [0u64; 5];
    let (mut seconds, mut node_cpu, mut gen_cpu) = (0.0, Some(0.0), Some(0.0));
    let mut references = Vec::new();
    for index in 0..slices {
        let before = snapshot(&counters);
        let cpu_before = (thread_cpu(NODE_THREAD), thread_cpu(GEN_THREAD));
        let started = Instant::now();
        thread::sleep(Duration::from_secs_f64(slice));
        let after = snapshot(&counters);
        let cpu_after = (thread_cpu(NODE_THREAD), thread_cpu(GEN_THREAD));
        seconds += started.elapsed().as_secs_f64();
        for (total, (a, b)) in totals.iter_mut().zip(after.iter().zip(before)) {
            *total += a - b;
        }
        node_cpu = node_cpu
            .zip(cpu(cpu_before.0, cpu_after.0))
            .map(|(t, c)| t + c);
        gen_cpu = gen_cpu
            .zip(cpu(cpu_before.1, cpu_after.1))
            .map(|(t, c)| t + c);
        if args.interleave > 0.0 {
            paused.store(true, Ordering::Relaxed);
            // The window in flight is answered within milliseconds; then the node is idle.
            thread::sleep(Duration::from_millis(30));
            let (wall, per_cpu) = crypto_rate(Duration::from_secs_f64(slice / 4.0), 1);
            references.push(per_cpu.unwrap_or(wall));
            paused.store(false, Ordering::Relaxed);
            if index + 1 < slices {
                // The window refills before the next slice counts.
                thread::sleep(Duration::from_millis(30));
            }
        }
    }
    let drops_after = metrics.dropped_total(service::DropReason::QueueFull);
    stop.store(true, Ordering::Relaxed);
    for generator in generators {
        generator.join().unwrap();
    }
    let reference = (!references.is_empty()).then(|| {
        let mean = references.iter().sum::<f64>() / references.len() as f64;
        let least = references.iter().copied().fold(f64::INFINITY, f64::min);
        let most = references.iter().copied().fold(0.0, f64::max);
        (mean, least, most)
    });
    let report = Report {
        seconds,
        sent: totals[0],
        pongs: totals[1],
        pings_from_node: totals[2],
        invalid: totals[3],
        timeouts: totals[4],
        node_cpu,
        gen_cpu,
        dropped_queue_full: drops_after - drops_before,
        reference,
    };
    let Node {
        runtime, handle, ..
    } = node;
    runtime.block_on(handle.shutdown());
    runtime.shutdown_timeout(Duration::from_secs(1));
    report
}

/// One generator socket: keeps at most `window` PINGs in flight, counts the PONGs that
/// answer one of its PINGs. With `poll` set it never blocks in `recv`: it drains the socket,
/// refills the window and naps for `poll`, so the node's PONGs do not have to wake a blocked
/// thread (on loopback that wake-up runs inside the node's `sendto` and would be billed to
/// the node). No reply for 200 ms writes the window off as lost.
#[allow(clippy::too_many_arguments)]
fn generate(
    socket: &UdpSocket,
    target: SocketAddr,
    packets: &[Vec<u8>],
    tokens: &HashSet<[u8; 32]>,
    window: usize,
    poll: Option<Duration>,
    counters: &Counters,
    stop: &AtomicBool,
    paused: &AtomicBool,
) {
    const LOSS_TIMEOUT: Duration = Duration::from_millis(200);
    socket.set_nonblocking(poll.is_some()).unwrap();
    socket.set_read_timeout(Some(LOSS_TIMEOUT)).unwrap();
    let mut buf = [0u8; 1500];
    let mut next = packets.iter().cycle();
    let mut in_flight = 0usize;
    let mut last_reply = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let pause = paused.load(Ordering::Relaxed);
        if pause && in_flight == 0 {
            thread::sleep(Duration::from_millis(1));
            last_reply = Instant::now();
            continue;
        }
        while in_flight < window && !pause {
            let Some(packet) = next.next() else { return };
            match socket.send_to(packet, target) {
                Ok(_) => {
                    in_flight += 1;
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
        let mut got = false;
        while let Ok((len, _)) = socket.recv_from(&mut buf) {
            got = true;
            let datagram = &buf[..len];
            if datagram.get(HEAD_SIZE) == Some(&PacketKind::Ping.byte()) {
                counters.pings_from_node.fetch_add(1, Ordering::Relaxed);
            } else {
                in_flight = in_flight.saturating_sub(1);
                match pong_token(datagram) {
                    Some(token) if tokens.contains(&token) => {
                        counters.pongs.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        counters.invalid.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if poll.is_none() {
                break;
            }
        }
        if got {
            last_reply = Instant::now();
        } else if last_reply.elapsed() >= LOSS_TIMEOUT {
            counters.timeouts.fetch_add(1, Ordering::Relaxed);
            in_flight = 0;
            last_reply = Instant::now();
        }
        if let (Some(nap), false) = (poll, got && in_flight < window) {
            thread::sleep(nap);
        }
    }
}

/// CPU seconds of this process's threads whose name starts with `prefix`, from
/// /proc/self/task/*/schedstat (nanosecond run time; Linux only, `None` elsewhere).
fn thread_cpu(prefix: &str) -> Option<f64> {
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let name = std::fs::read_to_string(dir.join("comm")).ok()?;
        if name.starts_with(prefix) {
            total += run_time(&std::fs::read_to_string(dir.join("schedstat")).ok()?)?;
        }
    }
    Some(total)
}

/// CPU seconds of the calling thread.
fn own_thread_cpu() -> Option<f64> {
    run_time(&std::fs::read_to_string("/proc/thread-self/schedstat").ok()?)
}

/// The first field of a `schedstat` line: nanoseconds spent running.
fn run_time(schedstat: &str) -> Option<f64> {
    let ns: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}
