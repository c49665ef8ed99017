//! One shard: a FIFO bucket of shake packets, the group packets whose id maps here, the shard's
//! random stream and its money counters, all behind one lock.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::packet::{GroupPacket, NewPacket};
use crate::rng::Rng;
use crate::types::{CountCents, OpenStatus, PacketDetails, Refund, Share, SplitMode};

/// A shard: its state behind a lock, plus the bucket length readable without it.
pub(crate) struct Shard {
    /// Mirror of `state.bucket.len()`, stored under the lock when a guard drops. A shake reads it
    /// first so that a miss (more than 99% of shakes) takes no lock.
    bucket_len: AtomicU32,
    state: Mutex<ShardState>,
}

impl Shard {
    pub fn new(state: ShardState) -> Self {
        Self {
            bucket_len: AtomicU32::new(state.bucket.len() as u32),
            state: Mutex::new(state),
        }
    }

    /// False when the bucket was empty at the last unlock: a shake here is a miss.
    pub fn may_have_packets(&self) -> bool {
        self.bucket_len.load(Ordering::Acquire) > 0
    }

    pub fn lock(&self) -> ShardGuard<'_> {
        ShardGuard {
            state: self.state.lock(),
            bucket_len: &self.bucket_len,
        }
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
        // Still under the lock here, so stores happen in lock order.
        self.bucket_len
            .store(self.state.bucket.len() as u32, Ordering::Release);
    }
}

/// Money counters of one shard, only changed under its lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShardCounters {
    pub shake_created: CountCents,
    pub shake_paid: CountCents,
    /// Shares and cents.
    pub group_created: CountCents,
    pub group_paid: CountCents,
    pub group_refunded: CountCents,
    pub group_packets: u64,
}

/// Everything a shard owns.
pub(crate) struct ShardState {
    /// Shake packets (id, cents), oldest first.
    bucket: VecDeque<(u32, u32)>,
    groups: HashMap<u32, GroupPacket, BuildHasherDefault<IdHasher>>,
    /// Packets not yet expired, by (expiry key, id): an expiry sweep reads only what is due.
    expiry: BTreeSet<(u64, u32)>,
    /// Stream `1 + shard index`: the splits of this shard's group packets.
    rng: Rng,
    pub counters: ShardCounters,
}

impl ShardState {
    pub fn new(rng: Rng) -> Self {
        Self {
            bucket: VecDeque::new(),
            groups: HashMap::default(),
            expiry: BTreeSet::new(),
            rng,
            counters: ShardCounters::default(),
        }
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

    /// Stores a new group packet (a line-segment one draws its split from this shard's stream).
    pub fn create_group(&mut self, id: u32, new: NewPacket, split_mode: SplitMode) {
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
        new: NewPacket,
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
        if !packet.expired {
            self.expiry
                .insert((expiry_key(packet.expires_at), packet.id));
        }
        self.groups.insert(packet.id, packet);
    }

    /// One open (docs/engine.md, `open`).
    pub fn open(&mut self, user: u32, packet_id: u32, now_ms: f64) -> (OpenStatus, u32) {
        let Some(packet) = self.groups.get_mut(&packet_id) else {
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
                .filter(|id| self.groups.get(id).is_some_and(|p| !p.expired)),
        );
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(cap);
        ids
    }

    /// Expires one packet, if it exists and is not expired yet.
    pub fn expire(&mut self, packet_id: u32) -> Option<Refund> {
        let packet = self.groups.get_mut(&packet_id).filter(|p| !p.expired)?;
        self.expiry
            .remove(&(expiry_key(packet.expires_at), packet_id));
        let refund = packet.expire();
        self.counters
            .group_refunded
            .add(u64::from(refund.shares), u64::from(refund.cents));
        Some(refund)
    }

    pub fn details(&self, packet_id: u32) -> Option<PacketDetails> {
        self.groups.get(&packet_id).map(GroupPacket::details)
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
        let shard = Shard::new(ShardState::new(Rng::stream(1, 1)));
        assert!(!shard.may_have_packets());
        shard.lock().push_shake(1, 10);
        assert!(shard.may_have_packets());
        assert_eq!(shard.lock().take_shake(), Some((1, 10)));
        assert!(!shard.may_have_packets());
    }
}
