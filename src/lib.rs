//! kadnode: the node that glues discv4 and rlpx.

pub mod cli;
pub mod datadir;
pub mod http;
