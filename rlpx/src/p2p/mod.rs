//! The p2p base protocol: Hello, Disconnect, Ping/Pong, snappy and capability multiplexing.
