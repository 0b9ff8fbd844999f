//! The Hello exchange ([`UnauthedP2p`]) and the per-connection message codec.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Sink, SinkExt, Stream, StreamExt};

use enode::PeerId;

use crate::frame::{decode_message_code, encode_message, FrameError};

use super::{
    capability::{Protocol, SharedCapabilities},
    disconnect::{decode_disconnect, encode_disconnect, DisconnectReason},
    error::P2pError,
    hello::Hello,
    message_id,
    mux::P2pConnection,
    snappy::{SnappyCodec, MAX_MESSAGE_SIZE},
    MessageStream, MAX_HELLO_SIZE,
};

/// Deadline for the whole Hello exchange (geth's `handshakeTimeout`).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Deadline for writing a Disconnect before the connection is closed (geth's `discWriteTimeout`).
pub const DISCONNECT_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Turns messages into frames and back: code prefix, and snappy once it is switched on.
#[derive(Debug, Default)]
pub(crate) struct MessageCodec {
    snappy: Option<SnappyCodec>,
}

impl MessageCodec {
    pub(crate) fn enable_snappy(&mut self) {
        self.snappy = Some(SnappyCodec::new());
    }

    /// Encodes one message into a frame body, compressing the payload if snappy is on.
    pub(crate) fn encode(&mut self, code: u64, payload: &[u8]) -> Result<Bytes, P2pError> {
        let frame = match self.snappy.as_mut() {
            Some(snappy) => encode_message(code, &snappy.compress(payload)?),
            None => {
                if payload.len() > MAX_MESSAGE_SIZE {
                    return Err(P2pError::MessageTooLarge {
                        size: payload.len(),
                    });
                }
                encode_message(code, payload)
            }
        };
        if frame.len() > MAX_MESSAGE_SIZE {
            return Err(P2pError::MessageTooLarge { size: frame.len() });
        }
        Ok(frame)
    }

    /// Decompresses a payload if snappy is on.
    pub(crate) fn decode_payload(&mut self, payload: BytesMut) -> Result<Bytes, P2pError> {
        match self.snappy.as_mut() {
            Some(snappy) => snappy.decompress(&payload),
            None => Ok(payload.freeze()),
        }
    }

    /// Decodes a Disconnect payload in any of its forms (see [`decode_disconnect`]).
    pub(crate) fn decode_disconnect(&mut self, payload: &[u8]) -> DisconnectReason {
        decode_disconnect(payload, self.snappy.as_mut()).unwrap_or(DisconnectReason::UNDECODABLE)
    }
}

/// Splits one frame's content into its message code and payload (the frame layer's code
/// prefix, kept as `BytesMut` so the payload is not copied).
pub(crate) fn split_message(mut frame: BytesMut) -> Result<(u64, BytesMut), P2pError> {
    let (code, payload_len) =
        decode_message_code(&frame).map(|(code, payload)| (code, payload.len()))?;
    let payload = frame.split_off(frame.len() - payload_len);
    Ok((code, payload))
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

/// An authenticated RLPx message stream before the Hellos are exchanged.
#[derive(Debug)]
pub struct UnauthedP2p<S> {
    stream: S,
}

impl<S: MessageStream> UnauthedP2p<S> {
    /// Wraps an authenticated RLPx stream (one item per frame: RLP code ‖ payload).
    pub fn new(stream: S) -> Self {
        Self { stream }
    }

    /// Exchanges Hellos (both written and read at once), checks the remote's, negotiates
    /// capabilities and starts the session task; uses [`HELLO_TIMEOUT`].
    ///
    /// `expected_remote_id` is the key the RLPx handshake proved; the Hello must carry it.
    /// Must be called inside a tokio runtime. On failure with a reason worth telling the
    /// remote (bad identity, useless peer, malformed Hello) a Disconnect is sent first.
    pub async fn handshake(
        self,
        our_hello: Hello,
        expected_remote_id: PeerId,
        local_protocols: Vec<Protocol>,
    ) -> Result<(P2pConnection, Hello, SharedCapabilities), P2pError> {
        self.handshake_with_timeout(
            our_hello,
            expected_remote_id,
            local_protocols,
            HELLO_TIMEOUT,
        )
        .await
    }

    /// [`Self::handshake`] with a custom deadline for the Hello exchange.
    pub async fn handshake_with_timeout(
        self,
        our_hello: Hello,
        expected_remote_id: PeerId,
        local_protocols: Vec<Protocol>,
        timeout: Duration,
    ) -> Result<(P2pConnection, Hello, SharedCapabilities), P2pError> {
        let (mut sink, mut stream) = self.stream.split();
        let mut codec = MessageCodec::default();

        let exchanged =
            tokio::time::timeout(timeout, exchange_hellos(&mut sink, &mut stream, &our_hello))
                .await;
        let result = match exchanged {
            Err(_) => Err(P2pError::HelloTimeout(timeout)),
            Ok(Err(e)) => Err(e),
            Ok(Ok(their)) => {
                // Like geth, snappy starts only once a well-formed Hello was read, so the
                // Disconnect for a malformed one goes out uncompressed.
                if their.protocol_version >= super::P2P_PROTOCOL_VERSION {
                    codec.enable_snappy();
                }
                check_hello(&their, &expected_remote_id, &local_protocols)
                    .map(|shared| (their, shared))
            }
        };
        match result {
            Ok((their, shared)) => {
                let connection = P2pConnection::spawn(sink, stream, codec, shared.clone());
                Ok((connection, their, shared))
            }
            Err(err) => {
                let reason = err
                    .sends_disconnect()
                    .then(|| err.disconnect_reason())
                    .flatten();
                send_disconnect_and_close(&mut sink, &mut codec, reason).await;
                if reason.is_some() {
                    drain_until_closed(&mut stream).await;
                }
                Err(err)
            }
        }
    }
}

/// Writes our Hello while reading theirs. A read error (including a received Disconnect)
/// takes precedence over a failed write, since it says more about why.
async fn exchange_hellos<K, R>(
    sink: &mut K,
    stream: &mut R,
    our_hello: &Hello,
) -> Result<Hello, P2pError>
where
    K: Sink<Bytes, Error = FrameError> + Unpin,
    R: Stream<Item = Result<BytesMut, FrameError>> + Unpin,
{
    let frame = encode_message(message_id::HELLO, &our_hello.encode());
    let write = sink.send(frame);
    let read = read_hello(stream);
    tokio::pin!(write, read);
    let mut write_result = None;
    let their = loop {
        tokio::select! {
            hello = &mut read => break hello,
            written = &mut write, if write_result.is_none() => write_result = Some(written),
        }
    };
    // Like geth, let our Hello finish even when theirs was bad, so a Disconnect we send next
    // follows it (the caller's deadline bounds the wait).
    let written = match write_result {
        Some(result) => result,
        None => write.await,
    };
    let their = their?;
    written?;
    Ok(their)
}

async fn read_hello<R>(stream: &mut R) -> Result<Hello, P2pError>
where
    R: Stream<Item = Result<BytesMut, FrameError>> + Unpin,
{
    let frame = stream.next().await.ok_or(P2pError::ConnectionClosed)??;
    let (code, payload) = split_message(frame)?;
    match code {
        message_id::HELLO => {
            if payload.len() > MAX_HELLO_SIZE {
                return Err(P2pError::HelloTooLarge {
                    size: payload.len(),
                });
            }
            Hello::decode(&payload)
        }
        message_id::DISCONNECT => Err(P2pError::Disconnected(
            decode_disconnect(&payload, None).unwrap_or(DisconnectReason::UNDECODABLE),
        )),
        other => Err(P2pError::UnexpectedHandshakeMessage(other)),
    }
}

fn check_hello(
    their: &Hello,
    expected_remote_id: &PeerId,
    local_protocols: &[Protocol],
) -> Result<SharedCapabilities, P2pError> {
    if their.id != *expected_remote_id {
        return Err(P2pError::UnexpectedIdentity {
            expected: expected_remote_id.to_string(),
            got: their.id.to_string(),
        });
    }
    let shared = SharedCapabilities::negotiate(local_protocols, &their.capabilities);
    if shared.is_empty() && !local_protocols.is_empty() {
        let remote: Vec<String> = their.capabilities.iter().map(ToString::to_string).collect();
        return Err(P2pError::UselessPeer {
            remote: remote.join(", "),
        });
    }
    Ok(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_message_keeps_code_and_payload() {
        for code in [0u64, 1, 0x0f, 0x7f, 0x80, 0x1234, u64::MAX] {
            let frame = BytesMut::from(&encode_message(code, b"payload")[..]);
            let (c, p) = split_message(frame).unwrap();
            assert_eq!((c, &p[..]), (code, &b"payload"[..]));
        }
        let (c, p) = split_message(BytesMut::from(&[0x80u8][..])).unwrap();
        assert_eq!((c, p.len()), (0, 0));
    }

    #[test]
    fn split_message_rejects_bad_prefixes() {
        for bad in [
            &[][..],
            &[0xc0],
            &[0x00],
            &[0x81, 0x05],
            &[0x82, 0x00, 0x01],
        ] {
            let err = split_message(BytesMut::from(bad)).unwrap_err();
            assert!(
                matches!(err, P2pError::Frame(FrameError::InvalidMessageCode(_))),
                "{bad:02x?}: {err}"
            );
        }
    }
}
