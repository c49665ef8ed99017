//! Thin N-API binding of `hongbao-core`: argument conversion and errors, nothing else.
//!
//! The engine is process-global: every worker thread that loads the addon shares one state.
//! Hot calls (`shake`, `openPackets`, `createGroup`, `releaseSupply`, `expire`) take typed arrays
//! and write into caller-owned typed arrays; they create no object per item. Misuse throws an
//! Error whose message starts with `EngineInputError: ` and changes nothing.

mod convert;
mod global;
mod slices;

use hongbao_core::{CreateBatch, CreateOut, Engine, OpenOut, RefundOut, ShakeOut};
use napi::bindgen_prelude::{Float64ArraySlice, Uint32ArraySlice, Uint8ArraySlice};
use napi_derive::napi;

use convert::{
    from_core, to_u32, JsEngineInfo, JsEngineOptions, JsPacketDetails, JsSnapshot, JsSupplyOptions,
    JsSupplyState, JsTotals,
};
use slices::{ensure_disjoint, span};

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
pub fn engine_open(options: Option<JsEngineOptions>) -> napi::Result<JsEngineInfo> {
    let config = config_of(options.as_ref())?;
    let (engine, created) = global::open_or_create(config)?;
    Ok(info(&engine, created))
}

/// Replaces the process-global engine with a fresh one. Without options the current engine's
/// options are reused (a seed drawn from the OS is drawn again).
#[napi(catch_unwind)]
pub fn engine_reset(options: Option<JsEngineOptions>) -> napi::Result<JsEngineInfo> {
    let config = options
        .as_ref()
        .map(JsEngineOptions::to_config)
        .transpose()?;
    Ok(info(&*global::replace(config)?, true))
}

/// The engine in place now.
#[napi(catch_unwind)]
pub fn engine_info() -> napi::Result<JsEngineInfo> {
    Ok(info(&*global::current()?, false))
}

/// Replaces any previous supply; `released` starts at 0.
#[napi(catch_unwind)]
pub fn start_supply(options: JsSupplyOptions) -> napi::Result<()> {
    let options = options.to_options()?;
    global::current()?.start_supply(options).map_err(from_core)
}

/// Stops the supply: later releases create nothing.
#[napi(catch_unwind)]
pub fn stop_supply() -> napi::Result<()> {
    global::current()?.stop_supply();
    Ok(())
}

/// The current supply, or null if none was started.
#[napi(catch_unwind)]
pub fn supply_state() -> napi::Result<Option<JsSupplyState>> {
    Ok(global::current()?
        .supply_state()
        .as_ref()
        .map(JsSupplyState::from_state))
}

/// Releases up to `count` shake packets into the shards; writes their ids and cents (both outputs
/// need `count` items) and returns how many were created.
#[napi(catch_unwind)]
pub fn release_supply(
    count: f64,
    mut out_ids: Uint32ArraySlice,
    mut out_cents: Uint32ArraySlice,
) -> napi::Result<u32> {
    let count = to_u32("count", count)?;
    let engine = global::current()?;
    ensure_disjoint(
        &[
            ("out.ids", span(&out_ids[..])),
            ("out.cents", span(&out_cents[..])),
        ],
        &[],
    )?;
    // SAFETY: the two views are disjoint (checked above) and no JavaScript runs during this
    // synchronous call, so these are the only references to their bytes.
    let (ids, cents) = unsafe { (out_ids.as_mut(), out_cents.as_mut()) };
    engine.release_supply(count, ids, cents).map_err(from_core)
}

/// One shake per user: status (0 miss, 1 hit), packet id and cents, each output at least as long
/// as `users`.
#[napi(catch_unwind)]
pub fn shake(
    users: Uint32ArraySlice,
    mut status: Uint8ArraySlice,
    mut packet_ids: Uint32ArraySlice,
    mut cents: Uint32ArraySlice,
) -> napi::Result<()> {
    let engine = global::current()?;
    ensure_disjoint(
        &[
            ("out.status", span(&status[..])),
            ("out.packetIds", span(&packet_ids[..])),
            ("out.cents", span(&cents[..])),
        ],
        &[("users", span(&users[..]))],
    )?;
    // SAFETY: as in `release_supply`; the outputs are also disjoint from `users`.
    let out = unsafe {
        ShakeOut {
            status: status.as_mut(),
            packet_ids: packet_ids.as_mut(),
            cents: cents.as_mut(),
        }
    };
    engine.shake(&users, out).map_err(from_core)
}

/// Creates group packets from a compressed-row batch; writes a status and an id (0 unless Ok)
/// per item.
#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn create_group(
    senders: Uint32ArraySlice,
    total_cents: Uint32ArraySlice,
    share_counts: Uint32ArraySlice,
    recipient_offsets: Uint32ArraySlice,
    recipients: Uint32ArraySlice,
    expires_at: Float64ArraySlice,
    mut status: Uint8ArraySlice,
    mut packet_ids: Uint32ArraySlice,
) -> napi::Result<()> {
    let engine = global::current()?;
    ensure_disjoint(
        &[
            ("out.status", span(&status[..])),
            ("out.packetIds", span(&packet_ids[..])),
        ],
        &[
            ("senders", span(&senders[..])),
            ("totalCents", span(&total_cents[..])),
            ("shareCounts", span(&share_counts[..])),
            ("recipientOffsets", span(&recipient_offsets[..])),
            ("recipients", span(&recipients[..])),
            ("expiresAt", span(&expires_at[..])),
        ],
    )?;
    let batch = CreateBatch {
        senders: &senders,
        total_cents: &total_cents,
        share_counts: &share_counts,
        recipient_offsets: &recipient_offsets,
        recipients: &recipients,
        expires_at: &expires_at,
    };
    // SAFETY: as in `release_supply`; the outputs are also disjoint from every input.
    let out = unsafe {
        CreateOut {
            status: status.as_mut(),
            packet_ids: packet_ids.as_mut(),
        }
    };
    engine.create_group(&batch, out).map_err(from_core)
}

/// Opens `packetIds[i]` for `users[i]` at `nowMs`; writes a status and the cents per item.
#[napi(catch_unwind)]
pub fn open_packets(
    users: Uint32ArraySlice,
    packet_ids: Uint32ArraySlice,
    now_ms: f64,
    mut status: Uint8ArraySlice,
    mut cents: Uint32ArraySlice,
) -> napi::Result<()> {
    let engine = global::current()?;
    ensure_disjoint(
        &[
            ("out.status", span(&status[..])),
            ("out.cents", span(&cents[..])),
        ],
        &[
            ("users", span(&users[..])),
            ("packetIds", span(&packet_ids[..])),
        ],
    )?;
    // SAFETY: as in `release_supply`; the outputs are also disjoint from every input.
    let out = unsafe {
        OpenOut {
            status: status.as_mut(),
            cents: cents.as_mut(),
        }
    };
    engine
        .open(&users, &packet_ids, now_ms, out)
        .map_err(from_core)
}

/// Expires due packets (and those in `force`) in ascending id order, up to the length of the
/// four outputs (which must be equal); returns how many refunds were written.
#[napi(catch_unwind)]
pub fn expire(
    now_ms: f64,
    mut packet_ids: Uint32ArraySlice,
    mut senders: Uint32ArraySlice,
    mut cents: Uint32ArraySlice,
    mut shares: Uint32ArraySlice,
    force: Option<Uint32ArraySlice>,
) -> napi::Result<u32> {
    let engine = global::current()?;
    let force: &[u32] = force.as_deref().unwrap_or(&[]);
    ensure_disjoint(
        &[
            ("out.packetIds", span(&packet_ids[..])),
            ("out.senders", span(&senders[..])),
            ("out.cents", span(&cents[..])),
            ("out.shares", span(&shares[..])),
        ],
        &[("force", span(force))],
    )?;
    // SAFETY: as in `release_supply`; the outputs are also disjoint from `force`.
    let out = unsafe {
        RefundOut {
            packet_ids: packet_ids.as_mut(),
            senders: senders.as_mut(),
            cents: cents.as_mut(),
            shares: shares.as_mut(),
        }
    };
    engine.expire(now_ms, force, out).map_err(from_core)
}

/// Everything known about one group packet, or null for an unknown id.
#[napi(catch_unwind)]
pub fn details(packet_id: f64) -> napi::Result<Option<JsPacketDetails>> {
    let id = to_u32("packetId", packet_id)?;
    Ok(global::current()?.details(id).map(JsPacketDetails::from))
}

/// Money of both flows.
#[napi(catch_unwind)]
pub fn totals() -> napi::Result<JsTotals> {
    Ok(global::current()?.totals().into())
}

/// Replaces all state with a snapshot read back from the ledger; an inconsistent snapshot is
/// refused and changes nothing.
#[napi(catch_unwind)]
pub fn snapshot_restore(snapshot: JsSnapshot) -> napi::Result<()> {
    let snapshot = snapshot.to_snapshot()?;
    global::current()?.restore(&snapshot).map_err(from_core)
}
