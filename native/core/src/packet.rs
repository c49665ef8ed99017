//! One group packet: who may open it, what was opened, what is left.

use crate::rng::Rng;
use crate::split::{double_mean_share, line_segment_split};
use crate::types::{
    CreateStatus, OpenStatus, PacketDetails, Refund, Share, SplitMode, MAX_PACKET_CENTS,
    MAX_RECIPIENTS, MAX_SHARES,
};

/// Up to this many recipients a user is found by a scan of the recipients; above it, by a binary
/// search in a sorted copy.
const SCAN_LIMIT: usize = 16;

/// `best` before any open.
const NO_BEST: u32 = u32::MAX;

/// A group packet inside its shard: the numbers, plus everything per recipient and per share in
/// one allocation (an open touches the packet and one array, nothing else).
#[derive(Debug, Clone)]
pub(crate) struct GroupPacket {
    pub id: u32,
    pub sender: u32,
    pub total_cents: u32,
    pub share_count: u32,
    pub remaining_cents: u32,
    pub remaining_shares: u32,
    pub refunded_cents: u32,
    opened_count: u32,
    recipient_count: u32,
    /// Opening position of the best luck, or `NO_BEST`.
    best: u32,
    pub expires_at: f64,
    pub split_mode: SplitMode,
    pub expired: bool,
    /// With `R` recipients and `S` shares:
    /// `[0, R)` the recipients as given; `[R, 2R)` the cents opened by the recipient at each
    /// position, 0 if none yet (a share is at least 1 cent); `[2R, 2R + S)` the openers in opening
    /// order and `[2R + S, 2R + 2S)` their cents; line segment only, then `S` more: the share paid at
    /// each opening position; above `SCAN_LIMIT` recipients, then the recipients sorted (`R`) and
    /// their positions (`R`).
    data: Box<[u32]>,
}

/// What a creation needs, already validated (borrowed from the batch or the snapshot).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewPacket<'a> {
    pub sender: u32,
    pub total_cents: u32,
    pub share_count: u32,
    pub recipients: &'a [u32],
    pub expires_at: f64,
}

impl<'a> NewPacket<'a> {
    /// Applies the creation checks of docs/engine.md in order (first failure wins).
    pub fn prepare(
        sender: u32,
        total_cents: u32,
        share_count: u32,
        recipients: &'a [u32],
        expires_at: f64,
    ) -> Result<Self, CreateStatus> {
        if recipients.is_empty()
            || recipients.len() > MAX_RECIPIENTS as usize
            || has_duplicate(recipients)
        {
            return Err(CreateStatus::BadRecipients);
        }
        if share_count == 0 || share_count > MAX_SHARES || share_count as usize > recipients.len() {
            return Err(CreateStatus::BadShareCount);
        }
        if total_cents == 0 || total_cents > MAX_PACKET_CENTS {
            return Err(CreateStatus::BadTotal);
        }
        if total_cents < share_count {
            return Err(CreateStatus::TotalBelowShares);
        }
        Ok(Self {
            sender,
            total_cents,
            share_count,
            recipients,
            expires_at,
        })
    }
}

fn has_duplicate(values: &[u32]) -> bool {
    if values.len() <= SCAN_LIMIT {
        return values
            .iter()
            .enumerate()
            .any(|(i, v)| values[i + 1..].contains(v));
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).any(|w| w[0] == w[1])
}

impl GroupPacket {
    /// A new packet; a line-segment packet draws its whole split from `rng` now.
    pub fn create(id: u32, new: &NewPacket<'_>, split_mode: SplitMode, rng: &mut Rng) -> Self {
        let mut packet = Self::unsplit(id, new, split_mode);
        packet.draw_plan(rng);
        packet
    }

    fn unsplit(id: u32, new: &NewPacket<'_>, split_mode: SplitMode) -> Self {
        let r = new.recipients.len();
        let s = new.share_count as usize;
        let plan = if split_mode == SplitMode::LineSegment {
            s
        } else {
            0
        };
        let index = if r > SCAN_LIMIT { 2 * r } else { 0 };
        let mut data = vec![0u32; 2 * r + 2 * s + plan + index].into_boxed_slice();
        data[..r].copy_from_slice(new.recipients);
        if r > SCAN_LIMIT {
            let mut pairs: Vec<(u32, u32)> = (0..r as u32).map(|i| (data[i as usize], i)).collect();
            pairs.sort_unstable();
            let at = 2 * r + 2 * s + plan;
            for (k, (user, position)) in pairs.into_iter().enumerate() {
                data[at + k] = user;
                data[at + r + k] = position;
            }
        }
        Self {
            id,
            sender: new.sender,
            total_cents: new.total_cents,
            share_count: new.share_count,
            remaining_cents: new.total_cents,
            remaining_shares: new.share_count,
            refunded_cents: 0,
            opened_count: 0,
            recipient_count: r as u32,
            best: NO_BEST,
            expires_at: new.expires_at,
            split_mode,
            expired: false,
            data,
        }
    }

    /// A packet read back from the ledger. `opened` must be valid for it (checked by the caller);
    /// the unopened shares of a live line-segment packet are re-drawn from `rng`.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        id: u32,
        new: &NewPacket<'_>,
        split_mode: SplitMode,
        opened: &[Share],
        expired: bool,
        refunded_cents: u32,
        rng: &mut Rng,
    ) -> Self {
        let mut packet = Self::unsplit(id, new, split_mode);
        for share in opened {
            if let Some(position) = packet.position_of(share.user) {
                packet.record_open(position, share.cents);
            }
        }
        if expired {
            packet.expired = true;
            packet.refunded_cents = refunded_cents;
            packet.remaining_cents = 0;
            packet.remaining_shares = 0;
        } else {
            packet.draw_plan(rng);
        }
        packet
    }

    fn r(&self) -> usize {
        self.recipient_count as usize
    }

    fn s(&self) -> usize {
        self.share_count as usize
    }

    /// Line segment: draws the split of what remains into the plan, from the next opening position.
    fn draw_plan(&mut self, rng: &mut Rng) {
        if self.split_mode == SplitMode::LineSegment && self.remaining_shares > 0 {
            let shares = line_segment_split(rng, self.remaining_cents, self.remaining_shares);
            let at = 2 * self.r() + 2 * self.s() + self.opened_count as usize;
            self.data[at..at + shares.len()].copy_from_slice(&shares);
        }
    }

    /// Position of `user` among the recipients.
    #[inline]
    fn position_of(&self, user: u32) -> Option<usize> {
        let r = self.r();
        if r <= SCAN_LIMIT {
            return self.data[..r].iter().position(|&u| u == user);
        }
        let plan = if self.split_mode == SplitMode::LineSegment {
            self.s()
        } else {
            0
        };
        let at = 2 * r + 2 * self.s() + plan;
        let sorted = &self.data[at..at + r];
        let k = sorted.binary_search(&user).ok()?;
        Some(self.data[at + r + k] as usize)
    }

    /// Prefetches the packet's numbers and its per-recipient array (a hint, no effect on results).
    #[inline]
    pub fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // SAFETY: SSE is part of x86_64; a prefetch never faults, whatever the address.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>((self as *const Self).cast());
                _mm_prefetch::<_MM_HINT_T0>(self.data.as_ptr().cast());
            }
        }
    }

    /// Opens the packet for `user` at `now_ms` (docs/engine.md, `open`): the status and the cents.
    #[inline]
    pub fn open(&mut self, user: u32, now_ms: f64, rng: &mut Rng) -> (OpenStatus, u32) {
        let Some(position) = self.position_of(user) else {
            return (OpenStatus::NotRecipient, 0);
        };
        let already = self.data[self.r() + position];
        if already != 0 {
            return (OpenStatus::Repeat, already);
        }
        if self.is_expired_at(now_ms) {
            return (OpenStatus::Expired, 0);
        }
        if self.remaining_shares == 0 {
            return (OpenStatus::Empty, 0);
        }
        let cents = match self.split_mode {
            SplitMode::DoubleMean => {
                double_mean_share(rng, self.remaining_cents, self.remaining_shares)
            }
            SplitMode::LineSegment => {
                self.data[2 * self.r() + 2 * self.s() + self.opened_count as usize]
            }
        };
        self.record_open(position, cents);
        (OpenStatus::Ok, cents)
    }

    fn record_open(&mut self, position: usize, cents: u32) {
        let (r, s) = (self.r(), self.s());
        let order = self.opened_count as usize;
        let d = &mut self.data;
        d[r + position] = cents;
        d[2 * r + order] = d[position];
        d[2 * r + s + order] = cents;
        if self.best == NO_BEST || cents > d[2 * r + s + self.best as usize] {
            self.best = order as u32;
        }
        self.opened_count += 1;
        self.remaining_cents -= cents;
        self.remaining_shares -= 1;
    }

    /// Expired by a sweep, or past its expiry time.
    pub fn is_expired_at(&self, now_ms: f64) -> bool {
        self.expired || now_ms >= self.expires_at
    }

    /// Marks the packet expired and moves what remains to the refund (once: the caller checks
    /// `expired` first).
    pub fn expire(&mut self) -> Refund {
        let refund = Refund {
            packet_id: self.id,
            sender: self.sender,
            cents: self.remaining_cents,
            shares: self.remaining_shares,
        };
        self.expired = true;
        self.refunded_cents = self.remaining_cents;
        self.remaining_cents = 0;
        self.remaining_shares = 0;
        refund
    }

    fn opened_shares(&self) -> &[u32] {
        let (r, s) = (self.r(), self.s());
        &self.data[2 * r + s..2 * r + s + self.opened_count as usize]
    }

    pub fn opened_cents(&self) -> u64 {
        self.opened_shares().iter().map(|&c| u64::from(c)).sum()
    }

    pub fn opened_count(&self) -> u32 {
        self.opened_count
    }

    pub fn details(&self) -> PacketDetails {
        let r = self.r();
        let openers = &self.data[2 * r..2 * r + self.opened_count as usize];
        PacketDetails {
            id: self.id,
            sender: self.sender,
            total_cents: self.total_cents,
            share_count: self.share_count,
            split_mode: self.split_mode,
            recipients: self.data[..r].to_vec(),
            expires_at: self.expires_at,
            opened: openers
                .iter()
                .zip(self.opened_shares())
                .map(|(&user, &cents)| Share { user, cents })
                .collect(),
            remaining_cents: self.remaining_cents,
            remaining_shares: self.remaining_shares,
            refunded_cents: self.refunded_cents,
            expired: self.expired,
            best_luck: (self.best != NO_BEST).then(|| openers[self.best as usize]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(
        total: u32,
        shares: u32,
        recipients: &[u32],
        mode: SplitMode,
        rng: &mut Rng,
    ) -> GroupPacket {
        let new = NewPacket::prepare(9, total, shares, recipients, 1000.0).expect("valid");
        GroupPacket::create(1, &new, mode, rng)
    }

    #[test]
    fn open_outcomes_in_spec_order() {
        let mut rng = Rng::stream(1, 1);
        let mut p = packet(10, 2, &[5, 6, 7], SplitMode::DoubleMean, &mut rng);
        assert_eq!(p.open(4, 0.0, &mut rng).0, OpenStatus::NotRecipient);
        let (status, first) = p.open(5, 0.0, &mut rng);
        assert_eq!(status, OpenStatus::Ok);
        assert_eq!(p.open(5, 0.0, &mut rng), (OpenStatus::Repeat, first));
        assert_eq!(p.open(6, 0.0, &mut rng), (OpenStatus::Ok, 10 - first));
        assert_eq!(p.open(7, 0.0, &mut rng).0, OpenStatus::Empty);
        assert_eq!(
            p.open(5, 5000.0, &mut rng),
            (OpenStatus::Repeat, first),
            "repeat wins over expired"
        );
    }

    #[test]
    fn expired_by_time_before_empty() {
        let mut rng = Rng::stream(1, 1);
        let mut p = packet(10, 1, &[5, 6], SplitMode::DoubleMean, &mut rng);
        assert_eq!(p.open(5, 999.0, &mut rng), (OpenStatus::Ok, 10));
        assert_eq!(p.open(6, 1000.0, &mut rng).0, OpenStatus::Expired);
    }

    #[test]
    fn expire_moves_the_remainder_once() {
        let mut rng = Rng::stream(1, 1);
        let mut p = packet(100, 4, &[1, 2, 3, 4], SplitMode::LineSegment, &mut rng);
        let (_, got) = p.open(1, 0.0, &mut rng);
        let refund = p.expire();
        assert_eq!((refund.cents, refund.shares), (100 - got, 3));
        let d = p.details();
        assert_eq!(
            (d.remaining_cents, d.remaining_shares, d.refunded_cents),
            (0, 0, 100 - got)
        );
        assert_eq!(p.open(2, 0.0, &mut rng).0, OpenStatus::Expired);
    }

    #[test]
    fn best_luck_is_the_first_of_the_largest() {
        let mut rng = Rng::stream(1, 1);
        let mut p = packet(4, 4, &[1, 2, 3, 4], SplitMode::DoubleMean, &mut rng);
        for u in 1..=4 {
            p.open(u, 0.0, &mut rng);
        }
        assert_eq!(p.details().best_luck, Some(1), "all shares are 1 cent");
    }

    #[test]
    fn many_recipients_are_found_through_the_sorted_index() {
        for mode in [SplitMode::DoubleMean, SplitMode::LineSegment] {
            let mut rng = Rng::stream(3, 1);
            let recipients: Vec<u32> = (0..100).map(|i| (i * 7919) % 1000 + 1).collect();
            let mut p = packet(10_000, 40, &recipients, mode, &mut rng);
            assert_eq!(p.open(0, 0.0, &mut rng).0, OpenStatus::NotRecipient);
            assert_eq!(p.open(1001, 0.0, &mut rng).0, OpenStatus::NotRecipient);
            let mut paid = 0;
            for &u in recipients.iter().rev().take(40) {
                let (status, cents) = p.open(u, 0.0, &mut rng);
                assert_eq!(status, OpenStatus::Ok, "{mode:?}: recipient {u}");
                assert_eq!(p.open(u, 0.0, &mut rng), (OpenStatus::Repeat, cents));
                paid += cents;
            }
            assert_eq!(paid, 10_000, "{mode:?}: shares add up");
            assert_eq!(p.open(recipients[0], 0.0, &mut rng).0, OpenStatus::Empty);
            let d = p.details();
            assert_eq!(d.recipients, recipients);
            assert_eq!(d.opened.len(), 40);
            assert_eq!(d.opened[0].user, recipients[99]);
        }
    }

    #[test]
    fn duplicates_are_found_in_short_and_long_lists() {
        assert!(has_duplicate(&[1, 2, 1]));
        assert!(!has_duplicate(&[1, 2, 3]));
        let mut long: Vec<u32> = (0..50).collect();
        assert!(!has_duplicate(&long));
        long.push(17);
        assert!(has_duplicate(&long));
    }
}
