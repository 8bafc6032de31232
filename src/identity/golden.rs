//! The golden record: one row per customer, each identifier and attribute
//! chosen from the customer's records by its survivorship rule —
//! `most_frequent` (ties: most recent, then source priority), `most_recent`
//! (by the source's `updated_at`; ties: most frequent) or `source_priority`
//! (lowest source rank; ties: most frequent). Dates of birth are compared
//! and written as YYYY-MM-DD where they can be read.

use datafusion::common::HashMap;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::ids::{ClusterMembers, Clusters};
use super::parallel;
use super::probabilistic::profiles::parse_date;
use super::records::{Interned, Records, attribute_index};
use super::texts::Texts;
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

/// The golden records of a run, built wave by wave as they are written:
/// what is held is the clusters' members and one wave of rows, not the
/// whole table.
pub struct Golden<'a> {
    records: &'a Records,
    clusters: &'a Clusters,
    groups: ClusterMembers,
    refs: Vec<(ColumnRef, Survivorship)>,
    dates: Vec<Option<Interned>>,
    schema: SchemaRef,
}

/// Clusters per job. A wave is two jobs per core (at least four), run on
/// every core: the rows held at once are at most a wave's, about 260
/// thousand customers on two cores.
const CHUNK: usize = 1 << 16;

fn wave_jobs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (2 * cores).max(4)
}

pub fn build<'a>(records: &'a Records, clusters: &'a Clusters, config: &IdentityConfig) -> Golden<'a> {
    Golden {
        schema: schema(config),
        refs: column_refs(records, config),
        groups: ClusterMembers::of(&clusters.cluster_of, clusters.ids.len()),
        dates: normalized_dates(records),
        records,
        clusters,
    }
}

impl Golden<'_> {
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Bytes held before any row is built: the members of each cluster.
    pub fn memory_size(&self) -> usize {
        self.groups.memory_size()
    }

    /// The rows in cluster order, one batch per job; `held` is told the
    /// bytes of each wave before its rows are handed on (an error stops
    /// the rows). At least one batch, so that an empty table has its schema.
    pub fn batches<'b>(
        &'b self,
        mut held: impl FnMut(usize) -> Result<()> + 'b,
    ) -> impl Iterator<Item = Result<RecordBatch>> + 'b {
        let arrays_of = column_arrays(self.records, &self.refs, &self.dates);
        let n = self.clusters.ids.len();
        let jobs = n.div_ceil(CHUNK);
        let empty = (jobs == 0).then(|| Ok(RecordBatch::new_empty(self.schema())));
        let wave_jobs = wave_jobs();
        let waves = (0..jobs).step_by(wave_jobs).flat_map(move |first| {
            let inputs = ChunkInputs {
                records: self.records,
                clusters: self.clusters,
                groups: &self.groups,
                refs: &self.refs,
                arrays_of: &arrays_of,
                schema: &self.schema,
            };
            let chunk = |job: usize| inputs.chunk(job * CHUNK..((job + 1) * CHUNK).min(n));
            // Clusters in fixed chunks on every core, put back in order.
            let wave = parallel::map(wave_jobs.min(jobs - first), |j| chunk(first + j));
            let bytes = wave.iter().flatten().map(RecordBatch::get_array_memory_size).sum();
            let wave = match held(bytes) {
                Ok(()) => wave,
                Err(e) => vec![Err(e)],
            };
            wave.into_iter()
        });
        empty.into_iter().chain(waves)
    }
}

/// Per golden column, where its values come from and its survivorship rule.
fn column_refs(records: &Records, config: &IdentityConfig) -> Vec<(ColumnRef, Survivorship)> {
    columns(config)
        .iter()
        .map(|name| {
            let column = match records.kind_index(name) {
                Some(k) => ColumnRef::Identifier(k),
                None => ColumnRef::Attribute(attribute_index(name)),
            };
            (column, config.survivorship(name))
        })
        .collect()
}

/// Per source, its dates of birth in one form (YYYY-MM-DD) where they can be
/// read, so that `3/14/85` and `1985-03-14` count as one value; others stay
/// as written (None: the source maps no date of birth). The sources share
/// one array of distinct dates, read once; the records keep their ranks.
fn normalized_dates(records: &Records) -> Vec<Option<Interned>> {
    let dob = attribute_index("date_of_birth");
    let this_year = chrono::Datelike::year(&chrono::Utc::now());
    let columns = || records.sources.iter().map(|s| s.attributes[dob].as_ref());
    let Some(shared) = columns().flatten().next() else {
        return records.sources.iter().map(|_| None).collect();
    };
    let read: StringArray = shared
        .values
        .iter()
        .map(|t| Some(parse_date(t, this_year).unwrap_or_else(|| t.to_string())))
        .collect();
    let read = Arc::new(Texts::held(read));
    columns()
        .map(|raw| {
            raw.map(|raw| Interned {
                values: Arc::clone(&read),
                ..raw.clone()
            })
        })
        .collect()
}

/// Per column and source, the array holding its values (None: unmapped);
/// dates of birth from `dates`, in their one form.
fn column_arrays<'a>(
    records: &'a Records,
    refs: &[(ColumnRef, Survivorship)],
    dates: &'a [Option<Interned>],
) -> Vec<Vec<Option<&'a Interned>>> {
    let dob = attribute_index("date_of_birth");
    refs.iter()
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
        .collect()
}

/// What every chunk of clusters reads to build its golden records.
struct ChunkInputs<'a> {
    records: &'a Records,
    clusters: &'a Clusters,
    groups: &'a ClusterMembers,
    refs: &'a [(ColumnRef, Survivorship)],
    arrays_of: &'a [Vec<Option<&'a Interned>>],
    schema: &'a SchemaRef,
}

impl<'a> ChunkInputs<'a> {
    /// The golden records of the clusters `clusters_of_job`, in cluster order.
    fn chunk(&self, clusters_of_job: Range<usize>) -> Result<RecordBatch> {
        let size = clusters_of_job.len();
        let mut id_col = StringBuilder::with_capacity(size, size * 12);
        let mut count_col = Int64Builder::with_capacity(size);
        let mut sources_col = StringBuilder::new();
        let mut value_cols: Vec<StringBuilder> = self.refs.iter().map(|_| StringBuilder::new()).collect();
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut counts: HashMap<&str, u32> = HashMap::new();
        let mut source_names: Vec<&str> = Vec::new();
        let mut located: Vec<(usize, usize)> = Vec::new();
        for c in clusters_of_job {
            let rows = self.groups.of_cluster(c);
            id_col.append_value(&self.clusters.names[c]);
            count_col.append_value(rows.len() as i64);
            self.locate(rows, &mut located);
            sources_col.append_value(self.source_names(&located, &mut source_names));
            for (((_, rule), arrays), out) in self.refs.iter().zip(self.arrays_of).zip(value_cols.iter_mut()) {
                self.candidates(arrays, &located, &mut candidates);
                out.append_option(choose(&candidates, *rule, &mut counts));
            }
        }
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(id_col.finish()),
            Arc::new(count_col.finish()),
            Arc::new(sources_col.finish()),
        ];
        arrays.extend(value_cols.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        Ok(RecordBatch::try_new(Arc::clone(self.schema), arrays)?)
    }

    /// Each of `rows` (record numbers) as its source and its row in that
    /// source, into `located`.
    fn locate(&self, rows: &[u32], located: &mut Vec<(usize, usize)>) {
        let sources = &self.records.sources;
        located.clear();
        located.extend(rows.iter().map(|&r| {
            let s = sources.partition_point(|s| s.offset <= r) - 1;
            (s, (r - sources[s].offset) as usize)
        }));
    }

    /// The names of the sources of the `located` records, sorted, joined by
    /// commas (`names`: scratch space).
    fn source_names(&self, located: &[(usize, usize)], names: &mut Vec<&'a str>) -> String {
        names.clear();
        for &(s, _) in located {
            let name = self.records.sources[s].name.as_str();
            if names.last() != Some(&name) && !names.contains(&name) {
                names.push(name);
            }
        }
        names.sort_unstable();
        names.join(",")
    }

    /// Into `candidates`, the column's non-null values among the `located`
    /// records (`arrays`: the column's array per source), each with its
    /// source's `updated_at` (earliest when none) and priority.
    fn candidates(
        &self,
        arrays: &[Option<&'a Interned>],
        located: &[(usize, usize)],
        candidates: &mut Vec<Candidate<'a>>,
    ) {
        candidates.clear();
        for &(s, row) in located {
            let Some(value) = arrays[s].and_then(|column| column.get(row)) else {
                continue;
            };
            let source = &self.records.sources[s];
            let updated = source.updated(row);
            candidates.push(Candidate {
                value,
                updated,
                priority: source.priority,
            });
        }
    }
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
