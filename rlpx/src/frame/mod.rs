//! RLPx framing: AES-256-CTR + keccak MAC frame codec and the authenticated stream.
