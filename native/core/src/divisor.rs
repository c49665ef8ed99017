//! Division and remainder by a divisor fixed at start-up (the shard count), without a `div`
//! instruction per item: a mask and a shift for powers of two, else Lemire, Kaser and Kurz's
//! "Faster remainder by direct computation" (2019), exact for every u32 numerator.

/// A u32 divisor (at least 1) with what it takes to divide by multiplying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Divisor {
    d: u32,
    /// `ceil(2^64 / d)` when `d` is not a power of two, else 0.
    c: u64,
    /// `log2(d)` when `d` is a power of two.
    shift: u32,
}

impl Divisor {
    pub fn new(d: u32) -> Self {
        assert!(d >= 1, "a divisor is at least 1");
        if d.is_power_of_two() {
            Self {
                d,
                c: 0,
                shift: d.trailing_zeros(),
            }
        } else {
            Self {
                d,
                c: u64::MAX / u64::from(d) + 1,
                shift: 0,
            }
        }
    }

    /// `n / d`.
    #[inline]
    pub fn div(self, n: u32) -> u32 {
        if self.c == 0 {
            n >> self.shift
        } else {
            ((u128::from(self.c) * u128::from(n)) >> 64) as u32
        }
    }

    /// `n % d`.
    #[inline]
    pub fn rem(self, n: u32) -> u32 {
        if self.c == 0 {
            n & (self.d - 1)
        } else {
            let low = self.c.wrapping_mul(u64::from(n));
            ((u128::from(low) * u128::from(self.d)) >> 64) as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn same_as_the_div_instruction() {
        let mut rng = Rng::stream(1, 0);
        let mut divisors: Vec<u32> = vec![1, 2, 3, 5, 7, 63, 64, 65, 100, 1000, 65_535, 65_536];
        divisors.extend([u32::MAX, u32::MAX - 1, 1 << 31, (1 << 31) + 1]);
        divisors.extend(
            (0..200)
                .map(|_| rng.next_u32() >> (rng.next_u32() % 32))
                .filter(|&d| d > 0),
        );
        for d in divisors {
            let f = Divisor::new(d);
            let mut numerators = vec![0, 1, d - 1, d, d.wrapping_add(1), u32::MAX, u32::MAX - 1];
            numerators.extend((0..2_000).map(|_| rng.next_u32()));
            for n in numerators {
                assert_eq!(f.div(n), n / d, "{n} / {d}");
                assert_eq!(f.rem(n), n % d, "{n} % {d}");
            }
        }
    }
}
