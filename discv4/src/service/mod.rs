//! The discv4 service: a task that owns the socket, the table, the node database and our
//! record, with ingress workers verifying packets in parallel and a cloneable
//! [`Discv4Handle`] to talk to it.
//!
//! ```text
//!  socket ──► ingress workers (rate limit, verify, answer PING) ──► service task ◄── handles
//!                                                      (table, db, requests, bonds, lookups,
//!                                                       refresh, timers)
//! ```
//!
//! Handles send commands, each with a oneshot of exactly its answer's type; the service
//! task does all the work — it sends every request, bonds with nodes before asking them
//! things, and runs lookups (and the random walk's lookups) itself, since it knows who is
//! bonded: a FINDNODE to a bonded node costs one message and waits on no timer.
//!
//! Modules, each importing only those listed after it:
//!
//! | module | what |
//! |---|---|
//! | `handle` | [`Discv4Handle`]: one method per command |
//! | `walk` | [`RandomWalk`]: submits lookups one after the other, streams what they find |
//! | `core` | the task: `start` builds and spawns it; its loop, sending, timers; its children add `inbound` (packets, request outcomes) and `drive` (lookups, refresh) |
//! | `bonding` | bonds in progress and the requests they hold back (plain state) |
//! | `lookups` | the lookups the task drives and those waiting for the table (plain state) |
//! | `pending` | outstanding requests and reply matching, with typed waiters |
//! | `command` | the commands and the public types of their answers; imports no service module |
//! | `ingress` | the workers: receive, rate-limit, verify, answer PINGs |
//! | `config`, `local`, `store`, `clock`, `metrics`, `predictor`, `ratelimit`, `skew` | the parts the task is made of |

mod bonding;
mod clock;
mod command;
pub mod config;
mod core;
pub mod handle;
mod handover;
mod ingress;
pub mod local;
mod lookups;
pub mod metrics;
mod pending;
mod ping_back;
pub mod predictor;
mod priority;
pub mod ratelimit;
pub mod skew;
mod store;
mod walk;

use std::{net::SocketAddr, sync::Arc};

use secp256k1::SecretKey;
use tokio::sync::mpsc;

pub use self::{
    config::Discv4Config,
    core::Discv4Error,
    handle::{BucketDump, Discv4Handle, EntryDump, PongInfo, RequestError},
    local::Enr,
    metrics::{DropReason, Metrics},
    ratelimit::RateLimitConfig,
    walk::RandomWalk,
};
use crate::{db::NodeDb, transport::DatagramTransport};

/// Commands queued from handles to the service task.
const COMMAND_QUEUE: usize = 256;

/// Starts the discovery service on `transport` and returns its handle. The service runs until
/// every handle is dropped or [`Discv4Handle::shutdown`] is called; it begins with a refresh
/// (database seeds and bootnodes, then lookups).
pub fn spawn(
    config: Discv4Config,
    key: SecretKey,
    transport: Arc<dyn DatagramTransport>,
    db: NodeDb,
) -> Result<Discv4Handle, Discv4Error> {
    let walk_lookup_spacing = config.walk_lookup_spacing;
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let started = core::start(config, key, transport, db, command_rx)?;
    Ok(Discv4Handle::new(
        commands,
        started.events,
        started.metrics,
        started.local_id,
        walk_lookup_spacing,
    ))
}

/// Binds a UDP socket for the service: batched receive and a 4 MiB kernel receive buffer
/// (see [`UdpTransport`](crate::transport::UdpTransport)).
pub async fn bind_udp(addr: SocketAddr) -> std::io::Result<Arc<dyn DatagramTransport>> {
    let transport = crate::transport::UdpTransport::bind(addr).await?;
    Ok(Arc::new(transport))
}
