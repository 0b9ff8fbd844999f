//! Why opening a session failed, and what a dial scheduler should do about it.

use std::{io, net::SocketAddr, time::Duration};

use crate::{
    ecies::HandshakeError,
    p2p::{DisconnectReason, P2pError},
    verdict::{Backoff, HasVerdict, Verdict},
};

/// Why [`super::connect`], [`super::accept`] or [`super::dial`] failed.
///
/// Policy code asks [`Self::is_fatal`], [`Self::backoff`] and [`Self::should_ban`] instead of
/// matching on variants.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The TCP connection could not be opened.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// The TCP connection did not open in time.
    #[error("TCP connect to {addr} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The address dialled.
        addr: SocketAddr,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// The ECIES (auth/ack) handshake failed. A dialled peer whose key is not the one we
    /// expected usually just closes the connection, which shows up here as an i/o error.
    #[error("RLPx handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The Hello exchange failed (after a successful handshake), or the remote disconnected.
    #[error("p2p Hello exchange failed: {0}")]
    P2p(#[from] P2pError),
}

impl SessionError {
    /// The reason the remote gave, if it ended the attempt with a Disconnect.
    pub fn remote_disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            Self::P2p(err) => err.remote_disconnect_reason(),
            _ => None,
        }
    }

    /// The disconnect reason describing this failure (the remote's, or the one we sent or would
    /// have sent), for logs and metrics; `None` before the encrypted session existed.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            Self::P2p(err) => err.disconnect_reason(),
            _ => None,
        }
    }

    /// True when retrying can never succeed with this peer and configuration: no shared
    /// capability, incompatible p2p version, a Hello id that is not the key the handshake
    /// proved, or the remote telling us so (useless peer, bad identity, connected to self).
    pub fn is_fatal(&self) -> bool {
        self.verdict().is_fatal()
    }

    /// How long to wait before dialling this peer again: [`Backoff::Short`] for busy peers
    /// (too many peers, already connected), [`Backoff::Medium`] for network errors, timeouts
    /// and ordinary disconnects, [`Backoff::Long`] for protocol breaches (either side's) and
    /// fatal failures.
    pub fn backoff(&self) -> Backoff {
        self.verdict().backoff()
    }

    /// True when the peer did something no correct implementation does (malformed handshake
    /// or Hello, oversize frames, unknown message codes, an identity that contradicts its
    /// key): worth banning its id or address for a while. MAC failures are not counted, since
    /// a third party on the path can cause them, nor is anything the remote told us.
    pub fn should_ban(&self) -> bool {
        self.verdict().should_ban()
    }
}

impl HasVerdict for SessionError {
    /// A failed TCP connect is transient (or a timeout); the handshake and p2p layers judge
    /// their own failures.
    fn verdict(&self) -> Verdict {
        match self {
            Self::Connect { .. } => Verdict::Transient,
            Self::ConnectTimeout { .. } => Verdict::Timeout,
            Self::Handshake(err) => err.verdict(),
            Self::P2p(err) => err.verdict(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{frame::FrameError, p2p::SessionEnd};

    fn remote(reason: u8) -> SessionError {
        SessionError::P2p(P2pError::Disconnected(DisconnectReason::from(reason)))
    }

    fn policy(err: &SessionError) -> (bool, Backoff, bool) {
        (err.is_fatal(), err.backoff(), err.should_ban())
    }

    #[test]
    fn the_layers_judge_their_own_failures() {
        let addr: SocketAddr = "127.0.0.1:30303".parse().unwrap();
        let connect = SessionError::Connect {
            addr,
            source: io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(connect.verdict(), Verdict::Transient);
        let timeout = SessionError::ConnectTimeout {
            addr,
            timeout: Duration::from_secs(15),
        };
        assert_eq!(timeout.verdict(), Verdict::Timeout);
        for err in [
            HandshakeError::TagMismatch,
            HandshakeError::InvalidSignature,
            HandshakeError::Timeout(Duration::from_secs(5)),
        ] {
            let verdict = err.verdict();
            assert_eq!(SessionError::Handshake(err).verdict(), verdict);
        }
        for err in [
            P2pError::Frame(FrameError::Poisoned),
            P2pError::UselessPeer { remote: "x".into() },
            P2pError::SessionClosed(SessionEnd::Timeout),
        ] {
            let verdict = err.verdict();
            assert_eq!(SessionError::P2p(err).verdict(), verdict);
        }
    }

    #[test]
    fn remote_reasons_map_to_policy() {
        use Backoff::*;
        let expected = [
            (0x00, (false, Medium, false)),
            (0x01, (false, Medium, false)),
            (0x02, (false, Long, false)),
            (0x03, (true, Long, false)),
            (0x04, (false, Short, false)),
            (0x05, (false, Short, false)),
            (0x06, (true, Long, false)),
            (0x07, (true, Long, false)),
            (0x08, (false, Medium, false)),
            (0x09, (true, Long, false)),
            (0x0a, (true, Long, false)),
            (0x0b, (false, Medium, false)),
            (0x10, (false, Long, false)),
            (0xff, (false, Medium, false)),
        ];
        for (code, answer) in expected {
            let err = remote(code);
            assert_eq!(policy(&err), answer, "reason {code:#04x}");
            assert_eq!(
                err.remote_disconnect_reason(),
                Some(DisconnectReason::from(code))
            );
        }
    }

    #[test]
    fn remote_reason_after_the_session_started_counts_the_same() {
        let err = SessionError::P2p(P2pError::SessionClosed(SessionEnd::Remote(
            DisconnectReason::TooManyPeers,
        )));
        assert_eq!(policy(&err), (false, Backoff::Short, false));
        assert_eq!(
            err.remote_disconnect_reason(),
            Some(DisconnectReason::TooManyPeers)
        );
        let nested = SessionError::P2p(P2pError::SessionClosed(SessionEnd::Error(Arc::new(
            P2pError::UnknownMessageCode(0x99),
        ))));
        assert_eq!(policy(&nested), (false, Backoff::Long, true));
        assert_eq!(nested.remote_disconnect_reason(), None);
    }

    #[test]
    fn identity_and_capability_failures_are_fatal() {
        let impostor = SessionError::P2p(P2pError::UnexpectedIdentity {
            expected: "aa".into(),
            got: "bb".into(),
        });
        assert_eq!(policy(&impostor), (true, Backoff::Long, true));
        assert_eq!(
            impostor.disconnect_reason(),
            Some(DisconnectReason::UnexpectedIdentity)
        );
        let null_id = SessionError::P2p(P2pError::InvalidIdentity);
        assert_eq!(policy(&null_id), (true, Backoff::Long, true));
        let useless = SessionError::P2p(P2pError::UselessPeer {
            remote: "les/4".into(),
        });
        assert_eq!(policy(&useless), (true, Backoff::Long, false));
        assert_eq!(useless.remote_disconnect_reason(), None);
    }

    #[test]
    fn network_and_timeouts_back_off_medium_and_are_not_held_against_the_peer() {
        let addr: SocketAddr = "127.0.0.1:30303".parse().unwrap();
        let cases = [
            SessionError::Connect {
                addr,
                source: io::ErrorKind::ConnectionRefused.into(),
            },
            SessionError::ConnectTimeout {
                addr,
                timeout: Duration::from_secs(15),
            },
            HandshakeError::Io(io::ErrorKind::UnexpectedEof.into()).into(),
            HandshakeError::Timeout(Duration::from_secs(5)).into(),
            P2pError::ConnectionClosed.into(),
            P2pError::HelloTimeout(Duration::from_secs(5)).into(),
            P2pError::Frame(FrameError::Io(io::ErrorKind::ConnectionReset.into())).into(),
        ];
        for err in cases {
            assert_eq!(policy(&err), (false, Backoff::Medium, false), "{err}");
            assert_eq!(err.remote_disconnect_reason(), None);
        }
    }

    #[test]
    fn malformed_handshakes_and_hellos_are_bannable_breaches() {
        let cases: [SessionError; 5] = [
            HandshakeError::MalformedBody("auth body is not a list").into(),
            HandshakeError::InvalidEphemeralPoint.into(),
            P2pError::InvalidHello("bad".into()).into(),
            P2pError::UnexpectedHandshakeMessage(0x10).into(),
            P2pError::Frame(FrameError::FrameTooLarge {
                size: 1 << 20,
                max: 2064,
            })
            .into(),
        ];
        for err in cases {
            assert_eq!(policy(&err), (false, Backoff::Long, true), "{err}");
        }
    }

    #[test]
    fn corruption_backs_off_long_without_a_ban() {
        let cases: [SessionError; 2] = [
            HandshakeError::TagMismatch.into(),
            P2pError::Frame(FrameError::FrameMacMismatch).into(),
        ];
        for err in cases {
            assert_eq!(policy(&err), (false, Backoff::Long, false), "{err}");
        }
    }
}
