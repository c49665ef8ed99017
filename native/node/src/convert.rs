//! JavaScript values to engine values and back: number checks, errors and the plain objects of
//! the non-hot calls. Numbers arrive as `f64` so that a negative or fractional value is refused
//! instead of being wrapped by N-API's integer conversion.

use hongbao_core::{
    AmountRule, CountCents, EngineConfig, FlowTotals, GroupSnapshot, PacketDetails, ShakeSnapshot,
    Share, Snapshot, SplitMode, SupplyOptions, SupplyState, Totals, DEFAULT_SHARDS,
};
use napi_derive::napi;

/// The `code` of every misuse error in JavaScript (`err.code`); `src/engine/native.ts` tests it
/// and throws an `EngineInputError`.
pub const INPUT_ERROR_CODE: &str = "EngineInputError";

/// An error as JavaScript receives it: its status string becomes `err.code`.
pub type JsError = napi::Error<String>;

/// A misuse error (status `InvalidArg` inside the binding, code `EngineInputError` outside).
pub fn input_error(message: &str) -> napi::Error {
    napi::Error::new(napi::Status::InvalidArg, message)
}

/// A misuse: ours (`input_error`) or napi's own argument conversions, both `InvalidArg`.
pub fn is_input(e: &napi::Error) -> bool {
    e.status == napi::Status::InvalidArg
}

/// Runs a call's body and gives its error the code JavaScript tests: `EngineInputError` for
/// misuse, napi's status name for anything else.
pub fn js<T>(body: impl FnOnce() -> napi::Result<T>) -> Result<T, JsError> {
    body().map_err(|e| {
        let code = if is_input(&e) {
            INPUT_ERROR_CODE.to_owned()
        } else {
            e.status.as_ref().to_owned()
        };
        napi::Error::new(code, e.reason)
    })
}

/// Maps an engine error to a JavaScript one.
pub fn from_core(error: hongbao_core::InputError) -> napi::Error {
    input_error(error.message())
}

const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// An integer in `0..=max`, or a misuse error naming `name`.
fn integer(name: &str, value: f64, max: f64) -> napi::Result<f64> {
    if value.fract() == 0.0 && (0.0..=max).contains(&value) {
        Ok(value)
    } else {
        Err(input_error(&format!(
            "{name} must be an integer in 0..={max}, got {value}"
        )))
    }
}

/// A u32 (ids, cents, counts of one call).
pub fn to_u32(name: &str, value: f64) -> napi::Result<u32> {
    integer(name, value, f64::from(u32::MAX)).map(|v| v as u32)
}

/// A counter (exact below 2^53).
pub fn to_u64(name: &str, value: f64) -> napi::Result<u64> {
    integer(name, value, MAX_SAFE_INTEGER).map(|v| v as u64)
}

fn to_u32_vec(name: &str, values: &[f64]) -> napi::Result<Vec<u32>> {
    values.iter().map(|&v| to_u32(name, v)).collect()
}

/// Options of a new engine (see `EngineOptions` in src/engine/types.ts).
#[napi(object)]
pub struct JsEngineOptions {
    /// Number of shards, 1..=65536; default 64.
    pub shards: Option<f64>,
    /// Seed of the random streams, an integer in 0..2^32. Omitted: OS entropy.
    pub seed: Option<f64>,
    /// 0 = double mean (default), 1 = line segment.
    pub split_mode: Option<f64>,
}

impl JsEngineOptions {
    pub fn to_config(&self) -> napi::Result<EngineConfig> {
        let shards = match self.shards {
            Some(s) => to_u32("shards", s)?,
            None => DEFAULT_SHARDS,
        };
        let seed = self.seed.map(|s| to_u32("seed", s)).transpose()?;
        Ok(EngineConfig {
            shards,
            seed,
            split_mode: split_mode(self.split_mode.unwrap_or(0.0))?,
        })
    }
}

fn split_mode(value: f64) -> napi::Result<SplitMode> {
    to_u32("splitMode", value)
        .ok()
        .and_then(SplitMode::from_u32)
        .ok_or_else(|| input_error(&format!("splitMode must be 0 or 1, got {value}")))
}

/// What `engineOpen` and `engineReset` report about the engine now in place.
#[napi(object)]
pub struct JsEngineInfo {
    pub shards: u32,
    pub seed: u32,
    pub split_mode: u32,
    /// False when `engineOpen` attached to an existing engine.
    pub created: bool,
}

/// `{ kind: 'range', min, max }` or `{ kind: 'list', values }`.
#[napi(object)]
pub struct JsAmountRule {
    pub kind: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub values: Option<Vec<f64>>,
}

impl JsAmountRule {
    pub fn to_rule(&self) -> napi::Result<AmountRule> {
        let rule = match self.kind.as_str() {
            "range" => {
                let (Some(min), Some(max)) = (self.min, self.max) else {
                    return Err(input_error("a range rule needs min and max"));
                };
                AmountRule::Range {
                    min: to_u32("rule.min", min)?,
                    max: to_u32("rule.max", max)?,
                }
            }
            "list" => AmountRule::List(to_u32_vec(
                "rule.values",
                self.values.as_deref().unwrap_or(&[]),
            )?),
            other => {
                return Err(input_error(&format!(
                    "rule.kind must be 'range' or 'list', got '{other}'"
                )))
            }
        };
        rule.validate().map_err(from_core)?;
        Ok(rule)
    }

    fn from_rule(rule: &AmountRule) -> Self {
        match rule {
            AmountRule::Range { min, max } => Self {
                kind: "range".into(),
                min: Some(f64::from(*min)),
                max: Some(f64::from(*max)),
                values: None,
            },
            AmountRule::List(values) => Self {
                kind: "list".into(),
                min: None,
                max: None,
                values: Some(values.iter().map(|&v| f64::from(v)).collect()),
            },
        }
    }
}

/// Options of a shake supply.
#[napi(object)]
pub struct JsSupplyOptions {
    pub total: f64,
    pub rate_per_second: f64,
    pub rule: JsAmountRule,
}

impl JsSupplyOptions {
    pub fn to_options(&self) -> napi::Result<SupplyOptions> {
        Ok(SupplyOptions {
            total: to_u32("total", self.total)?,
            rate_per_second: self.rate_per_second,
            rule: self.rule.to_rule()?,
        })
    }
}

/// A supply and its progress.
#[napi(object)]
pub struct JsSupplyState {
    pub total: f64,
    pub rate_per_second: f64,
    pub released: f64,
    pub rule: JsAmountRule,
    pub active: bool,
}

impl JsSupplyState {
    pub fn from_state(s: &SupplyState) -> Self {
        Self {
            total: f64::from(s.total),
            rate_per_second: s.rate_per_second,
            released: f64::from(s.released),
            rule: JsAmountRule::from_rule(&s.rule),
            active: s.active,
        }
    }

    fn to_state(&self) -> napi::Result<SupplyState> {
        Ok(SupplyState {
            total: to_u32("supply.total", self.total)?,
            rate_per_second: self.rate_per_second,
            released: to_u32("supply.released", self.released)?,
            rule: self.rule.to_rule()?,
            active: self.active,
        })
    }
}

/// A count and its cents.
#[napi(object)]
pub struct JsCountCents {
    pub count: f64,
    pub cents: f64,
}

impl From<CountCents> for JsCountCents {
    fn from(c: CountCents) -> Self {
        Self {
            count: c.count as f64,
            cents: c.cents as f64,
        }
    }
}

/// `created = paid + remaining + refunded`.
#[napi(object)]
pub struct JsFlowTotals {
    pub created: JsCountCents,
    pub paid: JsCountCents,
    pub remaining: JsCountCents,
    pub refunded: JsCountCents,
}

impl From<FlowTotals> for JsFlowTotals {
    fn from(f: FlowTotals) -> Self {
        Self {
            created: f.created.into(),
            paid: f.paid.into(),
            remaining: f.remaining.into(),
            refunded: f.refunded.into(),
        }
    }
}

/// Money of the whole engine.
#[napi(object)]
pub struct JsTotals {
    pub shake: JsFlowTotals,
    pub group: JsFlowTotals,
    pub group_packets: f64,
}

impl From<Totals> for JsTotals {
    fn from(t: Totals) -> Self {
        Self {
            shake: t.shake.into(),
            group: t.group.into(),
            group_packets: t.group_packets as f64,
        }
    }
}

/// One opened share; `order` is its 0-based position in opening order.
#[napi(object)]
pub struct JsPacketShare {
    pub user: u32,
    pub cents: u32,
    pub order: u32,
}

/// Everything known about one group packet.
#[napi(object, use_nullable = true)]
pub struct JsPacketDetails {
    pub id: u32,
    pub sender: u32,
    pub total_cents: u32,
    pub share_count: u32,
    pub split_mode: u32,
    pub recipients: Vec<u32>,
    pub expires_at: f64,
    pub opened: Vec<JsPacketShare>,
    pub remaining_cents: u32,
    pub remaining_shares: u32,
    pub refunded_cents: u32,
    pub expired: bool,
    /// User of the first of the largest shares; null before any open.
    pub best_luck: Option<u32>,
}

impl From<PacketDetails> for JsPacketDetails {
    fn from(d: PacketDetails) -> Self {
        Self {
            id: d.id,
            sender: d.sender,
            total_cents: d.total_cents,
            share_count: d.share_count,
            split_mode: d.split_mode as u32,
            recipients: d.recipients,
            expires_at: d.expires_at,
            opened: d
                .opened
                .iter()
                .enumerate()
                .map(|(order, s)| JsPacketShare {
                    user: s.user,
                    cents: s.cents,
                    order: order as u32,
                })
                .collect(),
            remaining_cents: d.remaining_cents,
            remaining_shares: d.remaining_shares,
            refunded_cents: d.refunded_cents,
            expired: d.expired,
            best_luck: d.best_luck,
        }
    }
}

/// Shake part of a snapshot.
#[napi(object)]
pub struct JsShakeSnapshot {
    pub created_count: f64,
    pub created_cents: f64,
    pub paid_count: f64,
    pub paid_cents: f64,
    pub unpaid_ids: Vec<f64>,
    pub unpaid_cents: Vec<f64>,
}

/// An opened share in a snapshot.
#[napi(object)]
pub struct JsOpenedShare {
    pub user: f64,
    pub cents: f64,
}

/// A group packet in a snapshot.
#[napi(object)]
pub struct JsGroupSnapshot {
    pub id: f64,
    pub sender: f64,
    pub total_cents: f64,
    pub share_count: f64,
    pub split_mode: f64,
    pub recipients: Vec<f64>,
    pub expires_at: f64,
    pub opened: Vec<JsOpenedShare>,
    pub expired: bool,
    pub refunded_cents: f64,
}

/// Everything needed to rebuild the engine after a restart.
#[napi(object, use_nullable = true)]
pub struct JsSnapshot {
    pub next_shake_id: f64,
    pub next_group_id: f64,
    pub supply: Option<JsSupplyState>,
    pub shake: JsShakeSnapshot,
    pub groups: Vec<JsGroupSnapshot>,
}

impl JsSnapshot {
    pub fn to_snapshot(&self) -> napi::Result<Snapshot> {
        let s = &self.shake;
        Ok(Snapshot {
            next_shake_id: to_u64("nextShakeId", self.next_shake_id)?,
            next_group_id: to_u64("nextGroupId", self.next_group_id)?,
            supply: self
                .supply
                .as_ref()
                .map(JsSupplyState::to_state)
                .transpose()?,
            shake: ShakeSnapshot {
                created: CountCents {
                    count: to_u64("shake.createdCount", s.created_count)?,
                    cents: to_u64("shake.createdCents", s.created_cents)?,
                },
                paid: CountCents {
                    count: to_u64("shake.paidCount", s.paid_count)?,
                    cents: to_u64("shake.paidCents", s.paid_cents)?,
                },
                unpaid_ids: to_u32_vec("shake.unpaidIds", &s.unpaid_ids)?,
                unpaid_cents: to_u32_vec("shake.unpaidCents", &s.unpaid_cents)?,
            },
            groups: self
                .groups
                .iter()
                .map(group_snapshot)
                .collect::<napi::Result<_>>()?,
        })
    }
}

fn group_snapshot(g: &JsGroupSnapshot) -> napi::Result<GroupSnapshot> {
    Ok(GroupSnapshot {
        id: to_u32("group.id", g.id)?,
        sender: to_u32("group.sender", g.sender)?,
        total_cents: to_u32("group.totalCents", g.total_cents)?,
        share_count: to_u32("group.shareCount", g.share_count)?,
        split_mode: split_mode(g.split_mode)?,
        recipients: to_u32_vec("group.recipients", &g.recipients)?,
        expires_at: g.expires_at,
        opened: g
            .opened
            .iter()
            .map(|o| {
                Ok(Share {
                    user: to_u32("group.opened.user", o.user)?,
                    cents: to_u32("group.opened.cents", o.cents)?,
                })
            })
            .collect::<napi::Result<_>>()?,
        expired: g.expired,
        refunded_cents: to_u32("group.refundedCents", g.refunded_cents)?,
    })
}
