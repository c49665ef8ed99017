//! Behaviour of the engine through its public API (docs/engine.md).

use std::sync::Arc;

use hongbao_core::*;

mod common;
use common::*;

#[test]
fn known_double_mean_vector_seed_42() {
    let e = engine(64, SplitMode::DoubleMean);
    assert_eq!(
        create(&e, &[(100, 1000, 5, vec![1, 2, 3, 4, 5], 1e15)]),
        vec![(0, 1)]
    );
    let got = open(&e, &[(1, 1), (2, 1), (3, 1)], 0.0);
    // Computed by an independent Python reference of docs/engine.md (packet 1 lives in shard 1: stream 2).
    assert_eq!(got, vec![(OK, 276), (OK, 53), (OK, 369)]);
}

#[test]
fn supply_is_round_robin_and_buckets_are_fifo() {
    let e = engine(2, SplitMode::DoubleMean);
    start(&e, 5, AmountRule::List(vec![7]));
    let (ids, cents) = release(&e, 3);
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(cents, vec![7, 7, 7]);
    // ids 1 and 3 went to shard 0, id 2 to shard 1; the cursor is now at shard 1.
    assert_eq!(release(&e, 10).0, vec![4, 5], "capped by the supply total");
    assert_eq!(release(&e, 10).0, Vec::<u32>::new());
    let hits = shake(&e, &[0, 2, 4, 6, 1, 3, 5]);
    assert_eq!(
        hits,
        vec![
            (HIT, 1, 7),
            (HIT, 3, 7),
            (HIT, 5, 7),
            (MISS, 0, 0),
            (HIT, 2, 7),
            (HIT, 4, 7),
            (MISS, 0, 0)
        ]
    );
    let t = e.totals();
    assert_eq!(
        t.shake.created,
        CountCents {
            count: 5,
            cents: 35
        }
    );
    assert_eq!(
        t.shake.paid,
        CountCents {
            count: 5,
            cents: 35
        }
    );
    assert_identity(&t);
}

#[test]
fn stopped_supply_releases_nothing() {
    let e = engine(4, SplitMode::DoubleMean);
    assert_eq!(release(&e, 3).0.len(), 0, "no supply");
    start(&e, 10, AmountRule::Range { min: 1, max: 100 });
    e.stop_supply();
    assert_eq!(release(&e, 3).0.len(), 0);
    let state = e.supply_state().expect("started");
    assert!(!state.active);
    assert_eq!(state.released, 0);
}

#[test]
fn same_seed_same_results() {
    let run = || {
        let e = engine(8, SplitMode::LineSegment);
        start(&e, 100, AmountRule::Range { min: 1, max: 1000 });
        let released = release(&e, 50);
        let created = create(
            &e,
            &[
                (1, 5000, 10, (1..=10).collect(), 1e15),
                (2, 99, 3, vec![4, 5, 6], 1e15),
            ],
        );
        let opened = open(&e, &[(1, 1), (4, 2), (2, 1), (5, 2)], 0.0);
        (
            released,
            created,
            opened,
            shake(&e, &(0..40).collect::<Vec<_>>()),
        )
    };
    assert_eq!(run(), run());
}

#[test]
fn create_checks_in_spec_order() {
    let e = engine(4, SplitMode::DoubleMean);
    let far = 1e15;
    let statuses: Vec<u8> = create(
        &e,
        &[
            (1, 0, 0, vec![], far),       // no recipients wins over everything
            (1, 100, 2, vec![5, 5], far), // duplicate recipient
            (1, 0, 3, vec![5, 6], far),   // more shares than recipients wins over a bad total
            (1, 0, 2, vec![5, 6], far),   // zero total
            (1, 100_000_001, 1, vec![5], far),
            (1, 1, 2, vec![5, 6], far), // total below shares
            (1, 2, 2, vec![5, 6], far), // ok
        ],
    )
    .into_iter()
    .map(|(s, _)| s)
    .collect();
    use CreateStatus::*;
    let expected = [
        BadRecipients,
        BadRecipients,
        BadShareCount,
        BadTotal,
        BadTotal,
        TotalBelowShares,
        Ok,
    ];
    assert_eq!(statuses, expected.map(|s| s as u8).to_vec());
}

#[test]
fn ids_are_sequential_and_only_ok_items_take_one() {
    let e = engine(4, SplitMode::DoubleMean);
    let got = create(
        &e,
        &[
            (1, 10, 1, vec![2], 1e15),
            (1, 0, 1, vec![2], 1e15),
            (1, 10, 1, vec![2], 1e15),
        ],
    );
    assert_eq!(got, vec![(0, 1), (CreateStatus::BadTotal as u8, 0), (0, 2)]);
}

#[test]
fn open_outcomes_and_shares_add_up() {
    for mode in [SplitMode::DoubleMean, SplitMode::LineSegment] {
        let e = engine(3, mode);
        create(&e, &[(9, 1000, 3, vec![1, 2, 3, 4], 5000.0)]);
        let got = open(
            &e,
            &[(7, 1), (1, 99), (1, 1), (1, 1), (2, 1), (3, 1), (4, 1)],
            0.0,
        );
        use OpenStatus::*;
        let statuses: Vec<u8> = got.iter().map(|g| g.0).collect();
        assert_eq!(
            statuses,
            [NotRecipient, UnknownPacket, Ok, Repeat, Ok, Ok, Empty]
                .map(|s| s as u8)
                .to_vec(),
            "{mode:?}"
        );
        assert_eq!(got[2].1, got[3].1, "repeat returns the same share");
        assert_eq!(got[2].1 + got[4].1 + got[5].1, 1000, "{mode:?}");
        let d = e.details(1).expect("exists");
        assert_eq!(
            d.opened.iter().map(|s| s.user).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let best = d.opened.iter().map(|s| s.cents).max();
        let first_best = d
            .opened
            .iter()
            .find(|s| Some(s.cents) == best)
            .map(|s| s.user);
        assert_eq!(d.best_luck, first_best);
        assert_identity(&e.totals());
    }
}

#[test]
fn batch_equals_items_one_by_one() {
    // 4 and 3 shards group a batch by counting; 1000 (more than the items) by sorting keys.
    for shards in [4, 3, 1000] {
        let a = engine(shards, SplitMode::DoubleMean);
        let b = engine(shards, SplitMode::DoubleMean);
        for e in [&a, &b] {
            start(e, 20, AmountRule::Range { min: 1, max: 50 });
            release(e, 20);
            create(
                e,
                &[
                    (1, 500, 4, vec![1, 2, 3, 5, 6], 1e15),
                    (1, 300, 2, vec![1, 5], 1e15),
                    (1, 90, 3, vec![1, 2, 3], 1e15),
                ],
            );
        }
        let users: Vec<u32> = vec![0, 4, 1, 8, 0, 5, 12, 2, 3, 16, 20, 24, 7, 1001, 1];
        let batched = shake(&a, &users);
        let single: Vec<_> = users.iter().flat_map(|&u| shake(&b, &[u])).collect();
        assert_eq!(batched, single, "{shards} shards");

        let pairs = [
            (1, 1),
            (5, 2),
            (2, 3),
            (2, 1),
            (1, 2),
            (5, 1),
            (1, 3),
            (1, 1),
            (3, 1),
            (6, 1),
            (7, 2),
            (3, 3),
            (2, 9),
        ];
        let batched = open(&a, &pairs, 0.0);
        let single: Vec<_> = pairs.iter().flat_map(|&p| open(&b, &[p], 0.0)).collect();
        assert_eq!(batched, single, "{shards} shards");
    }
}

#[test]
fn misuse_is_refused_and_moves_nothing() {
    let e = engine(4, SplitMode::DoubleMean);
    start(&e, 10, AmountRule::List(vec![5]));
    let (mut ids, mut cents) = (vec![0; 2], vec![0; 2]);
    assert!(
        e.release_supply(3, &mut ids, &mut cents).is_err(),
        "outputs too short"
    );
    assert_eq!(e.supply_state().expect("started").released, 0);

    let senders = [1, 1];
    let bad_offsets = CreateBatch {
        senders: &senders,
        total_cents: &[10, 10],
        share_counts: &[1, 1],
        recipient_offsets: &[0, 1, 5],
        recipients: &[2, 3],
        expires_at: &[1e15, 1e15],
    };
    let (mut status, mut out_ids) = (vec![0u8; 2], vec![0u32; 2]);
    assert!(e
        .create_group(
            &bad_offsets,
            CreateOut {
                status: &mut status,
                packet_ids: &mut out_ids
            }
        )
        .is_err());
    let not_finite = CreateBatch {
        recipient_offsets: &[0, 1, 2],
        expires_at: &[1e15, f64::NAN],
        ..bad_offsets
    };
    assert!(e
        .create_group(
            &not_finite,
            CreateOut {
                status: &mut status,
                packet_ids: &mut out_ids
            }
        )
        .is_err());
    assert_eq!(e.totals().group_packets, 0);
    assert_eq!(
        create(&e, &[(1, 10, 1, vec![2], 1e15)]),
        vec![(0, 1)],
        "no id was used up"
    );

    let (mut status, mut cents) = (vec![0u8; 1], vec![0u32; 1]);
    assert!(e
        .open(
            &[2],
            &[1, 1],
            0.0,
            OpenOut {
                status: &mut status,
                cents: &mut cents
            }
        )
        .is_err());
    assert!(e
        .open(
            &[2],
            &[1],
            f64::NAN,
            OpenOut {
                status: &mut status,
                cents: &mut cents
            }
        )
        .is_err());
    assert_eq!(e.totals().group.paid.count, 0);

    assert!(Engine::new(EngineConfig {
        shards: 0,
        ..EngineConfig::default()
    })
    .is_err());
    let bad_rule = SupplyOptions {
        total: 1,
        rate_per_second: 1.0,
        rule: AmountRule::Range { min: 5, max: 4 },
    };
    assert!(e.start_supply(bad_rule).is_err());
    assert!(e
        .start_supply(SupplyOptions {
            rule: AmountRule::List(vec![]),
            ..supply_opts()
        })
        .is_err());
    assert!(e
        .start_supply(SupplyOptions {
            rule: AmountRule::List(vec![0]),
            ..supply_opts()
        })
        .is_err());
}

fn supply_opts() -> SupplyOptions {
    SupplyOptions {
        total: 1,
        rate_per_second: 1.0,
        rule: AmountRule::List(vec![1]),
    }
}

#[test]
fn expire_in_ascending_id_order_up_to_capacity() {
    let e = engine(3, SplitMode::DoubleMean);
    let items: Vec<_> = (0..6)
        .map(|i| (100 + i, 60, 3, vec![1, 2, 3], 1000.0 + f64::from(i)))
        .collect();
    create(&e, &items);
    open(&e, &[(1, 2)], 0.0);
    let first = expire(&e, 1003.0, &[], 2);
    assert_eq!(
        first.iter().map(|r| r.packet_id).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        (first[0].cents, first[0].shares, first[0].sender),
        (60, 3, 100)
    );
    assert_eq!(first[1].shares, 2);
    let second = expire(&e, 1003.0, &[6, 6, 1, 99], 10);
    assert_eq!(
        second.iter().map(|r| r.packet_id).collect::<Vec<_>>(),
        vec![3, 4, 6]
    );
    assert!(expire(&e, 1e300, &[1, 2, 3], 10)
        .iter()
        .map(|r| r.packet_id)
        .eq([5]));
    assert_eq!(
        open(&e, &[(2, 1)], 0.0),
        vec![(OpenStatus::Expired as u8, 0)]
    );
    let (mut ids, mut senders, mut cents, mut shares) =
        (vec![0; 2], vec![0; 2], vec![0; 1], vec![0; 2]);
    let uneven = RefundOut {
        packet_ids: &mut ids,
        senders: &mut senders,
        cents: &mut cents,
        shares: &mut shares,
    };
    assert!(
        e.expire(1e300, &[], uneven).is_err(),
        "refund outputs of different lengths"
    );
    let t = e.totals();
    assert_eq!(t.group.refunded.count, 17);
    assert_eq!(t.group.remaining, CountCents::default());
    assert_identity(&t);
}

fn snapshot_of(e: &Engine, shake_unpaid: (Vec<u32>, Vec<u32>), next_shake_id: u64) -> Snapshot {
    let t = e.totals();
    let groups = (1..=t.group_packets as u32)
        .filter_map(|id| e.details(id))
        .map(|d| GroupSnapshot {
            id: d.id,
            sender: d.sender,
            total_cents: d.total_cents,
            share_count: d.share_count,
            split_mode: d.split_mode,
            recipients: d.recipients,
            expires_at: d.expires_at,
            opened: d.opened,
            expired: d.expired,
            refunded_cents: d.refunded_cents,
        })
        .collect();
    Snapshot {
        next_shake_id,
        next_group_id: t.group_packets + 1,
        supply: e.supply_state(),
        shake: ShakeSnapshot {
            created: t.shake.created,
            paid: t.shake.paid,
            unpaid_ids: shake_unpaid.0,
            unpaid_cents: shake_unpaid.1,
        },
        groups,
    }
}

#[test]
fn restore_rebuilds_money_and_packets() {
    let e = engine(4, SplitMode::LineSegment);
    start(&e, 10, AmountRule::Range { min: 1, max: 9 });
    let (ids, cents) = release(&e, 6);
    let won = shake(&e, &[0, 1]);
    assert!(won.iter().all(|w| w.0 == HIT));
    let unpaid: Vec<usize> = (0..6)
        .filter(|&i| !won.iter().any(|w| w.1 == ids[i]))
        .collect();
    create(
        &e,
        &[
            (1, 1000, 4, vec![1, 2, 3, 4], 1e15),
            (2, 50, 2, vec![1, 2], 10.0),
        ],
    );
    open(&e, &[(1, 1), (2, 1), (1, 2)], 0.0);
    expire(&e, 10.0, &[], 10);
    let snapshot = snapshot_of(
        &e,
        (
            unpaid.iter().map(|&i| ids[i]).collect(),
            unpaid.iter().map(|&i| cents[i]).collect(),
        ),
        7,
    );

    let r = engine(4, SplitMode::LineSegment);
    r.restore(&snapshot).expect("consistent snapshot");
    assert_eq!(r.totals(), e.totals());
    for id in 1..=2 {
        let (mut a, mut b) = (e.details(id).expect("a"), r.details(id).expect("b"));
        assert_eq!(a.opened, b.opened);
        a.opened.clear();
        b.opened.clear();
        assert_eq!(a, b);
    }
    assert_eq!(r.supply_state(), e.supply_state());
    let rest = open(&r, &[(3, 1), (4, 1)], 0.0);
    let paid: u32 = r
        .details(1)
        .expect("packet")
        .opened
        .iter()
        .map(|s| s.cents)
        .sum();
    assert!(rest.iter().all(|o| o.0 == OK));
    assert_eq!(paid, 1000, "re-drawn shares add up to the rest");
    assert_eq!(
        release(&r, 10).0,
        vec![7, 8, 9, 10],
        "ids and supply progress continue"
    );
    assert_identity(&r.totals());
}

#[test]
fn inconsistent_snapshot_is_refused_and_changes_nothing() {
    let e = engine(2, SplitMode::DoubleMean);
    create(&e, &[(1, 100, 2, vec![1, 2], 1e15)]);
    open(&e, &[(1, 1)], 0.0);
    let good = snapshot_of(&e, (vec![], vec![]), 1);
    let mut bad = good.clone();
    bad.groups[0].opened[0].cents += 1000;
    let before = e.totals();
    assert!(e.restore(&bad).is_err());
    let mut bad = good.clone();
    bad.shake.created.count = 3;
    assert!(e.restore(&bad).is_err());
    let mut bad = good.clone();
    let again = bad.groups[0].opened[0];
    bad.groups[0].opened.push(again);
    assert!(e.restore(&bad).is_err());
    assert_eq!(e.totals(), before);
    e.restore(&good).expect("good snapshot");
    assert_eq!(e.totals(), before);
}

#[test]
fn impossible_splits_are_refused_expired_or_not() {
    let e = engine(2, SplitMode::DoubleMean);
    create(&e, &[(1, 90, 2, vec![1, 2], 1e15)]);
    open(&e, &[(1, 1)], 0.0);
    let good = snapshot_of(&e, (vec![], vec![]), 1);
    let before = e.totals();
    let with = |opened: &[(u32, u32)], expired: bool, refunded_cents: u32| {
        let mut s = good.clone();
        let g = &mut s.groups[0];
        g.opened = opened
            .iter()
            .map(|&(user, cents)| Share { user, cents })
            .collect();
        g.expired = expired;
        g.refunded_cents = refunded_cents;
        s
    };
    for (label, snapshot) in [
        (
            "less than a cent per unopened share",
            with(&[(1, 90)], false, 0),
        ),
        (
            "expired, less than a cent per unopened share",
            with(&[(1, 90)], true, 0),
        ),
        (
            "all shares opened with cents left",
            with(&[(1, 40), (2, 40)], false, 0),
        ),
        (
            "expired, all shares opened with cents left",
            with(&[(1, 40), (2, 40)], true, 10),
        ),
    ] {
        assert!(e.restore(&snapshot).is_err(), "{label} is refused");
    }
    assert_eq!(e.totals(), before);
    e.restore(&with(&[(1, 40)], true, 50))
        .expect("an expired packet with its remainder refunded");
}

#[test]
fn threads_never_pay_a_shake_packet_twice() {
    let e = Arc::new(engine(8, SplitMode::DoubleMean));
    start(&e, 20_000, AmountRule::Range { min: 1, max: 100 });
    let releaser = {
        let e = Arc::clone(&e);
        std::thread::spawn(move || {
            for _ in 0..200 {
                release(&e, 100);
            }
        })
    };
    let shakers: Vec<_> = (0..3)
        .map(|t| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                let users: Vec<u32> = (0..64).map(|u| u * 3 + t).collect();
                let mut won = Vec::new();
                for _ in 0..2000 {
                    won.extend(
                        shake(&e, &users)
                            .into_iter()
                            .filter(|w| w.0 == HIT)
                            .map(|w| w.1),
                    );
                }
                won
            })
        })
        .collect();
    releaser.join().expect("releaser");
    let mut won: Vec<u32> = shakers
        .into_iter()
        .flat_map(|h| h.join().expect("shaker"))
        .collect();
    let n = won.len();
    won.sort_unstable();
    won.dedup();
    assert_eq!(won.len(), n, "a packet was won twice");
    let t = e.totals();
    assert_eq!(t.shake.paid.count, n as u64);
    assert_identity(&t);
}

#[test]
fn threads_creating_and_opening_find_every_packet_and_pay_each_share_once() {
    let e = Arc::new(engine(3, SplitMode::DoubleMean));
    let workers: Vec<_> = (0..3u32)
        .map(|t| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                let mut paid = 0u64;
                for round in 0..50u32 {
                    let users = [t * 1000 + round, t * 1000 + round + 500];
                    let items: Vec<_> =
                        (0..20).map(|_| (t, 100, 2, users.to_vec(), 1e15)).collect();
                    let ids: Vec<u32> = create(&e, &items).into_iter().map(|c| c.1).collect();
                    let pairs: Vec<(u32, u32)> = ids
                        .iter()
                        .flat_map(|&id| [(users[0], id), (users[1], id), (users[0], id)])
                        .collect();
                    for (k, (status, cents)) in open(&e, &pairs, 0.0).into_iter().enumerate() {
                        let expected = if k % 3 == 2 {
                            OpenStatus::Repeat as u8
                        } else {
                            OK
                        };
                        assert_eq!(status, expected, "thread {t}, round {round}, open {k}");
                        if status == OK {
                            paid += u64::from(cents);
                        }
                    }
                }
                paid
            })
        })
        .collect();
    let paid: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    let t = e.totals();
    assert_eq!(t.group_packets, 3 * 50 * 20);
    assert_eq!(t.group.paid.cents, paid);
    assert_eq!(paid, 3 * 50 * 20 * 100, "every packet fully opened");
    for id in 1..=3000 {
        let d = e.details(id).expect("every id is found");
        assert_eq!(d.opened.len(), 2, "packet {id}");
    }
    assert!(e.details(3001).is_none());
    assert_identity(&t);
}
