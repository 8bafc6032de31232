//! Similarity: how alike two strings, words or names are.

mod damerau;
mod jaro;
mod metaphone;
mod names;
mod phonetic;
mod strings;
#[cfg(test)]
mod test_words;

pub use metaphone::{Code, double_metaphone};
pub use strings::{
    Letters, damerau_levenshtein, jaro, jaro_winkler, jaro_winkler_at_least, jaro_winkler_bound, jaro_winkler_bound_of,
};

use datafusion::logical_expr::ScalarUDF;

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        strings::jaro_udf(),
        strings::jaro_winkler_udf(),
        strings::damerau_udf(),
        phonetic::soundex_udf(),
        phonetic::double_metaphone_udf(),
        names::udf(),
    ]
}
