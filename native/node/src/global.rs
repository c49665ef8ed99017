//! The process-global engine: every Node worker thread that loads the addon shares it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use hongbao_core::{Engine, EngineConfig};

use crate::convert::input_error;

static ENGINE: RwLock<Option<Arc<Engine>>> = RwLock::new(None);

/// Bumped (under the write lock) each time the engine is created or replaced.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's copy of the engine and the generation it was read at, so that a hot call
    /// touches no shared lock or reference count (two worker threads calling at once would
    /// otherwise bounce those cache lines between cores). A replaced engine lives on in a
    /// thread's copy until that thread's next call.
    static CACHED: RefCell<Option<(u64, Arc<Engine>)>> = const { RefCell::new(None) };
}

/// The current engine. A call holds its own `Arc`, so a concurrent reset never pulls the engine
/// from under a running batch; the next call sees the new one.
pub fn current() -> napi::Result<Arc<Engine>> {
    ENGINE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .ok_or_else(|| input_error("no engine: call engineOpen first"))
}

/// Runs `f` with the current engine; the same engine as `current()` would return, read without
/// a lock when this thread has seen it before. The engine stays alive during `f` even if another
/// thread replaces it meanwhile; the next call sees the new one.
pub fn with_current<R, E: From<napi::Error>>(
    f: impl FnOnce(&Engine) -> Result<R, E>,
) -> Result<R, E> {
    let generation = GENERATION.load(Ordering::Acquire);
    CACHED.with(|cached| {
        let Ok(mut cached) = cached.try_borrow_mut() else {
            let engine = current()?; // a nested call (none today): the slow way
            return f(&engine);
        };
        if !matches!(cached.as_ref(), Some((g, _)) if *g == generation) {
            let slot = ENGINE.read().unwrap_or_else(PoisonError::into_inner);
            let engine = slot
                .clone()
                .ok_or_else(|| input_error("no engine: call engineOpen first"))?;
            // Read under the lock, so that it is the generation of this engine.
            *cached = Some((GENERATION.load(Ordering::Acquire), engine));
        }
        match cached.as_ref() {
            Some((_, engine)) => f(engine),
            None => unreachable!("filled above"),
        }
    })
}

/// The engine if one exists, else a new one from `config`; true when it was created now.
pub fn open_or_create(config: EngineConfig) -> napi::Result<(Arc<Engine>, bool)> {
    let mut slot = ENGINE.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(engine) = slot.as_ref() {
        return Ok((Arc::clone(engine), false));
    }
    let engine = Arc::new(Engine::new(config).map_err(|e| input_error(e.message()))?);
    *slot = Some(Arc::clone(&engine));
    GENERATION.fetch_add(1, Ordering::Release);
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
    GENERATION.fetch_add(1, Ordering::Release);
    Ok(engine)
}
