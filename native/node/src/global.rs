//! The process-global engine: every Node worker thread that loads the addon shares it.

use std::sync::{Arc, PoisonError, RwLock};

use hongbao_core::{Engine, EngineConfig};

use crate::convert::input_error;

static ENGINE: RwLock<Option<Arc<Engine>>> = RwLock::new(None);

/// The current engine. A call holds its own `Arc`, so a concurrent reset never pulls the engine
/// from under a running batch; the next call sees the new one.
pub fn current() -> napi::Result<Arc<Engine>> {
    ENGINE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .ok_or_else(|| input_error("no engine: call engineOpen first"))
}

/// The engine if one exists, else a new one from `config`; true when it was created now.
pub fn open_or_create(config: EngineConfig) -> napi::Result<(Arc<Engine>, bool)> {
    let mut slot = ENGINE.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(engine) = slot.as_ref() {
        return Ok((Arc::clone(engine), false));
    }
    let engine = Arc::new(Engine::new(config).map_err(|e| input_error(e.message()))?);
    *slot = Some(Arc::clone(&engine));
    Ok((engine, true))
}

/// Replaces the engine with a fresh one from `config` (or, when `None`, from the current
/// engine's configuration). On an invalid configuration the old engine stays.
pub fn replace(config: Option<EngineConfig>) -> napi::Result<Arc<Engine>> {
    let mut slot = ENGINE.write().unwrap_or_else(PoisonError::into_inner);
    let config = config
        .or_else(|| slot.as_ref().map(|e| e.config()))
        .unwrap_or_default();
    let engine = Arc::new(Engine::new(config).map_err(|e| input_error(e.message()))?);
    *slot = Some(Arc::clone(&engine));
    Ok(engine)
}
