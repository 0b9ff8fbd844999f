//! An in-memory simulated datagram network for many-node tests on tokio's virtual clock.
//!
//! Sending looks up the destination socket and queues the datagram in its inbox with the
//! instant it is due (now + the link's latency); no task is spawned per datagram. A receiver
//! takes due datagrams and otherwise sleeps on one timer per socket, so tokio's paused clock
//! jumps straight to the next arrival.
//!
//! Loss and link latency are pure functions of the seed and the datagram's identity
//! (sender, receiver, the sender's send counter), so runs repeat exactly when each socket's
//! sends happen in the same order.

mod inbox;
mod rng;
mod socket;

pub use socket::SimSocket;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use inbox::{lock, Inbox, Rejected, Waiters};

/// The largest UDP payload over IPv4; larger sends fail as they would on a real socket.
const MAX_DATAGRAM: usize = 65_507;
/// Where port-0 binds start looking for a free port (the IANA ephemeral range).
const EPHEMERAL_START: u16 = 49_152;

/// Settings of a [`SimNetwork`].
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// One-way delay of every link.
    pub latency: Duration,
    /// Extra one-way delay per link, drawn once per (unordered) address pair uniformly from
    /// `[0, jitter)`; a link's delay is stable, so datagrams on a link are not reordered.
    /// (Arrivals land on tokio's millisecond timer ticks, never before their due instant.)
    pub jitter: Duration,
    /// Extra one-way delay per datagram, drawn for each datagram uniformly from
    /// `[0, reorder)`: datagrams on one link overtake each other (reordering), and the
    /// delay varies from packet to packet. Zero keeps every link's delay stable.
    pub reorder: Duration,
    /// Probability in `[0, 1]` that a datagram is lost; changeable with [`SimNetwork::set_loss`].
    pub loss: f64,
    /// Seed for every random decision.
    pub seed: u64,
    /// Most datagrams in flight to or waiting at one socket; further datagrams are dropped,
    /// as a full UDP receive buffer drops them.
    pub per_socket_queue: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            reorder: Duration::ZERO,
            loss: 0.0,
            seed: 0,
            per_socket_queue: 1024,
        }
    }
}

/// Datagram counters of a [`SimNetwork`] since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Datagrams handed to `send_to`.
    pub sent: u64,
    /// Bytes handed to `send_to`.
    pub bytes_sent: u64,
    /// Datagrams returned by a receive.
    pub delivered: u64,
    /// Datagrams lost to the configured loss rate.
    pub dropped_loss: u64,
    /// Datagrams from or to a blocked address.
    pub dropped_blocked: u64,
    /// Datagrams to an address with no socket (or whose socket closed before they arrived).
    pub dropped_unbound: u64,
    /// Datagrams dropped because the destination queue was full.
    pub dropped_queue_full: u64,
}

impl SimStats {
    /// All dropped datagrams, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_blocked + self.dropped_unbound + self.dropped_queue_full
    }

    /// Datagrams sent but neither delivered nor dropped yet.
    pub fn in_flight(&self) -> u64 {
        self.sent.saturating_sub(self.delivered + self.dropped())
    }
}

/// An in-memory network of [`SimSocket`]s with latency, loss and partitions.
///
/// Cheap to clone; clones share the network.
#[derive(Clone)]
pub struct SimNetwork {
    inner: Arc<NetInner>,
}

impl fmt::Debug for SimNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimNetwork")
            .field("config", &self.inner.config)
            .field("loss", &self.loss())
            .field("sockets", &self.bound_sockets())
            .field("stats", &self.stats())
            .finish()
    }
}

/// The receive side of a bound socket, shared between the network and the socket.
#[derive(Debug)]
struct SocketShared {
    inbox: Mutex<Inbox>,
    waiters: Arc<Waiters>,
    timer_waker: std::task::Waker,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    bytes_sent: AtomicU64,
    delivered: AtomicU64,
    dropped_loss: AtomicU64,
    dropped_blocked: AtomicU64,
    dropped_unbound: AtomicU64,
    dropped_queue_full: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

#[derive(Debug, Default)]
struct NetState {
    sockets: HashMap<SocketAddr, Arc<SocketShared>>,
    blocked: HashSet<SocketAddr>,
    link_loss: HashMap<(SocketAddr, SocketAddr), f64>,
    next_port: u16,
}

#[derive(Debug)]
struct NetInner {
    config: SimConfig,
    /// The current loss rate as `f64` bits.
    loss: AtomicU64,
    state: Mutex<NetState>,
    counters: Counters,
}

/// Clamps a loss rate into `[0, 1]`; NaN means no loss.
fn sanitize_loss(loss: f64) -> f64 {
    if loss.is_nan() {
        0.0
    } else {
        loss.clamp(0.0, 1.0)
    }
}

impl SimNetwork {
    /// Creates an empty network. A loss outside `[0, 1]` is clamped (NaN means none) and a
    /// queue bound of 0 is raised to 1.
    pub fn new(mut config: SimConfig) -> Self {
        config.loss = sanitize_loss(config.loss);
        config.per_socket_queue = config.per_socket_queue.max(1);
        SimNetwork {
            inner: Arc::new(NetInner {
                loss: AtomicU64::new(config.loss.to_bits()),
                config,
                state: Mutex::new(NetState {
                    next_port: EPHEMERAL_START,
                    ..NetState::default()
                }),
                counters: Counters::default(),
            }),
        }
    }

    /// Binds a socket at `addr`. Port 0 picks a free port in the ephemeral range.
    ///
    /// Fails with `AddrInUse` if the address is taken, `InvalidInput` for an unspecified IP
    /// (a simulated node needs a concrete address to be reachable at), and `AddrNotAvailable`
    /// when no ephemeral port is free on that IP.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<SimSocket> {
        if addr.ip().is_unspecified() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot bind simulated socket to unspecified address {addr}: use a concrete IP"
                ),
            ));
        }
        let shared = Arc::new(SocketShared::new(self.inner.config.per_socket_queue));
        let mut state = lock(&self.inner.state);
        let addr = if addr.port() == 0 {
            allocate_port(&mut state, addr)?
        } else {
            addr
        };
        if state.sockets.contains_key(&addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("simulated address {addr} is already bound"),
            ));
        }
        state.sockets.insert(addr, Arc::clone(&shared));
        drop(state);
        Ok(SimSocket::new(addr, shared, Arc::clone(&self.inner)))
    }

    /// The current loss rate.
    pub fn loss(&self) -> f64 {
        f64::from_bits(self.inner.loss.load(Ordering::Relaxed))
    }

    /// Changes the loss rate of every link without its own rate (clamped into `[0, 1]`).
    pub fn set_loss(&self, loss: f64) {
        self.inner
            .loss
            .store(sanitize_loss(loss).to_bits(), Ordering::Relaxed);
    }

    /// Sets the loss rate of datagrams from `from` to `to` (one direction), or with `None`
    /// returns the link to the network-wide rate.
    pub fn set_link_loss(&self, from: SocketAddr, to: SocketAddr, loss: Option<f64>) {
        let mut state = lock(&self.inner.state);
        match loss {
            Some(loss) => {
                state.link_loss.insert((from, to), sanitize_loss(loss));
            }
            None => {
                state.link_loss.remove(&(from, to));
            }
        }
    }

    /// Partitions `addr` off: every datagram from or to it is dropped until [`unblock`](Self::unblock).
    pub fn block(&self, addr: SocketAddr) {
        lock(&self.inner.state).blocked.insert(addr);
    }

    /// Reconnects an address cut off with [`block`](Self::block).
    pub fn unblock(&self, addr: SocketAddr) {
        lock(&self.inner.state).blocked.remove(&addr);
    }

    /// Whether `addr` is blocked.
    pub fn is_blocked(&self, addr: SocketAddr) -> bool {
        lock(&self.inner.state).blocked.contains(&addr)
    }

    /// How many sockets are bound.
    pub fn bound_sockets(&self) -> usize {
        lock(&self.inner.state).sockets.len()
    }

    /// The one-way delay of the link between `a` and `b` (the same in both directions).
    pub fn link_latency(&self, a: SocketAddr, b: SocketAddr) -> Duration {
        self.inner.link_latency(a, b)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        let c = &self.inner.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SimStats {
            sent: get(&c.sent),
            bytes_sent: get(&c.bytes_sent),
            delivered: get(&c.delivered),
            dropped_loss: get(&c.dropped_loss),
            dropped_blocked: get(&c.dropped_blocked),
            dropped_unbound: get(&c.dropped_unbound),
            dropped_queue_full: get(&c.dropped_queue_full),
        }
    }
}

fn allocate_port(state: &mut NetState, addr: SocketAddr) -> io::Result<SocketAddr> {
    let range = u32::from(u16::MAX - EPHEMERAL_START) + 1;
    for _ in 0..range {
        let port = state.next_port;
        state.next_port = if port == u16::MAX {
            EPHEMERAL_START
        } else {
            port + 1
        };
        let candidate = SocketAddr::new(addr.ip(), port);
        if !state.sockets.contains_key(&candidate) {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!("no free simulated port on {}", addr.ip()),
    ))
}

impl SocketShared {
    fn new(capacity: usize) -> Self {
        let waiters = Arc::new(Waiters::default());
        SocketShared {
            inbox: Mutex::new(Inbox::new(capacity)),
            timer_waker: std::task::Waker::from(Arc::clone(&waiters)),
            waiters,
        }
    }
}

impl NetInner {
    fn link_latency(&self, a: SocketAddr, b: SocketAddr) -> Duration {
        let jitter = self.config.jitter;
        if jitter.is_zero() {
            return self.config.latency;
        }
        let (ka, kb) = (rng::addr_key(&a), rng::addr_key(&b));
        let (lo, hi) = if ka <= kb { (ka, kb) } else { (kb, ka) };
        let u = rng::unit(rng::hash(&[self.config.seed, rng::TAG_LINK_DELAY, lo, hi]));
        self.config.latency + jitter.mul_f64(u)
    }

    /// Routes one datagram; `seq` is the sender's send counter, for deterministic loss.
    fn route(&self, from: SocketAddr, seq: u64, to: SocketAddr, data: &[u8]) {
        let c = &self.counters;
        bump(&c.sent, 1);
        bump(&c.bytes_sent, data.len() as u64);
        let (dest, link_loss) = {
            let state = lock(&self.state);
            if !state.blocked.is_empty()
                && (state.blocked.contains(&from) || state.blocked.contains(&to))
            {
                drop(state);
                bump(&c.dropped_blocked, 1);
                return;
            }
            let link_loss = if state.link_loss.is_empty() {
                None
            } else {
                state.link_loss.get(&(from, to)).copied()
            };
            (state.sockets.get(&to).cloned(), link_loss)
        };
        let Some(dest) = dest else {
            bump(&c.dropped_unbound, 1);
            return;
        };
        let loss = link_loss.unwrap_or_else(|| f64::from_bits(self.loss.load(Ordering::Relaxed)));
        if loss > 0.0 {
            let roll = rng::hash(&[
                self.config.seed,
                rng::TAG_LOSS,
                rng::addr_key(&from),
                rng::addr_key(&to),
                seq,
            ]);
            if rng::unit(roll) < loss {
                bump(&c.dropped_loss, 1);
                return;
            }
        }
        let now = Instant::now();
        let mut delay = self.link_latency(from, to);
        if !self.config.reorder.is_zero() {
            let roll = rng::hash(&[
                self.config.seed,
                rng::TAG_REORDER,
                rng::addr_key(&from),
                rng::addr_key(&to),
                seq,
            ]);
            delay = delay.saturating_add(self.config.reorder.mul_f64(rng::unit(roll)));
        }
        // An absurd configured latency parks the datagram for ~30 years instead of panicking.
        let at = now
            .checked_add(delay)
            .unwrap_or_else(|| now + Duration::from_secs(1 << 30));
        let pushed = lock(&dest.inbox).push(at, from, data.into(), &dest.timer_waker);
        match pushed {
            Ok(true) => std::task::Waker::wake_by_ref(&dest.timer_waker),
            Ok(false) => {}
            Err(Rejected::Full) => bump(&c.dropped_queue_full, 1),
            Err(Rejected::Closed) => bump(&c.dropped_unbound, 1),
        }
    }

    fn count_delivered(&self) {
        bump(&self.counters.delivered, 1);
    }

    /// Unbinds `addr` if it is still bound to `shared`, dropping what was in flight to it.
    fn unbind(&self, addr: SocketAddr, shared: &Arc<SocketShared>) {
        {
            let mut state = lock(&self.state);
            if state
                .sockets
                .get(&addr)
                .is_some_and(|bound| Arc::ptr_eq(bound, shared))
            {
                state.sockets.remove(&addr);
            }
        }
        let pending = lock(&shared.inbox).close();
        bump(&self.counters.dropped_unbound, pending as u64);
    }
}
