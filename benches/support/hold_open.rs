//! A protocol that holds its capability open: it reads and drops every message until the
//! session ends. Shared by the node benchmarks.

use kadnode::{PeerInfo, Protocol, ProtocolConn, ProtocolFuture, ProtocolSpec};

/// `kadtest/1`, held open.
pub(crate) struct HoldOpen;

impl Protocol for HoldOpen {
    fn spec(&self) -> ProtocolSpec {
        ProtocolSpec::new("kadtest", 1, 2)
    }

    fn run(&self, _peer: PeerInfo, mut conn: ProtocolConn) -> ProtocolFuture {
        Box::pin(async move {
            loop {
                conn.recv().await?;
            }
        })
    }
}
