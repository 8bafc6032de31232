//! Whether two first names can be one person's: the first-name levels the
//! probabilistic model scores, and the test the identifier guards use to
//! split a value shared by people of different first names (a family email).

use oneview_udfs::normalize::nicknames;
use oneview_udfs::similarity::{jaro_winkler, jaro_winkler_bound};

/// The comparison level of two normalized first names, from 1 (equal) to 5
/// (different): `same_nickname` tells whether one can be a nickname of the
/// other (looked up once per distinct name, not per pair).
pub fn first_name(a: &str, b: &str, same_nickname: bool) -> u8 {
    first_name_within(a, b, same_nickname, jaro_winkler_bound(a, b))
}

/// `first_name`, given an upper bound of the names' Jaro-Winkler
/// similarity (`jaro_winkler_bound`): the measure is skipped below the level's.
pub fn first_name_within(a: &str, b: &str, same_nickname: bool, bound: f64) -> u8 {
    if a == b {
        1
    } else if same_nickname {
        2
    } else if bound >= CLOSE && jaro_winkler(a, b) >= CLOSE {
        3
    } else if (a.len() == 1 && b.starts_with(a)) || (b.len() == 1 && a.starts_with(b)) {
        4
    } else {
        5
    }
}

/// Jaro-Winkler of first names spelt closely alike.
const CLOSE: f64 = 0.92;

/// Whether two normalized first names can be one person's: equal,
/// nicknames, close spellings or an initial.
pub fn same_given_name(a: &str, b: &str) -> bool {
    first_name(a, b, nicknames::same_given_name(a, b)) != 5
}
