//! Thin N-API binding of `hongbao-core`: argument conversion and errors, nothing else.
//!
//! The engine is process-global: every worker thread that loads the addon shares one state.
//! Hot calls (`shake`, `openPackets`, `createGroup`, `releaseSupply`, `expire`, and the calls of
//! cluster mode, in `hot.rs`) take typed arrays and write into caller-owned typed arrays; they
//! create no object per item. Misuse throws an Error whose `code` is `EngineInputError` and
//! changes nothing.

#![deny(clippy::all)]

mod convert;
pub mod fd_table;
mod global;
mod hot;
mod slices;

use hongbao_core::Engine;
use napi::bindgen_prelude::{Env, Object};
use napi::JsValue;
use napi_derive::napi;

use convert::{
    from_core, js, to_u32, JsEngineInfo, JsEngineOptions, JsError, JsPacketDetails, JsSnapshot,
    JsSupplyOptions, JsSupplyState, JsTotals,
};

fn info(engine: &Engine, created: bool) -> JsEngineInfo {
    JsEngineInfo {
        shards: engine.shard_count(),
        seed: engine.seed(),
        split_mode: engine.split_mode() as u32,
        created,
    }
}

fn config_of(options: Option<&JsEngineOptions>) -> napi::Result<hongbao_core::EngineConfig> {
    options.map_or_else(
        || Ok(hongbao_core::EngineConfig::default()),
        JsEngineOptions::to_config,
    )
}

/// Creates the process-global engine from `options` unless one exists; otherwise attaches to it
/// and ignores the options (they are still checked).
#[napi(catch_unwind)]
pub fn engine_open(options: Option<JsEngineOptions>) -> Result<JsEngineInfo, JsError> {
    js(|| {
        let config = config_of(options.as_ref())?;
        let (engine, created) = global::open_or_create(config)?;
        Ok(info(&engine, created))
    })
}

/// Replaces the process-global engine with a fresh one. Without options the current engine's
/// options are reused (a seed drawn from the OS is drawn again).
#[napi(catch_unwind)]
pub fn engine_reset(options: Option<JsEngineOptions>) -> Result<JsEngineInfo, JsError> {
    js(|| {
        let config = options
            .as_ref()
            .map(JsEngineOptions::to_config)
            .transpose()?;
        Ok(info(&*global::replace(config)?, true))
    })
}

/// The engine in place now.
#[napi(catch_unwind)]
pub fn engine_info() -> Result<JsEngineInfo, JsError> {
    js(|| Ok(info(&*global::current()?, false)))
}

/// Replaces any previous supply; `released` starts at 0.
#[napi(catch_unwind)]
pub fn start_supply(options: JsSupplyOptions) -> Result<(), JsError> {
    js(|| {
        let options = options.to_options()?;
        global::current()?.start_supply(options).map_err(from_core)
    })
}

/// Stops the supply: later releases create nothing.
#[napi(catch_unwind)]
pub fn stop_supply() -> Result<(), JsError> {
    js(|| {
        global::current()?.stop_supply();
        Ok(())
    })
}

/// The current supply, or null if none was started.
#[napi(catch_unwind)]
pub fn supply_state() -> Result<Option<JsSupplyState>, JsError> {
    js(|| {
        Ok(global::current()?
            .supply_state()
            .as_ref()
            .map(JsSupplyState::from_state))
    })
}

/// Adds the hot calls of `hot.rs` (plain N-API callbacks) to the exports.
#[napi(module_exports)]
pub fn register_hot_calls(exports: Object, env: Env) -> napi::Result<()> {
    hot::register(env.raw(), exports.raw())
}

/// Everything known about one group packet, or null for an unknown id.
#[napi(catch_unwind)]
pub fn details(packet_id: f64) -> Result<Option<JsPacketDetails>, JsError> {
    js(|| {
        let id = to_u32("packetId", packet_id)?;
        Ok(global::current()?.details(id).map(JsPacketDetails::from))
    })
}

/// Forgets every expired packet whose expiry is `<= beforeMs`; returns how many.
#[napi(catch_unwind)]
pub fn evict(before_ms: f64) -> Result<u32, JsError> {
    js(|| global::current()?.evict(before_ms).map_err(from_core))
}

/// Money of both flows.
#[napi(catch_unwind)]
pub fn totals() -> Result<JsTotals, JsError> {
    js(|| Ok(global::current()?.totals().into()))
}

/// Replaces all state with a snapshot read back from the ledger; an inconsistent snapshot is
/// refused and changes nothing.
#[napi(catch_unwind)]
pub fn snapshot_restore(snapshot: JsSnapshot) -> Result<(), JsError> {
    js(|| {
        let snapshot = snapshot.to_snapshot()?;
        global::current()?.restore(&snapshot).map_err(from_core)
    })
}
