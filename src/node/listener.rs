//! The TCP accept loop: every accepted connection becomes a connection task, within the cap
//! on concurrent inbound handshakes; past it, connections are closed at once.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use tokio::{net::TcpListener, sync::Semaphore};
use tracing::debug;

use super::connection::{self, ConnContext};

/// Accepts until aborted.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    ctx: ConnContext,
    next_conn: Arc<AtomicU64>,
    max_pending: usize,
) {
    let pending = Arc::new(Semaphore::new(max_pending));
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and similar: back off instead of spinning.
                debug!(target: "kadnode::node", %error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&pending).try_acquire_owned() else {
            debug!(target: "kadnode::node", %remote, "too many pending handshakes, closing");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let conn = next_conn.fetch_add(1, Ordering::Relaxed);
        let ctx = ctx.clone();
        tokio::spawn(async move {
            connection::accept(ctx, conn, tcp, remote).await;
            drop(permit);
        });
    }
}
