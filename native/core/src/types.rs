//! Plain data exchanged with the engine: limits, status codes, options, totals and details.
//! Status values are part of the wire protocol and mirror `src/engine/types.ts` (and these limits
//! its MAX_* and `src/engine/check.ts`); `test/engine.constants.test.ts` fails on any difference.

/// Largest total of one packet, in cents: keeps every share and twice an average inside u32.
pub const MAX_PACKET_CENTS: u32 = 100_000_000;
/// Most shares one group packet may have.
pub const MAX_SHARES: u32 = 1_000;
/// Most recipients one group packet may list.
pub const MAX_RECIPIENTS: u32 = 1_000;
/// Shard count used when none is given.
pub const DEFAULT_SHARDS: u32 = 64;

/// Result of one shake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ShakeStatus {
    /// The user's shard had no packet.
    Miss = 0,
    /// The oldest packet of the shard was taken.
    Hit = 1,
}

/// Result of one open of a group packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OpenStatus {
    /// A new share was taken: money moved.
    Ok = 0,
    /// This user had already opened this packet: the same share, no money moves.
    Repeat = 1,
    /// The user is not among the packet's recipients.
    NotRecipient = 2,
    /// All shares are taken.
    Empty = 3,
    /// The packet expired (its remainder was or will be refunded).
    Expired = 4,
    /// No packet has this id.
    UnknownPacket = 5,
}

/// Result of one create in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CreateStatus {
    /// Created; the packet id is written next to the status.
    Ok = 0,
    /// `total_cents < share_count`: every share must get at least one cent.
    TotalBelowShares = 1,
    /// `share_count` is 0, above [`MAX_SHARES`], or above the number of recipients.
    BadShareCount = 2,
    /// `total_cents` is 0 or above [`MAX_PACKET_CENTS`].
    BadTotal = 3,
    /// No recipients, more than [`MAX_RECIPIENTS`], or a recipient listed twice.
    BadRecipients = 4,
}

/// How a group packet is split into shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum SplitMode {
    /// WeChat "double mean", drawn at open time.
    #[default]
    DoubleMean = 0,
    /// Uniform composition drawn at creation (every position has the same odds).
    LineSegment = 1,
}

impl SplitMode {
    /// The mode with this wire value, if any.
    pub fn from_u32(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::DoubleMean),
            1 => Some(Self::LineSegment),
            _ => None,
        }
    }
}

/// Options of a new engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Number of shards, at least 1.
    pub shards: u32,
    /// Seed of every random stream; `None` draws one from the OS's entropy.
    pub seed: Option<u32>,
    /// Split mode of new group packets.
    pub split_mode: SplitMode,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            shards: DEFAULT_SHARDS,
            seed: None,
            split_mode: SplitMode::DoubleMean,
        }
    }
}

/// How the amount of each shake packet is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountRule {
    /// Uniform integer cents in `[min, max]`, `1 <= min <= max <= MAX_PACKET_CENTS`.
    Range { min: u32, max: u32 },
    /// A uniform pick from a non-empty list of cents, each in `1..=MAX_PACKET_CENTS`.
    List(Vec<u32>),
}

/// Options of a shake supply.
#[derive(Debug, Clone, PartialEq)]
pub struct SupplyOptions {
    /// Packets this supply will ever release.
    pub total: u32,
    /// Packets per second; informative, the caller's clock releases them.
    pub rate_per_second: f64,
    /// Amount of each packet.
    pub rule: AmountRule,
}

/// A supply and its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct SupplyState {
    /// Packets this supply will ever release.
    pub total: u32,
    /// Packets per second (informative).
    pub rate_per_second: f64,
    /// Packets released so far.
    pub released: u32,
    /// Amount of each packet.
    pub rule: AmountRule,
    /// False once stopped: releases then create nothing.
    pub active: bool,
}

/// A number of items and their amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountCents {
    /// Packets (shake) or shares (group).
    pub count: u64,
    /// Their amount in cents.
    pub cents: u64,
}

impl CountCents {
    pub(crate) fn add(&mut self, count: u64, cents: u64) {
        self.count += count;
        self.cents += cents;
    }

    pub(crate) fn add_all(&mut self, other: CountCents) {
        self.add(other.count, other.cents);
    }

    fn minus(self, other: CountCents) -> CountCents {
        CountCents {
            count: self.count - other.count,
            cents: self.cents - other.cents,
        }
    }
}

/// Money of one flow: `created = paid + remaining + refunded`, in count and cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowTotals {
    /// Everything created.
    pub created: CountCents,
    /// Paid to users.
    pub paid: CountCents,
    /// Neither paid nor refunded yet.
    pub remaining: CountCents,
    /// Given back to senders at expiry.
    pub refunded: CountCents,
}

impl FlowTotals {
    /// Totals from the three kept counters; `remaining` is what the others leave.
    pub(crate) fn from_counters(
        created: CountCents,
        paid: CountCents,
        refunded: CountCents,
    ) -> Self {
        Self {
            created,
            paid,
            remaining: created.minus(paid).minus(refunded),
            refunded,
        }
    }
}

/// Money of the whole engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Shake packets (count = packets).
    pub shake: FlowTotals,
    /// Group packets (count = shares).
    pub group: FlowTotals,
    /// Number of group packets created.
    pub group_packets: u64,
}

/// One opened share of a group packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Who opened it.
    pub user: u32,
    /// How much they got.
    pub cents: u32,
}

/// Everything known about one group packet.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketDetails {
    pub id: u32,
    pub sender: u32,
    pub total_cents: u32,
    pub share_count: u32,
    pub split_mode: SplitMode,
    /// In the order given at creation.
    pub recipients: Vec<u32>,
    pub expires_at: f64,
    /// In opening order (the position is the index).
    pub opened: Vec<Share>,
    /// 0 once expired (the remainder moved to `refunded_cents`).
    pub remaining_cents: u32,
    /// 0 once expired.
    pub remaining_shares: u32,
    pub refunded_cents: u32,
    pub expired: bool,
    /// User of the first (in opening order) of the largest shares opened so far.
    pub best_luck: Option<u32>,
}

/// One refund written by an expiry sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refund {
    pub packet_id: u32,
    pub sender: u32,
    /// Remaining cents given back (0 when fully opened).
    pub cents: u32,
    /// Shares that were never opened.
    pub shares: u32,
}
