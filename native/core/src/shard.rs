//! The shards: each a FIFO bucket of shake packets, the group packets whose id maps there, the
//! shard's random stream and its money counters, all behind one lock; plus the bucket lengths,
//! readable without any lock.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::divisor::Divisor;
use crate::packet::{GroupPacket, NewPacket};
use crate::rng::Rng;
use crate::split::{double_mean_share, line_segment_split};
use crate::types::{CountCents, OpenStatus, PacketDetails, Refund, Share, SplitMode};

/// One shard's lock and state, on cache lines of its own: threads working on neighbouring shards
/// do not invalidate each other's lines.
#[repr(align(128))]
struct Slot(Mutex<ShardState>);

/// Every shard of an engine.
pub(crate) struct Shards {
    slots: Box<[Slot]>,
    /// Bucket length of each shard, stored under the shard's lock when a guard drops, packed
    /// together: a shake reads its shard's entry first, so that a miss (more than 99% of shakes)
    /// takes no lock and the misses of a batch read a few cache lines.
    bucket_lens: Box<[AtomicU32]>,
    count: Divisor,
}

impl Shards {
    pub fn new(states: Vec<ShardState>) -> Self {
        let count = Divisor::new(states.len() as u32);
        Self {
            bucket_lens: states
                .iter()
                .map(|s| AtomicU32::new(s.bucket.len() as u32))
                .collect(),
            slots: states.into_iter().map(|s| Slot(Mutex::new(s))).collect(),
            count,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The shard of a user (shakes) or a packet id (groups): `key mod shards`.
    #[inline]
    pub fn index_of(&self, key: u32) -> usize {
        self.count.rem(key) as usize
    }

    /// What the miss path of a shake reads, copied out so that a loop keeps it in registers.
    #[inline]
    pub fn probe(&self) -> Probe<'_> {
        Probe {
            bucket_lens: &self.bucket_lens,
            count: self.count,
        }
    }

    pub fn lock(&self, index: usize) -> ShardGuard<'_> {
        ShardGuard {
            state: self.slots[index].0.lock(),
            bucket_len: &self.bucket_lens[index],
        }
    }
}

/// The shard of a key and whether its bucket may have packets, without touching any lock.
#[derive(Clone, Copy)]
pub(crate) struct Probe<'a> {
    bucket_lens: &'a [AtomicU32],
    count: Divisor,
}

impl Probe<'_> {
    /// As [`Shards::index_of`].
    #[inline]
    pub fn index_of(self, key: u32) -> usize {
        self.count.rem(key) as usize
    }

    /// False when the bucket of shard `index` was empty at its last unlock: a shake there is a
    /// miss. A relaxed load is enough: a shake that sees packets takes
    /// the lock (which orders everything), and one that sees none misses, as it would have a
    /// moment earlier.
    #[inline]
    pub fn may_have_packets(self, index: usize) -> bool {
        self.bucket_lens[index].load(Ordering::Relaxed) > 0
    }
}

/// A locked shard; publishes the bucket length when dropped.
pub(crate) struct ShardGuard<'a> {
    state: MutexGuard<'a, ShardState>,
    bucket_len: &'a AtomicU32,
}

impl Deref for ShardGuard<'_> {
    type Target = ShardState;
    fn deref(&self) -> &ShardState {
        &self.state
    }
}

impl DerefMut for ShardGuard<'_> {
    fn deref_mut(&mut self) -> &mut ShardState {
        &mut self.state
    }
}

impl Drop for ShardGuard<'_> {
    fn drop(&mut self) {
        // Still under the lock here, so stores happen in lock order and the relaxed load sees the
        // last one. An unchanged length is not stored again: readers keep their cache line.
        let len = self.state.bucket.len() as u32;
        if self.bucket_len.load(Ordering::Relaxed) != len {
            self.bucket_len.store(len, Ordering::Release);
        }
    }
}

/// Money counters of one shard, only changed under its lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShardCounters {
    pub shake_created: CountCents,
    pub shake_paid: CountCents,
    /// Shake packets withdrawn from the bucket (given back to a cluster's pool).
    pub shake_refunded: CountCents,
    /// Shares and cents.
    pub group_created: CountCents,
    pub group_paid: CountCents,
    pub group_refunded: CountCents,
    pub group_packets: u64,
}

/// The group packets of one shard, found by id without hashing. The engine gives ids in sequence
/// and shard `s` of `S` holds the ids `s, s + S, s + 2S...`, so `id / S` (the packet's slot) indexes
/// a dense table that points into `packets` (kept in insertion order: a batch of consecutive ids
/// reads consecutive memory). Ids that would make the table sparse (a restored ledger with wide
/// gaps, or a smaller id inserted after larger ones by a concurrent batch) go to a hash map.
/// A removed packet's place is taken by the last one, and the table drops its empty front, so the
/// store's memory follows the packets held, not the packets ever made.
struct GroupStore {
    packets: Vec<GroupPacket>,
    /// `table[slot - base]`: 1 + index into `packets`, or 0.
    table: VecDeque<u32>,
    base: u32,
    far: HashMap<u32, u32, BuildHasherDefault<IdHasher>>,
    /// Divides an id by the shard count.
    shards: Divisor,
}

impl GroupStore {
    fn new(shards: Divisor) -> Self {
        Self {
            packets: Vec::new(),
            table: VecDeque::new(),
            base: 0,
            far: HashMap::default(),
            shards,
        }
    }

    #[inline]
    fn index(&self, id: u32) -> Option<usize> {
        let k = self.shards.div(id).wrapping_sub(self.base) as usize;
        match self.table.get(k) {
            Some(&i) if i != 0 => Some(i as usize - 1),
            _ if self.far.is_empty() => None,
            _ => self.far.get(&id).map(|&i| i as usize),
        }
        .filter(|&i| self.packets[i].id == id)
    }

    #[inline]
    fn get(&self, id: u32) -> Option<&GroupPacket> {
        self.index(id).map(|i| &self.packets[i])
    }

    #[inline]
    fn get_mut(&mut self, id: u32) -> Option<&mut GroupPacket> {
        self.index(id).map(|i| &mut self.packets[i])
    }

    /// Stores a packet whose id is not here yet.
    fn insert(&mut self, packet: GroupPacket) {
        let id = packet.id;
        let slot = self.shards.div(id);
        let i = self.packets.len() as u32;
        self.packets.push(packet);
        if self.table.is_empty() && self.far.is_empty() {
            self.base = slot;
        }
        if slot >= self.base {
            let k = (slot - self.base) as usize;
            // The table stays within about twice the number of packets.
            if k < self.table.len() || k < 2 * self.packets.len() + 1024 {
                if k >= self.table.len() {
                    self.table.resize(k + 1, 0);
                }
                self.table[k] = i + 1;
                return;
            }
        }
        self.far.insert(id, i);
    }

    /// Removes a packet; false if it is not here.
    fn remove(&mut self, id: u32) -> bool {
        let Some(i) = self.index(id) else {
            return false;
        };
        self.repoint(id, i, None);
        self.packets.swap_remove(i);
        if let Some(moved) = self.packets.get(i) {
            let last = self.packets.len();
            self.repoint(moved.id, last, Some(i));
        }
        while self.table.front() == Some(&0) {
            self.table.pop_front();
            self.base += 1;
        }
        true
    }

    /// Points the entry of `id`, now at index `from`, to index `to` (or removes it).
    fn repoint(&mut self, id: u32, from: usize, to: Option<usize>) {
        let k = self.shards.div(id).wrapping_sub(self.base) as usize;
        match self.table.get_mut(k) {
            Some(entry) if *entry as usize == from + 1 => *entry = to.map_or(0, |i| i as u32 + 1),
            _ => match to {
                Some(i) => {
                    self.far.insert(id, i as u32);
                }
                None => {
                    self.far.remove(&id);
                }
            },
        }
    }
}

/// Everything a shard owns.
pub(crate) struct ShardState {
    /// Shake packets (id, cents), oldest first.
    bucket: VecDeque<(u32, u32)>,
    groups: GroupStore,
    /// Packets not yet expired, by (expiry key, id): an expiry sweep reads only what is due.
    expiry: BTreeSet<(u64, u32)>,
    /// Expired packets still held, by (expiry key, id): `evict` reads only what is due.
    held: BTreeSet<(u64, u32)>,
    /// One more than the largest id evicted from this shard: an unknown id below it was evicted.
    evicted_below: u32,
    /// Stream `1 + shard index`: the splits of this shard's group packets.
    rng: Rng,
    pub counters: ShardCounters,
}

impl ShardState {
    /// A shard of an engine with `shards` shards, splitting with `rng`.
    pub fn new(rng: Rng, shards: u32) -> Self {
        Self {
            bucket: VecDeque::new(),
            groups: GroupStore::new(Divisor::new(shards)),
            expiry: BTreeSet::new(),
            held: BTreeSet::new(),
            evicted_below: 0,
            rng,
            counters: ShardCounters::default(),
        }
    }

    pub fn bucket_is_empty(&self) -> bool {
        self.bucket.is_empty()
    }

    /// Appends a released shake packet (counted as created).
    pub fn push_shake(&mut self, id: u32, cents: u32) {
        self.bucket.push_back((id, cents));
        self.counters.shake_created.add(1, u64::from(cents));
    }

    /// Takes the oldest shake packet, if any (counted as paid).
    pub fn take_shake(&mut self) -> Option<(u32, u32)> {
        let packet = self.bucket.pop_front()?;
        self.counters.shake_paid.add(1, u64::from(packet.1));
        Some(packet)
    }

    /// Moves the oldest shake packets into the outputs (as many as fit, counted as refunded);
    /// returns how many.
    pub fn withdraw_shakes(&mut self, out_ids: &mut [u32], out_cents: &mut [u32]) -> usize {
        let n = self.bucket.len().min(out_ids.len()).min(out_cents.len());
        for ((id, cents), packet) in out_ids
            .iter_mut()
            .zip(out_cents)
            .zip(self.bucket.drain(..n))
        {
            *id = packet.0;
            *cents = packet.1;
            self.counters.shake_refunded.add(1, u64::from(packet.1));
        }
        n
    }

    /// Writes the whole split of a packet of `total` cents in `out.len()` shares (validated by the
    /// caller), drawn from this shard's stream as creating and opening such a packet here would:
    /// double mean share by share in opening order, line segment all at once.
    pub fn split_into(&mut self, total: u32, split_mode: SplitMode, out: &mut [u32]) {
        match split_mode {
            SplitMode::DoubleMean => {
                let mut remaining = total;
                for (r, share) in (1..=out.len() as u32).rev().zip(out.iter_mut()) {
                    *share = double_mean_share(&mut self.rng, remaining, r);
                    remaining -= *share;
                }
            }
            SplitMode::LineSegment => {
                out.copy_from_slice(&line_segment_split(&mut self.rng, total, out.len() as u32));
            }
        }
    }

    /// Stores a new group packet (a line-segment one draws its split from this shard's stream).
    pub fn create_group(&mut self, id: u32, new: &NewPacket<'_>, split_mode: SplitMode) {
        let packet = GroupPacket::create(id, new, split_mode, &mut self.rng);
        self.counters.group_packets += 1;
        self.counters
            .group_created
            .add(u64::from(packet.share_count), u64::from(packet.total_cents));
        self.insert(packet);
    }

    /// Stores a packet read back from the ledger (already validated), with its counters. A live
    /// line-segment packet re-draws its unopened shares from this shard's stream.
    pub fn restore_group(
        &mut self,
        id: u32,
        new: &NewPacket<'_>,
        split_mode: SplitMode,
        opened: &[Share],
        expired: bool,
        refunded_cents: u32,
    ) {
        let packet = GroupPacket::restore(
            id,
            new,
            split_mode,
            opened,
            expired,
            refunded_cents,
            &mut self.rng,
        );
        let c = &mut self.counters;
        c.group_packets += 1;
        c.group_created
            .add(u64::from(packet.share_count), u64::from(packet.total_cents));
        c.group_paid
            .add(u64::from(packet.opened_count()), packet.opened_cents());
        if packet.expired {
            let unopened = packet.share_count - packet.opened_count();
            c.group_refunded
                .add(u64::from(unopened), u64::from(packet.refunded_cents));
        }
        self.insert(packet);
    }

    /// Counts shake packets that were paid before a restart (they are in no bucket any more).
    pub fn restore_paid_shakes(&mut self, paid: CountCents) {
        self.counters.shake_created.add_all(paid);
        self.counters.shake_paid.add_all(paid);
    }

    fn insert(&mut self, packet: GroupPacket) {
        let key = (expiry_key(packet.expires_at), packet.id);
        if packet.expired {
            self.held.insert(key);
        } else {
            self.expiry.insert(key);
        }
        self.groups.insert(packet);
    }

    /// Asks the CPU to bring in the packet `packet_id` (and what an open reads of it), if known.
    #[inline]
    pub fn prefetch_group(&self, packet_id: u32) {
        if let Some(packet) = self.groups.get(packet_id) {
            packet.prefetch();
        }
    }

    /// One open (docs/engine.md, `open`).
    #[inline]
    pub fn open(&mut self, user: u32, packet_id: u32, now_ms: f64) -> (OpenStatus, u32) {
        let Some(packet) = self.groups.get_mut(packet_id) else {
            if packet_id < self.evicted_below {
                return (OpenStatus::Expired, 0);
            }
            return (OpenStatus::UnknownPacket, 0);
        };
        let (status, cents) = packet.open(user, now_ms, &mut self.rng);
        if status == OpenStatus::Ok {
            self.counters.group_paid.add(1, u64::from(cents));
        }
        (status, cents)
    }

    /// Up to `cap` ids, ascending, of packets not yet expired that are due at `now_ms` or listed in
    /// `force` (ids of other shards or unknown ids are ignored).
    pub fn expiry_candidates(&self, now_ms: f64, force: &[u32], cap: usize) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .expiry
            .range(..=(expiry_key(now_ms), u32::MAX))
            .map(|&(_, id)| id)
            .collect();
        ids.extend(
            force
                .iter()
                .copied()
                .filter(|&id| self.groups.get(id).is_some_and(|p| !p.expired)),
        );
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(cap);
        ids
    }

    /// Expires one packet, if it exists and is not expired yet.
    pub fn expire(&mut self, packet_id: u32) -> Option<Refund> {
        let packet = self.groups.get_mut(packet_id).filter(|p| !p.expired)?;
        let key = (expiry_key(packet.expires_at), packet_id);
        self.expiry.remove(&key);
        self.held.insert(key);
        let refund = packet.expire();
        self.counters
            .group_refunded
            .add(u64::from(refund.shares), u64::from(refund.cents));
        Some(refund)
    }

    pub fn details(&self, packet_id: u32) -> Option<PacketDetails> {
        self.groups.get(packet_id).map(GroupPacket::details)
    }

    /// Drops every expired packet whose expiry is `<= before_ms`; returns how many.
    pub fn evict(&mut self, before_ms: f64) -> u32 {
        let due: Vec<(u64, u32)> = self
            .held
            .range(..=(expiry_key(before_ms), u32::MAX))
            .copied()
            .collect();
        for key in &due {
            self.held.remove(key);
            self.groups.remove(key.1);
            self.evicted_below = self.evicted_below.max(key.1.saturating_add(1));
        }
        due.len() as u32
    }

    /// Group packets held (live or expired and not yet evicted).
    #[cfg(test)]
    pub fn held_packets(&self) -> usize {
        self.groups.packets.len()
    }
}

/// Maps a (non-NaN) time to a key with the same order: IEEE-754 bits, negatives flipped.
fn expiry_key(ms: f64) -> u64 {
    let bits = (ms + 0.0).to_bits(); // + 0.0 turns -0.0 into 0.0
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Hasher for u32 packet ids: one multiply (Fibonacci hashing) instead of SipHash; ids are not
/// attacker-chosen keys of unbounded tables (they are assigned by the engine).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_key_keeps_the_order_of_times() {
        let times = [
            f64::NEG_INFINITY,
            -1e300,
            -1.5,
            -0.0,
            0.0,
            1e-300,
            1.0,
            1.7e12,
            f64::INFINITY,
        ];
        for pair in times.windows(2) {
            assert!(expiry_key(pair[0]) <= expiry_key(pair[1]), "{pair:?}");
        }
        assert_eq!(expiry_key(-0.0), expiry_key(0.0));
    }

    #[test]
    fn guard_publishes_the_bucket_length() {
        let shards = Shards::new(vec![ShardState::new(Rng::stream(1, 1), 1)]);
        assert!(!shards.probe().may_have_packets(0));
        shards.lock(0).push_shake(1, 10);
        assert!(shards.probe().may_have_packets(0));
        assert_eq!(shards.lock(0).take_shake(), Some((1, 10)));
        assert!(!shards.probe().may_have_packets(0));
    }

    fn packet(id: u32, rng: &mut Rng) -> GroupPacket {
        let new = NewPacket::prepare(1, 10, 1, &[7], 0.0).expect("valid");
        GroupPacket::create(id, &new, SplitMode::DoubleMean, rng)
    }

    #[test]
    fn group_store_finds_dense_sparse_and_out_of_order_ids() {
        for shards in [1u32, 3, 64] {
            let mut rng = Rng::stream(1, 1);
            let mut store = GroupStore::new(Divisor::new(shards));
            let shard = 1 % shards;
            // In order, then a smaller id (a concurrent batch), then a far one (a thinned ledger).
            let mut ids: Vec<u32> = (10..200).map(|k| k * shards + shard).collect();
            ids.push(5 * shards + shard);
            ids.push(4_000_000_000 / shards * shards + shard);
            ids.push(300 * shards + shard);
            for &id in &ids {
                store.insert(packet(id, &mut rng));
            }
            for &id in &ids {
                assert_eq!(
                    store.get(id).map(|p| p.id),
                    Some(id),
                    "{shards} shards: id {id}"
                );
            }
            for k in [0u32, 1, 6, 9, 200, 250, 299, 301, 10_000] {
                let id = k * shards + shard;
                assert!(store.get(id).is_none(), "{shards} shards: unknown id {id}");
            }
            assert!(
                store.table.len() < 2 * ids.len() + 1100,
                "the table stays dense"
            );
        }
    }

    #[test]
    fn group_store_removes_in_any_order_and_drops_the_empty_front() {
        for shards in [1u32, 3, 64] {
            let mut rng = Rng::stream(1, 1);
            let mut store = GroupStore::new(Divisor::new(shards));
            let shard = 2 % shards;
            let mut ids: Vec<u32> = (10..400).map(|k| k * shards + shard).collect();
            ids.push(5 * shards + shard); // in the hash map: below the table's base
            ids.push(4_000_000_000 / shards * shards + shard); // in the hash map: far above
            for &id in &ids {
                store.insert(packet(id, &mut rng));
            }
            // Remove every third id, oldest first, then the two far ones.
            let (mut gone, mut kept) = (Vec::new(), Vec::new());
            for (i, &id) in ids.iter().enumerate() {
                if i % 3 == 0 || i >= 390 {
                    gone.push(id);
                } else {
                    kept.push(id);
                }
            }
            for &id in &gone {
                assert!(store.remove(id), "{shards} shards: remove {id}");
                assert!(!store.remove(id), "{shards} shards: {id} only once");
            }
            for &id in &gone {
                assert!(store.get(id).is_none(), "{shards} shards: {id} is gone");
            }
            for &id in &kept {
                assert_eq!(
                    store.get(id).map(|p| p.id),
                    Some(id),
                    "{shards} shards: {id} stays"
                );
            }
            assert_eq!(store.packets.len(), kept.len());
            // Remove the rest: nothing is left, not even the table.
            for &id in &kept {
                assert!(store.remove(id));
            }
            assert!(store.packets.is_empty() && store.table.is_empty() && store.far.is_empty());
            // And it fills again.
            store.insert(packet(ids[100], &mut rng));
            assert_eq!(store.get(ids[100]).map(|p| p.id), Some(ids[100]));
        }
    }

    #[test]
    fn evicted_packets_answer_expired_and_have_no_details() {
        let mut state = ShardState::new(Rng::stream(1, 1), 1);
        for id in 1..=3 {
            let new = NewPacket::prepare(1, 10, 1, &[7], 1_000.0 * f64::from(id)).expect("valid");
            state.create_group(id, &new, SplitMode::DoubleMean);
        }
        assert_eq!(state.open(7, 1, 0.0), (OpenStatus::Ok, 10));
        assert_eq!(state.evict(5_000.0), 0, "nothing expired yet");
        assert!(state.expire(1).is_some() && state.expire(2).is_some());
        assert_eq!(state.evict(1_500.0), 1, "only the packet expiring by then");
        assert_eq!(
            state.open(7, 1, 0.0),
            (OpenStatus::Expired, 0),
            "an evicted packet's open"
        );
        assert!(state.details(1).is_none());
        assert_eq!(
            state.open(7, 2, 0.0),
            (OpenStatus::Expired, 0),
            "held: still known"
        );
        assert!(state.details(2).is_some());
        assert_eq!(state.evict(5_000.0), 1);
        assert_eq!(
            state.open(8, 3, 0.0),
            (OpenStatus::NotRecipient, 0),
            "live: untouched"
        );
        assert_eq!(
            state.open(7, 4, 0.0),
            (OpenStatus::UnknownPacket, 0),
            "never made"
        );
        assert_eq!(state.held_packets(), 1);
    }
}
