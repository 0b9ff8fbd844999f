//! RLPx: the encrypted, authenticated, multiplexed TCP transport of devp2p.
//!
//! The crate turns a byte stream into authenticated, multiplexed protocol messages; it knows
//! nothing about discovery or peer policy, but judges every failure for the policy code that
//! does ([`Verdict`]).
//!
//! # Layers
//!
//! Five modules, bottom up; each uses only the ones before it, never one after it:
//!
//! | module | what it does | uses |
//! |---|---|---|
//! | [`verdict`] | what a failure says about the peer: fatal? ban? which backoff? | — |
//! | [`ecies`] | the EIP-8 handshake: auth/ack, key agreement, session secrets; [`ecies::initiate`] / [`ecies::respond`] run it over a byte stream | verdict |
//! | [`frame`] | AES-256-CTR + keccak-MAC frames: [`frame::FrameCodec`], [`frame::RlpxStream`]; [`frame::UnauthedRlpx`] runs the handshake and keys the codec | ecies |
//! | [`p2p`] | the base protocol over any [`p2p::MessageStream`]: Hello, Disconnect, Ping/Pong, snappy, capability multiplexing; one task per connection | frame |
//! | [`session`] | one call from a socket to a running session ([`dial`], [`connect`], [`accept`]), or two with a server's checkpoint between the handshake and the Hellos; caps the first frame at the Hello size | p2p, frame, ecies |
//!
//! Inside `ecies`, `frame` and `p2p`, files import siblings only downward too; each
//! `mod.rs` only declares and re-exports.
//!
//! # Errors
//!
//! Each layer has its own typed error and the layer above wraps it, never as text:
//! [`ecies::HandshakeError`] and [`frame::FrameError`] (also the error type of the frame
//! stream) → [`p2p::P2pError`] (`Frame(FrameError)`) → [`SessionError`] (`Handshake`,
//! `P2p`). A running session that ends reports a [`p2p::SessionEnd`]. All of them implement
//! [`HasVerdict`], so a dial scheduler or server asks `verdict()` (then `is_fatal`,
//! `backoff`, `should_ban`) instead of matching on variants.
//!
//! # Bounds
//!
//! Nothing a peer sends makes a connection buffer without limit: handshake messages are
//! capped at 2 KiB, the first frame at the Hello size and checked from its header, every
//! frame at 16 MiB, snappy headers are checked before anything is allocated, and the queues
//! between the session task and the protocols are bounded in messages and bytes (see
//! [`p2p`]); pings are answered at a bounded rate and a peer that stops reading is dropped
//! after [`p2p::WRITE_TIMEOUT`].

pub mod ecies;
pub mod frame;
pub mod p2p;
pub mod session;
pub mod verdict;

pub use secp256k1::{PublicKey, SecretKey};

pub use session::{accept, connect, dial, Authenticated, Session, SessionConfig, SessionError};
pub use verdict::{Backoff, HasVerdict, Verdict};
