//! `oneview resolve --explain ID`: why a record or a customer is what it is,
//! read back from the written identity tables. For a record, the path of
//! links from it to its customer's first record; for a customer, its golden
//! record, its links by rule, the tree of links over its records and the
//! merges that concern it.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::execution::context::SessionState;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::scalar::ScalarValue;

use super::ids::parse_id;
use super::outputs::{CUSTOMERS, EDGES, LINKS, MERGES};
use crate::error::{Error, Result};

/// Lines of the link tree shown for a customer before eliding.
const TREE_LINES: usize = 40;

struct Link {
    other: usize,
    rule: String,
    value: Option<String>,
    probability: Option<f64>,
}

/// Runs one query of the explanation. All of them plan on one state, so
/// they share a start time and read the identity tables of one run.
async fn query(state: &SessionState, sql: &str, params: Vec<ScalarValue>) -> Result<Vec<RecordBatch>> {
    let plan = state.create_logical_plan(sql).await?;
    Ok(DataFrame::new(state.clone(), plan)
        .with_param_values(params)?
        .collect()
        .await?)
}

/// A column as text, whatever string type the engine chose.
fn strings(batches: &[RecordBatch], column: usize) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for batch in batches {
        let array = cast(batch.column(column), &DataType::Utf8).expect("text columns cast to Utf8");
        let a = array.as_string::<i32>();
        out.extend((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_string())));
    }
    out
}

fn text(s: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(s.to_string()))
}

/// Finds the customer of `id`: a customer id, `SOURCE:RECORD_ID` or a record id.
async fn locate(state: &SessionState, id: &str) -> Result<(String, Option<String>)> {
    if parse_id(id).is_some() {
        return Ok((id.to_string(), None));
    }
    let (batches, key) = match id.split_once(':') {
        Some((source, record)) => (
            query(
                state,
                &format!("SELECT customer_id, source, record_id FROM {LINKS} WHERE source = $1 AND record_id = $2"),
                vec![text(source), text(record)],
            )
            .await?,
            id.to_string(),
        ),
        None => (
            query(
                state,
                &format!("SELECT customer_id, source, record_id FROM {LINKS} WHERE record_id = $1 ORDER BY source"),
                vec![text(id)],
            )
            .await?,
            id.to_string(),
        ),
    };
    let customers = strings(&batches, 0);
    let sources = strings(&batches, 1);
    let records = strings(&batches, 2);
    match customers.len() {
        0 => Err(Error::Usage(format!(
            "no customer or record `{key}` in identity_links; expected a customer id (cus_…), SOURCE:RECORD_ID or a record id (run `oneview resolve` first)"
        ))),
        1 => Ok((
            customers[0].clone().expect("customer ids are not null"),
            Some(format!(
                "{}:{}",
                sources[0].as_deref().unwrap_or_default(),
                records[0].as_deref().unwrap_or_default()
            )),
        )),
        _ => {
            let found: Vec<String> = sources
                .iter()
                .zip(&records)
                .map(|(s, r)| {
                    format!(
                        "{}:{}",
                        s.as_deref().unwrap_or_default(),
                        r.as_deref().unwrap_or_default()
                    )
                })
                .collect();
            Err(Error::Usage(format!(
                "record id `{key}` is in several sources ({}); give it as SOURCE:RECORD_ID",
                found.join(", ")
            )))
        }
    }
}

/// The explanation of `id` (a customer id, `SOURCE:RECORD_ID` or a record
/// id) as `--explain` prints it, one phase per part of the text.
pub async fn explain(ctx: &SessionContext, id: &str) -> Result<String> {
    let state = &ctx.state();
    let (customer, record) = locate(state, id).await?;
    let keys = member_keys(state, &customer).await?;
    let index: HashMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let links = customer_links(state, &customer, &index, keys.len()).await?;

    let mut out = String::new();
    write_header(&mut out, &customer, &keys);
    golden(state, &customer, &mut out).await?;
    write_rules(&mut out, links.by_rule);
    let tree = Tree::breadth_first(&links.adjacency);
    match &record {
        Some(key) => write_path(&mut out, key, &keys, &index, &tree)?,
        None => write_tree(&mut out, &keys, &tree),
    }
    merges(state, &customer, &mut out).await?;
    Ok(out)
}

/// The customer's records as `SOURCE:RECORD_ID`, by source and record id;
/// the first is the root of the link tree. No record is an error: the
/// customer is gone or was never written.
async fn member_keys(state: &SessionState, customer: &str) -> Result<Vec<String>> {
    let members = query(
        state,
        &format!(
            "SELECT source || ':' || record_id, rule FROM {LINKS} WHERE customer_id = $1 ORDER BY source, record_id"
        ),
        vec![text(customer)],
    )
    .await?;
    let keys: Vec<String> = strings(&members, 0).into_iter().flatten().collect();
    if keys.is_empty() {
        return Err(Error::Usage(format!(
            "no customer `{customer}` in identity_links; it may have been merged (see identity_merges) or the resolution not run yet"
        )));
    }
    Ok(keys)
}

/// The links between a customer's records, read from the edges table.
struct CustomerLinks {
    /// Per record (by its place in the keys), its links, each in both directions.
    adjacency: Vec<Vec<Link>>,
    /// Links per rule, in order of first appearance.
    by_rule: Vec<(String, usize)>,
}

/// Reads the customer's edges into links between its `records` records
/// (`index`: each record key's place); edges to records not among them are
/// skipped.
async fn customer_links(
    state: &SessionState,
    customer: &str,
    index: &HashMap<&str, usize>,
    records: usize,
) -> Result<CustomerLinks> {
    let edges = query(
        state,
        &format!(
            "SELECT source_a || ':' || record_id_a, source_b || ':' || record_id_b, rule, value, match_probability \
             FROM {EDGES} WHERE customer_id = $1"
        ),
        vec![text(customer)],
    )
    .await?;
    let mut adjacency: Vec<Vec<Link>> = (0..records).map(|_| Vec::new()).collect();
    let mut by_rule: Vec<(String, usize)> = Vec::new();
    let (a, b, rule, value) = (
        strings(&edges, 0),
        strings(&edges, 1),
        strings(&edges, 2),
        strings(&edges, 3),
    );
    let probability: Vec<Option<f64>> = edges
        .iter()
        .flat_map(|batch| {
            let p = batch.column(4).as_primitive::<Float64Type>();
            (0..p.len()).map(move |i| p.is_valid(i).then(|| p.value(i)))
        })
        .collect();
    for i in 0..a.len() {
        let (Some(x), Some(y)) = (
            a[i].as_deref().and_then(|k| index.get(k)),
            b[i].as_deref().and_then(|k| index.get(k)),
        ) else {
            continue;
        };
        let rule = rule[i].clone().unwrap_or_default();
        match by_rule.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, n)) => *n += 1,
            None => by_rule.push((rule.clone(), 1)),
        }
        for (from, to) in [(*x, *y), (*y, *x)] {
            adjacency[from].push(Link {
                other: to,
                rule: rule.clone(),
                value: value[i].clone(),
                probability: probability[i],
            });
        }
    }
    Ok(CustomerLinks { adjacency, by_rule })
}

/// The first line: the customer, its number of records and their sources.
fn write_header(out: &mut String, customer: &str, keys: &[String]) {
    let sources: Vec<&str> = {
        let mut s: Vec<&str> = keys.iter().filter_map(|k| k.split_once(':').map(|(s, _)| s)).collect();
        s.dedup();
        s
    };
    let _ = writeln!(
        out,
        "customer {customer}: {} record{} from {}",
        keys.len(),
        if keys.len() == 1 { "" } else { "s" },
        sources.join(", ")
    );
}

/// The number of links per rule, most first (ties by rule name); no line
/// when there are no links.
fn write_rules(out: &mut String, mut by_rule: Vec<(String, usize)>) {
    if !by_rule.is_empty() {
        by_rule.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let parts: Vec<String> = by_rule.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(out, "links by rule: {}", parts.join(", "));
    }
}

/// The breadth-first tree of links from the customer's first record.
struct Tree<'a> {
    adjacency: &'a [Vec<Link>],
    /// Per record, the record it is reached from and the index of the link
    /// in that record's adjacency (None: the first record, or unreached).
    parent: Vec<Option<(usize, usize)>>,
    /// The reached records in the order they are reached.
    order: Vec<usize>,
}

impl<'a> Tree<'a> {
    /// Breadth-first from the customer's first record: a shortest path of
    /// links to every record.
    fn breadth_first(adjacency: &'a [Vec<Link>]) -> Self {
        let len = adjacency.len();
        let mut parent: Vec<Option<(usize, usize)>> = vec![None; len];
        let mut seen = vec![false; len];
        let mut order = Vec::with_capacity(len);
        let mut queue = VecDeque::from([0usize]);
        seen[0] = true;
        while let Some(x) = queue.pop_front() {
            order.push(x);
            for (j, link) in adjacency[x].iter().enumerate() {
                if !seen[link.other] {
                    seen[link.other] = true;
                    parent[link.other] = Some((x, j));
                    queue.push_back(link.other);
                }
            }
        }
        Tree {
            adjacency,
            parent,
            order,
        }
    }

    /// The record `x` is reached from, and the link that reaches it.
    fn parent_link(&self, x: usize) -> Option<(usize, &'a Link)> {
        self.parent[x].map(|(p, j)| (p, &self.adjacency[p][j]))
    }
}

/// A link as shown: its rule, the value it matched on and its probability.
fn describe(link: &Link) -> String {
    let value = link.value.as_deref().map(|v| format!(" = {v}")).unwrap_or_default();
    let p = link.probability.map(|p| format!(" (p = {p:.3})")).unwrap_or_default();
    format!("{}{value}{p}", link.rule)
}

/// For a record asked about: its path of links up the tree to the
/// customer's first record.
fn write_path(out: &mut String, key: &str, keys: &[String], index: &HashMap<&str, usize>, tree: &Tree) -> Result<()> {
    let start = *index.get(key).ok_or_else(|| {
        Error::Usage(format!(
            "record {key} moved while it was explained (a resolution ran meanwhile); try again"
        ))
    })?;
    let _ = writeln!(out, "record {key}: path of links to {}", keys[0]);
    let mut x = start;
    let _ = writeln!(out, "  {}", keys[x]);
    while let Some((p, link)) = tree.parent_link(x) {
        let _ = writeln!(out, "  └─ {} → {}", describe(link), keys[p]);
        x = p;
    }
    Ok(())
}

/// For a customer asked about: each record with the link that reaches it,
/// in breadth-first order, elided after `TREE_LINES` lines.
fn write_tree(out: &mut String, keys: &[String], tree: &Tree) {
    let _ = writeln!(
        out,
        "links (each record with the link that reaches it from {}):",
        keys[0]
    );
    let _ = writeln!(out, "  {}", keys[0]);
    for &x in tree.order.iter().skip(1).take(TREE_LINES) {
        let (p, link) = tree.parent_link(x).expect("reached records have a parent");
        let _ = writeln!(out, "  {} ← {} ← {}", keys[x], describe(link), keys[p]);
    }
    if tree.order.len() > TREE_LINES + 1 {
        let _ = writeln!(out, "  … {} more records", tree.order.len() - TREE_LINES - 1);
    }
}

async fn golden(state: &SessionState, customer: &str, out: &mut String) -> Result<()> {
    let rows = query(
        state,
        &format!("SELECT * FROM {CUSTOMERS} WHERE customer_id = $1"),
        vec![text(customer)],
    )
    .await?;
    let Some(batch) = rows.iter().find(|b| b.num_rows() > 0) else {
        return Ok(());
    };
    let mut parts = Vec::new();
    for (i, field) in batch.schema().fields().iter().enumerate().skip(3) {
        if let Some(Some(value)) = strings(std::slice::from_ref(batch), i).first() {
            parts.push(format!("{} = {value}", field.name()));
        }
    }
    if !parts.is_empty() {
        let _ = writeln!(out, "golden record: {}", parts.join("; "));
    }
    Ok(())
}

async fn merges(state: &SessionState, customer: &str, out: &mut String) -> Result<()> {
    let rows = query(
        state,
        &format!(
            "SELECT old_id, new_id, change, CAST(changed_at AS VARCHAR) AS at, reason FROM {MERGES} \
             WHERE old_id = $1 OR new_id = $1 ORDER BY changed_at, old_id"
        ),
        vec![text(customer)],
    )
    .await?;
    let (old, new, change, at, reason) = (
        strings(&rows, 0),
        strings(&rows, 1),
        strings(&rows, 2),
        strings(&rows, 3),
        strings(&rows, 4),
    );
    for i in 0..old.len() {
        let (old, new) = (
            old[i].as_deref().unwrap_or_default(),
            new[i].as_deref().unwrap_or_default(),
        );
        let line = match change[i].as_deref() {
            Some("merged") => format!("{old} merged into {new}"),
            _ => format!("{new} split from {old}"),
        };
        let _ = writeln!(
            out,
            "{line} at {} ({})",
            at[i].as_deref().unwrap_or_default(),
            reason[i].as_deref().unwrap_or_default()
        );
    }
    Ok(())
}
