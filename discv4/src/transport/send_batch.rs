//! A batch of datagrams to send: what one batched send (`sendmmsg`) hands the kernel.

use std::{io, net::SocketAddr, ops::Range};

/// Datagrams queued for one batched send, each with its destination, in order.
///
/// Reused from one batch to the next: [`clear`](Self::clear) keeps the allocations.
#[derive(Debug, Default)]
pub struct SendBatch {
    bytes: Vec<u8>,
    datagrams: Vec<(Range<usize>, SocketAddr)>,
}

impl SendBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `datagram` for `to`.
    pub fn push(&mut self, datagram: &[u8], to: SocketAddr) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.datagrams.push((start..self.bytes.len(), to));
    }

    /// Datagrams queued.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Forgets every datagram, keeping the allocations.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.datagrams.clear();
    }

    /// The queued datagrams with their destinations, in the order they were pushed.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
        self.datagrams
            .iter()
            .map(|(range, to)| (self.bytes.get(range.clone()).unwrap_or_default(), *to))
    }
}

/// What a batched send did.
#[derive(Debug, Default)]
pub struct SendReport {
    /// Datagrams the kernel accepted.
    pub sent: usize,
    /// Datagrams it refused, by their index in the batch, with the error (an unreachable
    /// network, a closed socket…); the rest of the batch was still sent.
    pub failed: Vec<(usize, io::Error)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_come_back_in_order_with_their_destinations() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "[::1]:2".parse().unwrap();
        let mut batch = SendBatch::new();
        batch.push(b"one", a);
        batch.push(b"", b);
        batch.push(b"three", a);
        let got: Vec<_> = batch.datagrams().collect();
        assert_eq!(
            got,
            vec![(&b"one"[..], a), (&b""[..], b), (&b"three"[..], a)]
        );
        assert_eq!(batch.len(), 3);
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.datagrams().count(), 0);
    }
}
