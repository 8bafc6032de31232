//! `rfm_segment(r, f, m)`: the named segments of the CRAN `rfm` package
//! (Hebbali, `rfm_segment`), rule by rule in its published order; the first
//! rule whose recency, frequency and monetary score ranges (inclusive) all
//! hold names the segment, as in the package's implementation.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};

use crate::args::{Arg, Numbers, text_result};
use crate::function::{SCORING, ScalarFn, doc};

/// An inclusive range of scores.
type Scores = (f64, f64);

/// (segment, recency range, frequency range, monetary range).
pub const RULES: &[(&str, Scores, Scores, Scores)] = &[
    ("Champions", (4.0, 5.0), (4.0, 5.0), (4.0, 5.0)),
    ("Loyal Customers", (2.0, 5.0), (3.0, 5.0), (3.0, 5.0)),
    ("Potential Loyalist", (3.0, 5.0), (1.0, 3.0), (1.0, 3.0)),
    ("New Customers", (4.0, 5.0), (1.0, 1.0), (1.0, 1.0)),
    ("Promising", (3.0, 4.0), (1.0, 1.0), (1.0, 1.0)),
    ("Need Attention", (2.0, 3.0), (2.0, 3.0), (2.0, 3.0)),
    ("About To Sleep", (2.0, 3.0), (1.0, 2.0), (1.0, 2.0)),
    ("At Risk", (1.0, 2.0), (2.0, 5.0), (2.0, 5.0)),
    ("Can't Lose Them", (1.0, 1.0), (4.0, 5.0), (4.0, 5.0)),
    ("Lost", (1.0, 2.0), (1.0, 2.0), (1.0, 2.0)),
];

pub fn udf() -> ScalarUDF {
    ScalarFn::udf(
        "rfm_segment",
        &[Arg::Number, Arg::Number, Arg::Number],
        3,
        DataType::Utf8,
        kernel,
        doc(
            SCORING,
            "Names the RFM segment of recency, frequency and monetary scores from 1 to 5 (5 = most \
             recent, most frequent, highest spend) by the rules of the CRAN rfm package: Champions, \
             Loyal Customers, Potential Loyalist, New Customers, Promising, Need Attention, About To \
             Sleep, At Risk, Can't Lose Them, Lost, in this order, the first matching rule winning; \
             'Others' when none matches. NULL if any score is NULL.",
            "rfm_segment(recency_score, frequency_score, monetary_score)",
            &[
                (
                    "recency_score",
                    "1–5, 5 for the most recent customers (NTILE over recency, most recent last).",
                ),
                ("frequency_score", "1–5, 5 for the most frequent."),
                ("monetary_score", "1–5, 5 for the highest spend."),
            ],
            "SELECT rfm_segment(5, 5, 5), rfm_segment(1, 5, 5) -- Champions, At Risk",
        ),
    )
}

pub fn segment(r: f64, f: f64, m: f64) -> &'static str {
    let within = |v: f64, (lo, hi): (f64, f64)| lo <= v && v <= hi;
    RULES
        .iter()
        .find(|(_, rr, fr, mr)| within(r, *rr) && within(f, *fr) && within(m, *mr))
        .map_or("Others", |(name, ..)| name)
}

fn kernel(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let r = Numbers::new("rfm_segment", &args[0])?;
    let f = Numbers::new("rfm_segment", &args[1])?;
    let m = Numbers::new("rfm_segment", &args[2])?;
    Ok(text_result(args, rows, |row, out| {
        match (r.get(row), f.get(row), m.get(row)) {
            (Some(r), Some(f), Some(m)) => {
                out.push_str(segment(r, f, m));
                true
            }
            _ => false,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn published_rules_first_match_wins() {
        assert_eq!(segment(5.0, 5.0, 5.0), "Champions");
        assert_eq!(segment(2.0, 4.0, 4.0), "Loyal Customers");
        assert_eq!(segment(5.0, 1.0, 1.0), "Potential Loyalist"); // before New Customers
        assert_eq!(segment(3.0, 2.0, 2.0), "Potential Loyalist"); // before Need Attention
        assert_eq!(segment(2.0, 2.0, 3.0), "Need Attention");
        assert_eq!(segment(2.0, 1.0, 2.0), "About To Sleep");
        assert_eq!(segment(1.0, 4.0, 5.0), "At Risk"); // before Can't Lose Them
        assert_eq!(segment(2.0, 5.0, 2.0), "At Risk");
        assert_eq!(segment(1.0, 1.0, 2.0), "Lost");
        assert_eq!(segment(1.0, 1.0, 5.0), "Others");
        assert_eq!(segment(5.0, 5.0, 1.0), "Others");
    }
}
