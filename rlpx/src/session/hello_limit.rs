//! Caps the first incoming frame at the Hello limit, so a peer that has only passed the ECIES
//! handshake cannot make us buffer a 16 MiB frame per pending connection.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use futures::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{
    frame::{FrameError, RlpxStream, MAX_FRAME_SIZE},
    p2p::MAX_HELLO_SIZE,
};

/// Largest first frame: a Hello payload of [`MAX_HELLO_SIZE`] plus its message code (one
/// byte; a little slack so that an oversize Hello still reaches the p2p layer's own check).
pub(crate) const FIRST_FRAME_LIMIT: usize = MAX_HELLO_SIZE + 16;

/// An [`RlpxStream`] whose first frame (Hello or Disconnect) is limited to
/// [`FIRST_FRAME_LIMIT`]; later frames get the full [`MAX_FRAME_SIZE`].
#[derive(Debug)]
pub(crate) struct HelloFrameLimit<Io> {
    inner: RlpxStream<Io>,
    limited: bool,
}

impl<Io: AsyncRead + AsyncWrite> HelloFrameLimit<Io> {
    pub(crate) fn new(mut inner: RlpxStream<Io>) -> Self {
        inner.set_max_frame_size(FIRST_FRAME_LIMIT);
        Self {
            inner,
            limited: true,
        }
    }
}

impl<Io: AsyncRead + Unpin> Stream for HelloFrameLimit<Io> {
    type Item = Result<BytesMut, FrameError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = Pin::new(&mut self.inner).poll_next(cx);
        // The limit only guards the first frame; the codec checks it when it reads the next
        // header, which happens on a later poll.
        if self.limited && matches!(item, Poll::Ready(Some(Ok(_)))) {
            self.limited = false;
            self.inner.set_max_frame_size(MAX_FRAME_SIZE);
        }
        item
    }
}

impl<Io: AsyncWrite + Unpin> Sink<Bytes> for HelloFrameLimit<Io> {
    type Error = FrameError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Bytes) -> Result<(), FrameError> {
        Pin::new(&mut self.inner).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
