//! Rebuilding an engine from the state read back from the ledger after a restart.

use std::collections::HashSet;

use crate::error::{InputError, Result};
use crate::packet::NewPacket;
use crate::rng::Rng;
use crate::shard::ShardState;
use crate::supply::{validate_options, SupplyDesk};
use crate::types::{CountCents, Share, SplitMode, SupplyOptions, SupplyState, MAX_PACKET_CENTS};

/// Everything needed to rebuild an engine after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Id the next released shake packet gets (1 ..= 2^32 - 1).
    pub next_shake_id: u64,
    /// Id the next created group packet gets (1 ..= 2^32 - 1).
    pub next_group_id: u64,
    /// The current supply, if one was started.
    pub supply: Option<SupplyState>,
    /// Shake money and the packets not yet won.
    pub shake: ShakeSnapshot,
    /// Every group packet, in any order.
    pub groups: Vec<GroupSnapshot>,
}

/// Shake money at the time of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShakeSnapshot {
    /// Must equal `paid` plus the unpaid packets, in count and cents.
    pub created: CountCents,
    pub paid: CountCents,
    /// Released and not yet won, in release order.
    pub unpaid_ids: Vec<u32>,
    pub unpaid_cents: Vec<u32>,
}

/// One group packet as the ledger knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSnapshot {
    pub id: u32,
    pub sender: u32,
    pub total_cents: u32,
    pub share_count: u32,
    pub split_mode: SplitMode,
    pub recipients: Vec<u32>,
    pub expires_at: f64,
    /// In opening order.
    pub opened: Vec<Share>,
    pub expired: bool,
    /// The remainder given back at expiry (0 unless expired).
    pub refunded_cents: u32,
}

/// The state of a restored engine, not yet installed.
pub(crate) struct Rebuilt {
    pub shards: Vec<ShardState>,
    pub desk: SupplyDesk,
    pub next_group_id: u64,
}

/// Fresh shard states: shard `i` splits with stream `1 + i`.
pub(crate) fn fresh_shards(seed: u32, shard_count: u32) -> Vec<ShardState> {
    (0..shard_count)
        .map(|i| ShardState::new(Rng::stream(seed, 1 + i), shard_count))
        .collect()
}

/// Ids are u32 and 0 is never an id, so the next id is at most u32::MAX.
const ID_LIMIT: u64 = u32::MAX as u64;

/// Validates the whole snapshot, then builds the state of a fresh engine with `seed` and
/// `shard_count` holding it (docs/engine.md, "Restore").
pub(crate) fn rebuild(snapshot: &Snapshot, seed: u32, shard_count: u32) -> Result<Rebuilt> {
    let prepared = validate(snapshot)?;

    let mut shards = fresh_shards(seed, shard_count);
    let n = shard_count as usize;
    let shake = &snapshot.shake;
    for (i, (&id, &cents)) in shake.unpaid_ids.iter().zip(&shake.unpaid_cents).enumerate() {
        shards[i % n].push_shake(id, cents);
    }
    shards[0].restore_paid_shakes(shake.paid);

    let mut desk = SupplyDesk::new(seed);
    desk.supply = snapshot.supply.clone();
    desk.next_shake_id = snapshot.next_shake_id;
    desk.cursor = (shake.unpaid_ids.len() % n) as u32;

    // Ascending ids: the order in which live line-segment packets re-draw their splits.
    let mut order: Vec<usize> = (0..snapshot.groups.len()).collect();
    order.sort_unstable_by_key(|&i| snapshot.groups[i].id);
    for i in order {
        let g = &snapshot.groups[i];
        shards[(g.id % shard_count) as usize].restore_group(
            g.id,
            &prepared[i],
            g.split_mode,
            &g.opened,
            g.expired,
            g.refunded_cents,
        );
    }

    Ok(Rebuilt {
        shards,
        desk,
        next_group_id: snapshot.next_group_id,
    })
}

/// Checks every identity a consistent ledger satisfies; returns the prepared packets.
fn validate(snapshot: &Snapshot) -> Result<Vec<NewPacket<'_>>> {
    for (name, next) in [
        ("nextShakeId", snapshot.next_shake_id),
        ("nextGroupId", snapshot.next_group_id),
    ] {
        if !(1..=ID_LIMIT).contains(&next) {
            return Err(InputError::new(format!(
                "snapshot {name} must be in 1..=2^32 - 1, got {next}"
            )));
        }
    }
    if let Some(supply) = &snapshot.supply {
        validate_options(&SupplyOptions {
            total: supply.total,
            rate_per_second: supply.rate_per_second,
            rule: supply.rule.clone(),
        })?;
        if supply.released > supply.total {
            return Err(InputError::new(
                "snapshot supply released more than its total",
            ));
        }
    }
    validate_shake(&snapshot.shake, snapshot.next_shake_id)?;

    let mut ids = HashSet::with_capacity(snapshot.groups.len());
    snapshot
        .groups
        .iter()
        .map(|g| {
            if g.id == 0 || u64::from(g.id) >= snapshot.next_group_id {
                return Err(group_error(g, "id must be in 1..nextGroupId"));
            }
            if !ids.insert(g.id) {
                return Err(group_error(g, "listed twice"));
            }
            validate_group(g)
        })
        .collect()
}

fn validate_shake(shake: &ShakeSnapshot, next_shake_id: u64) -> Result<()> {
    if shake.unpaid_ids.len() != shake.unpaid_cents.len() {
        return Err(InputError::new(
            "snapshot unpaidIds and unpaidCents differ in length",
        ));
    }
    if let Some(&id) = shake
        .unpaid_ids
        .iter()
        .find(|&&id| id == 0 || u64::from(id) >= next_shake_id)
    {
        return Err(InputError::new(format!(
            "snapshot unpaid shake id {id} is not in 1..nextShakeId"
        )));
    }
    let mut sorted = shake.unpaid_ids.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(InputError::new(
            "snapshot lists an unpaid shake packet twice",
        ));
    }
    if let Some(&c) = shake
        .unpaid_cents
        .iter()
        .find(|&&c| c == 0 || c > MAX_PACKET_CENTS)
    {
        return Err(InputError::new(format!(
            "snapshot unpaid shake packet of {c} cents"
        )));
    }
    let unpaid = CountCents {
        count: shake.unpaid_ids.len() as u64,
        cents: shake.unpaid_cents.iter().map(|&c| u64::from(c)).sum(),
    };
    let mut expected = shake.paid;
    expected.add_all(unpaid);
    if shake.created != expected {
        return Err(InputError::new(format!(
            "snapshot shake created {:?} != paid {:?} + unpaid {:?}",
            shake.created, shake.paid, unpaid
        )));
    }
    Ok(())
}

fn validate_group(g: &GroupSnapshot) -> Result<NewPacket<'_>> {
    if !g.expires_at.is_finite() {
        return Err(group_error(g, "expiresAt must be finite"));
    }
    let new = NewPacket::prepare(
        g.sender,
        g.total_cents,
        g.share_count,
        &g.recipients,
        g.expires_at,
    )
    .map_err(|status| group_error(g, &format!("would not be created: {status:?}")))?;
    if g.opened.len() > g.share_count as usize {
        return Err(group_error(g, "more opened shares than shares"));
    }
    let recipients: HashSet<u32> = g.recipients.iter().copied().collect();
    let mut openers = HashSet::with_capacity(g.opened.len());
    for share in &g.opened {
        if !recipients.contains(&share.user) || !openers.insert(share.user) {
            return Err(group_error(
                g,
                &format!("user {} opened it twice or is no recipient", share.user),
            ));
        }
        if share.cents == 0 {
            return Err(group_error(g, "an opened share of 0 cents"));
        }
    }
    let opened_cents: u64 = g.opened.iter().map(|s| u64::from(s.cents)).sum();
    let left = u64::from(g.total_cents)
        .checked_sub(opened_cents)
        .ok_or_else(|| group_error(g, "opened shares exceed the total"))?;
    let unopened = u64::from(g.share_count) - g.opened.len() as u64;
    // Expired or not, the opened shares must have been a possible split: at least a cent left for
    // each unopened share, and nothing left once every share is opened.
    let consistent = if unopened == 0 {
        left == 0
    } else {
        left >= unopened
    };
    if !consistent {
        return Err(group_error(
            g,
            "remaining cents cannot pay the remaining shares",
        ));
    }
    if g.expired {
        if u64::from(g.refunded_cents) != left {
            return Err(group_error(
                g,
                "refundedCents is not the unopened remainder",
            ));
        }
    } else if g.refunded_cents != 0 {
        return Err(group_error(g, "refundedCents must be 0 before expiry"));
    }
    Ok(new)
}

fn group_error(g: &GroupSnapshot, what: &str) -> InputError {
    InputError::new(format!("snapshot group packet {}: {what}", g.id))
}
