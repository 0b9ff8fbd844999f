//! From a connected byte stream to an authenticated [`RlpxStream`]: the ECIES handshake, then
//! the frame codec keyed with the secrets it derived.

use secp256k1::{PublicKey, SecretKey};
use tokio::io::{AsyncRead, AsyncWrite};

use enode::NodeKey;

use super::{codec::FrameCodec, stream::RlpxStream};
use crate::ecies::{self, HandshakeConfig, HandshakeError, Session};

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
    pub async fn connect(mut self, remote: PublicKey) -> Result<RlpxStream<Io>, HandshakeError> {
        let session = ecies::initiate(&mut self.io, &self.local, remote, &self.config).await?;
        Ok(into_stream(self.io, session))
    }

    /// Runs the recipient side: reads auth, answers with ack.
    pub async fn accept(mut self) -> Result<RlpxStream<Io>, HandshakeError> {
        let session = ecies::respond(&mut self.io, &self.local, &self.config).await?;
        Ok(into_stream(self.io, session))
    }
}

fn into_stream<Io: AsyncRead + AsyncWrite>(io: Io, session: Session) -> RlpxStream<Io> {
    RlpxStream::new(io, FrameCodec::new(session.secrets), session.remote)
}
