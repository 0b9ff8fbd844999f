//! The discv4 service: the task that owns the socket, the table and the node database.

pub mod predictor;
pub mod ratelimit;
