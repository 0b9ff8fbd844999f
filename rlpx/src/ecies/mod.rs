//! ECIES (EIP-8) handshake: auth/ack messages, key agreement and session secrets.
