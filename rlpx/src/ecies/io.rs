//! Running the handshake over an async byte stream.

use std::time::Duration;

use secp256k1::{PublicKey, SecretKey};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use enode::NodeKey;

use super::{
    handshake::{Initiator, ReceivedAck, ReceivedAuth, Session},
    messages::{LEGACY_ACK_LEN, LEGACY_AUTH_LEN, MAX_HANDSHAKE_BODY},
    HandshakeError,
};
use crate::frame::{FrameCodec, RlpxStream};

/// geth's `handshakeTimeout`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Knobs of the handshake.
#[derive(Debug, Clone)]
pub struct HandshakeConfig {
    /// Deadline for the whole auth/ack exchange.
    pub timeout: Duration,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// A connection that has not authenticated yet. [`Self::connect`] (we dialled) or
/// [`Self::accept`] (they dialled) consumes it and returns the authenticated [`RlpxStream`].
pub struct UnauthedRlpx<Io> {
    io: Io,
    local: NodeKey,
    config: HandshakeConfig,
}

impl<Io> std::fmt::Debug for UnauthedRlpx<Io> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnauthedRlpx")
            .field("local", &self.local)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin> UnauthedRlpx<Io> {
    /// Wraps `io` with our static key (derives the public key; prefer
    /// [`Self::with_local_key`] when handling many connections).
    pub fn new(io: Io, secret_key: SecretKey) -> Self {
        Self::with_local_key(io, NodeKey::from(secret_key))
    }

    /// Wraps `io` with our precomputed static key.
    pub fn with_local_key(io: Io, local: NodeKey) -> Self {
        Self {
            io,
            local,
            config: HandshakeConfig::default(),
        }
    }

    /// Replaces the handshake configuration.
    pub fn with_config(mut self, config: HandshakeConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs the initiator side against `remote` (whose key we know from its enode/ENR).
    pub async fn connect(self, remote: PublicKey) -> Result<RlpxStream<Io>, HandshakeError> {
        let Self {
            mut io,
            local,
            config,
        } = self;
        let session = with_timeout(config.timeout, async {
            let initiator = Initiator::new(&local, remote);
            io.write_all(initiator.auth_message()).await?;
            io.flush().await?;
            let ack = read_message(&mut io, LEGACY_ACK_LEN, |bytes| {
                ReceivedAck::decode(local.secret_key(), bytes)
            })
            .await?;
            Ok(initiator.finish(&ack.0, &ack.1))
        })
        .await?;
        Ok(into_stream(io, session))
    }

    /// Runs the recipient side: reads auth, answers with ack.
    pub async fn accept(self) -> Result<RlpxStream<Io>, HandshakeError> {
        let Self {
            mut io,
            local,
            config,
        } = self;
        let session = with_timeout(config.timeout, async {
            let (auth, _) = read_message(&mut io, LEGACY_AUTH_LEN, |bytes| {
                ReceivedAuth::decode(local.secret_key(), bytes)
            })
            .await?;
            let (ack, session) = auth.respond();
            io.write_all(&ack).await?;
            io.flush().await?;
            Ok(session)
        })
        .await?;
        Ok(into_stream(io, session))
    }
}

/// Runs the initiator side of a handshake over `io` with default settings.
pub async fn handshake_initiator<Io: AsyncRead + AsyncWrite + Unpin>(
    io: Io,
    local: NodeKey,
    remote: PublicKey,
) -> Result<RlpxStream<Io>, HandshakeError> {
    UnauthedRlpx::with_local_key(io, local)
        .connect(remote)
        .await
}

/// Runs the recipient side of a handshake over `io` with default settings.
pub async fn handshake_recipient<Io: AsyncRead + AsyncWrite + Unpin>(
    io: Io,
    local: NodeKey,
) -> Result<RlpxStream<Io>, HandshakeError> {
    UnauthedRlpx::with_local_key(io, local).accept().await
}

fn into_stream<Io: AsyncRead + AsyncWrite>(io: Io, session: Session) -> RlpxStream<Io> {
    RlpxStream::new(io, FrameCodec::new(session.secrets), session.remote)
}

async fn with_timeout<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, HandshakeError>>,
) -> Result<T, HandshakeError> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| HandshakeError::Timeout(timeout))?
}

/// Reads exactly one handshake message (never past its end, so no frame bytes are lost) and
/// decodes it with `decode`, returning the decoded value and the message bytes.
///
/// A message starting with 0x04 may be legacy: its fixed length is read and tried first; if
/// its `R` is not a curve point, the first two bytes are taken as an EIP-8 size prefix and
/// reading continues.
async fn read_message<Io, T>(
    io: &mut Io,
    legacy_len: usize,
    decode: impl Fn(&[u8]) -> Result<T, HandshakeError>,
) -> Result<(T, Vec<u8>), HandshakeError>
where
    Io: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; 2];
    io.read_exact(&mut buf).await?;
    if buf[0] == 0x04 {
        buf.resize(legacy_len, 0);
        io.read_exact(&mut buf[2..]).await?;
        match decode(&buf) {
            Ok(value) => return Ok((value, buf)),
            // `R` is no curve point: these bytes are an EIP-8 prefix of 1024..=1279 after all.
            Err(HandshakeError::InvalidEphemeralPoint) => {}
            // A valid point with a bad tag or body really is a (broken) legacy message; fail
            // now instead of waiting for bytes a legacy peer will never send.
            Err(err) => return Err(err),
        }
    }
    let size = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
    if size > MAX_HANDSHAKE_BODY {
        return Err(HandshakeError::MessageTooLarge {
            size: size + 2,
            max: MAX_HANDSHAKE_BODY + 2,
        });
    }
    let have = buf.len();
    if have > size + 2 {
        // Only reachable after a failed legacy attempt whose prefix is too small to be EIP-8.
        return Err(decode(&buf)
            .err()
            .unwrap_or(HandshakeError::Truncated(have)));
    }
    buf.resize(size + 2, 0);
    io.read_exact(&mut buf[have..]).await?;
    let value = decode(&buf)?;
    Ok((value, buf))
}
