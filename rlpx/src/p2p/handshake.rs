//! The Hello exchange ([`UnauthedP2p`]): both Hellos, the identity check, capability
//! negotiation, then the running session ([`P2pConnection`]).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Sink, SinkExt, Stream, StreamExt};

use enode::PeerId;

use super::{
    capability::{Protocol, SharedCapabilities},
    codec::{message_id, split_message, MessageCodec},
    disconnect::{decode_disconnect, DisconnectReason},
    error::P2pError,
    hello::{Hello, MAX_HELLO_SIZE, P2P_PROTOCOL_VERSION},
    mux::P2pConnection,
    transport::{drain_until_closed, send_disconnect_and_close, MessageStream},
};
use crate::frame::{encode_message, FrameError};

/// Deadline for the whole Hello exchange (geth's `handshakeTimeout`).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

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
                if their.protocol_version >= P2P_PROTOCOL_VERSION {
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
