//! kadnode: the node that glues discv4 and rlpx.
