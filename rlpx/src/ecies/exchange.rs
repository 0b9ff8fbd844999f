//! Running the auth/ack exchange over an async byte stream.
//!
//! [`initiate`] and [`respond`] borrow the stream and leave it positioned right after the
//! last handshake byte, so the caller (the frame layer) can wrap it for the session.

use std::time::Duration;

use secp256k1::PublicKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use enode::NodeKey;

use super::{
    error::HandshakeError,
    handshake::{Initiator, ReceivedAck, ReceivedAuth, Session},
    messages::{LEGACY_ACK_LEN, LEGACY_AUTH_LEN, MAX_HANDSHAKE_BODY},
};

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

/// Runs the initiator side over `io` against `remote` (whose key we know from its enode or
/// ENR): writes auth, reads ack. Reads nothing past the ack.
pub async fn initiate<Io>(
    io: &mut Io,
    local: &NodeKey,
    remote: PublicKey,
    config: &HandshakeConfig,
) -> Result<Session, HandshakeError>
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    with_timeout(config.timeout, async {
        let initiator = Initiator::new(local, remote);
        io.write_all(initiator.auth_message()).await?;
        io.flush().await?;
        let (ack, bytes) = read_message(io, LEGACY_ACK_LEN, |bytes| {
            ReceivedAck::decode(local.secret_key(), bytes)
        })
        .await?;
        Ok(initiator.finish(&ack, &bytes))
    })
    .await
}

/// Runs the recipient side over `io`: reads auth (learning the remote's key from it), writes
/// ack. Reads nothing past the auth.
pub async fn respond<Io>(
    io: &mut Io,
    local: &NodeKey,
    config: &HandshakeConfig,
) -> Result<Session, HandshakeError>
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    with_timeout(config.timeout, async {
        let (auth, _) = read_message(io, LEGACY_AUTH_LEN, |bytes| {
            ReceivedAuth::decode(local.secret_key(), bytes)
        })
        .await?;
        let (ack, session) = auth.respond();
        io.write_all(&ack).await?;
        io.flush().await?;
        Ok(session)
    })
    .await
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
