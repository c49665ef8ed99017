//! The shared-clock schedule of `src/simulator/schedule.ts`, bit for bit: which users shake in
//! which second and at which offset. Every generator process evaluates the same pure function, so
//! processes holding disjoint user ranges together send exactly `qps` shakes a second.
//!
//! The TypeScript version computes in doubles and stays exact because every product is below 2^53
//! (total <= 2^26); here the same integers are computed in u64. The two places where JavaScript
//! rounds a double (the stride's `Math.round(total * phi)` and the offset's
//! `Math.floor(k * 1e6 / qps)`) are computed with the same f64 operations, so they round alike.

/// Users in the whole experiment at most: keeps the TypeScript arithmetic exact.
pub const MAX_TOTAL_USERS: u64 = 1 << 26;
const MICROS_PER_SECOND: f64 = 1_000_000.0;
const INV_GOLDEN_RATIO: f64 = 0.618_033_988_749_894_9;

/// One shake due in a second: the user, and its offset in µs from the second's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub user: u32,
    pub offset_micros: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ScheduleError {
    Total(u64),
}

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduleError::Total(t) => write!(
                f,
                "total users must be an integer in 1..{MAX_TOTAL_USERS}, got {t}"
            ),
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn check_total(total: u64) -> Result<(), ScheduleError> {
    if (1..=MAX_TOTAL_USERS).contains(&total) {
        Ok(())
    } else {
        Err(ScheduleError::Total(total))
    }
}

/// The first number >= total / golden ratio that is coprime with `total` (`strideFor`).
pub fn stride_for(total: u64) -> Result<u64, ScheduleError> {
    check_total(total)?;
    // Math.round of a positive double: f64::round rounds halves up for positives too
    let mut stride = ((total as f64) * INV_GOLDEN_RATIO).round().max(1.0) as u64;
    while gcd(stride, total) != 1 {
        stride += 1;
    }
    Ok(stride)
}

/// Offset (µs within its second) of global slot k when the second has `qps` slots.
#[inline]
pub fn slot_offset_micros(k: u64, qps: u64) -> u32 {
    ((k as f64 * MICROS_PER_SECOND) / qps as f64).floor() as u32
}

/// The schedule of one experiment (its stride computed once).
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    total: u64,
    stride: u64,
}

impl Schedule {
    pub fn new(total: u64) -> Result<Self, ScheduleError> {
        Ok(Schedule {
            total,
            stride: stride_for(total)?,
        })
    }

    /// Replace `out` with the shakes due in unix second `second` for users in [from, to]
    /// (inclusive), sorted by offset (`fillSecond`). Reuses `out`'s allocation.
    pub fn fill_second(&self, second: u64, qps: u64, from: u64, to: u64, out: &mut Vec<Slot>) {
        out.clear();
        if qps == 0 || to < from {
            return;
        }
        let total = self.total;
        let g0 = ((second % total) * (qps % total)) % total;
        let mut index = (g0 * self.stride) % total; // 0-based user index of slot 0
        for k in 0..qps {
            let user = index + 1;
            if user >= from && user <= to {
                out.push(Slot {
                    user: user as u32,
                    offset_micros: slot_offset_micros(k, qps),
                });
            }
            index += self.stride;
            if index >= total {
                index -= total;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(second: u64, qps: u64, total: u64, from: u64, to: u64) -> Vec<Slot> {
        let mut out = Vec::new();
        Schedule::new(total)
            .unwrap()
            .fill_second(second, qps, from, to, &mut out);
        out
    }

    #[test]
    fn strides_match_the_typescript_values() {
        // values printed by src/simulator/schedule.ts strideFor
        assert_eq!(stride_for(1), Ok(1), "one user");
        assert_eq!(stride_for(2), Ok(1), "two users");
        assert_eq!(
            stride_for(10),
            Ok(7),
            "ten users: round(6.18) = 6 shares a factor, 7 does not"
        );
        assert_eq!(stride_for(19_000), Ok(11_743), "19,000 users");
        assert_eq!(stride_for(1_000_000), Ok(618_037), "a million users");
        assert_eq!(
            stride_for(0),
            Err(ScheduleError::Total(0)),
            "zero users refused"
        );
        assert_eq!(
            stride_for(MAX_TOTAL_USERS + 1),
            Err(ScheduleError::Total(MAX_TOTAL_USERS + 1)),
            "beyond 2^26 refused"
        );
    }

    #[test]
    fn disjoint_ranges_sum_to_qps() {
        for (total, qps) in [
            (1, 5),
            (7, 3),
            (150, 400),
            (19_000, 30_000),
            (999_983, 60_000),
        ] {
            let third = total / 3;
            let parts = [(1, third), (third + 1, 2 * third), (2 * third + 1, total)];
            let n: usize = parts
                .iter()
                .map(|&(f, t)| slots(1_764_086_400, qps, total, f, t).len())
                .sum();
            assert_eq!(
                n as u64, qps,
                "total {total} qps {qps}: the parts hold every slot once"
            );
        }
    }

    #[test]
    fn offsets_are_spread_and_sorted() {
        let s = slots(12_345, 7, 100, 1, 100);
        let offsets: Vec<u32> = s.iter().map(|x| x.offset_micros).collect();
        assert_eq!(
            offsets,
            vec![0, 142_857, 285_714, 428_571, 571_428, 714_285, 857_142],
            "k * 1e6 / 7, floored"
        );
        assert!(slots(5, 0, 100, 1, 100).is_empty(), "qps 0 sends nothing");
        assert!(
            slots(5, 10, 100, 50, 49).is_empty(),
            "an empty range sends nothing"
        );
    }

    #[test]
    fn every_user_shakes_equally_often_over_total_seconds() {
        let (total, qps) = (13u64, 5u64);
        let mut counts = vec![0u32; total as usize + 1];
        for s in 1000..1000 + total {
            for slot in slots(s, qps, total, 1, total) {
                counts[slot.user as usize] += 1;
            }
        }
        assert!(
            counts[1..].iter().all(|&c| c == qps as u32),
            "each user got qps slots: {counts:?}"
        );
    }
}
