//! The engine: shards, the supply and the group id counter, with the batch calls of
//! docs/engine.md (the calls of cluster mode in `engine/cluster.rs`). Every call validates its whole
//! batch before any state changes. Creates, opens, releases, adoptions, splits and expiry sweeps
//! lock each shard at most once per batch; a shake or a withdrawal locks only the shards whose
//! bucket has packets. No call holds two shard locks at once (a restore excepted).

mod cluster;

use std::cell::RefCell;

use parking_lot::Mutex;

use crate::error::{ensure_len, InputError, Result};
use crate::packet::NewPacket;
use crate::rng::entropy_seed;
use crate::shard::{ShardGuard, ShardState, Shards};
use crate::snapshot::{fresh_shards, rebuild, Snapshot};
use crate::supply::{validate_options, SupplyDesk};
use crate::types::{
    CreateStatus, EngineConfig, FlowTotals, PacketDetails, Refund, ShakeStatus, SplitMode,
    SupplyOptions, SupplyState, Totals,
};

/// Most shards an engine may have.
pub const MAX_SHARDS: u32 = 65_536;

/// Caller-owned output of a shake batch; each slice has at least as many items as the batch.
pub struct ShakeOut<'a> {
    /// [`ShakeStatus`] per user.
    pub status: &'a mut [u8],
    /// Packet id on a hit, else 0.
    pub packet_ids: &'a mut [u32],
    /// Cents on a hit, else 0.
    pub cents: &'a mut [u32],
}

/// A batch of group-packet creations in compressed-row form: the recipients of item `i` are
/// `recipients[recipient_offsets[i] .. recipient_offsets[i + 1]]`.
pub struct CreateBatch<'a> {
    pub senders: &'a [u32],
    pub total_cents: &'a [u32],
    pub share_counts: &'a [u32],
    /// One more entry than there are items, non-decreasing, the last within `recipients`.
    pub recipient_offsets: &'a [u32],
    pub recipients: &'a [u32],
    /// Absolute expiry in ms since the epoch, finite.
    pub expires_at: &'a [f64],
}

/// Caller-owned output of a create batch.
pub struct CreateOut<'a> {
    /// [`CreateStatus`] per item.
    pub status: &'a mut [u8],
    /// The new id for `Ok`, else 0.
    pub packet_ids: &'a mut [u32],
}

/// Caller-owned output of an open batch.
pub struct OpenOut<'a> {
    /// [`OpenStatus`] per item.
    pub status: &'a mut [u8],
    /// The share for `Ok` and `Repeat`, else 0.
    pub cents: &'a mut [u32],
}

/// Caller-owned output of an expiry sweep: four slices of the same length, the sweep's capacity.
pub struct RefundOut<'a> {
    pub packet_ids: &'a mut [u32],
    pub senders: &'a mut [u32],
    pub cents: &'a mut [u32],
    pub shares: &'a mut [u32],
}

/// The packet engine. All methods take `&self`: share it between threads behind an `Arc`.
pub struct Engine {
    config: EngineConfig,
    seed: u32,
    split_mode: SplitMode,
    shards: Shards,
    /// Lock order: `supply`, then `next_group_id`, then shards in index order.
    supply: Mutex<SupplyDesk>,
    next_group_id: Mutex<u64>,
}

impl Engine {
    /// A fresh engine. Fails when the shard count is outside `1..=MAX_SHARDS`.
    pub fn new(config: EngineConfig) -> Result<Self> {
        if !(1..=MAX_SHARDS).contains(&config.shards) {
            return Err(InputError::new(format!(
                "shards must be an integer in 1..={MAX_SHARDS}, got {}",
                config.shards
            )));
        }
        let seed = config.seed.unwrap_or_else(entropy_seed);
        Ok(Self {
            config,
            seed,
            split_mode: config.split_mode,
            shards: Shards::new(fresh_shards(seed, config.shards)),
            supply: Mutex::new(SupplyDesk::new(seed)),
            next_group_id: Mutex::new(1),
        })
    }

    /// The configuration as given (`seed` stays `None` when it was drawn from the OS), so that a
    /// reset without options can start over the same way.
    pub fn config(&self) -> EngineConfig {
        self.config
    }

    /// Number of shards.
    pub fn shard_count(&self) -> u32 {
        self.shards.len() as u32
    }

    /// The seed of every stream (drawn from the OS when none was given).
    pub fn seed(&self) -> u32 {
        self.seed
    }

    /// Split mode of new group packets.
    pub fn split_mode(&self) -> SplitMode {
        self.split_mode
    }

    #[inline]
    fn shard_index(&self, key: u32) -> usize {
        self.shards.index_of(key)
    }

    /// Replaces any previous supply; `released` starts at 0. Released packets stay in their buckets.
    pub fn start_supply(&self, opts: SupplyOptions) -> Result<()> {
        validate_options(&opts)?;
        self.supply.lock().supply = Some(SupplyState {
            total: opts.total,
            rate_per_second: opts.rate_per_second,
            released: 0,
            rule: opts.rule,
            active: true,
        });
        Ok(())
    }

    /// Stops the supply: later releases create nothing.
    pub fn stop_supply(&self) {
        if let Some(supply) = self.supply.lock().supply.as_mut() {
            supply.active = false;
        }
    }

    /// The current supply, if one was started.
    pub fn supply_state(&self) -> Option<SupplyState> {
        self.supply.lock().supply.clone()
    }

    /// Creates up to `count` shake packets (capped by what the supply has left), spread
    /// round-robin over the shards; writes their ids and cents and returns how many.
    /// Both outputs need at least `count` items.
    pub fn release_supply(
        &self,
        count: u32,
        out_ids: &mut [u32],
        out_cents: &mut [u32],
    ) -> Result<u32> {
        ensure_len("out.ids", out_ids.len(), count as usize)?;
        ensure_len("out.cents", out_cents.len(), count as usize)?;
        let mut desk = self.supply.lock();
        let n = desk.releasable(count);
        if n == 0 {
            return Ok(0);
        }
        desk.draw(n, out_ids, out_cents)?;
        let n = n as usize;
        self.place_round_robin(&mut desk, &out_ids[..n], &out_cents[..n]);
        Ok(n as u32)
    }

    /// Appends packet `i` to the bucket of shard `(cursor + i) mod shards`, counted as created,
    /// and advances the cursor. Each shard that gets any is locked once and gets every
    /// `shards`-th packet. The caller holds the supply lock, so concurrent releases keep every
    /// bucket in id order.
    fn place_round_robin(&self, desk: &mut SupplyDesk, ids: &[u32], cents: &[u32]) {
        let n = ids.len();
        let shards = self.shards.len();
        let first = desk.cursor as usize;
        desk.cursor = ((first as u64 + n as u64) % shards as u64) as u32;
        for j in 0..n.min(shards) {
            let mut state = self.shards.lock((first + j) % shards);
            for i in (j..n).step_by(shards) {
                state.push_shake(ids[i], cents[i]);
            }
        }
    }

    /// One shake per user, in order: the oldest packet of shard `user mod shards`, or a miss.
    /// A shard whose bucket is empty is not locked; one that has packets is locked once for a run of
    /// shakes that land on it, and released as soon as its bucket is empty.
    pub fn shake(&self, users: &[u32], out: ShakeOut<'_>) -> Result<()> {
        let n = users.len();
        ensure_len("out.status", out.status.len(), n)?;
        ensure_len("out.packetIds", out.packet_ids.len(), n)?;
        ensure_len("out.cents", out.cents.len(), n)?;
        let outputs = out.status[..n]
            .iter_mut()
            .zip(&mut out.packet_ids[..n])
            .zip(&mut out.cents[..n]);
        let probe = self.shards.probe();
        let mut held: Option<(usize, ShardGuard<'_>)> = None;
        for (&user, ((status, packet_id), cents)) in users.iter().zip(outputs) {
            let shard = probe.index_of(user);
            let packet = match &mut held {
                Some((at, guard)) if *at == shard => guard.take_shake(),
                _ if probe.may_have_packets(shard) => {
                    drop(held.take()); // unlock the previous shard before locking another
                    let mut guard = self.shards.lock(shard);
                    let packet = guard.take_shake();
                    held = Some((shard, guard));
                    packet
                }
                _ => None,
            };
            if held.as_ref().is_some_and(|(_, g)| g.bucket_is_empty()) {
                held = None; // publishes the empty bucket: later shakes here miss lock-free
            }
            if let Some((id, c)) = packet {
                *status = ShakeStatus::Hit as u8;
                *packet_id = id;
                *cents = c;
            } else {
                *status = ShakeStatus::Miss as u8;
                *packet_id = 0;
                *cents = 0;
            }
        }
        Ok(())
    }

    /// Creates group packets; each item gets a [`CreateStatus`] and, when `Ok`, the next id.
    pub fn create_group(&self, batch: &CreateBatch<'_>, out: CreateOut<'_>) -> Result<()> {
        let n = batch.senders.len();
        for (name, len) in [
            ("totalCents", batch.total_cents.len()),
            ("shareCounts", batch.share_counts.len()),
            ("expiresAt", batch.expires_at.len()),
        ] {
            if len != n {
                return Err(InputError::new(format!(
                    "{name} has {len} items, senders has {n}"
                )));
            }
        }
        if batch.recipient_offsets.len() != n + 1 {
            return Err(InputError::new(format!(
                "recipientOffsets has {} items, needs {}",
                batch.recipient_offsets.len(),
                n + 1
            )));
        }
        let offsets = batch.recipient_offsets;
        if offsets.windows(2).any(|w| w[0] > w[1]) || offsets[n] as usize > batch.recipients.len() {
            return Err(InputError::new(
                "recipientOffsets must be non-decreasing and end within recipients",
            ));
        }
        if let Some(t) = batch.expires_at.iter().find(|t| !t.is_finite()) {
            return Err(InputError::new(format!(
                "expiresAt must be finite, got {t}"
            )));
        }
        ensure_len("out.status", out.status.len(), n)?;
        ensure_len("out.packetIds", out.packet_ids.len(), n)?;

        let prepared: Vec<std::result::Result<NewPacket<'_>, CreateStatus>> = (0..n)
            .map(|i| {
                let recipients = &batch.recipients[offsets[i] as usize..offsets[i + 1] as usize];
                NewPacket::prepare(
                    batch.senders[i],
                    batch.total_cents[i],
                    batch.share_counts[i],
                    recipients,
                    batch.expires_at[i],
                )
            })
            .collect();
        let ok_count = prepared.iter().filter(|p| p.is_ok()).count() as u64;
        let first_id = {
            let mut next = self.next_group_id.lock();
            if *next + ok_count > 1 << 32 {
                return Err(InputError::new("group packet ids exhausted (2^32 - 1)"));
            }
            let first = *next;
            *next += ok_count;
            first
        };

        let mut next_id = first_id;
        for (i, item) in prepared.iter().enumerate() {
            match item {
                Ok(_) => {
                    out.status[i] = CreateStatus::Ok as u8;
                    out.packet_ids[i] = next_id as u32; // below 2^32: checked above
                    next_id += 1;
                }
                Err(status) => {
                    out.status[i] = *status as u8;
                    out.packet_ids[i] = 0;
                }
            }
        }
        let mode = self.split_mode;
        let ids = &out.packet_ids[..n];
        self.for_each_by_shard(
            n,
            |i| prepared[i].is_ok().then(|| self.shard_index(ids[i])),
            |state, run| {
                for &i in run {
                    if let Ok(new) = &prepared[i as usize] {
                        state.create_group(ids[i as usize], new, mode);
                    }
                }
            },
        );
        Ok(())
    }

    /// Opens `packet_ids[i]` for `users[i]`, in order, at time `now_ms`.
    pub fn open(
        &self,
        users: &[u32],
        packet_ids: &[u32],
        now_ms: f64,
        out: OpenOut<'_>,
    ) -> Result<()> {
        let n = users.len();
        if packet_ids.len() != n {
            return Err(InputError::new(format!(
                "packetIds has {} items, users has {n}",
                packet_ids.len()
            )));
        }
        if now_ms.is_nan() {
            return Err(InputError::new("nowMs must be a number"));
        }
        ensure_len("out.status", out.status.len(), n)?;
        ensure_len("out.cents", out.cents.len(), n)?;
        let (status, cents) = (&mut out.status[..n], &mut out.cents[..n]);
        self.for_each_by_shard(
            n,
            |i| Some(self.shard_index(packet_ids[i])),
            |state, run| {
                for &i in run.iter().take(PREFETCH_AHEAD) {
                    state.prefetch_group(packet_ids[i as usize]);
                }
                for (k, &i) in run.iter().enumerate() {
                    // The packets of the next opens are likely out of cache: ask for them early.
                    if let Some(&ahead) = run.get(k + PREFETCH_AHEAD) {
                        state.prefetch_group(packet_ids[ahead as usize]);
                    }
                    let i = i as usize;
                    let (s, c) = state.open(users[i], packet_ids[i], now_ms);
                    status[i] = s as u8;
                    cents[i] = c;
                }
            },
        );
        Ok(())
    }

    /// Expires, in ascending id order and up to the capacity of `out`, every packet not yet
    /// expired whose expiry is `<= now_ms` or whose id is in `force`. Returns how many refunds
    /// were written; what did not fit stays for the next call.
    pub fn expire(&self, now_ms: f64, force: &[u32], out: RefundOut<'_>) -> Result<u32> {
        if now_ms.is_nan() {
            return Err(InputError::new("nowMs must be a number"));
        }
        let cap = out.packet_ids.len();
        for (name, len) in [
            ("out.senders", out.senders.len()),
            ("out.cents", out.cents.len()),
            ("out.shares", out.shares.len()),
        ] {
            if len != cap {
                return Err(InputError::new(format!(
                    "{name} has {len} items, out.packetIds has {cap}: refund outputs must have one length"
                )));
            }
        }
        if cap == 0 {
            return Ok(0);
        }
        let shard_count = self.shards.len();
        let mut forced = vec![Vec::new(); if force.is_empty() { 0 } else { shard_count }];
        for &id in force {
            forced[self.shard_index(id)].push(id);
        }
        // Pass 1 reads what is due shard by shard; pass 2 expires the `cap` smallest ids,
        // re-checking each under its lock in case another thread expired it in between.
        let mut due = Vec::new();
        for s in 0..shard_count {
            let force_here = forced.get(s).map_or(&[][..], Vec::as_slice);
            due.extend(
                self.shards
                    .lock(s)
                    .expiry_candidates(now_ms, force_here, cap),
            );
        }
        due.sort_unstable();
        due.truncate(cap);
        let mut refunds: Vec<Refund> = Vec::with_capacity(due.len());
        self.for_each_by_shard(
            due.len(),
            |k| Some(self.shard_index(due[k])),
            |state, run| refunds.extend(run.iter().filter_map(|&k| state.expire(due[k as usize]))),
        );
        refunds.sort_unstable_by_key(|r| r.packet_id);
        for (i, r) in refunds.iter().enumerate() {
            out.packet_ids[i] = r.packet_id;
            out.senders[i] = r.sender;
            out.cents[i] = r.cents;
            out.shares[i] = r.shares;
        }
        Ok(refunds.len() as u32)
    }

    /// Forgets every expired packet whose expiry is `<= before_ms` (docs/engine.md, `evict`):
    /// its money is settled and in the ledger. Returns how many were dropped.
    pub fn evict(&self, before_ms: f64) -> Result<u32> {
        if before_ms.is_nan() {
            return Err(InputError::new("beforeMs must be a number"));
        }
        Ok((0..self.shards.len())
            .map(|s| self.shards.lock(s).evict(before_ms))
            .sum())
    }

    /// Everything known about one group packet, or `None` for an unknown id.
    pub fn details(&self, packet_id: u32) -> Option<PacketDetails> {
        self.shards
            .lock(self.shard_index(packet_id))
            .details(packet_id)
    }

    /// Money of both flows, summed shard by shard (each shard's counters are consistent under
    /// its lock, so the sum satisfies `created = paid + remaining + refunded`).
    pub fn totals(&self) -> Totals {
        let mut sum = crate::shard::ShardCounters::default();
        for s in 0..self.shards.len() {
            let c = self.shards.lock(s).counters;
            sum.shake_created.add_all(c.shake_created);
            sum.shake_paid.add_all(c.shake_paid);
            sum.shake_refunded.add_all(c.shake_refunded);
            sum.group_created.add_all(c.group_created);
            sum.group_paid.add_all(c.group_paid);
            sum.group_refunded.add_all(c.group_refunded);
            sum.group_packets += c.group_packets;
        }
        Totals {
            shake: FlowTotals::from_counters(sum.shake_created, sum.shake_paid, sum.shake_refunded),
            group: FlowTotals::from_counters(sum.group_created, sum.group_paid, sum.group_refunded),
            group_packets: sum.group_packets,
        }
    }

    /// Replaces all state with `snapshot`, as if restored on a fresh engine with the same seed,
    /// shard count and split mode. Nothing changes if the snapshot is inconsistent.
    pub fn restore(&self, snapshot: &Snapshot) -> Result<()> {
        let rebuilt = rebuild(snapshot, self.seed, self.shard_count())?;
        let mut desk = self.supply.lock();
        let mut next_group_id = self.next_group_id.lock();
        let mut guards: Vec<_> = (0..self.shards.len())
            .map(|s| self.shards.lock(s))
            .collect();
        for (guard, state) in guards.iter_mut().zip(rebuilt.shards) {
            **guard = state;
        }
        *desk = rebuilt.desk;
        *next_group_id = rebuilt.next_group_id;
        Ok(())
    }

    /// Runs `f(state, items)` for the items `i < n` whose `shard_of(i)` is `Some`, one run of item
    /// indices per shard, with that shard locked. Each shard is locked once; items of one shard keep
    /// their batch order (items of different shards are independent). The grouping is a counting sort in a per-thread scratch
    /// buffer, so a batch allocates nothing once the buffer has grown to the largest batch.
    fn for_each_by_shard(
        &self,
        n: usize,
        shard_of: impl Fn(usize) -> Option<usize>,
        mut f: impl FnMut(&mut ShardState, &[u32]),
    ) {
        SCRATCH.with(|cell| {
            // A nested call on this thread (none today) would find the buffer taken: it gets its own.
            let mut fresh = Scratch::default();
            let mut borrowed = cell.try_borrow_mut();
            let scratch = match borrowed.as_deref_mut() {
                Ok(s) => s,
                Err(_) => &mut fresh,
            };
            let shards = self.shards.len();
            // Counting costs O(shards) on top of O(n): worth it once the batch is about as large
            // as the shard count; a small batch sorts n keys instead.
            if shards <= 2 * n {
                let (order, starts) = scratch.counting_sort(n, shards, &shard_of);
                let mut from = 0;
                for (shard, &to) in starts.iter().enumerate() {
                    let to = to as usize;
                    if to > from {
                        let mut state = self.shards.lock(shard);
                        f(&mut state, &order[from..to]);
                    }
                    from = to;
                }
            } else {
                // Fewer items than shards: sort (shard, index) keys instead of counting per shard.
                let keys = &mut scratch.keys;
                keys.clear();
                keys.extend(
                    (0..n).filter_map(|i| shard_of(i).map(|s| (s as u64) << 32 | i as u64)),
                );
                keys.sort_unstable();
                let order = &mut scratch.items;
                order.clear();
                order.extend(keys.iter().map(|&key| key as u32));
                let mut k = 0;
                while k < keys.len() {
                    let shard = (keys[k] >> 32) as usize;
                    let end = k + keys[k..].partition_point(|&key| (key >> 32) as usize == shard);
                    let mut state = self.shards.lock(shard);
                    f(&mut state, &order[k..end]);
                    k = end;
                }
            }
        });
    }
}

/// Per-thread buffers of [`Engine::for_each_by_shard`].
#[derive(Default)]
struct Scratch {
    /// Shard of each item, then the item order grouped by shard.
    items: Vec<u32>,
    /// Per shard: first the count, then the end of its group in the order.
    ends: Vec<u32>,
    keys: Vec<u64>,
}

/// How many opens ahead the packet of an open is prefetched.
const PREFETCH_AHEAD: usize = 4;

/// Marks an item without a shard.
const NO_SHARD: u32 = u32::MAX;

impl Scratch {
    /// Groups items `0..n` by shard, keeping batch order within a shard: returns the grouped
    /// item indices and, per shard, the end of its group.
    fn counting_sort(
        &mut self,
        n: usize,
        shards: usize,
        shard_of: &impl Fn(usize) -> Option<usize>,
    ) -> (&[u32], &[u32]) {
        self.items.clear();
        self.items.resize(2 * n, 0);
        self.ends.clear();
        self.ends.resize(shards, 0);
        let (shard_of_item, order) = self.items.split_at_mut(n);
        let ends = &mut self.ends[..];
        for (i, slot) in shard_of_item.iter_mut().enumerate() {
            *slot = match shard_of(i) {
                Some(s) => {
                    ends[s] += 1;
                    s as u32
                }
                None => NO_SHARD,
            };
        }
        // Counts to starts...
        let mut sum = 0;
        for e in ends.iter_mut() {
            let count = *e;
            *e = sum;
            sum += count;
        }
        // ...and each start to its end while placing the items.
        for (i, &s) in shard_of_item.iter().enumerate() {
            if s != NO_SHARD {
                let at = &mut ends[s as usize];
                order[*at as usize] = i as u32;
                *at += 1;
            }
        }
        (&order[..sum as usize], ends)
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}
