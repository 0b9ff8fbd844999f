//! Errors of the p2p layer and the report of why a session ended.

use std::{fmt, sync::Arc};

use super::{disconnect::DisconnectReason, ping::IDLE_TIMEOUT, snappy::SnappyError};
use crate::{
    frame::FrameError,
    verdict::{HasVerdict, Verdict},
};

/// Everything that can go wrong in the p2p layer.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// The frame layer failed: the transport ([`FrameError::Io`]), a MAC, an oversize frame,
    /// or a frame whose content does not start with a message code.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The transport ended (EOF) where a message was expected.
    #[error("connection closed by the remote without a Disconnect")]
    ConnectionClosed,
    /// The Hello exchange did not finish in time.
    #[error("Hello exchange timed out after {0:?}")]
    HelloTimeout(std::time::Duration),
    /// The remote sent a Disconnect (during the handshake or later).
    #[error("remote disconnected: {0}")]
    Disconnected(DisconnectReason),
    /// The first message was neither Hello nor Disconnect.
    #[error("expected Hello (0x00) as the first message, got code {0:#x}")]
    UnexpectedHandshakeMessage(u64),
    /// The Hello is larger than 2 KiB.
    #[error("Hello of {size} bytes exceeds the 2048-byte limit")]
    HelloTooLarge {
        /// Payload size received.
        size: usize,
    },
    /// The Hello could not be decoded.
    #[error("malformed Hello: {0}")]
    InvalidHello(String),
    /// The Hello's node id is not 64 bytes or is all zeros.
    #[error("Hello carries a null or malformed node id")]
    InvalidIdentity,
    /// The Hello's node id differs from the key proven in the RLPx handshake.
    #[error("Hello node id {got} does not match the handshake key {expected}")]
    UnexpectedIdentity {
        /// Hex of the key proven by the RLPx handshake.
        expected: String,
        /// Hex of the id in the Hello.
        got: String,
    },
    /// We run protocols but the remote shares none of them.
    #[error("no shared capability (remote offers: {remote})")]
    UselessPeer {
        /// The remote's capabilities, for the log.
        remote: String,
    },
    /// A message to send exceeds 2^24 − 1 bytes (plain, compressed, or with its code).
    #[error("message of {size} bytes to send exceeds the 16 MiB limit")]
    MessageTooLarge {
        /// Offending size.
        size: usize,
    },
    /// A received payload does not decompress: malformed snappy, or a header announcing more
    /// than 16 MiB (refused before anything is allocated; geth drops such a peer).
    #[error("received payload: {0}")]
    Snappy(#[from] SnappyError),
    /// The remote sent a message id outside the base protocol and every shared capability.
    #[error("remote sent message code {0:#x}, outside every negotiated capability")]
    UnknownMessageCode(u64),
    /// A protocol tried to send a code outside its range.
    #[error("invalid message code {code} for {capability} (it has {length} message ids)")]
    InvalidMessageCode {
        /// The relative code passed to `send`.
        code: u64,
        /// Name/version of the capability.
        capability: String,
        /// The capability's number of message ids.
        length: u64,
    },
    /// No message arrived for the idle timeout (30 s).
    #[error("no message from the remote for {0:?}")]
    Timeout(std::time::Duration),
    /// Our writes made no progress for this long: the remote does not read.
    #[error("the remote read nothing we wrote for {0:?}")]
    WriteTimeout(std::time::Duration),
    /// The session has ended; the cause is attached.
    #[error("session closed: {0}")]
    SessionClosed(SessionEnd),
}

impl P2pError {
    /// The disconnect reason that describes this error: the remote's reason for
    /// [`P2pError::Disconnected`], otherwise the reason we send (or, for network-type failures
    /// where nothing is sent, [`DisconnectReason::NetworkError`]).
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        use DisconnectReason as R;
        Some(match self {
            Self::Frame(FrameError::InvalidMessageCode(_)) => R::ProtocolBreach,
            Self::Frame(_)
            | Self::ConnectionClosed
            | Self::UnknownMessageCode(_)
            | Self::WriteTimeout(_) => R::NetworkError,
            Self::HelloTimeout(_) | Self::Timeout(_) => R::PingTimeout,
            Self::Disconnected(r) => *r,
            Self::UnexpectedHandshakeMessage(_)
            | Self::HelloTooLarge { .. }
            | Self::InvalidHello(_)
            | Self::MessageTooLarge { .. }
            | Self::Snappy(_)
            | Self::InvalidMessageCode { .. } => R::ProtocolBreach,
            Self::InvalidIdentity => R::InvalidIdentity,
            Self::UnexpectedIdentity { .. } => R::UnexpectedIdentity,
            Self::UselessPeer { .. } => R::UselessPeer,
            Self::SessionClosed(end) => return Some(end.disconnect_reason()),
        })
    }

    /// The remote's reason if this error is (or wraps) a Disconnect received from the peer.
    pub fn remote_disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            Self::Disconnected(r) => Some(*r),
            Self::SessionClosed(SessionEnd::Remote(r)) => Some(*r),
            _ => None,
        }
    }

    /// Whether we should tell the remote why with a Disconnect before closing. Like geth, we
    /// don't for transport and frame failures (a broken MAC or an oversize frame leaves no
    /// usable stream), unknown inbound codes, or when the remote already said goodbye.
    pub(crate) fn sends_disconnect(&self) -> bool {
        match self {
            Self::Frame(FrameError::InvalidMessageCode(_)) => true,
            Self::Frame(_)
            | Self::ConnectionClosed
            | Self::HelloTimeout(_)
            | Self::Disconnected(_)
            | Self::UnknownMessageCode(_)
            | Self::WriteTimeout(_)
            | Self::SessionClosed(_) => false,
            Self::UnexpectedHandshakeMessage(_)
            | Self::HelloTooLarge { .. }
            | Self::InvalidHello(_)
            | Self::InvalidIdentity
            | Self::UnexpectedIdentity { .. }
            | Self::UselessPeer { .. }
            | Self::MessageTooLarge { .. }
            | Self::Snappy(_)
            | Self::InvalidMessageCode { .. }
            | Self::Timeout(_) => true,
        }
    }
}

/// Why a running session ended; reported to every handle and by [`super::P2pConnection::closed`].
#[derive(Debug, Clone)]
pub enum SessionEnd {
    /// The remote sent a Disconnect with this reason.
    Remote(DisconnectReason),
    /// We ended it with this reason (an explicit `disconnect`, or every handle dropped:
    /// [`DisconnectReason::ClientQuitting`]).
    Local(DisconnectReason),
    /// Nothing arrived for 30 s; we sent Disconnect(0x0b).
    Timeout,
    /// The transport or the remote failed; the error says how.
    Error(Arc<P2pError>),
}

impl SessionEnd {
    /// The disconnect reason describing the end (sent or received).
    pub fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::Remote(r) | Self::Local(r) => *r,
            Self::Timeout => DisconnectReason::PingTimeout,
            Self::Error(e) => e
                .disconnect_reason()
                .unwrap_or(DisconnectReason::NetworkError),
        }
    }

    /// True if the remote asked for the end.
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Remote(_))
    }
}

impl HasVerdict for P2pError {
    /// The frame layer's verdict for frame errors; the remote's reason for a Disconnect it
    /// sent; misbehaviour for anything a correct peer never sends (a bad or oversize Hello, a
    /// wrong first message, an unknown code, a payload that does not decompress); an
    /// impostor for a Hello whose id is missing or differs from the key proven in the
    /// handshake; our own mistakes (a code or size a local protocol got wrong) say nothing.
    fn verdict(&self) -> Verdict {
        match self {
            Self::Frame(err) => err.verdict(),
            Self::ConnectionClosed
            | Self::InvalidMessageCode { .. }
            | Self::MessageTooLarge { .. } => Verdict::Transient,
            Self::HelloTimeout(_) | Self::Timeout(_) | Self::WriteTimeout(_) => Verdict::Timeout,
            Self::Disconnected(reason) => received_reason_verdict(*reason),
            Self::UnexpectedHandshakeMessage(_)
            | Self::HelloTooLarge { .. }
            | Self::InvalidHello(_)
            | Self::Snappy(_)
            | Self::UnknownMessageCode(_) => Verdict::Misbehaved,
            Self::InvalidIdentity | Self::UnexpectedIdentity { .. } => Verdict::Impostor,
            Self::UselessPeer { .. } => Verdict::Incompatible,
            Self::SessionClosed(end) => end.verdict(),
        }
    }
}

impl HasVerdict for SessionEnd {
    /// What the remote's Disconnect says (see [`P2pError::Disconnected`]), a timeout, the
    /// error's verdict, or — for an end we chose — nothing against the peer: whatever made us
    /// disconnect (a protocol's run loop, a server's limit) carries its own verdict.
    fn verdict(&self) -> Verdict {
        match self {
            Self::Remote(reason) => received_reason_verdict(*reason),
            Self::Local(_) => Verdict::Transient,
            Self::Timeout => Verdict::Timeout,
            Self::Error(err) => err.verdict(),
        }
    }
}

/// What a Disconnect reason says about the peer that sent it: busy, incompatible with us
/// (including "you are not who I expected"), complaining that we broke the protocol, or
/// just leaving.
fn received_reason_verdict(reason: DisconnectReason) -> Verdict {
    use DisconnectReason as R;
    match reason {
        R::TooManyPeers | R::AlreadyConnected => Verdict::Busy,
        R::UselessPeer
        | R::IncompatibleVersion
        | R::InvalidIdentity
        | R::UnexpectedIdentity
        | R::ConnectedToSelf => Verdict::Incompatible,
        R::ProtocolBreach | R::SubprotocolError => Verdict::RemoteComplaint,
        R::DisconnectRequested
        | R::NetworkError
        | R::ClientQuitting
        | R::PingTimeout
        | R::Other(_) => Verdict::Transient,
    }
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Remote(r) => write!(f, "remote disconnected: {r}"),
            Self::Local(r) => write!(f, "disconnected locally: {r}"),
            Self::Timeout => write!(f, "idle timeout, no message for {IDLE_TIMEOUT:?}"),
            Self::Error(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{io, time::Duration};

    use super::*;

    #[test]
    fn every_p2p_error_has_its_verdict() {
        let cases = [
            (
                P2pError::Frame(FrameError::FrameMacMismatch),
                Verdict::Corrupt,
            ),
            (
                P2pError::Frame(FrameError::FrameTooLarge {
                    size: 1 << 20,
                    max: 2064,
                }),
                Verdict::Misbehaved,
            ),
            (
                P2pError::Frame(FrameError::Io(io::ErrorKind::ConnectionReset.into())),
                Verdict::Transient,
            ),
            (P2pError::ConnectionClosed, Verdict::Transient),
            (
                P2pError::HelloTimeout(Duration::from_secs(5)),
                Verdict::Timeout,
            ),
            (
                P2pError::Disconnected(DisconnectReason::TooManyPeers),
                Verdict::Busy,
            ),
            (
                P2pError::UnexpectedHandshakeMessage(0x10),
                Verdict::Misbehaved,
            ),
            (P2pError::HelloTooLarge { size: 4096 }, Verdict::Misbehaved),
            (
                P2pError::InvalidHello("version".into()),
                Verdict::Misbehaved,
            ),
            (P2pError::InvalidIdentity, Verdict::Impostor),
            (
                P2pError::UnexpectedIdentity {
                    expected: "aa".into(),
                    got: "bb".into(),
                },
                Verdict::Impostor,
            ),
            (
                P2pError::UselessPeer {
                    remote: "les/4".into(),
                },
                Verdict::Incompatible,
            ),
            (
                P2pError::MessageTooLarge { size: 1 << 24 },
                Verdict::Transient,
            ),
            (
                P2pError::Snappy(SnappyError::TooLarge {
                    size: 1 << 24,
                    max: (1 << 24) - 1,
                }),
                Verdict::Misbehaved,
            ),
            (P2pError::UnknownMessageCode(0x99), Verdict::Misbehaved),
            (
                P2pError::InvalidMessageCode {
                    code: 18,
                    capability: "eth/69".into(),
                    length: 18,
                },
                Verdict::Transient,
            ),
            (P2pError::Timeout(Duration::from_secs(30)), Verdict::Timeout),
            (
                P2pError::WriteTimeout(Duration::from_secs(20)),
                Verdict::Timeout,
            ),
            (
                P2pError::SessionClosed(SessionEnd::Remote(DisconnectReason::UselessPeer)),
                Verdict::Incompatible,
            ),
        ];
        for (err, verdict) in cases {
            assert_eq!(err.verdict(), verdict, "{err}");
        }
    }

    #[test]
    fn every_session_end_has_its_verdict() {
        let cases = [
            (
                SessionEnd::Remote(DisconnectReason::AlreadyConnected),
                Verdict::Busy,
            ),
            (
                SessionEnd::Remote(DisconnectReason::SubprotocolError),
                Verdict::RemoteComplaint,
            ),
            (
                SessionEnd::Local(DisconnectReason::SubprotocolError),
                Verdict::Transient,
            ),
            (
                SessionEnd::Local(DisconnectReason::ClientQuitting),
                Verdict::Transient,
            ),
            (SessionEnd::Timeout, Verdict::Timeout),
            (
                SessionEnd::Error(Arc::new(P2pError::UnknownMessageCode(0x2a))),
                Verdict::Misbehaved,
            ),
            (
                SessionEnd::Error(Arc::new(P2pError::Frame(FrameError::HeaderMacMismatch))),
                Verdict::Corrupt,
            ),
            (
                SessionEnd::Error(Arc::new(P2pError::ConnectionClosed)),
                Verdict::Transient,
            ),
        ];
        for (end, verdict) in cases {
            assert_eq!(end.verdict(), verdict, "{end}");
        }
    }

    #[test]
    fn every_received_reason_has_its_verdict() {
        use Verdict::*;
        let expected = [
            (0x00, Transient),
            (0x01, Transient),
            (0x02, RemoteComplaint),
            (0x03, Incompatible),
            (0x04, Busy),
            (0x05, Busy),
            (0x06, Incompatible),
            (0x07, Incompatible),
            (0x08, Transient),
            (0x09, Incompatible),
            (0x0a, Incompatible),
            (0x0b, Transient),
            (0x10, RemoteComplaint),
            (0x0c, Transient),
            (0xff, Transient),
        ];
        for (code, verdict) in expected {
            let reason = DisconnectReason::from(code);
            assert_eq!(received_reason_verdict(reason), verdict, "{reason}");
            // The same reason means the same, in the Hello exchange or in a running session.
            assert_eq!(P2pError::Disconnected(reason).verdict(), verdict);
            assert_eq!(SessionEnd::Remote(reason).verdict(), verdict);
        }
    }
}
