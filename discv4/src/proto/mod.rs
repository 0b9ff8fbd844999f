//! discv4 wire format: the six packet types, signing, decoding, size and expiration rules.
