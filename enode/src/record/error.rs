//! Errors of the record layer: enode URLs, ENRs, node keys and the generic node parser.

use std::{io, net::IpAddr, path::PathBuf};

use crate::id::PeerIdError;

/// Why an `enode://` URL was rejected or cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EnodeError {
    /// The input does not start with `enode://`.
    #[error("invalid URL scheme, want \"enode://\"")]
    InvalidScheme,
    /// The 128-hex-character public key is missing, malformed or not a curve point.
    #[error("invalid public key ({0})")]
    InvalidPublicKey(#[source] PeerIdError),
    /// The host between `@` and `:` is neither an IP literal nor a valid DNS name.
    #[error("invalid host {0:?}: want an IPv4 address, a bracketed IPv6 address or a DNS name")]
    InvalidHost(String),
    /// The TCP port after the host is missing, not a number or above 65535.
    #[error("invalid port {0:?}: want a TCP port number 0-65535 after the host")]
    InvalidPort(String),
    /// The `discport` query value is not a number in 0-65535.
    #[error("invalid discport in query: {0:?} is not a UDP port number 0-65535")]
    InvalidDiscport(String),
    /// Something other than an optional `?query` follows the port (a path or fragment).
    #[error("unexpected {0:?} after the address; an enode URL ends with host:port[?discport=N]")]
    UnexpectedSuffix(String),
    /// The URL has no `@host:port` part: it names a node but not where to reach it.
    #[error("enode URL has no address (incomplete node, key only); add @ip:port")]
    Incomplete,
    /// The URL names a DNS host; it must be resolved (see `EnodeUrl::resolve`) before use.
    #[error("enode URL names DNS host {0:?}; it must be resolved to an IP address first")]
    Unresolved(String),
    /// DNS resolution failed.
    #[error("cannot resolve host {host:?}: {source}")]
    Resolve {
        /// The DNS name.
        host: String,
        /// The resolver error.
        #[source]
        source: io::Error,
    },
    /// DNS resolution returned no address.
    #[error("host {0:?} resolved to no address")]
    NoAddress(String),
    /// DNS resolution did not finish in time.
    #[error("resolving host {0:?} timed out")]
    ResolveTimeout(String),
    /// The IP cannot be contacted (multicast or unspecified).
    #[error("invalid IP {0} (multicast/unspecified)")]
    UnusableIp(IpAddr),
    /// The node has no UDP port, so discovery cannot reach it.
    #[error("missing UDP port (port 0)")]
    MissingUdpPort,
}

/// Why an ENR (EIP-778 node record) was rejected or could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrError {
    /// Text form without the `enr:` prefix.
    #[error("missing 'enr:' prefix for base64-encoded record")]
    MissingPrefix,
    /// The text after `enr:` is not unpadded base64url.
    #[error("invalid base64url in node record: {0}")]
    Base64(String),
    /// No bytes at all.
    #[error("empty node record")]
    Empty,
    /// More than the 300 bytes EIP-778 allows.
    #[error("node record is {0} bytes, the limit is 300")]
    TooLarge(usize),
    /// Bytes follow the record's RLP list.
    #[error("{0} trailing bytes after the node record")]
    TrailingBytes(usize),
    /// Keys are not strictly ascending (unsorted or duplicate).
    #[error("node record keys are not sorted or contain duplicates")]
    UnsortedKeys,
    /// The `id` entry names a scheme other than "v4".
    #[error("unsupported identity scheme (only \"v4\" is known)")]
    UnsupportedScheme,
    /// No `secp256k1` entry.
    #[error("node record has no secp256k1 public key")]
    MissingPublicKey,
    /// The `secp256k1` entry is not a 33-byte compressed curve point.
    #[error("invalid secp256k1 public key in node record")]
    InvalidPublicKey,
    /// The signature does not verify against the record's key.
    #[error("invalid signature on node record")]
    InvalidSignature,
    /// The RLP structure is malformed (lists, lengths, values of known keys).
    #[error("malformed node record: {0}")]
    Malformed(String),
    /// The record has no usable IP + UDP endpoint to contact.
    #[error("node record has no IP address with a UDP port")]
    NoEndpoint,
    /// An extra entry of the local record uses a key this crate manages itself.
    #[error("ENR key {0:?} is reserved; set it through EndpointConfig")]
    ReservedKey(String),
    /// An extra entry's value is not valid RLP.
    #[error("value of ENR key {0:?} is not a single valid RLP item")]
    InvalidValue(String),
    /// The sequence number cannot be increased any further.
    #[error("node record sequence number overflow")]
    SeqOverflow,
    /// Signing or size checks failed while building our record.
    #[error("cannot build node record: {0}")]
    Build(String),
}

/// Where a node key came from, for error messages.
fn key_origin(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => format!("node key file {}", path.display()),
        None => "node key".to_owned(),
    }
}

/// Why a node key could not be loaded, parsed or saved.
#[derive(Debug, thiserror::Error)]
pub enum NodeKeyError {
    /// Reading or writing the key file failed.
    #[error("node key file {}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The key text contains a non-hex character.
    #[error("{}: invalid hex character {ch:?} at position {index}; want 64 hex characters without 0x prefix", key_origin(.path))]
    BadHex {
        /// The key file, if the key was read from one.
        path: Option<PathBuf>,
        /// The offending character.
        ch: char,
        /// Its byte position.
        index: usize,
    },
    /// The key text is not exactly 64 hex characters.
    #[error("{}: want 64 hex characters (32 bytes) without 0x prefix, got {len} characters", key_origin(.path))]
    BadLength {
        /// The key file, if the key was read from one.
        path: Option<PathBuf>,
        /// The length found (after trimming trailing whitespace).
        len: usize,
    },
    /// The 32 bytes are zero or not below the curve order.
    #[error("{}: not a valid secp256k1 secret key (zero or not below the curve order)", key_origin(.path))]
    InvalidKey {
        /// The key file, if the key was read from one.
        path: Option<PathBuf>,
    },
}

/// Why a node argument (`enode://…` or `enr:…`) was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ParseNodeError {
    /// Neither an `enode://` URL nor an `enr:` record.
    #[error("want an enode://… URL or an enr:… record (missing 'enr:' prefix for base64-encoded record)")]
    UnknownFormat,
    /// The `enode://` URL is invalid or not usable.
    #[error(transparent)]
    Enode(#[from] EnodeError),
    /// The `enr:` record is invalid or not usable.
    #[error(transparent)]
    Enr(#[from] EnrError),
}
