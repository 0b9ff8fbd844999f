//! The datagram transport seam: real UDP sockets and an in-memory simulated network.
