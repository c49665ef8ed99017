//! The shake supply: its rule, its progress, stream 0 and the round-robin cursor.

use crate::error::{InputError, Result};
use crate::rng::Rng;
use crate::types::{AmountRule, SupplyOptions, SupplyState, MAX_PACKET_CENTS};

impl AmountRule {
    /// Checks the bounds documented on each variant.
    pub fn validate(&self) -> Result<()> {
        match self {
            AmountRule::Range { min, max } => {
                if *min < 1 || min > max || *max > MAX_PACKET_CENTS {
                    return Err(InputError::new(format!(
                        "range rule needs 1 <= min <= max <= {MAX_PACKET_CENTS}, got min {min}, max {max}"
                    )));
                }
            }
            AmountRule::List(values) => {
                if values.is_empty() || values.len() > u32::MAX as usize {
                    return Err(InputError::new(
                        "list rule needs a non-empty list of values",
                    ));
                }
                if let Some(v) = values
                    .iter()
                    .find(|&&v| !(1..=MAX_PACKET_CENTS).contains(&v))
                {
                    return Err(InputError::new(format!(
                        "list rule values must be in 1..={MAX_PACKET_CENTS}, got {v}"
                    )));
                }
            }
        }
        Ok(())
    }

    fn draw(&self, rng: &mut Rng) -> u32 {
        match self {
            AmountRule::Range { min, max } => rng.uniform(*min, *max),
            // validate() keeps the length within u32 and non-zero.
            AmountRule::List(values) => values[rng.uniform(0, values.len() as u32 - 1) as usize],
        }
    }
}

/// Checks the options of a new supply.
pub(crate) fn validate_options(opts: &SupplyOptions) -> Result<()> {
    if !(opts.rate_per_second.is_finite() && opts.rate_per_second >= 0.0) {
        return Err(InputError::new(format!(
            "ratePerSecond must be a finite number >= 0, got {}",
            opts.rate_per_second
        )));
    }
    opts.rule.validate()
}

/// Supply progress and the state shared by every release, behind the engine's supply lock.
pub(crate) struct SupplyDesk {
    pub supply: Option<SupplyState>,
    /// Stream 0: the amounts of shake packets.
    pub rng: Rng,
    /// Shard that receives the next released packet.
    pub cursor: u32,
    /// Id of the next released packet (ids start at 1).
    pub next_shake_id: u64,
}

impl SupplyDesk {
    pub fn new(seed: u32) -> Self {
        Self {
            supply: None,
            rng: Rng::stream(seed, 0),
            cursor: 0,
            next_shake_id: 1,
        }
    }

    /// Draws one amount per item of `out` from `rule` (validated by the caller) on stream 0,
    /// exactly as a release under that rule would; creates nothing.
    pub fn draw_amounts(&mut self, rule: &AmountRule, out: &mut [u32]) {
        for cents in out {
            *cents = rule.draw(&mut self.rng);
        }
    }

    /// How many packets a release of `count` creates now.
    pub fn releasable(&self, count: u32) -> u32 {
        match &self.supply {
            Some(s) if s.active => count.min(s.total - s.released),
            _ => 0,
        }
    }

    /// Draws `n` packets (n from [`Self::releasable`]) into the outputs; the caller places packet
    /// `i` in shard `(cursor + i) mod shards` and then advances the cursor.
    pub fn draw(&mut self, n: u32, out_ids: &mut [u32], out_cents: &mut [u32]) -> Result<()> {
        let Some(supply) = self.supply.as_mut() else {
            return Ok(());
        };
        if self.next_shake_id + u64::from(n) > u64::from(u32::MAX) + 1 {
            return Err(InputError::new("shake packet ids exhausted (2^32 - 1)"));
        }
        for i in 0..n as usize {
            out_cents[i] = supply.rule.draw(&mut self.rng);
            out_ids[i] = self.next_shake_id as u32;
            self.next_shake_id += 1;
        }
        supply.released += n;
        Ok(())
    }
}
