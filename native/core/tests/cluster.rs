//! The calls of cluster mode through the public API (docs/engine.md, "Calls for cluster mode").

use std::sync::Arc;

use hongbao_core::*;

mod common;
use common::*;

fn draw(engine: &Engine, rule: &AmountRule, n: usize) -> Vec<u32> {
    let mut out = vec![0; n];
    engine.draw_amounts(rule, &mut out).expect("valid rule");
    out
}

fn withdraw(engine: &Engine, cap: usize) -> (Vec<u32>, Vec<u32>) {
    let (mut ids, mut cents) = (vec![0; cap], vec![0; cap]);
    let n = engine
        .withdraw_shake_packets(&mut ids, &mut cents)
        .expect("withdraw") as usize;
    (ids[..n].to_vec(), cents[..n].to_vec())
}

fn split(engine: &Engine, ids: &[u32], totals: &[u32], counts: &[u32]) -> Vec<u32> {
    let mut out = vec![0; counts.iter().sum::<u32>() as usize];
    engine
        .split_shares(ids, totals, counts, &mut out)
        .expect("valid split");
    out
}

/// Empties every bucket, shard by shard: the (id, cents) each shard's bucket held, oldest first.
fn drain_by_shard(engine: &Engine) -> Vec<Vec<(u32, u32)>> {
    (0..engine.shard_count())
        .map(|s| {
            let mut got = Vec::new();
            while let [(HIT, id, cents)] = shake(engine, &[s])[..] {
                got.push((id, cents));
            }
            got
        })
        .collect()
}

#[test]
fn draw_amounts_equals_what_a_release_would_draw() {
    let rules = [
        AmountRule::Range { min: 1, max: 9_999 },
        AmountRule::List(vec![88, 188, 888]),
    ];
    for rule in rules {
        let released = engine(4, SplitMode::DoubleMean);
        start(&released, 1_000, rule.clone());
        let (_, first) = release(&released, 50);
        let (_, second) = release(&released, 30);

        let drawn = engine(4, SplitMode::DoubleMean);
        assert_eq!(
            draw(&drawn, &rule, 50),
            first,
            "{rule:?}: the draw is a release's"
        );
        assert_eq!(
            drawn.totals(),
            Totals::default(),
            "{rule:?}: drawing creates nothing"
        );
        assert!(drawn.supply_state().is_none(), "{rule:?}: no supply needed");
        start(&drawn, 1_000, rule.clone());
        let (ids, after) = release(&drawn, 30);
        assert_eq!(after, second, "{rule:?}: stream 0 advanced as by a release");
        assert_eq!(ids[0], 1, "{rule:?}: drawing takes no shake id");
    }
}

#[test]
fn draw_amounts_refuses_an_invalid_rule_without_a_draw() {
    let e = engine(4, SplitMode::DoubleMean);
    let fresh = engine(4, SplitMode::DoubleMean);
    for rule in [
        AmountRule::Range { min: 0, max: 5 },
        AmountRule::Range { min: 6, max: 5 },
        AmountRule::Range {
            min: 1,
            max: MAX_PACKET_CENTS + 1,
        },
        AmountRule::List(vec![]),
        AmountRule::List(vec![5, 0]),
    ] {
        let mut out = vec![7; 3];
        assert!(
            e.draw_amounts(&rule, &mut out).is_err(),
            "{rule:?} is refused"
        );
        assert_eq!(out, vec![7; 3], "{rule:?}: the output is untouched");
    }
    let rule = AmountRule::Range { min: 1, max: 100 };
    assert_eq!(
        draw(&e, &rule, 10),
        draw(&fresh, &rule, 10),
        "the refused calls drew nothing"
    );
}

#[test]
fn adopted_packets_go_round_robin_from_the_cursor_and_count_as_created() {
    let e = engine(4, SplitMode::DoubleMean);
    start(&e, 100, AmountRule::Range { min: 1, max: 50 });
    let (released, released_cents) = release(&e, 3); // shards 0, 1, 2; cursor at 3
    e.adopt_shake_packets(&[900, 901, 902, 903, 904], &[10, 20, 30, 40, 50])
        .expect("valid packets");
    let (later, later_cents) = release(&e, 2); // cursor at 0 after five adoptions
    assert_eq!(later, vec![4, 5], "adoption takes no shake id");

    let t = e.totals();
    let cents: u64 = released_cents
        .iter()
        .chain(&later_cents)
        .map(|&c| u64::from(c))
        .sum();
    assert_eq!(
        t.shake.created,
        CountCents {
            count: 10,
            cents: cents + 150
        },
        "adopted packets count as created"
    );
    assert_eq!(
        t.shake.remaining, t.shake.created,
        "nothing won yet: all remaining"
    );
    assert_eq!(
        e.supply_state().map(|s| s.released),
        Some(5),
        "the supply counts only its own releases"
    );
    assert_identity(&t);

    let by_shard = drain_by_shard(&e);
    let ids: Vec<Vec<u32>> = by_shard
        .iter()
        .map(|b| b.iter().map(|p| p.0).collect())
        .collect();
    assert_eq!(
        ids,
        vec![
            vec![released[0], 901, later[0]],
            vec![released[1], 902, later[1]],
            vec![released[2], 903],
            vec![900, 904],
        ],
        "packet i of the adoption goes to shard (cursor + i) mod shards"
    );
    assert_eq!(
        by_shard[3],
        vec![(900, 10), (904, 50)],
        "cents travel with ids"
    );
}

#[test]
fn adoption_works_without_a_supply_and_refuses_bad_packets_whole() {
    let e = engine(3, SplitMode::DoubleMean);
    for (ids, cents, what) in [
        (&[1, 2][..], &[5][..], "lengths differ"),
        (&[1, 0], &[5, 5], "id 0"),
        (&[1, 2], &[5, 0], "0 cents"),
        (
            &[1, 2],
            &[5, MAX_PACKET_CENTS + 1],
            "above MAX_PACKET_CENTS",
        ),
    ] {
        assert!(
            e.adopt_shake_packets(ids, cents).is_err(),
            "{what} is refused"
        );
        assert_eq!(e.totals(), Totals::default(), "{what}: nothing adopted");
    }
    e.adopt_shake_packets(&[], &[]).expect("an empty adoption");
    e.adopt_shake_packets(&[7, 7], &[1, MAX_PACKET_CENTS])
        .expect("no supply needed; ids are the caller's to keep unique");
    assert_eq!(
        shake(&e, &[0, 1, 2]),
        vec![(HIT, 7, 1), (HIT, 7, MAX_PACKET_CENTS), (MISS, 0, 0)],
        "the empty adoption left the cursor at shard 0"
    );
}

#[test]
fn withdraw_takes_shard_0_first_oldest_first_and_refunds() {
    let e = engine(3, SplitMode::DoubleMean);
    start(&e, 100, AmountRule::Range { min: 1, max: 1_000 });
    let (ids, cents) = release(&e, 10); // shard 0: 1, 4, 7, 10; shard 1: 2, 5, 8; shard 2: 3, 6, 9
    assert_eq!(shake(&e, &[1])[0].1, 2, "one packet of shard 1 is won");
    let paid = u64::from(cents[1]);

    let (a, a_cents) = withdraw(&e, 5);
    assert_eq!(
        a,
        vec![1, 4, 7, 10, 5],
        "shard 0 whole, then shard 1 oldest first"
    );
    let cents_of = |id: u32| cents[ids.iter().position(|&x| x == id).expect("released")];
    assert_eq!(
        a_cents,
        a.iter().map(|&id| cents_of(id)).collect::<Vec<_>>(),
        "each id with its cents"
    );
    let t = e.totals();
    let a_sum: u64 = a_cents.iter().map(|&c| u64::from(c)).sum();
    assert_eq!(
        t.shake.refunded,
        CountCents {
            count: 5,
            cents: a_sum
        },
        "withdrawn packets are refunded"
    );
    assert_eq!(t.shake.paid.count, 1, "the won packet stays paid");
    assert_identity(&t);

    let (b, _) = withdraw(&e, 5);
    assert_eq!(b, vec![8, 3, 6, 9], "the rest, fewer than the capacity");
    assert_eq!(
        withdraw(&e, 5).0,
        Vec::<u32>::new(),
        "every bucket is empty"
    );
    let t = e.totals();
    let all: u64 = cents.iter().map(|&c| u64::from(c)).sum();
    assert_eq!(
        t.shake.refunded,
        CountCents {
            count: 9,
            cents: all - paid
        },
        "everything unwon is refunded"
    );
    assert_eq!(t.shake.remaining, CountCents::default(), "nothing remains");
    assert_identity(&t);
    assert_eq!(
        shake(&e, &[0, 1, 2]),
        vec![(MISS, 0, 0); 3],
        "the buckets are empty"
    );

    let (more, more_cents) = release(&e, 2); // cursor at 10 mod 3 = 1
    assert_eq!(
        shake(&e, &[1, 2, 0]),
        vec![
            (HIT, more[0], more_cents[0]),
            (HIT, more[1], more_cents[1]),
            (MISS, 0, 0)
        ],
        "a withdrawal leaves the cursor where it was"
    );
}

#[test]
fn withdraw_refuses_outputs_of_different_lengths() {
    let e = engine(2, SplitMode::DoubleMean);
    e.adopt_shake_packets(&[1, 2], &[10, 20]).expect("valid");
    let (mut ids, mut cents) = (vec![0; 2], vec![0; 1]);
    assert!(e.withdraw_shake_packets(&mut ids, &mut cents).is_err());
    assert_eq!(
        e.totals().shake.refunded,
        CountCents::default(),
        "nothing moved"
    );
    assert_eq!(withdraw(&e, 0).0.len(), 0, "a capacity of 0 takes nothing");
}

#[test]
fn split_shares_equal_what_create_and_open_would_pay() {
    for mode in [SplitMode::DoubleMean, SplitMode::LineSegment] {
        let made = engine(4, mode);
        let specs: Vec<(u32, u32, u32, Vec<u32>, f64)> = vec![
            (1, 1_000, 5, vec![1, 2, 3, 4, 5], 1e15),
            (1, 7, 7, (1..=7).collect(), 1e15),
            (1, 100_000_000, 1_000, (1..=1_000).collect(), 1e15),
            (1, 99, 1, vec![1], 1e15),
            (1, 1_200, 1_000, (1..=1_000).collect(), 1e15),
            (1, 5_000, 3, vec![1, 2, 3], 1e15),
        ];
        let created = create(&made, &specs);
        let mut paid = Vec::new();
        for (&(_, id), spec) in created.iter().zip(&specs) {
            let pairs: Vec<(u32, u32)> = spec
                .3
                .iter()
                .take(spec.2 as usize)
                .map(|&u| (u, id))
                .collect();
            paid.extend(open(&made, &pairs, 0.0).into_iter().map(|(_, c)| c));
        }

        let split_here = engine(4, mode);
        let ids: Vec<u32> = created.iter().map(|c| c.1).collect();
        let totals: Vec<u32> = specs.iter().map(|s| s.1).collect();
        let counts: Vec<u32> = specs.iter().map(|s| s.2).collect();
        let got = split(&split_here, &ids, &totals, &counts);
        assert_eq!(got, paid, "{mode:?}: the split is what the opens paid");
        assert_eq!(
            split_here.totals(),
            Totals::default(),
            "{mode:?}: splitting creates nothing"
        );

        let mut at = 0;
        for (&total, &count) in totals.iter().zip(&counts) {
            let shares = &got[at..at + count as usize];
            at += count as usize;
            assert_eq!(
                shares.iter().map(|&s| u64::from(s)).sum::<u64>(),
                u64::from(total),
                "{mode:?}: shares add up to {total}"
            );
            assert!(shares.iter().all(|&s| s >= 1), "{mode:?}: every share >= 1");
        }
    }
}

#[test]
fn split_shares_uses_the_stream_of_the_packet_id_shard() {
    let a = engine(4, SplitMode::DoubleMean);
    let b = engine(4, SplitMode::DoubleMean);
    // Ids 3 and 7 share shard 3, 5 is in shard 1: one batch equals the packets one by one, and
    // another id of the same shard continues that shard's stream.
    let batch = split(&a, &[3, 5, 7], &[500, 600, 700], &[4, 5, 6]);
    let mut one_by_one = split(&b, &[7], &[500], &[4]);
    one_by_one.extend(split(&b, &[1], &[600], &[5]));
    one_by_one.extend(split(&b, &[3], &[700], &[6]));
    assert_eq!(
        batch, one_by_one,
        "only the shard of an id matters, in batch order"
    );
}

/// Packet ids, totals, share counts, the length of `out`, and what is wrong.
type SplitCase = (
    &'static [u32],
    &'static [u32],
    &'static [u32],
    usize,
    &'static str,
);

#[test]
fn split_shares_refuses_a_bad_batch_whole_and_draws_nothing() {
    let e = engine(2, SplitMode::DoubleMean);
    let fresh = engine(2, SplitMode::DoubleMean);
    let cases: [SplitCase; 8] = [
        (&[1, 2], &[10], &[2, 2], 4, "totalCents too short"),
        (&[1, 2], &[10, 10], &[2], 4, "shareCounts too short"),
        (&[1, 2], &[10, 10], &[2, 0], 4, "0 shares"),
        (
            &[1, 2],
            &[10, 2_000],
            &[2, MAX_SHARES + 1],
            2_000,
            "too many shares",
        ),
        (&[1, 2], &[10, 0], &[2, 1], 3, "0 cents"),
        (
            &[1, 2],
            &[10, MAX_PACKET_CENTS + 1],
            &[2, 1],
            3,
            "too many cents",
        ),
        (&[1, 2], &[10, 2], &[2, 3], 5, "total below shares"),
        (&[1, 2], &[10, 10], &[2, 3], 4, "out too short"),
    ];
    for (ids, totals, counts, len, what) in cases {
        let mut out = vec![9; len];
        assert!(
            e.split_shares(ids, totals, counts, &mut out).is_err(),
            "{what} is refused"
        );
        assert_eq!(out, vec![9; len], "{what}: the output is untouched");
    }
    assert_eq!(
        split(&e, &[1, 2], &[1_000, 1_000], &[5, 5]),
        split(&fresh, &[1, 2], &[1_000, 1_000], &[5, 5]),
        "the refused batches drew nothing"
    );
    let mut longer = vec![9; 6];
    e.split_shares(&[4], &[3], &[3], &mut longer)
        .expect("a longer out");
    assert_eq!(
        longer,
        vec![1, 1, 1, 9, 9, 9],
        "only the shares are written"
    );
}

#[test]
fn threads_never_both_pay_and_withdraw_a_packet() {
    let e = Arc::new(engine(8, SplitMode::DoubleMean));
    let adopter = {
        let e = Arc::clone(&e);
        std::thread::spawn(move || {
            for k in 0..200u32 {
                let ids: Vec<u32> = (1 + 50 * k..=50 * (k + 1)).collect();
                e.adopt_shake_packets(&ids, &[3; 50]).expect("valid");
            }
        })
    };
    let withdrawer = {
        let e = Arc::clone(&e);
        std::thread::spawn(move || {
            let mut taken = Vec::new();
            for _ in 0..400 {
                taken.extend(withdraw(&e, 16).0);
            }
            taken
        })
    };
    let shaker = {
        let e = Arc::clone(&e);
        std::thread::spawn(move || {
            let users: Vec<u32> = (0..64).collect();
            let mut won = Vec::new();
            for _ in 0..1000 {
                won.extend(
                    shake(&e, &users)
                        .into_iter()
                        .filter(|w| w.0 == HIT)
                        .map(|w| w.1),
                );
            }
            won
        })
    };
    adopter.join().expect("adopter");
    let mut seen = withdrawer.join().expect("withdrawer");
    let withdrawn = seen.len() as u64;
    let won = shaker.join().expect("shaker");
    let paid = won.len() as u64;
    seen.extend(won);
    let left = loop {
        let (ids, _) = withdraw(&e, 1_000);
        if ids.len() < 1_000 {
            break ids;
        }
        seen.extend(ids);
    };
    seen.extend(left);
    seen.sort_unstable();
    let all: Vec<u32> = (1..=10_000).collect();
    assert_eq!(seen, all, "every packet was won or withdrawn, exactly once");
    let t = e.totals();
    assert_eq!(t.shake.paid.count, paid, "paid counts the packets won");
    assert!(
        t.shake.refunded.count >= withdrawn,
        "refunded counts every withdrawal"
    );
    assert_eq!(t.shake.remaining, CountCents::default(), "nothing remains");
    assert_identity(&t);
}
