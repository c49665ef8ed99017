//! The native load generator (`hongbao-loadgen`): worker processes whose sockets live in Rust,
//! driven by the TypeScript coordinator (`hongbao clients --generator native`). See
//! docs/simulator.md for the process design and the line protocol.
#![deny(clippy::all)]

pub mod conn;
pub mod hist;
pub mod schedule;
pub mod stdio;
pub mod sys;
pub mod token;
pub mod wire;
pub mod worker;
pub mod ws;
