//! An in-memory stream network on tokio's clock, for simulations of many whole nodes in one
//! process (with `#[tokio::test(start_paused = true)]`, virtual time jumps over every wait).
//!
//! Each simulated node gets its own IP (`127.x.y.z` gives sixteen million) and a
//! [`MemoryTransport`] from [`MemoryNetwork::host`]: dials leave from that IP, listeners bind
//! on it. A dial waits the connect latency, then finds the listener bound at the target
//! address and queues a connection in its backlog; the two ends are a bounded
//! `tokio::io::duplex` pipe. No task is spawned per connection.
//!
//! Knobs, all changeable while the network runs:
//! - [`Reachability`] per host, for dials *to* it: reachable, black-holed (the dial waits
//!   until its timeout, as an unanswered SYN does; a host behind NAT) or refused at once;
//! - the connect latency;
//! - [`kill`](MemoryNetwork::kill): reset every connection of a host and close its
//!   listeners (a killed node);
//! - [`partition`](MemoryNetwork::partition) / [`heal`](MemoryNetwork::heal): hosts in
//!   different groups cannot dial each other (dials wait) and their connections stall until
//!   the partition heals.

mod host;
mod stream;

pub use host::{MemoryListener, MemoryTransport};
pub use stream::MemoryStream;

use std::{
    collections::HashMap,
    fmt, io,
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::Duration,
};

use tokio::sync::{mpsc, watch};

use stream::{ConnShared, Side};

/// The default size of each direction's pipe buffer: 64 KiB.
pub const DEFAULT_BUFFER_SIZE: usize = 64 * 1024;
/// The default connect latency (one SYN/SYN-ACK round trip): 10 ms.
pub const DEFAULT_CONNECT_LATENCY: Duration = Duration::from_millis(10);
/// The default number of connections queued at a listener before dials wait: 128.
pub const DEFAULT_BACKLOG: usize = 128;

/// Where port-0 binds and dialers' source ports are taken from (the IANA ephemeral range).
const EPHEMERAL_START: u16 = 49_152;

/// Settings of a [`MemoryNetwork`].
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// Bytes buffered in each direction of a connection before the writer waits (at least
    /// 1). Default [`DEFAULT_BUFFER_SIZE`].
    pub buffer_size: usize,
    /// How long a dial takes to connect (or to be refused). Default
    /// [`DEFAULT_CONNECT_LATENCY`]; changeable with [`MemoryNetwork::set_connect_latency`].
    pub connect_latency: Duration,
    /// Connections a listener holds before they are accepted; further dials wait for room
    /// (at least 1). Default [`DEFAULT_BACKLOG`].
    pub backlog: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            buffer_size: DEFAULT_BUFFER_SIZE,
            connect_latency: DEFAULT_CONNECT_LATENCY,
            backlog: DEFAULT_BACKLOG,
        }
    }
}

/// What happens to dials to a host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reachability {
    /// Dials reach its listeners (or are refused where nothing listens). The default.
    #[default]
    Reachable,
    /// Dials get no answer and wait until their timeout, as behind a NAT or a firewall that
    /// drops SYNs. They connect if the host becomes reachable before then.
    BlackHole,
    /// Dials are refused after the connect latency, as by a firewall that sends resets.
    Refuse,
}

/// Counters of a [`MemoryNetwork`] since it was created, and its current size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Dials started.
    pub dials: u64,
    /// Dials that connected.
    pub established: u64,
    /// Dials refused (no listener, or a host set to [`Reachability::Refuse`]).
    pub refused: u64,
    /// Dials that ran out of time.
    pub timed_out: u64,
    /// Connections reset by [`MemoryNetwork::kill`].
    pub killed: u64,
    /// Connections with at least one end not yet dropped.
    pub open_connections: usize,
    /// Bound listeners.
    pub listeners: usize,
}

/// An in-memory network of stream listeners and connections. Cheap to clone; clones share
/// the network.
#[derive(Clone)]
pub struct MemoryNetwork {
    inner: Arc<Inner>,
}

/// A connection on its way to a listener: the listener's end and the dialer's address.
type Incoming = (MemoryStream, SocketAddr);

#[derive(Debug)]
struct ListenerEntry {
    id: u64,
    backlog: mpsc::Sender<Incoming>,
}

#[derive(Debug, Default)]
struct State {
    connect_latency: Duration,
    listeners: HashMap<SocketAddr, ListenerEntry>,
    /// Hosts that are not [`Reachability::Reachable`].
    reachability: HashMap<IpAddr, Reachability>,
    /// Hosts outside partition group 0.
    groups: HashMap<IpAddr, u32>,
    conns: HashMap<u64, Arc<ConnShared>>,
    /// The next ephemeral port to try per host.
    next_port: HashMap<IpAddr, u16>,
    next_id: u64,
}

#[derive(Debug, Default)]
struct Counters {
    dials: AtomicU64,
    established: AtomicU64,
    refused: AtomicU64,
    timed_out: AtomicU64,
    killed: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    buffer_size: usize,
    backlog: usize,
    state: Mutex<State>,
    /// Bumped on every change that may let a waiting dial through.
    changed: watch::Sender<u64>,
    counters: Counters,
}

/// Locks a mutex, ignoring poisoning: every critical section leaves the state consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What a dial does next.
enum Route {
    /// Queue the listener's end in its backlog; return the dialer's end.
    Connect {
        backlog: mpsc::Sender<Incoming>,
        dialer: MemoryStream,
        listener: MemoryStream,
    },
    Refuse,
    /// Wait for the network to change (black hole or partition).
    Wait,
}

impl fmt::Debug for MemoryNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryNetwork")
            .field("buffer_size", &self.inner.buffer_size)
            .field("backlog", &self.inner.backlog)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for MemoryNetwork {
    fn default() -> Self {
        Self::new(MemoryConfig::default())
    }
}

impl MemoryNetwork {
    /// An empty network. A buffer size or backlog of 0 is raised to 1.
    pub fn new(config: MemoryConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                buffer_size: config.buffer_size.max(1),
                backlog: config.backlog.max(1),
                state: Mutex::new(State {
                    connect_latency: config.connect_latency,
                    ..State::default()
                }),
                changed: watch::Sender::new(0),
                counters: Counters::default(),
            }),
        }
    }

    /// The transport of the node at `ip`: its dials come from `ip`, its listeners bind on it.
    pub fn host(&self, ip: IpAddr) -> MemoryTransport {
        MemoryTransport::new(self.clone(), ip)
    }

    /// Sets how dials to `ip` are answered. Dials waiting at a black hole re-check at once.
    pub fn set_reachability(&self, ip: IpAddr, reachability: Reachability) {
        {
            let mut state = lock(&self.inner.state);
            match reachability {
                Reachability::Reachable => state.reachability.remove(&ip),
                other => state.reachability.insert(ip, other),
            };
        }
        self.notify_change();
    }

    /// How dials to `ip` are answered.
    pub fn reachability(&self, ip: IpAddr) -> Reachability {
        lock(&self.inner.state)
            .reachability
            .get(&ip)
            .copied()
            .unwrap_or_default()
    }

    /// Sets the connect latency of dials started from now on.
    pub fn set_connect_latency(&self, latency: Duration) {
        lock(&self.inner.state).connect_latency = latency;
    }

    /// Kills the node at `ip`: resets every connection with an end at `ip` (both ends fail
    /// with `ConnectionReset`) and closes its listeners (their `accept` fails from then on;
    /// dials to it are refused). A restarted node binds again. Returns the number of
    /// connections reset. To make the machine itself vanish, also set
    /// [`Reachability::BlackHole`].
    pub fn kill(&self, ip: IpAddr) -> usize {
        let mut state = lock(&self.inner.state);
        state.listeners.retain(|addr, _| addr.ip() != ip);
        let mut killed = 0;
        for conn in state.conns.values() {
            if !conn.is_killed() && conn.ends.iter().any(|end| end.ip() == ip) {
                conn.kill();
                killed += 1;
            }
        }
        drop(state);
        self.inner
            .counters
            .killed
            .fetch_add(killed as u64, Ordering::Relaxed);
        killed
    }

    /// Moves `hosts` into partition `group` (every host starts in group 0). Hosts in
    /// different groups cannot connect: dials between them wait, and their open connections
    /// stall (nothing is read or written) until they are in one group again.
    pub fn partition(&self, hosts: impl IntoIterator<Item = IpAddr>, group: u32) {
        {
            let mut state = lock(&self.inner.state);
            for ip in hosts {
                if group == 0 {
                    state.groups.remove(&ip);
                } else {
                    state.groups.insert(ip, group);
                }
            }
            state.restall();
        }
        self.notify_change();
    }

    /// Ends every partition: stalled connections resume and waiting dials go through.
    pub fn heal(&self) {
        {
            let mut state = lock(&self.inner.state);
            state.groups.clear();
            state.restall();
        }
        self.notify_change();
    }

    /// The partition group of `ip`.
    pub fn group(&self, ip: IpAddr) -> u32 {
        lock(&self.inner.state).group(ip)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MemoryStats {
        let c = &self.inner.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (open_connections, listeners) = {
            let state = lock(&self.inner.state);
            (state.conns.len(), state.listeners.len())
        };
        MemoryStats {
            dials: get(&c.dials),
            established: get(&c.established),
            refused: get(&c.refused),
            timed_out: get(&c.timed_out),
            killed: get(&c.killed),
            open_connections,
            listeners,
        }
    }

    fn notify_change(&self) {
        self.inner
            .changed
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// Dials `to` from host `from`, without a timeout (the caller bounds it).
    async fn connect(&self, from: IpAddr, to: SocketAddr) -> io::Result<MemoryStream> {
        let mut changes = self.inner.changed.subscribe();
        loop {
            let latency = lock(&self.inner.state).connect_latency;
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            // Mark the version seen *before* looking at the state, so that a change made
            // after the look wakes the wait below.
            changes.borrow_and_update();
            match self.route(from, to) {
                Route::Connect {
                    backlog,
                    dialer,
                    listener,
                } => {
                    // Waits for room while the backlog is full, as SYNs are retried.
                    let queued = backlog.send((listener, dialer.local_addr())).await;
                    if queued.is_err() {
                        // The listener closed meanwhile.
                        return Err(self.refused(to));
                    }
                    bump(&self.inner.counters.established);
                    return Ok(dialer);
                }
                Route::Refuse => return Err(self.refused(to)),
                Route::Wait => {
                    if changes.changed().await.is_err() {
                        // Unreachable while `self` holds the sender; wait out the timeout.
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }

    /// Decides a dial from `from` to `to` now; for a connection, creates both ends.
    fn route(&self, from: IpAddr, to: SocketAddr) -> Route {
        let mut state = lock(&self.inner.state);
        if state.group(from) != state.group(to.ip()) {
            return Route::Wait;
        }
        match state.reachability.get(&to.ip()) {
            Some(Reachability::BlackHole) => return Route::Wait,
            Some(Reachability::Refuse) => return Route::Refuse,
            Some(Reachability::Reachable) | None => {}
        }
        let Some(backlog) = state.listeners.get(&to).map(|l| l.backlog.clone()) else {
            return Route::Refuse;
        };
        let source = SocketAddr::new(from, state.ephemeral_port(from));
        let id = state.next_id();
        let conn = Arc::new(ConnShared::new(id, source, to));
        state.conns.insert(id, Arc::clone(&conn));
        drop(state);
        let (a, b) = tokio::io::duplex(self.inner.buffer_size);
        let net = Arc::downgrade(&self.inner);
        Route::Connect {
            backlog,
            dialer: MemoryStream::new(a, Arc::clone(&conn), Side::Dialer, net.clone()),
            listener: MemoryStream::new(b, conn, Side::Listener, net),
        }
    }

    fn refused(&self, to: SocketAddr) -> io::Error {
        bump(&self.inner.counters.refused);
        io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("memory network: connection to {to} refused"),
        )
    }
}

impl State {
    fn group(&self, ip: IpAddr) -> u32 {
        self.groups.get(&ip).copied().unwrap_or(0)
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Stalls exactly the connections whose ends are in different groups.
    fn restall(&self) {
        for conn in self.conns.values() {
            let [a, b] = conn.ends;
            conn.set_stalled(self.group(a.ip()) != self.group(b.ip()));
        }
    }

    /// The next port of `ip`'s ephemeral range (wrapping; a dialer's source port).
    fn ephemeral_port(&mut self, ip: IpAddr) -> u16 {
        let next = self.next_port.entry(ip).or_insert(EPHEMERAL_START);
        let port = *next;
        *next = if port == u16::MAX {
            EPHEMERAL_START
        } else {
            port + 1
        };
        port
    }

    /// A port of `ip`'s ephemeral range no listener is bound to.
    fn free_port(&mut self, ip: IpAddr) -> io::Result<u16> {
        let range = u32::from(u16::MAX - EPHEMERAL_START) + 1;
        for _ in 0..range {
            let port = self.ephemeral_port(ip);
            if !self.listeners.contains_key(&SocketAddr::new(ip, port)) {
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("memory network: no free port on {ip}"),
        ))
    }
}

#[cfg(test)]
mod tests;
