//! `oneview resolve --evaluate TABLE`: the written links against a ground
//! truth table (`source`, `record_id` and the true entity), as pairwise
//! precision, recall and F1 (over all pairs of records) and B-cubed
//! precision, recall and F1 (per record, averaged). Computed in SQL from the
//! contingency table of (customer, true entity) counts, so it scales with the
//! engine rather than with memory.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::prelude::SessionContext;

use super::outputs::LINKS;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy)]
pub struct Evaluation {
    /// Records present in both the links and the truth.
    pub records: u64,
    pub links: u64,
    pub truth: u64,
    pub true_pairs: u64,
    pub predicted_pairs: u64,
    pub correct_pairs: u64,
    pub bcubed_precision: f64,
    pub bcubed_recall: f64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
}

impl Evaluation {
    pub fn precision(&self) -> f64 {
        ratio(self.correct_pairs, self.predicted_pairs)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.correct_pairs, self.true_pairs)
    }
    pub fn f1(&self) -> f64 {
        f1(self.precision(), self.recall())
    }
    pub fn bcubed_f1(&self) -> f64 {
        f1(self.bcubed_precision, self.bcubed_recall)
    }
}

/// The truth table's entity column: the one besides `source` and
/// `record_id`, or `entity_id` / `person_id` when there are several.
async fn entity_column(ctx: &SessionContext, table: &str) -> Result<String> {
    let schema = ctx
        .table(table)
        .await
        .map_err(|_| {
            Error::Usage(format!(
                "--evaluate {table}: no such table; expected a table of the project holding the ground truth"
            ))
        })?
        .schema()
        .as_arrow()
        .clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for required in ["source", "record_id"] {
        if !names.contains(&required) {
            return Err(Error::Usage(format!(
                "--evaluate {table}: the table has no `{required}` column; expected columns source, record_id and the true entity id (it has: {})",
                names.join(", ")
            )));
        }
    }
    let others: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| *n != "source" && *n != "record_id")
        .collect();
    match others.as_slice() {
        [only] => Ok(only.to_string()),
        _ => ["entity_id", "person_id", "true_id"]
            .into_iter()
            .find(|c| others.contains(c))
            .map(str::to_string)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--evaluate {table}: cannot tell which column is the true entity among {}; expected one named entity_id or person_id",
                    others.join(", ")
                ))
            }),
    }
}

pub async fn evaluate(ctx: &SessionContext, table: &str) -> Result<Evaluation> {
    let entity = entity_column(ctx, table).await?;
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let (t, e) = (quote(table), quote(&entity));
    let sql = format!(
        "WITH matched AS (
            SELECT l.customer_id AS c, CAST(t.{e} AS VARCHAR) AS e
            FROM {LINKS} l JOIN {t} t
              ON l.source = CAST(t.source AS VARCHAR) AND l.record_id = CAST(t.record_id AS VARCHAR)
         ),
         cells AS (SELECT c, e, count(*) AS n FROM matched GROUP BY c, e),
         by_customer AS (SELECT c, sum(n) AS n FROM cells GROUP BY c),
         by_entity AS (SELECT e, sum(n) AS n FROM cells GROUP BY e)
         SELECT
           (SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM cells) AS matched_records,
           (SELECT count(*) FROM {LINKS}) AS linked,
           (SELECT count(*) FROM {t}) AS truth,
           (SELECT CAST(coalesce(sum(n * (n - 1) / 2), 0) AS BIGINT) FROM by_entity) AS true_pairs,
           (SELECT CAST(coalesce(sum(n * (n - 1) / 2), 0) AS BIGINT) FROM by_customer) AS predicted_pairs,
           (SELECT CAST(coalesce(sum(n * (n - 1) / 2), 0) AS BIGINT) FROM cells) AS correct_pairs,
           (SELECT coalesce(sum(CAST(cells.n AS DOUBLE) * cells.n / b.n), 0) FROM cells JOIN by_customer b ON cells.c = b.c) AS bcubed_p,
           (SELECT coalesce(sum(CAST(cells.n AS DOUBLE) * cells.n / b.n), 0) FROM cells JOIN by_entity b ON cells.e = b.e) AS bcubed_r"
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let row = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| Error::Usage("the evaluation query returned nothing".into()))?;
    let int = |i: usize| -> u64 {
        let column = row.column(i).as_primitive::<Int64Type>();
        if column.is_null(0) {
            0
        } else {
            column.value(0).max(0) as u64
        }
    };
    let float = |i: usize| -> f64 {
        let column = row.column(i).as_primitive::<Float64Type>();
        if column.is_null(0) { 0.0 } else { column.value(0) }
    };
    let records = int(0);
    if records == 0 {
        return Err(Error::Usage(format!(
            "--evaluate {table}: no record of identity_links is in the truth table; expected its (source, record_id) to match the identity sources' names and record ids (run `oneview resolve` first)"
        )));
    }
    Ok(Evaluation {
        records,
        links: int(1),
        truth: int(2),
        true_pairs: int(3),
        predicted_pairs: int(4),
        correct_pairs: int(5),
        bcubed_precision: float(6) / records as f64,
        bcubed_recall: float(7) / records as f64,
    })
}
