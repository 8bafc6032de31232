//! Random word pairs for comparing a similarity function with its reference:
//! letters from a small alphabet (so characters repeat and transpose), half
//! the pairs unrelated and half a word and an edited copy (high similarity).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A pair of words up to `max_len` letters; odd `case`s are edited copies.
pub fn pair<T: Copy>(rng: &mut ChaCha8Rng, alphabet: &[T], max_len: usize, case: usize) -> (Vec<T>, Vec<T>) {
    let a = word(rng, alphabet, max_len);
    let mut b = if case.is_multiple_of(2) {
        word(rng, alphabet, max_len)
    } else {
        a.clone()
    };
    for _ in 0..rng.random_range(0..4) {
        if b.len() < 2 {
            break;
        }
        let i = rng.random_range(0..b.len() - 1);
        let letter = alphabet[rng.random_range(0..alphabet.len())];
        match rng.random_range(0..4) {
            0 => b.swap(i, i + 1),
            1 => drop(b.remove(i)),
            2 => b[i] = letter,
            _ if b.len() < max_len => b.insert(i, letter),
            _ => {}
        }
    }
    (a, b)
}

fn word<T: Copy>(rng: &mut ChaCha8Rng, alphabet: &[T], max_len: usize) -> Vec<T> {
    let len = rng.random_range(0..=max_len);
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
        .collect()
}
