//! `name_similarity(a, b)`: full names compared word by word, so that swapped
//! first and last names ("Neal, Kelly"), initials ("K. Neal"), nicknames
//! ("Bill Smith") and extra middle names still score high.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};

use crate::args::{Arg, Strings, float_result};
use crate::function::{SIMILARITY, ScalarFn, doc};
use crate::normalize::{nicknames, normalize_name};

pub fn udf() -> ScalarUDF {
    ScalarFn::udf(
        "name_similarity",
        &[Arg::Text, Arg::Text],
        2,
        DataType::Float64,
        kernel,
        doc(
            SIMILARITY,
            "Similarity of two person names from 0 to 1, independent of word order. Words are \
             normalized (normalize_name) and paired greedily by best score: 1 for equal words or \
             nicknames of one name, 0.9 for an initial against a word it begins, otherwise \
             Jaro-Winkler. The score is the mean over the shorter name's words, times 0.95 for \
             each word the longer name has in addition. NULL if either name is NULL or empty.",
            "name_similarity(a, b)",
            &[
                ("a", "Text expression: a full name."),
                ("b", "Text expression: a full name."),
            ],
            "SELECT name_similarity('Neal, Kelly', 'kelly neal'), name_similarity('K. Neal', 'Kelly Neal')",
        ),
    )
}

fn kernel(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let a = Strings::new("name_similarity", &args[0])?;
    let b = Strings::new("name_similarity", &args[1])?;
    let (mut na, mut nb) = (String::new(), String::new());
    let mut scores = Scratch::default();
    float_result(args, rows, |row| {
        let (Some(x), Some(y)) = (a.get(row), b.get(row)) else {
            return Ok(None);
        };
        na.clear();
        nb.clear();
        if !normalize_name(x, &mut na) || !normalize_name(y, &mut nb) {
            return Ok(None);
        }
        Ok(Some(similarity(&na, &nb, &mut scores)))
    })
}

fn word_score(a: &str, b: &str) -> f64 {
    if nicknames::same_given_name(a, b) {
        return 1.0;
    }
    let initial = |short: &str, long: &str| short.chars().count() == 1 && long.starts_with(short);
    if initial(a, b) || initial(b, a) {
        return 0.9;
    }
    super::jaro_winkler(a, b)
}

/// Buffers reused from row to row: word spans, pair scores, used words.
#[derive(Default)]
struct Scratch {
    wa: Vec<(usize, usize)>,
    wb: Vec<(usize, usize)>,
    scores: Vec<(f64, usize, usize)>,
    used_a: Vec<bool>,
    used_b: Vec<bool>,
}

/// The (start, end) byte spans of the words of a normalized name.
fn spans(name: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let mut start = 0;
    for word in name.split(' ') {
        out.push((start, start + word.len()));
        start += word.len() + 1;
    }
}

/// Greedy best pairing of the words of two normalized names.
fn similarity(a: &str, b: &str, s: &mut Scratch) -> f64 {
    spans(a, &mut s.wa);
    spans(b, &mut s.wb);
    s.scores.clear();
    for (i, &(xa, xb)) in s.wa.iter().enumerate() {
        for (j, &(ya, yb)) in s.wb.iter().enumerate() {
            s.scores.push((word_score(&a[xa..xb], &b[ya..yb]), i, j));
        }
    }
    s.scores.sort_by(|p, q| q.0.total_cmp(&p.0));
    s.used_a.clear();
    s.used_a.resize(s.wa.len(), false);
    s.used_b.clear();
    s.used_b.resize(s.wb.len(), false);
    let shorter = s.wa.len().min(s.wb.len());
    let mut total = 0.0;
    let mut matched = 0;
    for &(score, i, j) in s.scores.iter() {
        if matched == shorter {
            break;
        }
        if !s.used_a[i] && !s.used_b[j] {
            s.used_a[i] = true;
            s.used_b[j] = true;
            total += score;
            matched += 1;
        }
    }
    let extra = s.wa.len().max(s.wb.len()) - shorter;
    total / shorter as f64 * 0.95f64.powi(extra as i32)
}

#[cfg(test)]
mod tests {
    use super::{Scratch, similarity};

    fn sim(a: &str, b: &str) -> f64 {
        similarity(a, b, &mut Scratch::default())
    }

    #[test]
    fn order_initials_nicknames() {
        assert_eq!(sim("neal kelly", "kelly neal"), 1.0);
        assert!((sim("k neal", "kelly neal") - 0.95).abs() < 1e-9);
        assert_eq!(sim("bill smith", "william smith"), 1.0);
        assert!((sim("kelly a neal", "kelly neal") - 0.95).abs() < 1e-9);
        assert!(sim("kelly neal", "robert brown") < 0.6);
        assert!(sim("kelly neal", "kelly neil") > 0.9);
    }
}
