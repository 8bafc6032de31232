//! Bit-parallel Jaro for the common case, ASCII strings of at most 64 bytes.
//!
//! The algorithm is rapidfuzz's (a bit mask of positions per character, a
//! sliding window mask, the lowest free candidate taken per character), and
//! rapidfuzz stays the implementation for every other string and the
//! reference this one is tested against. What differs is the table of
//! positions: rapidfuzz builds a fresh 256-entry table per pair, and zeroing
//! those 2 KB was most of its time on names. Here the table lives per thread
//! and only the entries a string set are cleared afterwards.

use std::cell::RefCell;

/// The longest string the word-sized masks hold.
const MAX_LEN: usize = 64;

thread_local! {
    /// Bit i of entry c is set when the first string has byte c at i.
    /// Every entry is zero between calls.
    static POSITIONS: RefCell<[u64; 128]> = const { RefCell::new([0; 128]) };
}

/// Jaro similarity of two ASCII strings of at most [`MAX_LEN`] bytes, equal
/// to rapidfuzz's to the last bit (the same matches, transpositions and
/// arithmetic); `None` for other text.
pub fn similarity(a: &[u8], b: &[u8]) -> Option<f64> {
    if a.len() > MAX_LEN || b.len() > MAX_LEN || !a.is_ascii() || !b.is_ascii() {
        return None;
    }
    Some(match (a.len(), b.len()) {
        (0, 0) => 1.0,
        (0, _) | (_, 0) => 0.0,
        _ => POSITIONS.with_borrow_mut(|positions| {
            for (i, &c) in a.iter().enumerate() {
                positions[usize::from(c)] |= 1 << i;
            }
            let (matches, transpositions) = matches(positions, a, b);
            for &c in a {
                positions[usize::from(c)] = 0;
            }
            score(a.len(), b.len(), matches, transpositions)
        }),
    })
}

/// Jaro-Winkler: Jaro plus 0.1 per character of common prefix (up to four)
/// of the remaining distance, above a Jaro similarity of 0.7; `None` where
/// [`similarity`] is.
pub fn winkler(a: &[u8], b: &[u8]) -> Option<f64> {
    let sim = similarity(a, b)?;
    let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count();
    Some(if sim > 0.7 {
        sim + prefix as f64 * 0.1 * (1.0 - sim)
    } else {
        sim
    })
}

/// Matching characters and half-transpositions. A character of `b` matches
/// the first unmatched equal character of `a` within `max/2 - 1` positions.
fn matches(positions: &[u64; 128], a: &[u8], b: &[u8]) -> (u32, u32) {
    let bound = (a.len().max(b.len()) / 2).saturating_sub(1);
    // Positions of `a` in reach of `b[j]`: 0..=j+bound, then j-bound..=j+bound.
    let mut window = u64::MAX >> (63 - bound);
    let (mut matched_a, mut matched_b) = (0u64, 0u64);
    for (j, &c) in b.iter().enumerate() {
        let candidates = positions[usize::from(c)] & window & !matched_a;
        matched_a |= candidates & candidates.wrapping_neg();
        matched_b |= u64::from(candidates != 0) << j;
        window = if j < bound { (window << 1) | 1 } else { window << 1 };
    }
    let matches = matched_b.count_ones();
    // Pair the matched characters of both strings in order.
    let mut transpositions = 0;
    while matched_b != 0 {
        let (i, j) = (matched_a.trailing_zeros(), matched_b.trailing_zeros());
        transpositions += u32::from(a[i as usize] != b[j as usize]);
        matched_a &= matched_a - 1;
        matched_b &= matched_b - 1;
    }
    (matches, transpositions)
}

/// Jaro's formula, in rapidfuzz's order of operations so results agree bit
/// for bit.
fn score(len_a: usize, len_b: usize, matches: u32, transpositions: u32) -> f64 {
    if matches == 0 {
        return 0.0;
    }
    let m = f64::from(matches);
    let t = f64::from(transpositions / 2);
    (m / len_a as f64 + m / len_b as f64 + (m - t) / m) / 3.0
}

#[cfg(test)]
mod tests {
    use super::super::test_words::pair;
    use super::{MAX_LEN, POSITIONS, similarity, winkler};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Worked by hand: martha/marhta has 6 matches and one swapped pair, so
    /// Jaro is (1 + 1 + 5/6) / 3 and Winkler adds 3 × 0.1 of the rest;
    /// dixon/dicksonx has 4 matches in order out of 5 and 8.
    #[test]
    fn hand_computed() {
        let close = |x: Option<f64>, y: f64| (x.unwrap() - y).abs() < 1e-12;
        assert!(close(similarity(b"martha", b"marhta"), (2.0 + 5.0 / 6.0) / 3.0));
        let j = (4.0 / 5.0 + 4.0 / 8.0 + 1.0) / 3.0;
        assert!(close(similarity(b"dixon", b"dicksonx"), j));
        assert!(close(winkler(b"dixon", b"dicksonx"), j + 0.2 * (1.0 - j)));
        // Below 0.7 there is no prefix bonus.
        assert!(close(
            winkler(b"abcxyzuv", b"abcpqrst"),
            (3.0 / 8.0 + 3.0 / 8.0 + 1.0) / 3.0
        ));
        assert_eq!(similarity(b"", b""), Some(1.0));
        assert_eq!(similarity(b"a", b""), Some(0.0));
        assert_eq!(similarity(b"a", b"b"), Some(0.0));
        // Equal characters out of reach (window 0 for three letters) do not match.
        assert_eq!(similarity(b"abc", b"cxa"), Some(0.0));
        // Longer or non-ASCII text is not this path's.
        assert_eq!(similarity(&[b'a'; MAX_LEN + 1], b"a"), None);
        assert_eq!(similarity("José".as_bytes(), b"jose"), None);
    }

    /// Bit-for-bit rapidfuzz's answers on random pairs: small alphabets for
    /// many repeated characters and transpositions, lengths up to the limit,
    /// and edited copies for the high similarities where Winkler applies.
    #[test]
    fn equals_rapidfuzz() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for case in 0..200_000 {
            let alphabet: &[u8] = [&b"ab"[..], b"abcd", b"abcdefghijklmnopqrstuvwxyz .-'@"][case % 3];
            let (a, b) = pair(&mut rng, alphabet, MAX_LEN, case);
            let expected = rapidfuzz::distance::jaro::similarity(a.iter().copied(), b.iter().copied());
            assert_eq!(similarity(&a, &b).unwrap().to_bits(), expected.to_bits(), "{a:?} {b:?}");
            let expected = rapidfuzz::distance::jaro_winkler::similarity(a.iter().copied(), b.iter().copied());
            assert_eq!(winkler(&a, &b).unwrap().to_bits(), expected.to_bits(), "{a:?} {b:?}");
        }
        POSITIONS.with_borrow(|positions| assert!(positions.iter().all(|&p| p == 0)));
    }
}
