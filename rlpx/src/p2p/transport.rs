//! What the p2p layer runs over ([`MessageStream`]), and the one way every Disconnect leaves:
//! write it with a deadline, close, then drain until the peer closes too.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Sink, SinkExt, Stream, StreamExt};

use super::{
    codec::{message_id, MessageCodec},
    disconnect::{encode_disconnect, DisconnectReason},
};
use crate::frame::FrameError;

/// Deadline for writing a Disconnect before the connection is closed (geth's `discWriteTimeout`).
pub const DISCONNECT_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// A running session whose writes make no progress for this long ends
/// ([`super::P2pError::WriteTimeout`]), as geth's `frameWriteTimeout`: a peer that does not
/// read cannot hold the connection, or what is queued for it, forever.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

/// What this layer runs over: an authenticated RLPx stream ([`crate::frame::RlpxStream`], or
/// an in-memory stand-in in tests) with one item per frame, carrying the RLP-encoded message
/// code followed by the payload, and failing with the frame layer's typed error.
pub trait MessageStream:
    Stream<Item = Result<BytesMut, FrameError>>
    + Sink<Bytes, Error = FrameError>
    + Unpin
    + Send
    + 'static
{
}

impl<S> MessageStream for S where
    S: Stream<Item = Result<BytesMut, FrameError>>
        + Sink<Bytes, Error = FrameError>
        + Unpin
        + Send
        + 'static
{
}

/// Writes a Disconnect and closes the sink, giving up after [`DISCONNECT_WRITE_TIMEOUT`].
/// Failures are ignored: the connection is going away either way.
pub(crate) async fn send_disconnect_and_close<K>(
    sink: &mut K,
    codec: &mut MessageCodec,
    reason: Option<DisconnectReason>,
) where
    K: Sink<Bytes, Error = FrameError> + Unpin,
{
    let frame = reason.and_then(|r| {
        codec
            .encode(message_id::DISCONNECT, &encode_disconnect(r))
            .ok()
    });
    let _ = tokio::time::timeout(DISCONNECT_WRITE_TIMEOUT, async {
        if let Some(frame) = frame {
            sink.send(frame).await?;
        }
        sink.close().await
    })
    .await;
}

/// After we sent a Disconnect: reads and discards until the peer closes, for at most
/// [`DISCONNECT_WRITE_TIMEOUT`]. The peer may still be sending (its Hello, a Status, a ping);
/// closing the socket with that data unread makes the kernel reset the connection, and a
/// reset can destroy our Disconnect in the peer's receive buffer before it reads it.
pub(crate) async fn drain_until_closed<St>(stream: &mut St)
where
    St: Stream<Item = Result<BytesMut, FrameError>> + Unpin,
{
    let _ = tokio::time::timeout(DISCONNECT_WRITE_TIMEOUT, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}
