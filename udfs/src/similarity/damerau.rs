//! Unrestricted Damerau-Levenshtein distance in linear space, by Zhao and
//! Sahni's algorithm ("Linear space string correction algorithm using the
//! Damerau-Levenshtein distance", 2020), the one rapidfuzz uses. rapidfuzz
//! allocates three rows and zeroes a 2 KB table for every pair; here the rows
//! and the table of last positions live per thread and are reused, so a
//! column of pairs allocates nothing once its longest string has been seen
//! (up to a thousand characters; buffers grown beyond are given back).
//! rapidfuzz is the reference the tests compare against.

use std::cell::RefCell;
use std::collections::HashMap;

/// The distance by characters; ASCII text byte by byte, which is the same.
pub fn distance(a: &str, b: &str) -> usize {
    SCRATCH.with_borrow_mut(|scratch| {
        let distance = if a.is_ascii() && b.is_ascii() {
            let (a, b) = strip_affix(a.as_bytes(), b.as_bytes());
            let distance = zhao(a, b, &mut scratch.rows, &mut scratch.last_ascii);
            for &c in a {
                scratch.last_ascii.0[usize::from(c)] = NOWHERE;
            }
            distance
        } else {
            let Scratch {
                rows,
                last_chars,
                chars_a,
                chars_b,
                ..
            } = scratch;
            chars_a.clear();
            chars_a.extend(a.chars());
            chars_b.clear();
            chars_b.extend(b.chars());
            let (a, b) = strip_affix(chars_a, chars_b);
            last_chars.0.clear();
            zhao(a, b, rows, last_chars)
        };
        // Buffers double as they grow: one past the limit was grown by a
        // string of more than half of it.
        if a.len().max(b.len()) + 2 > Scratch::KEPT / 2 {
            scratch.shrink();
        }
        distance
    })
}

/// A row index no character has (rows count from 1).
const NOWHERE: isize = -1;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        rows: Rows::default(),
        last_ascii: AsciiRows([NOWHERE; 128]),
        last_chars: CharRows(HashMap::new()),
        chars_a: Vec::new(),
        chars_b: Vec::new(),
    });
}

struct Scratch {
    rows: Rows,
    last_ascii: AsciiRows,
    last_chars: CharRows,
    chars_a: Vec<char>,
    chars_b: Vec<char>,
}

impl Scratch {
    /// Buffers beyond this many elements, grown by an unusually long string,
    /// are given back rather than held by the thread for good.
    const KEPT: usize = 1024;

    /// Every buffer is refilled from empty by the next pair.
    fn shrink(&mut self) {
        fn give_back<T>(buffer: &mut Vec<T>) {
            if buffer.capacity() > Scratch::KEPT {
                buffer.clear();
                buffer.shrink_to(Scratch::KEPT);
            }
        }
        let Rows {
            current,
            previous,
            transposed,
        } = &mut self.rows;
        for row in [current, previous, transposed] {
            give_back(row);
        }
        give_back(&mut self.chars_a);
        give_back(&mut self.chars_b);
        if self.last_chars.0.capacity() > Self::KEPT {
            self.last_chars.0 = HashMap::new();
        }
    }
}

/// The current and previous row of the distance matrix, and the saved
/// values a transposition reads back (`fr` in the paper).
#[derive(Default)]
struct Rows {
    current: Vec<isize>,
    previous: Vec<isize>,
    transposed: Vec<isize>,
}

/// The last row of `a` in which each character was seen.
trait LastRow<T> {
    fn get(&self, c: T) -> isize;
    fn set(&mut self, c: T, row: isize);
}

/// ASCII characters; every entry is `NOWHERE` between calls.
struct AsciiRows([isize; 128]);

impl LastRow<u8> for AsciiRows {
    fn get(&self, c: u8) -> isize {
        self.0[usize::from(c)]
    }
    fn set(&mut self, c: u8, row: isize) {
        self.0[usize::from(c)] = row;
    }
}

/// Any character; cleared (keeping its capacity) before each pair.
struct CharRows(HashMap<char, isize>);

impl LastRow<char> for CharRows {
    fn get(&self, c: char) -> isize {
        self.0.get(&c).copied().unwrap_or(NOWHERE)
    }
    fn set(&mut self, c: char, row: isize) {
        self.0.insert(c, row);
    }
}

/// Drops the common prefix and suffix, which never change the distance.
fn strip_affix<'a, T: PartialEq>(a: &'a [T], b: &'a [T]) -> (&'a [T], &'a [T]) {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count();
    (&a[..a.len() - suffix], &b[..b.len() - suffix])
}

fn zhao<T: Copy + PartialEq>(a: &[T], b: &[T], rows: &mut Rows, last_row: &mut impl LastRow<T>) -> usize {
    let far = a.len().max(b.len()) as isize + 1;
    let width = b.len() + 2;
    let Rows {
        current,
        previous,
        transposed,
    } = rows;
    for row in [&mut *current, &mut *previous, &mut *transposed] {
        row.clear();
        row.resize(width, far);
    }
    // Row 0: the distance from the empty prefix of `a` is j.
    for (j, cell) in current.iter_mut().enumerate().skip(1) {
        *cell = j as isize - 1;
    }
    for (i, &x) in (1isize..).zip(a) {
        std::mem::swap(current, previous);
        let mut last_match_col = NOWHERE;
        let mut before_last = current[1];
        current[1] = i;
        let mut diagonal_at_match = far;
        for (j, &y) in (1usize..).zip(b) {
            let mut best = (previous[j] + isize::from(x != y))
                .min(current[j] + 1)
                .min(previous[j + 1] + 1);
            if x == y {
                last_match_col = j as isize;
                transposed[j + 1] = previous[j - 1];
                diagonal_at_match = before_last;
            } else {
                let k = last_row.get(y);
                if j as isize - last_match_col == 1 {
                    best = best.min(transposed[j + 1] + (i - k));
                } else if i - k == 1 {
                    best = best.min(diagonal_at_match + (j as isize - last_match_col));
                }
            }
            before_last = current[j + 1];
            current[j + 1] = best;
        }
        last_row.set(x, i);
    }
    current[b.len() + 1] as usize
}

#[cfg(test)]
mod tests {
    use super::super::test_words::pair;
    use super::{NOWHERE, SCRATCH, Scratch, distance};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Worked by hand: one transposition, a transposition with an insertion
    /// between (unrestricted: ca → ac → abc), and plain edits.
    #[test]
    fn hand_computed() {
        assert_eq!(distance("kelly", "kelyl"), 1);
        assert_eq!(distance("ca", "abc"), 2);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("José", "Jsoé"), 1);
        assert_eq!(distance("straße", "strasse"), 2);
    }

    /// A long pair is computed like any other, and the thread does not keep
    /// the buffers it grew for it.
    #[test]
    fn long_strings_give_their_buffers_back() {
        let a = "kelly neal ".repeat(120);
        let b = format!("{}x", "kelyl nael ".repeat(110));
        let expected = rapidfuzz::distance::damerau_levenshtein::distance(a.bytes(), b.bytes());
        assert_eq!(distance(&a, &b), expected);
        assert_eq!(distance(&b, &a), expected);
        let (a, b) = (a.replace('e', "é"), b.replace('e', "é"));
        let expected = rapidfuzz::distance::damerau_levenshtein::distance(a.chars(), b.chars());
        assert_eq!(distance(&a, &b), expected);
        SCRATCH.with_borrow(|s| {
            let rows = [&s.rows.current, &s.rows.previous, &s.rows.transposed];
            assert!(rows.iter().all(|r| r.capacity() <= Scratch::KEPT));
            assert!(s.chars_a.capacity() <= Scratch::KEPT && s.chars_b.capacity() <= Scratch::KEPT);
        });
    }

    /// rapidfuzz's and strsim's answers on random pairs of ASCII and
    /// non-ASCII words from small alphabets (many repeats and transpositions),
    /// random and edited; the ASCII table is left clean.
    #[test]
    fn equals_rapidfuzz_and_strsim() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let alphabets: [&[char]; 3] = [&['a', 'b'], &['a', 'b', 'c', 'd', 'e'], &['a', 'b', 'é', 'ß', '字']];
        for case in 0..50_000 {
            let alphabet = alphabets[case % 3];
            let (a, b) = pair(&mut rng, alphabet, 20, case);
            let (a, b): (String, String) = (a.into_iter().collect(), b.into_iter().collect());
            let expected = rapidfuzz::distance::damerau_levenshtein::distance(a.chars(), b.chars());
            assert_eq!(distance(&a, &b), expected, "{a:?} {b:?}");
            assert_eq!(expected, strsim::damerau_levenshtein(&a, &b), "{a:?} {b:?}");
        }
        SCRATCH.with_borrow(|s| assert!(s.last_ascii.0.iter().all(|&r| r == NOWHERE)));
    }
}
