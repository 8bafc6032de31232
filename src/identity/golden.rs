//! The golden record: one row per customer, each identifier and attribute
//! chosen from the customer's records by its survivorship rule —
//! `most_frequent` (ties: most recent, then source priority), `most_recent`
//! (by the source's `updated_at`; ties: most frequent) or `source_priority`
//! (lowest source rank; ties: most frequent). Dates of birth are compared
//! and written as YYYY-MM-DD where they can be read.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Builder, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::ids::Clusters;
use super::parallel;
use super::probabilistic::profiles::parse_date;
use super::records::{Records, attribute_index};
use crate::error::Result;
use crate::project::identity::{ATTRIBUTES, IdentityConfig, Survivorship};

/// The golden record's columns: the identifiers and attributes some source maps.
pub fn columns(config: &IdentityConfig) -> Vec<String> {
    let mut columns = config.kinds();
    columns.extend(
        ATTRIBUTES
            .iter()
            .filter(|a| config.sources.values().any(|s| s.attributes.contains_key(**a)))
            .map(|a| a.to_string()),
    );
    columns
}

pub fn schema(config: &IdentityConfig) -> SchemaRef {
    let mut fields = vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("records", DataType::Int64, false),
        Field::new("sources", DataType::Utf8, false),
    ];
    fields.extend(columns(config).into_iter().map(|c| Field::new(c, DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}

/// Where a column's values come from in each source.
enum ColumnRef {
    Identifier(usize),
    Attribute(usize),
}

struct Candidate<'a> {
    value: &'a str,
    updated: i64,
    priority: u32,
}

pub fn build(records: &Records, clusters: &Clusters, config: &IdentityConfig) -> Result<Vec<RecordBatch>> {
    let schema = schema(config);
    let names = columns(config);
    let refs: Vec<(ColumnRef, Survivorship)> = names
        .iter()
        .map(|name| {
            let column = match records.kind_index(name) {
                Some(k) => ColumnRef::Identifier(k),
                None => ColumnRef::Attribute(attribute_index(name)),
            };
            (column, config.survivorship(name))
        })
        .collect();

    // Records grouped by cluster (a counting sort keeps record order within).
    let n = clusters.ids.len();
    let mut starts = vec![0u32; n + 1];
    for &c in &clusters.cluster_of {
        starts[c as usize + 1] += 1;
    }
    for i in 0..n {
        starts[i + 1] += starts[i];
    }
    let mut fill = starts.clone();
    let mut members = vec![0u32; clusters.cluster_of.len()];
    for (r, &c) in clusters.cluster_of.iter().enumerate() {
        members[fill[c as usize] as usize] = r as u32;
        fill[c as usize] += 1;
    }

    // Dates of birth in one form (YYYY-MM-DD) where they can be read, so that
    // `3/14/85` and `1985-03-14` count as one value; others stay as written.
    let dob = attribute_index("date_of_birth");
    let this_year = chrono::Datelike::year(&chrono::Utc::now());
    let dates: Vec<Option<StringArray>> = records
        .sources
        .iter()
        .map(|source| {
            source.attributes[dob].as_ref().map(|raw| {
                raw.iter()
                    .map(|v| v.map(|t| parse_date(t, this_year).unwrap_or_else(|| t.to_string())))
                    .collect()
            })
        })
        .collect();
    // Per column and source, the array holding its values (None: unmapped).
    let arrays_of: Vec<Vec<Option<&StringArray>>> = refs
        .iter()
        .map(|(column, _)| {
            records
                .sources
                .iter()
                .enumerate()
                .map(|(i, source)| match column {
                    ColumnRef::Identifier(k) => source.identifiers[*k].as_ref(),
                    ColumnRef::Attribute(a) if *a == dob => dates[i].as_ref(),
                    ColumnRef::Attribute(a) => source.attributes[*a].as_ref(),
                })
                .collect()
        })
        .collect();

    // Clusters in fixed chunks on every core; the chunks' rows are put back
    // in cluster order.
    const CHUNK: usize = 1 << 16;
    let chunk = |job: usize| -> Result<RecordBatch> {
        let clusters_of_job = job * CHUNK..((job + 1) * CHUNK).min(n);
        let size = clusters_of_job.len();
        let mut id_col = StringBuilder::with_capacity(size, size * 12);
        let mut count_col = Int64Builder::with_capacity(size);
        let mut sources_col = StringBuilder::new();
        let mut value_cols: Vec<StringBuilder> = names.iter().map(|_| StringBuilder::new()).collect();
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut counts: HashMap<&str, u32> = HashMap::new();
        let mut source_names: Vec<&str> = Vec::new();
        let mut located: Vec<(usize, usize)> = Vec::new();
        for c in clusters_of_job {
            let rows = &members[starts[c] as usize..starts[c + 1] as usize];
            id_col.append_value(&clusters.names[c]);
            count_col.append_value(rows.len() as i64);
            located.clear();
            located.extend(rows.iter().map(|&r| {
                let s = records.sources.partition_point(|s| s.offset <= r) - 1;
                (s, (r - records.sources[s].offset) as usize)
            }));
            source_names.clear();
            for &(s, _) in &located {
                let name = records.sources[s].name.as_str();
                if source_names.last() != Some(&name) && !source_names.contains(&name) {
                    source_names.push(name);
                }
            }
            source_names.sort_unstable();
            sources_col.append_value(source_names.join(","));
            for (((_, rule), arrays), out) in refs.iter().zip(&arrays_of).zip(value_cols.iter_mut()) {
                candidates.clear();
                for &(s, row) in &located {
                    let Some(array) = arrays[s] else { continue };
                    if array.is_null(row) {
                        continue;
                    }
                    let source = &records.sources[s];
                    let updated = source
                        .updated_at
                        .as_ref()
                        .filter(|t| t.is_valid(row))
                        .map_or(i64::MIN, |t| t.value(row));
                    candidates.push(Candidate {
                        value: array.value(row),
                        updated,
                        priority: source.priority,
                    });
                }
                out.append_option(choose(&candidates, *rule, &mut counts));
            }
        }
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(id_col.finish()),
            Arc::new(count_col.finish()),
            Arc::new(sources_col.finish()),
        ];
        arrays.extend(value_cols.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        Ok(RecordBatch::try_new(Arc::clone(&schema), arrays)?)
    };
    // Kept as the chunks (joining them would hold the golden records twice);
    // at least one, so that the table's schema travels with them.
    let parts = parallel::map(n.div_ceil(CHUNK), chunk)
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Ok(if parts.is_empty() {
        vec![RecordBatch::new_empty(schema)]
    } else {
        parts
    })
}

fn choose<'a>(candidates: &[Candidate<'a>], rule: Survivorship, counts: &mut HashMap<&'a str, u32>) -> Option<&'a str> {
    match candidates {
        [] => return None,
        [only] => return Some(only.value),
        _ => {}
    }
    counts.clear();
    for c in candidates {
        *counts.entry(c.value).or_default() += 1;
    }
    let frequency = |c: &Candidate| counts[c.value];
    // The best candidate is the maximum by the rule's key, then the value
    // itself (descending) so that ties never depend on record order.
    let best = candidates.iter().max_by(|x, y| {
        let primary = match rule {
            Survivorship::MostFrequent => frequency(x)
                .cmp(&frequency(y))
                .then(x.updated.cmp(&y.updated))
                .then(y.priority.cmp(&x.priority)),
            Survivorship::MostRecent => x.updated.cmp(&y.updated).then(frequency(x).cmp(&frequency(y))),
            Survivorship::SourcePriority => y.priority.cmp(&x.priority).then(frequency(x).cmp(&frequency(y))),
        };
        primary.then(y.value.cmp(x.value))
    })?;
    Some(best.value)
}
