//! Helpers shared by the `kadnode` integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod js;
