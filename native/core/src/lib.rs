//! Hongbao's packet engine in pure Rust: sharded shake buckets, group packets and their
//! splitting, money counters and restore. The N-API binding lives in `native/node`; this crate
//! never sees it. The behaviour is specified, bit for bit, in `docs/engine.md`.

#![deny(clippy::all)]

mod divisor;
mod engine;
mod error;
mod packet;
mod rng;
mod shard;
mod snapshot;
mod split;
mod supply;
mod types;

pub use engine::{CreateBatch, CreateOut, Engine, OpenOut, RefundOut, ShakeOut, MAX_SHARDS};
pub use error::{InputError, Result};
pub use rng::Rng;
pub use snapshot::{GroupSnapshot, ShakeSnapshot, Snapshot};
pub use split::{double_mean_share, line_segment_split};
pub use types::*;
