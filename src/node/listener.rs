//! The accept loop: like geth's, it waits for a free pending slot before accepting (the
//! kernel's backlog holds the rest), then applies the inbound limits (netrestrict, the per-IP
//! throttle, per-IP and per-subnet pending caps) before any handshake work. Each admitted
//! connection becomes a connection task that holds its permits until its handshake is over.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use tokio::{sync::Semaphore, time::Instant};
use tracing::debug;

use super::{
    connection::{self, ConnContext},
    metrics::NodeMetrics,
};
use crate::net::{BoxedListener, InboundConfig, InboundLimits};

/// Accepts until aborted, or until the listener is gone for good.
pub(crate) async fn accept_loop(
    mut listener: BoxedListener,
    ctx: ConnContext,
    next_conn: Arc<AtomicU64>,
    limits: InboundConfig,
    metrics: Arc<NodeMetrics>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_pending.max(1)));
    let mut limits = InboundLimits::new(limits);
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) if error.kind() == std::io::ErrorKind::NotConnected => {
                // The listener was closed under us (a killed simulated node).
                return;
            }
            Err(error) => {
                // Out of file descriptors and similar: back off instead of spinning.
                debug!(target: "kadnode::node", %error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // try_admit forgets expired throttle entries itself (amortised O(1)).
        let permit = match limits.try_admit(remote.ip(), Instant::now()) {
            Ok(permit) => permit,
            Err(refusal) => {
                debug!(target: "kadnode::node", %remote, %refusal, "inbound connection refused");
                metrics.count_inbound_refused(refusal.label());
                continue;
            }
        };
        let conn = next_conn.fetch_add(1, Ordering::Relaxed);
        let ctx = ctx.clone();
        tokio::spawn(async move {
            connection::accept(ctx, conn, stream, remote).await;
            drop(permit);
            drop(slot);
        });
    }
}
