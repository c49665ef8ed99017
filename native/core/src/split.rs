//! The two ways of splitting a group packet (docs/engine.md, "Splitting").

use std::collections::BTreeSet;

use crate::rng::Rng;

/// Double mean: the next share of `remaining_cents` over `remaining_shares` shares.
///
/// Requires `1 <= remaining_shares <= remaining_cents`. The last share takes the rest without a
/// draw; otherwise the share is `uniform(1, min(floor(2B / r), B - (r - 1)))`, which leaves at
/// least one cent for each share after it.
#[inline]
pub fn double_mean_share(rng: &mut Rng, remaining_cents: u32, remaining_shares: u32) -> u32 {
    debug_assert!(remaining_shares >= 1 && remaining_shares <= remaining_cents);
    if remaining_shares == 1 {
        return remaining_cents;
    }
    let (b, r) = (remaining_cents, remaining_shares);
    // 2B fits a u32 (B <= MAX_PACKET_CENTS); u64 keeps a bad caller exact rather than wrapped.
    let two_mean = if b <= u32::MAX / 2 {
        2 * b / r
    } else {
        (2 * u64::from(b) / u64::from(r)) as u32
    };
    rng.uniform(1, two_mean.min(b - (r - 1)))
}

/// Line segment: `count` positive shares adding up to `total` (requires `1 <= count <= total`).
///
/// `count - 1` distinct cut points are drawn from `{1 .. total - 1}` with Floyd's algorithm and
/// sorted; the shares are the gaps between `0, cuts..., total`. Every composition is equally likely.
pub fn line_segment_split(rng: &mut Rng, total: u32, count: u32) -> Vec<u32> {
    debug_assert!(count >= 1 && count <= total);
    let k = count - 1;
    let n = total - 1;
    let mut cuts = BTreeSet::new();
    // j runs from n - k + 1 to n; with k = 0 the range is empty.
    for j in (n - k + 1)..=n {
        let t = rng.uniform(1, j);
        if !cuts.insert(t) {
            cuts.insert(j);
        }
    }
    let mut shares = Vec::with_capacity(count as usize);
    let mut previous = 0;
    for cut in cuts {
        shares.push(cut - previous);
        previous = cut;
    }
    shares.push(total - previous);
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double_mean_all(seed: u32, total: u32, count: u32) -> Vec<u32> {
        let mut rng = Rng::stream(seed, 1);
        let (mut b, mut r) = (total, count);
        let mut shares = Vec::new();
        while r > 0 {
            let s = double_mean_share(&mut rng, b, r);
            shares.push(s);
            b -= s;
            r -= 1;
        }
        shares
    }

    #[test]
    fn double_mean_sums_exactly_with_positive_shares() {
        for seed in 0..200 {
            for &(total, count) in &[
                (1, 1),
                (2, 2),
                (5, 5),
                (1000, 5),
                (7, 3),
                (100_000_000, 1000),
                (1001, 1000),
            ] {
                let shares = double_mean_all(seed, total, count);
                assert_eq!(shares.len(), count as usize);
                assert_eq!(
                    shares.iter().map(|&s| u64::from(s)).sum::<u64>(),
                    u64::from(total)
                );
                assert!(shares.iter().all(|&s| s >= 1), "seed {seed}: {shares:?}");
            }
        }
    }

    #[test]
    fn double_mean_never_exceeds_twice_the_average() {
        let mut rng = Rng::stream(5, 1);
        for _ in 0..1000 {
            let s = double_mean_share(&mut rng, 1000, 5);
            assert!((1..=400).contains(&s));
        }
    }

    #[test]
    fn double_mean_equal_total_and_count_gives_ones() {
        assert_eq!(double_mean_all(3, 4, 4), vec![1, 1, 1, 1]);
    }

    #[test]
    fn line_segment_sums_exactly_with_positive_shares() {
        for seed in 0..200 {
            let mut rng = Rng::stream(seed, 2);
            for &(total, count) in &[
                (1, 1),
                (2, 2),
                (5, 5),
                (1000, 5),
                (7, 3),
                (100_000_000, 1000),
                (1001, 1000),
            ] {
                let shares = line_segment_split(&mut rng, total, count);
                assert_eq!(shares.len(), count as usize);
                assert_eq!(
                    shares.iter().map(|&s| u64::from(s)).sum::<u64>(),
                    u64::from(total)
                );
                assert!(shares.iter().all(|&s| s >= 1), "seed {seed}: {shares:?}");
            }
        }
    }

    #[test]
    fn line_segment_single_share_takes_no_draw() {
        let mut rng = Rng::stream(1, 1);
        let before = rng.clone();
        assert_eq!(line_segment_split(&mut rng, 500, 1), vec![500]);
        assert_eq!(rng, before);
    }

    #[test]
    fn line_segment_is_deterministic() {
        let a = line_segment_split(&mut Rng::stream(42, 2), 1000, 5);
        let b = line_segment_split(&mut Rng::stream(42, 2), 1000, 5);
        assert_eq!(a, b);
    }

    #[test]
    fn line_segment_first_share_is_roughly_uniform_over_compositions() {
        // total 4 into 2 parts: (1,3), (2,2), (3,1) each with probability 1/3.
        let mut rng = Rng::stream(11, 1);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[(line_segment_split(&mut rng, 4, 2)[0] - 1) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{counts:?}"
        );
    }
}
