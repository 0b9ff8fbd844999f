//! RLPx: the encrypted, authenticated, multiplexed TCP transport of devp2p.
//!
//! Layers, bottom up: [`ecies`] (EIP-8 handshake) → [`frame`] (AES-CTR + keccak-MAC frames)
//! → [`p2p`] (Hello, Disconnect, Ping/Pong, snappy, capability multiplexing). The crate turns a
//! byte stream into an authenticated message stream; it knows nothing about peer policy.

pub mod ecies;
pub mod frame;
pub mod p2p;

pub use secp256k1::{PublicKey, SecretKey};
