//! In-memory message streams and a scripted raw peer for the p2p integration tests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use enode::PeerId;
use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use futures::{channel::mpsc, Sink, SinkExt, Stream, StreamExt};
use rlpx::{
    frame::FrameError,
    p2p::{decode_disconnect, Capability, DisconnectReason, Hello, Protocol, SnappyCodec},
};

/// One end of an in-memory RLPx message stream (items = RLP code ‖ payload).
#[derive(Debug)]
pub struct MemStream {
    tx: mpsc::Sender<Bytes>,
    rx: mpsc::Receiver<Bytes>,
}

/// A connected pair; `buffer` frames may be in flight per direction (+1 per sender).
pub fn pair(buffer: usize) -> (MemStream, MemStream) {
    let (a_tx, b_rx) = mpsc::channel(buffer);
    let (b_tx, a_rx) = mpsc::channel(buffer);
    (
        MemStream { tx: a_tx, rx: a_rx },
        MemStream { tx: b_tx, rx: b_rx },
    )
}

fn broken() -> FrameError {
    FrameError::Io(io::Error::new(
        io::ErrorKind::BrokenPipe,
        "in-memory peer gone",
    ))
}

impl Stream for MemStream {
    type Item = Result<BytesMut, FrameError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx
            .poll_next_unpin(cx)
            .map(|item| item.map(|b| Ok(BytesMut::from(&b[..]))))
    }
}

impl Sink<Bytes> for MemStream {
    type Error = FrameError;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.tx.poll_ready(cx).map_err(|_| broken())
    }
    fn start_send(mut self: Pin<&mut Self>, item: Bytes) -> Result<(), FrameError> {
        self.tx.start_send(item).map_err(|_| broken())
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.tx.close_channel();
        Poll::Ready(Ok(()))
    }
}

pub fn id(byte: u8) -> PeerId {
    PeerId([byte; 64])
}

pub fn hello(id: PeerId, caps: &[(&str, u32)]) -> Hello {
    Hello {
        protocol_version: 5,
        client_id: "test/v1".into(),
        capabilities: caps.iter().map(|(n, v)| Capability::new(*n, *v)).collect(),
        listen_port: 0,
        id,
    }
}

pub fn eth_snap() -> Vec<Protocol> {
    vec![Protocol::new("eth", 69, 18), Protocol::new("snap", 1, 8)]
}

pub fn encode_code(code: u64, payload: &[u8]) -> Bytes {
    let mut out = alloy_rlp::encode(code);
    out.extend_from_slice(payload);
    Bytes::from(out)
}

pub fn split_code(frame: &[u8]) -> (u64, Bytes) {
    let mut view = frame;
    let code: u64 = alloy_rlp::Decodable::decode(&mut view).unwrap();
    (code, Bytes::copy_from_slice(view))
}

/// The sending half of a raw peer's link.
pub type RawSink = futures::stream::SplitSink<MemStream, Bytes>;
/// The receiving half of a raw peer's link.
pub type RawStream = futures::stream::SplitStream<MemStream>;

/// A hand-driven peer that speaks raw frames, for checking what is on the wire.
pub struct RawPeer {
    pub stream: MemStream,
    pub snappy: Option<SnappyCodec>,
}

impl RawPeer {
    pub fn new(stream: MemStream) -> Self {
        Self {
            stream,
            snappy: None,
        }
    }

    pub async fn send_raw(&mut self, code: u64, payload: &[u8]) {
        self.stream.send(encode_code(code, payload)).await.unwrap();
    }

    /// Sends, compressing when snappy is on.
    pub async fn send(&mut self, code: u64, payload: &[u8]) {
        let payload = match self.snappy.as_mut() {
            Some(s) => s.compress(payload).unwrap().to_vec(),
            None => payload.to_vec(),
        };
        self.send_raw(code, &payload).await;
    }

    pub async fn send_hello(&mut self, hello: &Hello) {
        self.send_raw(0, &hello.encode()).await;
    }

    /// Next raw frame, `None` at EOF.
    pub async fn recv_raw(&mut self) -> Option<(u64, Bytes)> {
        let frame = self.stream.next().await?.unwrap();
        Some(split_code(&frame))
    }

    /// Next message with the payload decompressed (Disconnect payloads are left raw).
    pub async fn recv(&mut self) -> Option<(u64, Bytes)> {
        let (code, payload) = self.recv_raw().await?;
        if code == 1 {
            return Some((code, payload));
        }
        let payload = match self.snappy.as_mut() {
            Some(s) => s.decompress(&payload).unwrap(),
            None => payload,
        };
        Some((code, payload))
    }

    /// Reads the remote's Hello and switches snappy on like a real peer would.
    pub async fn read_hello(&mut self) -> Hello {
        let (code, payload) = self.recv_raw().await.unwrap();
        assert_eq!(code, 0);
        let hello = Hello::decode(&payload).unwrap();
        if hello.protocol_version >= 5 {
            self.snappy = Some(SnappyCodec::new());
        }
        hello
    }

    /// Reads frames until a Disconnect or EOF; returns the reason if one came.
    pub async fn expect_disconnect(&mut self) -> Option<DisconnectReason> {
        while let Some((code, payload)) = self.recv_raw().await {
            if code == 1 {
                return decode_disconnect(&payload, self.snappy.as_mut());
            }
        }
        None
    }
}
