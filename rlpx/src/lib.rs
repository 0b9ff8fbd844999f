//! RLPx: the encrypted, authenticated, multiplexed TCP transport of devp2p.
//!
//! Layers, bottom up: [`ecies`] (EIP-8 handshake) → [`frame`] (AES-CTR + keccak-MAC frames)
//! → [`p2p`] (Hello, Disconnect, Ping/Pong, snappy, capability multiplexing). The crate turns a
//! byte stream into an authenticated message stream; it knows nothing about peer policy.
//! [`session`] runs all three in one call ([`connect`], [`accept`], [`dial`]) and tells the
//! caller's policy how to treat a failure ([`SessionError`]).

pub mod ecies;
pub mod frame;
pub mod p2p;
pub mod session;
pub mod verdict;

pub use secp256k1::{PublicKey, SecretKey};

pub use session::{accept, connect, dial, Authenticated, Session, SessionConfig, SessionError};
pub use verdict::{Backoff, HasVerdict, Verdict};
