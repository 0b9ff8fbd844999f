//! The authenticated RLPx stream: frames in, frames out, bound to the remote's proven key.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use futures::{Sink, Stream};
use secp256k1::PublicKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use super::{codec::FrameCodec, error::FrameError};
use enode::PeerId;

/// An RLPx session after a successful handshake.
///
/// As a [`Stream`] it yields each received frame's content (`RLP(message code) || payload`);
/// as a [`Sink`] it takes frame contents to send. Both report failures as [`FrameError`]
/// (transport errors as [`FrameError::Io`]); after any error but `Io` and `MessageTooLarge`
/// the stream is unusable.
pub struct RlpxStream<Io> {
    framed: Framed<Io, FrameCodec>,
    remote: PublicKey,
    remote_id: PeerId,
}

impl<Io> std::fmt::Debug for RlpxStream<Io> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RlpxStream")
            .field("remote_id", &self.remote_id)
            .finish_non_exhaustive()
    }
}

impl<Io: AsyncRead + AsyncWrite> RlpxStream<Io> {
    /// Wraps `io` (positioned right after the handshake) with the session's codec.
    pub fn new(io: Io, codec: FrameCodec, remote: PublicKey) -> Self {
        Self {
            framed: Framed::new(io, codec),
            remote,
            remote_id: PeerId::from_public_key(&remote),
        }
    }
}

impl<Io> RlpxStream<Io> {
    /// The remote's static public key, proven by the handshake.
    pub fn remote_public_key(&self) -> PublicKey {
        self.remote
    }

    /// The remote's 64-byte node id (its public key without the 0x04 prefix).
    pub fn remote_id(&self) -> PeerId {
        self.remote_id
    }

    /// The underlying transport.
    pub fn get_ref(&self) -> &Io {
        self.framed.get_ref()
    }

    /// Lowers the largest accepted incoming frame (e.g. 2 KiB while waiting for Hello).
    pub fn set_max_frame_size(&mut self, max: usize) {
        self.framed.codec_mut().set_max_frame_size(max);
    }

    /// Lowers the limit for the next incoming frame only (e.g. 2 KiB for the Hello): its
    /// header is refused if it announces more, before its body is read.
    pub fn limit_next_frame(&mut self, max: usize) {
        self.framed.codec_mut().limit_next_frame(max);
    }

    /// The largest accepted incoming frame.
    pub fn max_frame_size(&self) -> usize {
        self.framed.codec().max_frame_size()
    }
}

impl<Io: AsyncRead + Unpin> Stream for RlpxStream<Io> {
    type Item = Result<BytesMut, FrameError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.framed).poll_next(cx)
    }
}

impl<Io: AsyncWrite + Unpin> Sink<Bytes> for RlpxStream<Io> {
    type Error = FrameError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Pin::new(&mut self.framed).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Bytes) -> Result<(), FrameError> {
        Pin::new(&mut self.framed).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Pin::new(&mut self.framed).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Pin::new(&mut self.framed).poll_close(cx)
    }
}
