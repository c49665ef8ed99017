//! The calls of cluster mode (docs/engine.md, "Calls for cluster mode"): packets leased from a
//! shared pool go into the local buckets and back out, and the engine still draws every amount
//! and every split. Each call validates its whole batch before any state changes.

use super::Engine;
use crate::error::{ensure_len, InputError, Result};
use crate::types::{AmountRule, MAX_PACKET_CENTS, MAX_SHARES};

impl Engine {
    /// Fills `out` with amounts drawn from `rule` on stream 0, in order, exactly as
    /// [`Engine::release_supply`] draws its packets' cents; creates nothing, moves no counter.
    pub fn draw_amounts(&self, rule: &AmountRule, out: &mut [u32]) -> Result<()> {
        rule.validate()?;
        self.supply.lock().draw_amounts(rule, out);
        Ok(())
    }

    /// Appends packets made elsewhere to the shake buckets, round-robin from the cursor as a
    /// release places them, counted as created. Draws nothing; the next shake id and the supply
    /// are untouched. Ids must be at least 1 and are not checked for uniqueness (the caller
    /// guarantees it); every amount is in `1..=MAX_PACKET_CENTS`.
    pub fn adopt_shake_packets(&self, ids: &[u32], cents: &[u32]) -> Result<()> {
        if ids.len() != cents.len() {
            return Err(InputError::new(format!(
                "cents has {} items, ids has {}",
                cents.len(),
                ids.len()
            )));
        }
        if let Some(i) = ids.iter().position(|&id| id == 0) {
            return Err(InputError::new(format!("ids[{i}] is 0: ids start at 1")));
        }
        if let Some(i) = cents
            .iter()
            .position(|c| !(1..=MAX_PACKET_CENTS).contains(c))
        {
            return Err(InputError::new(format!(
                "cents[{i}] must be in 1..={MAX_PACKET_CENTS}, got {}",
                cents[i]
            )));
        }
        if ids.is_empty() {
            return Ok(());
        }
        let mut desk = self.supply.lock();
        self.place_round_robin(&mut desk, ids, cents);
        Ok(())
    }

    /// Takes unwon shake packets out of the buckets, shard 0 first and each bucket oldest first,
    /// up to the outputs' common length; they move from remaining to refunded. Returns how many.
    pub fn withdraw_shake_packets(
        &self,
        out_ids: &mut [u32],
        out_cents: &mut [u32],
    ) -> Result<u32> {
        let cap = out_ids.len();
        if out_cents.len() != cap {
            return Err(InputError::new(format!(
                "out.cents has {} items, out.ids has {cap}: the outputs must have one length",
                out_cents.len()
            )));
        }
        // Packets are only ever added under the supply lock: holding it, no bucket fills up behind
        // the sweep, and a bucket published empty stays empty (it is skipped without its lock).
        let _desk = self.supply.lock();
        let probe = self.shards.probe();
        let mut taken = 0;
        for s in 0..self.shards.len() {
            if taken == cap {
                break;
            }
            if !probe.may_have_packets(s) {
                continue;
            }
            taken += self
                .shards
                .lock(s)
                .withdraw_shakes(&mut out_ids[taken..], &mut out_cents[taken..]);
        }
        Ok(taken as u32)
    }

    /// Writes the whole split of each packet, in opening order, consecutively into `out` (packet
    /// 0's shares, then packet 1's...). Packet `i` is split with the stream of shard
    /// `packet_ids[i] mod shards` in the engine's split mode, exactly as creating and opening a
    /// packet of that shard would draw it. Creates nothing, moves no counter; every shard touched
    /// is locked once.
    pub fn split_shares(
        &self,
        packet_ids: &[u32],
        total_cents: &[u32],
        share_counts: &[u32],
        out: &mut [u32],
    ) -> Result<()> {
        let n = packet_ids.len();
        for (name, len) in [
            ("totalCents", total_cents.len()),
            ("shareCounts", share_counts.len()),
        ] {
            if len != n {
                return Err(InputError::new(format!(
                    "{name} has {len} items, packetIds has {n}"
                )));
            }
        }
        let mut starts = Vec::with_capacity(n + 1);
        let mut next = 0usize;
        for (i, (&total, &count)) in total_cents.iter().zip(share_counts).enumerate() {
            if !(1..=MAX_SHARES).contains(&count) {
                return Err(InputError::new(format!(
                    "shareCounts[{i}] must be in 1..={MAX_SHARES}, got {count}"
                )));
            }
            if !(1..=MAX_PACKET_CENTS).contains(&total) {
                return Err(InputError::new(format!(
                    "totalCents[{i}] must be in 1..={MAX_PACKET_CENTS}, got {total}"
                )));
            }
            if total < count {
                return Err(InputError::new(format!(
                    "totalCents[{i}] ({total}) is below shareCounts[{i}] ({count}): every share needs a cent"
                )));
            }
            starts.push(next);
            next += count as usize;
        }
        starts.push(next);
        ensure_len("out", out.len(), next)?;

        let mode = self.split_mode;
        self.for_each_by_shard(
            n,
            |i| Some(self.shard_index(packet_ids[i])),
            |state, run| {
                for &i in run {
                    let i = i as usize;
                    state.split_into(total_cents[i], mode, &mut out[starts[i]..starts[i + 1]]);
                }
            },
        );
        Ok(())
    }
}
