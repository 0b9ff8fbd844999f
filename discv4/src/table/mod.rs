//! The 17-bucket Kademlia table (pure data structure, no I/O).
