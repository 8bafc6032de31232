//! `oneview resolve --evaluate TABLE`: the written links against a ground
//! truth table (`source`, `record_id` and the true entity), as pairwise
//! precision, recall and F1 (over all pairs of records) and B-cubed
//! precision, recall and F1 (per record, averaged). The engine joins the
//! links to the truth into the contingency table of (customer, true entity)
//! counts; the metrics are sums over its cells.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
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

/// a / b, 1 for an empty denominator (no pair predicted: no wrong one).
pub(super) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

pub(super) fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
}

/// The pairs among n records.
pub(super) fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
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
pub(super) async fn entity_column(ctx: &SessionContext, table: &str) -> Result<String> {
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
    let (t, e) = (quote(table), quote(&entity));
    let table_cells = Contingency::read(ctx, &t, &e).await?;
    let cells = &table_cells.cells;
    let records: u64 = cells.iter().map(|c| c.2).sum();
    if records == 0 {
        return Err(Error::Usage(format!(
            "--evaluate {table}: no record of identity_links is in the truth table; expected its (source, record_id) to match the identity sources' names and record ids (run `oneview resolve` first)"
        )));
    }
    let (customer_total, entity_total) = table_cells.totals();
    let (precision_sum, recall_sum) = table_cells.bcubed_sums(&customer_total, &entity_total);
    Ok(Evaluation {
        records,
        links: count(ctx, format!("SELECT count(*) FROM {LINKS}")).await?,
        truth: count(ctx, format!("SELECT count(*) FROM {t}")).await?,
        true_pairs: entity_total.iter().map(|n| pairs(*n)).sum(),
        predicted_pairs: customer_total.iter().map(|n| pairs(*n)).sum(),
        correct_pairs: cells.iter().map(|c| pairs(c.2)).sum(),
        bcubed_precision: precision_sum / records as f64,
        bcubed_recall: recall_sum / records as f64,
    })
}

/// A name quoted as an SQL identifier.
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The contingency table of the links against the truth: per (customer,
/// true entity) cell, its number of records. Customers and entities are
/// numbered in order of first appearance; records without a true entity
/// are left out.
struct Contingency {
    /// (customer, entity, records) per non-empty cell.
    cells: Vec<(u32, u32, u64)>,
    customers: usize,
    entities: usize,
}

impl Contingency {
    /// Joins the links to the truth table `t` (quoted), whose true entity
    /// is the column `e` (quoted).
    async fn read(ctx: &SessionContext, t: &str, e: &str) -> Result<Self> {
        // The join runs once, into the (customer, entity) counts; the metrics
        // are sums over those cells, done here. (One SQL statement with a
        // subquery per metric would run the join once per metric.)
        let cells = format!(
            "SELECT l.customer_id AS c, CAST(t.{e} AS VARCHAR) AS e, count(*) AS n
         FROM {LINKS} l JOIN {t} t
           ON l.source = CAST(t.source AS VARCHAR) AND l.record_id = CAST(t.record_id AS VARCHAR)
         GROUP BY 1, 2"
        );
        let batches = ctx.sql(&cells).await?.collect().await?;
        let mut cells: Vec<(u32, u32, u64)> = Vec::new();
        let mut customer_index: HashMap<String, u32> = HashMap::new();
        let mut entity_index: HashMap<String, u32> = HashMap::new();
        for batch in &batches {
            let (c, e) = (
                cast(batch.column(0), &DataType::Utf8)?,
                cast(batch.column(1), &DataType::Utf8)?,
            );
            let (c, e) = (c.as_string::<i32>(), e.as_string::<i32>());
            let n = batch.column(2).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                if e.is_null(i) {
                    continue;
                }
                let count = n.value(i).max(0) as u64;
                let next = customer_index.len() as u32;
                let ci = *customer_index.entry(c.value(i).to_string()).or_insert(next);
                let next = entity_index.len() as u32;
                let ei = *entity_index.entry(e.value(i).to_string()).or_insert(next);
                cells.push((ci, ei, count));
            }
        }
        Ok(Contingency {
            cells,
            customers: customer_index.len(),
            entities: entity_index.len(),
        })
    }

    /// The records per customer and per true entity (the table's margins).
    fn totals(&self) -> (Vec<u64>, Vec<u64>) {
        let mut customer_total = vec![0u64; self.customers];
        let mut entity_total = vec![0u64; self.entities];
        for &(c, e, n) in &self.cells {
            customer_total[c as usize] += n;
            entity_total[e as usize] += n;
        }
        (customer_total, entity_total)
    }

    /// The sums over records of B-cubed precision and recall: per cell of n
    /// records, n·n over its customer's (precision) or entity's (recall) total.
    fn bcubed_sums(&self, customer_total: &[u64], entity_total: &[u64]) -> (f64, f64) {
        let (mut precision_sum, mut recall_sum) = (0.0, 0.0);
        for &(c, e, n) in &self.cells {
            let n = n as f64;
            precision_sum += n * n / customer_total[c as usize] as f64;
            recall_sum += n * n / entity_total[e as usize] as f64;
        }
        (precision_sum, recall_sum)
    }
}

/// The count a `SELECT count(*)` query returns (0 when it returns no row).
async fn count(ctx: &SessionContext, sql: String) -> Result<u64> {
    let batches = ctx.sql(&sql).await?.collect().await?;
    Ok(batches
        .first()
        .map(|b| b.column(0).as_primitive::<Int64Type>().value(0).max(0) as u64)
        .unwrap_or(0))
}
