//! The discv4 conformance suite (go-ethereum devp2p v4test), against any remote node.
