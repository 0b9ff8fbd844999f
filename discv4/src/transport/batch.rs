//! A batch of received datagrams: the buffers one batched receive (`recvmmsg`) fills, and the
//! datagrams in them.

use std::net::SocketAddr;

/// Bytes per receive buffer. Large enough for a whole GRO super-datagram (the kernel caps those
/// at 64 KiB), which a smaller buffer would truncate, losing datagrams. The buffers are
/// allocated zeroed, so pages no datagram touched cost address space, not memory.
pub(crate) const BUFFER_LEN: usize = 64 * 1024;

/// One filled buffer: `len` bytes from `src`, holding datagrams of `stride` bytes each (the last
/// one possibly shorter); `stride == len` for a single datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Filled {
    pub(crate) len: usize,
    pub(crate) stride: usize,
    pub(crate) src: SocketAddr,
}

impl Filled {
    /// Datagrams in the buffer (an empty datagram is one too).
    fn count(&self) -> usize {
        self.len.div_ceil(self.stride.max(1)).max(1)
    }
}

/// Buffers for one batched receive and what it put in them.
///
/// Reused from one receive to the next; [`datagrams`](Self::datagrams) yields each datagram
/// with its sender, in arrival order.
#[derive(Debug)]
pub struct RecvBatch {
    pub(crate) buffers: Vec<Vec<u8>>,
    /// `filled[i]` describes `buffers[i]`.
    pub(crate) filled: Vec<Filled>,
}

impl RecvBatch {
    /// Room for `buffers` receive buffers (at least one) of 64 KiB each.
    pub fn new(buffers: usize) -> Self {
        Self::with_buffer_len(buffers, BUFFER_LEN)
    }

    /// Room for `buffers` receive buffers (at least one) of `len` bytes each (at least one
    /// byte); a longer datagram is cut to `len` bytes.
    pub fn with_buffer_len(buffers: usize, len: usize) -> Self {
        Self {
            buffers: (0..buffers.max(1)).map(|_| vec![0u8; len.max(1)]).collect(),
            filled: Vec::with_capacity(buffers.max(1)),
        }
    }

    /// The datagrams of the last receive with their senders, in arrival order.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
        self.filled
            .iter()
            .zip(&self.buffers)
            .flat_map(|(filled, buffer)| {
                let bytes = buffer.get(..filled.len).unwrap_or_default();
                let stride = filled.stride.max(1);
                (0..filled.count()).map(move |i| {
                    let start = (i * stride).min(bytes.len());
                    let end = (start + stride).min(bytes.len());
                    (bytes.get(start..end).unwrap_or_default(), filled.src)
                })
            })
    }

    /// Number of datagrams of the last receive.
    pub fn len(&self) -> usize {
        self.filled.iter().map(Filled::count).sum()
    }

    /// True when the last receive brought nothing.
    pub fn is_empty(&self) -> bool {
        self.filled.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gro_buffers_split_at_the_stride_and_keep_order() {
        let src: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let other: SocketAddr = "127.0.0.2:2".parse().unwrap();
        let mut batch = RecvBatch::new(2);
        batch.buffers[0][..5].copy_from_slice(b"aabbc");
        batch.buffers[1][..3].copy_from_slice(b"xyz");
        batch.filled = vec![
            Filled {
                len: 5,
                stride: 2,
                src,
            },
            Filled {
                len: 3,
                stride: 3,
                src: other,
            },
        ];
        let got: Vec<_> = batch.datagrams().collect();
        assert_eq!(
            got,
            vec![
                (&b"aa"[..], src),
                (&b"bb"[..], src),
                (&b"c"[..], src),
                (&b"xyz"[..], other)
            ]
        );
        assert_eq!(batch.len(), 4);
    }

    #[test]
    fn an_empty_datagram_is_still_a_datagram() {
        let src: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut batch = RecvBatch::new(1);
        batch.filled = vec![Filled {
            len: 0,
            stride: 0,
            src,
        }];
        assert_eq!(batch.datagrams().count(), 1);
        assert_eq!(batch.len(), 1);
    }
}
