//! A bitmap that answers "surely not" for most hashes a lookup meets.
//!
//! A growing run asks, for each of tens of millions of rows of the state,
//! whether its hash is among a few hundred thousand wanted ones. A hash
//! set answers with a cache miss a row (its table is megabytes); almost
//! every answer is no. One bit per slot of a table sixteen times larger
//! than the wanted set, a few megabytes of bits read at one place a row,
//! says no for all but about one row in sixteen of those, and the set is
//! asked only then.

/// Slots per wanted hash: the share of unwanted hashes let through is
/// about the inverse.
const SLOTS_PER_KEY: usize = 16;

/// Bounds on the bitmap: at least 8 KiB, at most 128 MiB.
const MIN_BITS: usize = 1 << 16;
const MAX_BITS: usize = 1 << 30;

pub struct KeyFilter {
    words: Vec<u64>,
    /// Right shift taking a mixed hash to a bit's index.
    shift: u32,
}

impl KeyFilter {
    /// A filter holding `keys` (`count` of them, for the size).
    pub fn new(keys: impl IntoIterator<Item = u64>, count: usize) -> KeyFilter {
        let bits = (count.saturating_mul(SLOTS_PER_KEY))
            .next_power_of_two()
            .clamp(MIN_BITS, MAX_BITS);
        let mut filter = KeyFilter {
            words: vec![0; bits / 64],
            shift: 64 - bits.trailing_zeros(),
        };
        for key in keys {
            let bit = filter.bit(key);
            filter.words[bit / 64] |= 1 << (bit % 64);
        }
        filter
    }

    /// False only if `key` is surely not among the filter's keys.
    #[inline]
    pub fn may_contain(&self, key: u64) -> bool {
        let bit = self.bit(key);
        self.words[bit / 64] & (1 << (bit % 64)) != 0
    }

    /// The bit of a key: the high bits of a multiplicative mix (so that
    /// keys that are not hashes, as small numbers, spread too).
    #[inline]
    fn bit(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_held_is_found_and_most_others_are_not() {
        let held: Vec<u64> = (0..10_000u64).map(|i| i * 7 + 3).collect();
        let filter = KeyFilter::new(held.iter().copied(), held.len());
        assert!(held.iter().all(|k| filter.may_contain(*k)));
        // Numbers of another residue class are never held: about one in
        // sixteen may pass, far fewer than a fifth.
        let passed = (0..100_000u64).filter(|i| filter.may_contain(i * 7 + 5)).count();
        assert!(passed < 20_000, "{passed} of 100000 let through");
    }

    #[test]
    fn an_empty_filter_holds_nothing() {
        let filter = KeyFilter::new(std::iter::empty(), 0);
        assert!((0..1000u64).all(|k| !filter.may_contain(k)));
    }
}
