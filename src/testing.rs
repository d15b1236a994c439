//! Test support shared by the unit tests, the integration tests and the fuzz
//! seeds: a small deterministic PRNG for mutation tests.
//!
//! In: a seed. Out: a reproducible stream of numbers. Why in the library (hidden
//! from the docs): the ELF unit tests and the archive robustness tests must mutate
//! inputs the same way, from one generator, and a failing seed must replay.

/// xorshift64: fast, deterministic, good enough to pick mutations.
#[derive(Debug, Clone)]
pub struct XorShift(pub u64);

impl XorShift {
    /// The next number.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays() {
        let mut a = XorShift(42);
        let mut b = XorShift(42);
        let xs: Vec<u64> = (0..5).map(|_| a.next()).collect();
        assert_eq!(xs, (0..5).map(|_| b.next()).collect::<Vec<_>>());
        assert!(xs.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(a.below(0), 0);
        assert!((0..100).all(|_| a.below(7) < 7));
    }
}
