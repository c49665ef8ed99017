//! The hot calls (`shake`, `openPackets`, `releaseSupply`, `createGroup`, `expire`, and cluster
//! mode's `drawAmounts`, `adoptShakePackets`, `withdrawShakePackets`, `splitShares`) as plain
//! N-API callbacks. napi-rs's generated glue sets up a borrow-tracking scope on every call (a heap
//! allocation, a mutex, thread-local stacks): about half of a small batch's crossing. Here a call
//! costs `napi_get_cb_info`, one `napi_get_typedarray_info` per typed array, and the engine.
//!
//! The arguments and the errors are those of the napi-rs functions they replace: typed arrays of
//! the stated kind only (a plain array or another kind is an `EngineInputError`), outputs that
//! share no memory with another argument, and the code `EngineInputError` (`err.code`) for
//! misuse. A panic becomes a JavaScript error, as with `#[napi(catch_unwind)]`.

use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};

use hongbao_core::{AmountRule, CreateBatch, CreateOut, Engine, OpenOut, RefundOut, ShakeOut};
use napi::bindgen_prelude::FromNapiValue;
use napi::sys::{self, TypedarrayType, ValueType};

use crate::convert::{is_input, JsAmountRule, INPUT_ERROR_CODE};
use crate::global;
use crate::slices::{ensure_disjoint, span};

/// A misuse or failure message, thrown as a JavaScript Error when the callback returns.
struct Thrown {
    message: String,
    input: bool,
}

type Outcome = Result<sys::napi_value, Thrown>;

fn misuse(message: impl Into<String>) -> Thrown {
    Thrown {
        message: message.into(),
        input: true,
    }
}

impl From<hongbao_core::InputError> for Thrown {
    fn from(e: hongbao_core::InputError) -> Self {
        misuse(e.message())
    }
}

impl From<napi::Error> for Thrown {
    fn from(e: napi::Error) -> Self {
        Thrown {
            input: is_input(&e),
            message: e.reason,
        }
    }
}

/// One call's environment and arguments (missing ones read as `undefined`).
struct Call<const N: usize> {
    env: sys::napi_env,
    args: [sys::napi_value; N],
}

/// A typed array seen from Rust: its data and its length in elements.
#[derive(Clone, Copy)]
struct Raw<T> {
    data: NonNull<T>,
    len: usize,
}

impl<T> Raw<T> {
    fn bytes(&self) -> std::ops::Range<usize> {
        let start = self.data.as_ptr() as usize;
        start..start + self.len * std::mem::size_of::<T>()
    }

    /// # Safety
    /// The view must stay alive and unmodified by anything else while the slice lives (true for
    /// the duration of a synchronous call: no JavaScript runs).
    unsafe fn slice<'a>(self) -> &'a [T] {
        unsafe { std::slice::from_raw_parts(self.data.as_ptr(), self.len) }
    }

    /// # Safety
    /// As for `slice`, and no other slice may cover these bytes (checked by `ensure_disjoint`).
    unsafe fn slice_mut<'a>(self) -> &'a mut [T] {
        unsafe { std::slice::from_raw_parts_mut(self.data.as_ptr(), self.len) }
    }
}

/// Element types a typed array argument may have.
trait Element: Sized {
    const KIND: sys::napi_typedarray_type;
    const NAME: &'static str;
}

impl Element for u8 {
    const KIND: sys::napi_typedarray_type = TypedarrayType::uint8_array;
    const NAME: &'static str = "Uint8Array";
}

impl Element for u32 {
    const KIND: sys::napi_typedarray_type = TypedarrayType::uint32_array;
    const NAME: &'static str = "Uint32Array";
}

impl Element for f64 {
    const KIND: sys::napi_typedarray_type = TypedarrayType::float64_array;
    const NAME: &'static str = "Float64Array";
}

impl<const N: usize> Call<N> {
    /// # Safety
    /// `env` and `info` are those N-API passed to the callback.
    unsafe fn new(env: sys::napi_env, info: sys::napi_callback_info) -> Result<Self, Thrown> {
        let mut args = [ptr::null_mut(); N];
        let mut argc = N;
        let status = unsafe {
            sys::napi_get_cb_info(
                env,
                info,
                &mut argc,
                args.as_mut_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if status != sys::Status::napi_ok {
            return Err(misuse("cannot read the call's arguments"));
        }
        Ok(Self { env, args })
    }

    fn type_of(&self, i: usize) -> sys::napi_valuetype {
        let mut t = ValueType::napi_undefined;
        // SAFETY: a value of this call, in this call's env.
        unsafe { sys::napi_typeof(self.env, self.args[i], &mut t) };
        t
    }

    /// Argument `i` as a typed array of `T`.
    fn typed<T: Element>(&self, i: usize, name: &str) -> Result<Raw<T>, Thrown> {
        let mut kind = -1;
        let mut len = 0usize;
        let mut data = ptr::null_mut();
        // SAFETY: a value of this call, in this call's env; out-pointers are valid locals.
        let status = unsafe {
            sys::napi_get_typedarray_info(
                self.env,
                self.args[i],
                &mut kind,
                &mut len,
                &mut data,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if status != sys::Status::napi_ok || kind != T::KIND {
            return Err(misuse(format!("{name} must be a {}", T::NAME)));
        }
        let data = data.cast::<T>();
        // A typed array's offset is a multiple of its element size; an empty or detached one may
        // have no data at all.
        match NonNull::new(data) {
            Some(data) if data.as_ptr().is_aligned() => Ok(Raw { data, len }),
            Some(_) => Err(misuse(format!("{name} is not aligned"))),
            None if len == 0 => Ok(Raw {
                data: NonNull::dangling(),
                len: 0,
            }),
            None => Err(misuse(format!("{name} has no data"))),
        }
    }

    /// Argument `i` as a number (any number, NaN included: the engine checks it).
    fn number(&self, i: usize, name: &str) -> Result<f64, Thrown> {
        let mut value = 0.0;
        // SAFETY: as in `typed`.
        let status = unsafe { sys::napi_get_value_double(self.env, self.args[i], &mut value) };
        if status != sys::Status::napi_ok {
            return Err(misuse(format!("{name} must be a number")));
        }
        Ok(value)
    }

    /// Argument `i` as a u32 given as a JavaScript number.
    fn u32(&self, i: usize, name: &str) -> Result<u32, Thrown> {
        let value = self.number(i, name)?;
        if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
            Ok(value as u32)
        } else {
            Err(misuse(format!(
                "{name} must be an integer in 0..={}, got {value}",
                u32::MAX
            )))
        }
    }

    /// Argument `i` as an amount rule (`{ kind: 'range', min, max }` or `{ kind: 'list', values }`),
    /// validated as `startSupply` validates its rule.
    fn rule(&self, i: usize) -> Result<AmountRule, Thrown> {
        if self.type_of(i) != ValueType::napi_object {
            return Err(misuse("rule must be an object"));
        }
        // SAFETY: a value of this call, in this call's env.
        let rule =
            unsafe { JsAmountRule::from_napi_value(self.env, self.args[i]) }.map_err(|e| {
                // A throwing getter leaves its exception pending: ours replaces it.
                let mut pending = ptr::null_mut();
                // SAFETY: this call's env; clearing when nothing is pending is a no-op.
                unsafe { sys::napi_get_and_clear_last_exception(self.env, &mut pending) };
                misuse(format!("rule: {}", e.reason))
            })?;
        Ok(rule.to_rule()?)
    }

    fn undefined(&self) -> Outcome {
        let mut value = ptr::null_mut();
        // SAFETY: this call's env.
        unsafe { sys::napi_get_undefined(self.env, &mut value) };
        Ok(value)
    }

    fn uint32(&self, n: u32) -> Outcome {
        let mut value = ptr::null_mut();
        // SAFETY: this call's env.
        unsafe { sys::napi_create_uint32(self.env, n, &mut value) };
        Ok(value)
    }
}

/// Runs a callback body, turning a misuse, an error or a panic into a thrown JavaScript Error.
///
/// # Safety
/// `env` and `info` are those N-API passed to the callback.
unsafe fn run<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    body: fn(&Call<N>, &Engine) -> Outcome,
) -> sys::napi_value {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: passed through from N-API.
        let call = unsafe { Call::<N>::new(env, info) }?;
        global::with_current(|engine| body(&call, engine))
    }));
    let thrown = match result {
        Ok(Ok(value)) => return value,
        Ok(Err(thrown)) => thrown,
        Err(panic) => Thrown {
            message: format!(
                "hongbao addon panicked: {}",
                panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("unknown panic")
            ),
            input: false,
        },
    };
    let message = CString::new(thrown.message.replace('\0', " ")).unwrap_or_default();
    let code = thrown
        .input
        .then(|| CString::new(INPUT_ERROR_CODE).unwrap_or_default());
    let code_ptr = code.as_ref().map_or(ptr::null(), |c| c.as_ptr());
    // SAFETY: this call's env; code and message outlive the call (N-API copies them).
    unsafe { sys::napi_throw_error(env, code_ptr, message.as_ptr()) };
    ptr::null_mut()
}

/// `releaseSupply(count, outIds, outCents): number`
fn release_supply(call: &Call<3>, engine: &Engine) -> Outcome {
    let count = call.u32(0, "count")?;
    let ids = call.typed::<u32>(1, "out.ids")?;
    let cents = call.typed::<u32>(2, "out.cents")?;
    ensure_disjoint(
        &[("out.ids", ids.bytes()), ("out.cents", cents.bytes())],
        &[],
    )?;
    // SAFETY: disjoint views (checked above) of arrays that live through this synchronous call.
    let (ids, cents) = unsafe { (ids.slice_mut(), cents.slice_mut()) };
    let n = engine.release_supply(count, ids, cents)?;
    call.uint32(n)
}

/// `shake(users, outStatus, outPacketIds, outCents)`
fn shake(call: &Call<4>, engine: &Engine) -> Outcome {
    let users = call.typed::<u32>(0, "users")?;
    let status = call.typed::<u8>(1, "out.status")?;
    let packet_ids = call.typed::<u32>(2, "out.packetIds")?;
    let cents = call.typed::<u32>(3, "out.cents")?;
    ensure_disjoint(
        &[
            ("out.status", status.bytes()),
            ("out.packetIds", packet_ids.bytes()),
            ("out.cents", cents.bytes()),
        ],
        &[("users", users.bytes())],
    )?;
    // SAFETY: as in `release_supply`; the outputs are also disjoint from `users`.
    let (users, out) = unsafe {
        (
            users.slice(),
            ShakeOut {
                status: status.slice_mut(),
                packet_ids: packet_ids.slice_mut(),
                cents: cents.slice_mut(),
            },
        )
    };
    engine.shake(users, out)?;
    call.undefined()
}

/// `createGroup(senders, totalCents, shareCounts, recipientOffsets, recipients, expiresAt,
/// outStatus, outPacketIds)`
fn create_group(call: &Call<8>, engine: &Engine) -> Outcome {
    let senders = call.typed::<u32>(0, "senders")?;
    let total_cents = call.typed::<u32>(1, "totalCents")?;
    let share_counts = call.typed::<u32>(2, "shareCounts")?;
    let recipient_offsets = call.typed::<u32>(3, "recipientOffsets")?;
    let recipients = call.typed::<u32>(4, "recipients")?;
    let expires_at = call.typed::<f64>(5, "expiresAt")?;
    let status = call.typed::<u8>(6, "out.status")?;
    let packet_ids = call.typed::<u32>(7, "out.packetIds")?;
    ensure_disjoint(
        &[
            ("out.status", status.bytes()),
            ("out.packetIds", packet_ids.bytes()),
        ],
        &[
            ("senders", senders.bytes()),
            ("totalCents", total_cents.bytes()),
            ("shareCounts", share_counts.bytes()),
            ("recipientOffsets", recipient_offsets.bytes()),
            ("recipients", recipients.bytes()),
            ("expiresAt", expires_at.bytes()),
        ],
    )?;
    // SAFETY: as in `release_supply`; the outputs are also disjoint from every input.
    let (batch, out) = unsafe {
        (
            CreateBatch {
                senders: senders.slice(),
                total_cents: total_cents.slice(),
                share_counts: share_counts.slice(),
                recipient_offsets: recipient_offsets.slice(),
                recipients: recipients.slice(),
                expires_at: expires_at.slice(),
            },
            CreateOut {
                status: status.slice_mut(),
                packet_ids: packet_ids.slice_mut(),
            },
        )
    };
    engine.create_group(&batch, out)?;
    call.undefined()
}

/// `openPackets(users, packetIds, nowMs, outStatus, outCents)`
fn open_packets(call: &Call<5>, engine: &Engine) -> Outcome {
    let users = call.typed::<u32>(0, "users")?;
    let packet_ids = call.typed::<u32>(1, "packetIds")?;
    let now_ms = call.number(2, "nowMs")?;
    let status = call.typed::<u8>(3, "out.status")?;
    let cents = call.typed::<u32>(4, "out.cents")?;
    ensure_disjoint(
        &[("out.status", status.bytes()), ("out.cents", cents.bytes())],
        &[("users", users.bytes()), ("packetIds", packet_ids.bytes())],
    )?;
    // SAFETY: as in `release_supply`; the outputs are also disjoint from every input.
    let (users, packet_ids, out) = unsafe {
        (
            users.slice(),
            packet_ids.slice(),
            OpenOut {
                status: status.slice_mut(),
                cents: cents.slice_mut(),
            },
        )
    };
    engine.open(users, packet_ids, now_ms, out)?;
    call.undefined()
}

/// `expire(nowMs, outPacketIds, outSenders, outCents, outShares, force?): number`
fn expire(call: &Call<6>, engine: &Engine) -> Outcome {
    let now_ms = call.number(0, "nowMs")?;
    let packet_ids = call.typed::<u32>(1, "out.packetIds")?;
    let senders = call.typed::<u32>(2, "out.senders")?;
    let cents = call.typed::<u32>(3, "out.cents")?;
    let shares = call.typed::<u32>(4, "out.shares")?;
    let force = match call.type_of(5) {
        ValueType::napi_undefined | ValueType::napi_null => None,
        _ => Some(call.typed::<u32>(5, "force")?),
    };
    let no_force: &[u32] = &[];
    ensure_disjoint(
        &[
            ("out.packetIds", packet_ids.bytes()),
            ("out.senders", senders.bytes()),
            ("out.cents", cents.bytes()),
            ("out.shares", shares.bytes()),
        ],
        &[("force", force.map_or_else(|| span(no_force), |f| f.bytes()))],
    )?;
    // SAFETY: as in `release_supply`; the outputs are also disjoint from `force`.
    let (force, out) = unsafe {
        (
            force.map_or(no_force, |f| f.slice()),
            RefundOut {
                packet_ids: packet_ids.slice_mut(),
                senders: senders.slice_mut(),
                cents: cents.slice_mut(),
                shares: shares.slice_mut(),
            },
        )
    };
    let n = engine.expire(now_ms, force, out)?;
    call.uint32(n)
}

/// `drawAmounts(rule, out)`
fn draw_amounts(call: &Call<2>, engine: &Engine) -> Outcome {
    let rule = call.rule(0)?;
    let out = call.typed::<u32>(1, "out")?;
    // SAFETY: the only typed array of the call, alive through this synchronous call.
    engine.draw_amounts(&rule, unsafe { out.slice_mut() })?;
    call.undefined()
}

/// `adoptShakePackets(ids, cents)`
fn adopt_shake_packets(call: &Call<2>, engine: &Engine) -> Outcome {
    let ids = call.typed::<u32>(0, "ids")?;
    let cents = call.typed::<u32>(1, "cents")?;
    // SAFETY: inputs only (shared views may overlap), alive through this synchronous call.
    let (ids, cents) = unsafe { (ids.slice(), cents.slice()) };
    engine.adopt_shake_packets(ids, cents)?;
    call.undefined()
}

/// `withdrawShakePackets(outIds, outCents): number`
fn withdraw_shake_packets(call: &Call<2>, engine: &Engine) -> Outcome {
    let ids = call.typed::<u32>(0, "out.ids")?;
    let cents = call.typed::<u32>(1, "out.cents")?;
    ensure_disjoint(
        &[("out.ids", ids.bytes()), ("out.cents", cents.bytes())],
        &[],
    )?;
    // SAFETY: as in `release_supply`.
    let (ids, cents) = unsafe { (ids.slice_mut(), cents.slice_mut()) };
    let n = engine.withdraw_shake_packets(ids, cents)?;
    call.uint32(n)
}

/// `splitShares(packetIds, totalCents, shareCounts, out)`
fn split_shares(call: &Call<4>, engine: &Engine) -> Outcome {
    let packet_ids = call.typed::<u32>(0, "packetIds")?;
    let total_cents = call.typed::<u32>(1, "totalCents")?;
    let share_counts = call.typed::<u32>(2, "shareCounts")?;
    let out = call.typed::<u32>(3, "out")?;
    ensure_disjoint(
        &[("out", out.bytes())],
        &[
            ("packetIds", packet_ids.bytes()),
            ("totalCents", total_cents.bytes()),
            ("shareCounts", share_counts.bytes()),
        ],
    )?;
    // SAFETY: as in `release_supply`; the output is also disjoint from every input.
    let (packet_ids, total_cents, share_counts, out) = unsafe {
        (
            packet_ids.slice(),
            total_cents.slice(),
            share_counts.slice(),
            out.slice_mut(),
        )
    };
    engine.split_shares(packet_ids, total_cents, share_counts, out)?;
    call.undefined()
}

macro_rules! callback {
    ($name:ident, $n:literal, $body:ident) => {
        unsafe extern "C" fn $name(
            env: sys::napi_env,
            info: sys::napi_callback_info,
        ) -> sys::napi_value {
            // SAFETY: N-API calls this with its env and callback info.
            unsafe { run::<$n>(env, info, $body) }
        }
    };
}

callback!(release_supply_cb, 3, release_supply);
callback!(shake_cb, 4, shake);
callback!(create_group_cb, 8, create_group);
callback!(open_packets_cb, 5, open_packets);
callback!(expire_cb, 6, expire);
callback!(draw_amounts_cb, 2, draw_amounts);
callback!(adopt_shake_packets_cb, 2, adopt_shake_packets);
callback!(withdraw_shake_packets_cb, 2, withdraw_shake_packets);
callback!(split_shares_cb, 4, split_shares);

/// Adds the hot calls to the module's exports.
pub fn register(env: sys::napi_env, exports: sys::napi_value) -> napi::Result<()> {
    let functions: [(&str, sys::napi_callback); 9] = [
        ("releaseSupply", Some(release_supply_cb)),
        ("shake", Some(shake_cb)),
        ("createGroup", Some(create_group_cb)),
        ("openPackets", Some(open_packets_cb)),
        ("expire", Some(expire_cb)),
        ("drawAmounts", Some(draw_amounts_cb)),
        ("adoptShakePackets", Some(adopt_shake_packets_cb)),
        ("withdrawShakePackets", Some(withdraw_shake_packets_cb)),
        ("splitShares", Some(split_shares_cb)),
    ];
    for (name, cb) in functions {
        let cname = CString::new(name).expect("a name without NUL");
        let mut function = ptr::null_mut();
        // SAFETY: the module's env and exports object, during module registration.
        let status = unsafe {
            sys::napi_create_function(
                env,
                cname.as_ptr() as *const c_char,
                name.len() as isize,
                cb,
                ptr::null_mut(),
                &mut function,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason(format!("cannot create {name}")));
        }
        // SAFETY: as above.
        let status =
            unsafe { sys::napi_set_named_property(env, exports, cname.as_ptr(), function) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason(format!("cannot export {name}")));
        }
    }
    Ok(())
}
