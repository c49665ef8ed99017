//! Helpers shared by the engine's integration tests: a seeded engine and each batch call with
//! plain vectors in and out.
#![allow(dead_code)] // each test file uses some of them

use hongbao_core::*;

pub const SEED: u32 = 42;

pub fn engine(shards: u32, mode: SplitMode) -> Engine {
    Engine::new(EngineConfig {
        shards,
        seed: Some(SEED),
        split_mode: mode,
    })
    .expect("valid config")
}

pub fn start(engine: &Engine, total: u32, rule: AmountRule) {
    engine
        .start_supply(SupplyOptions {
            total,
            rate_per_second: 200.0,
            rule,
        })
        .expect("valid supply");
}

pub fn release(engine: &Engine, count: u32) -> (Vec<u32>, Vec<u32>) {
    let (mut ids, mut cents) = (vec![0; count as usize], vec![0; count as usize]);
    let n = engine
        .release_supply(count, &mut ids, &mut cents)
        .expect("release") as usize;
    (ids[..n].to_vec(), cents[..n].to_vec())
}

pub fn shake(engine: &Engine, users: &[u32]) -> Vec<(u8, u32, u32)> {
    let n = users.len();
    let (mut status, mut ids, mut cents) = (vec![9u8; n], vec![9u32; n], vec![9u32; n]);
    engine
        .shake(
            users,
            ShakeOut {
                status: &mut status,
                packet_ids: &mut ids,
                cents: &mut cents,
            },
        )
        .expect("shake");
    (0..n).map(|i| (status[i], ids[i], cents[i])).collect()
}

/// Creates one packet per (sender, total, shares, recipients, expiry); returns (status, id) per item.
pub fn create(engine: &Engine, items: &[(u32, u32, u32, Vec<u32>, f64)]) -> Vec<(u8, u32)> {
    let mut offsets = vec![0u32];
    let mut recipients = Vec::new();
    for item in items {
        recipients.extend(&item.3);
        offsets.push(recipients.len() as u32);
    }
    let senders: Vec<u32> = items.iter().map(|i| i.0).collect();
    let totals: Vec<u32> = items.iter().map(|i| i.1).collect();
    let shares: Vec<u32> = items.iter().map(|i| i.2).collect();
    let expires: Vec<f64> = items.iter().map(|i| i.4).collect();
    let n = items.len();
    let (mut status, mut ids) = (vec![9u8; n], vec![9u32; n]);
    let batch = CreateBatch {
        senders: &senders,
        total_cents: &totals,
        share_counts: &shares,
        recipient_offsets: &offsets,
        recipients: &recipients,
        expires_at: &expires,
    };
    engine
        .create_group(
            &batch,
            CreateOut {
                status: &mut status,
                packet_ids: &mut ids,
            },
        )
        .expect("create");
    status.into_iter().zip(ids).collect()
}

pub fn open(engine: &Engine, pairs: &[(u32, u32)], now: f64) -> Vec<(u8, u32)> {
    let users: Vec<u32> = pairs.iter().map(|p| p.0).collect();
    let ids: Vec<u32> = pairs.iter().map(|p| p.1).collect();
    let n = pairs.len();
    let (mut status, mut cents) = (vec![9u8; n], vec![9u32; n]);
    engine
        .open(
            &users,
            &ids,
            now,
            OpenOut {
                status: &mut status,
                cents: &mut cents,
            },
        )
        .expect("open");
    status.into_iter().zip(cents).collect()
}

pub fn expire(engine: &Engine, now: f64, force: &[u32], cap: usize) -> Vec<Refund> {
    let (mut ids, mut senders, mut cents, mut shares) =
        (vec![0; cap], vec![0; cap], vec![0; cap], vec![0; cap]);
    let out = RefundOut {
        packet_ids: &mut ids,
        senders: &mut senders,
        cents: &mut cents,
        shares: &mut shares,
    };
    let n = engine.expire(now, force, out).expect("expire") as usize;
    (0..n)
        .map(|i| Refund {
            packet_id: ids[i],
            sender: senders[i],
            cents: cents[i],
            shares: shares[i],
        })
        .collect()
}

pub fn assert_identity(t: &Totals) {
    for (name, flow) in [("shake", t.shake), ("group", t.group)] {
        let sum =
            |f: fn(&CountCents) -> u64| f(&flow.paid) + f(&flow.remaining) + f(&flow.refunded);
        assert_eq!(
            flow.created.count,
            sum(|c| c.count),
            "{name} count identity"
        );
        assert_eq!(
            flow.created.cents,
            sum(|c| c.cents),
            "{name} cents identity"
        );
    }
}

pub const OK: u8 = OpenStatus::Ok as u8;
pub const HIT: u8 = ShakeStatus::Hit as u8;
pub const MISS: u8 = ShakeStatus::Miss as u8;
