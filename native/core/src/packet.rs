//! One group packet: who may open it, what was opened, what is left.

use crate::rng::Rng;
use crate::split::{double_mean_share, line_segment_split};
use crate::types::{
    CreateStatus, OpenStatus, PacketDetails, Refund, Share, SplitMode, MAX_PACKET_CENTS,
    MAX_RECIPIENTS, MAX_SHARES,
};

/// Marks a recipient who has not opened the packet yet.
const NOT_OPENED: u32 = u32::MAX;

/// A group packet inside its shard.
#[derive(Debug, Clone)]
pub(crate) struct GroupPacket {
    pub id: u32,
    pub sender: u32,
    pub total_cents: u32,
    pub share_count: u32,
    pub split_mode: SplitMode,
    pub expires_at: f64,
    pub expired: bool,
    pub refunded_cents: u32,
    pub remaining_cents: u32,
    pub remaining_shares: u32,
    recipients: Vec<u32>,
    /// (user, index into `opened` or NOT_OPENED), sorted by user: O(log n) open lookups.
    members: Vec<(u32, u32)>,
    opened: Vec<Share>,
    /// Line segment only: the unopened shares, the next one last.
    pending: Vec<u32>,
    /// Index into `opened` of the best luck.
    best: Option<usize>,
}

/// What a creation needs, already validated.
#[derive(Debug, Clone)]
pub(crate) struct NewPacket {
    pub sender: u32,
    pub total_cents: u32,
    pub share_count: u32,
    pub recipients: Vec<u32>,
    /// The recipients sorted, without duplicates.
    pub sorted_recipients: Vec<u32>,
    pub expires_at: f64,
}

impl NewPacket {
    /// Applies the creation checks of docs/engine.md in order (first failure wins).
    pub fn prepare(
        sender: u32,
        total_cents: u32,
        share_count: u32,
        recipients: &[u32],
        expires_at: f64,
    ) -> Result<Self, CreateStatus> {
        if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS as usize {
            return Err(CreateStatus::BadRecipients);
        }
        let mut sorted = recipients.to_vec();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
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
            recipients: recipients.to_vec(),
            sorted_recipients: sorted,
            expires_at,
        })
    }

    /// True when `user` is one of the recipients.
    pub fn has_recipient(&self, user: u32) -> bool {
        self.sorted_recipients.binary_search(&user).is_ok()
    }
}

impl GroupPacket {
    /// A new packet; a line-segment packet draws its whole split from `rng` now.
    pub fn create(id: u32, new: NewPacket, split_mode: SplitMode, rng: &mut Rng) -> Self {
        let mut packet = Self::unsplit(id, new, split_mode);
        packet.draw_pending(rng);
        packet
    }

    fn unsplit(id: u32, new: NewPacket, split_mode: SplitMode) -> Self {
        Self {
            id,
            sender: new.sender,
            total_cents: new.total_cents,
            share_count: new.share_count,
            split_mode,
            expires_at: new.expires_at,
            expired: false,
            refunded_cents: 0,
            remaining_cents: new.total_cents,
            remaining_shares: new.share_count,
            recipients: new.recipients,
            members: new
                .sorted_recipients
                .into_iter()
                .map(|u| (u, NOT_OPENED))
                .collect(),
            opened: Vec::new(),
            pending: Vec::new(),
            best: None,
        }
    }

    /// A packet read back from the ledger. `opened` must be valid for it (checked by the caller);
    /// the unopened shares of a live line-segment packet are re-drawn from `rng`.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        id: u32,
        new: NewPacket,
        split_mode: SplitMode,
        opened: &[Share],
        expired: bool,
        refunded_cents: u32,
        rng: &mut Rng,
    ) -> Self {
        let mut packet = Self::unsplit(id, new, split_mode);
        for share in opened {
            packet.record_open(share.user, share.cents);
        }
        if expired {
            packet.expired = true;
            packet.refunded_cents = refunded_cents;
            packet.remaining_cents = 0;
            packet.remaining_shares = 0;
        } else {
            packet.draw_pending(rng);
        }
        packet
    }

    /// Draws the line-segment split of what remains (nothing for double mean).
    fn draw_pending(&mut self, rng: &mut Rng) {
        self.pending.clear();
        if self.split_mode == SplitMode::LineSegment && self.remaining_shares > 0 {
            self.pending = line_segment_split(rng, self.remaining_cents, self.remaining_shares);
            self.pending.reverse();
        }
    }

    /// Opens the packet for `user` at `now_ms` (docs/engine.md, `open`): the status and the cents.
    pub fn open(&mut self, user: u32, now_ms: f64, rng: &mut Rng) -> (OpenStatus, u32) {
        let slot = match self.members.binary_search_by_key(&user, |&(u, _)| u) {
            Err(_) => return (OpenStatus::NotRecipient, 0),
            Ok(i) => self.members[i].1,
        };
        if slot != NOT_OPENED {
            return (OpenStatus::Repeat, self.opened[slot as usize].cents);
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
            // `pending` always holds exactly `remaining_shares` shares; the fallback keeps the money
            // exact should that ever break.
            SplitMode::LineSegment => match self.pending.pop() {
                Some(cents) => cents,
                None => double_mean_share(rng, self.remaining_cents, self.remaining_shares),
            },
        };
        self.record_open(user, cents);
        (OpenStatus::Ok, cents)
    }

    fn record_open(&mut self, user: u32, cents: u32) {
        if let Ok(i) = self.members.binary_search_by_key(&user, |&(u, _)| u) {
            self.members[i].1 = self.opened.len() as u32;
        }
        let better = self.best.is_none_or(|b| cents > self.opened[b].cents);
        if better {
            self.best = Some(self.opened.len());
        }
        self.opened.push(Share { user, cents });
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
        self.pending = Vec::new();
        refund
    }

    pub fn opened_cents(&self) -> u64 {
        self.opened.iter().map(|s| u64::from(s.cents)).sum()
    }

    pub fn opened_count(&self) -> u32 {
        self.opened.len() as u32
    }

    pub fn details(&self) -> PacketDetails {
        PacketDetails {
            id: self.id,
            sender: self.sender,
            total_cents: self.total_cents,
            share_count: self.share_count,
            split_mode: self.split_mode,
            recipients: self.recipients.clone(),
            expires_at: self.expires_at,
            opened: self.opened.clone(),
            remaining_cents: self.remaining_cents,
            remaining_shares: self.remaining_shares,
            refunded_cents: self.refunded_cents,
            expired: self.expired,
            best_luck: self.best.map(|b| self.opened[b].user),
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
        let mut sorted = recipients.to_vec();
        sorted.sort_unstable();
        let new = NewPacket {
            sender: 9,
            total_cents: total,
            share_count: shares,
            recipients: recipients.to_vec(),
            sorted_recipients: sorted,
            expires_at: 1000.0,
        };
        GroupPacket::create(1, new, mode, rng)
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
}
