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

use super::graph::{Graph, ValueStatus};
use super::ids::{ClusterMembers, Clusters};
use super::probabilistic::profiles::parse_date;
use super::records::{Interned, Records, attribute_index};
use super::state::{self, Identifier, Stats};
use super::texts::Texts;
use super::winners::{self, Winner};
use super::words::Words;
use crate::error::Result;
use crate::project::identity::{ATTRIBUTES, IdentityConfig, Survivorship};
use crate::util::parallel;

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

/// One value of a column among a cluster's records: what survivorship
/// weighs, and for an identifier its rank and the first record holding it
/// (source and row).
struct Candidate<'a> {
    value: &'a str,
    rank: u32,
    stats: Stats,
    first: (usize, usize),
}

/// What the identity state (`state`) needs beyond the golden records: what
/// each identifier value did, and per kind its `max_distinct` guards (the
/// other kinds' indexes) and whether it splits by first name.
struct StateInputs<'a> {
    /// Whether the state is kept at all.
    keep: bool,
    status: &'a [Vec<u8>],
    limits: Vec<Vec<usize>>,
    split: Vec<bool>,
}

/// The golden records of a run, built wave by wave as they are written:
/// what is held is the clusters' members and one wave of rows, not the
/// whole table.
pub struct Golden<'a> {
    records: &'a Records,
    clusters: &'a Clusters,
    groups: ClusterMembers,
    refs: Vec<(ColumnRef, Survivorship)>,
    names: Vec<String>,
    dates: Vec<Option<Interned>>,
    schema: SchemaRef,
    state: StateInputs<'a>,
}

/// Clusters per job. A wave is two jobs per core (at least four), run on
/// every core: the rows held at once are at most a wave's, about 65
/// thousand customers on two cores, with their rows of the identity state
/// (twenty-odd a customer).
const CHUNK: usize = 1 << 14;

/// Clusters a job in the first wave, before a wave's bytes are known.
const FIRST_CHUNK: usize = 1 << 6;

fn wave_jobs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (2 * cores).max(4)
}

/// The golden records of the run's clusters, the records grouped by cluster
/// in `members` (a word a record); with `keep_state`, each wave's rows of
/// the identity state too.
pub fn build<'a>(
    records: &'a Records,
    graph: &'a Graph,
    clusters: &'a Clusters,
    config: &IdentityConfig,
    (keep_state, members): (bool, Words),
) -> Golden<'a> {
    let kinds = || records.kinds.iter().map(|kind| config.identifier(kind));
    let state = StateInputs {
        status: &graph.status,
        limits: kinds()
            .map(|k| {
                k.max_distinct
                    .keys()
                    .filter_map(|other| records.kind_index(other))
                    .collect()
            })
            .collect(),
        split: kinds().map(|k| k.split_by_first_name).collect(),
        keep: keep_state,
    };
    Golden {
        schema: schema(config),
        refs: column_refs(records, config),
        names: columns(config),
        groups: ClusterMembers::of(&clusters.cluster_of, clusters.ids.len(), members),
        dates: normalized_dates(records),
        records,
        clusters,
        state,
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
    /// the rows) and answers the most a wave may hold (`Budget::room_for`),
    /// and `keep` is given the wave's rows of the identity state (`state`)
    /// and its winners (`winners`) first. At least one batch, so that an
    /// empty table has its schema.
    ///
    /// Under a limit waves begin small and double a wave up to `CHUNK` clusters a job,
    /// as far as half the room allows at the most bytes a cluster any wave
    /// took so far: under a tight `--memory-limit` waves stay small rather
    /// than stop the run (clusters vary, so the half is a margin, not a
    /// promise).
    pub fn batches<'b>(
        &'b self,
        mut held: impl FnMut(usize) -> Result<usize> + 'b,
        mut keep: impl FnMut(Kept) -> Result<()> + 'b,
    ) -> impl Iterator<Item = Result<RecordBatch>> + 'b {
        let arrays_of = column_arrays(self.records, &self.refs, &self.dates);
        let n = self.clusters.ids.len();
        let empty = (n == 0).then(|| Ok(RecordBatch::new_empty(self.schema())));
        let wave_jobs = wave_jobs();
        // Without a limit (no bound on the room) waves are whole at once.
        let first_chunk = match held(0) {
            Ok(usize::MAX) => CHUNK,
            _ => FIRST_CHUNK,
        };
        let (mut first, mut per_job, mut stopped) = (0, first_chunk, false);
        // The most bytes a cluster of any wave so far took.
        let mut per_cluster = 1;
        let waves = std::iter::from_fn(move || {
            if stopped || first >= n {
                return None;
            }
            let inputs = ChunkInputs {
                records: self.records,
                clusters: self.clusters,
                groups: &self.groups,
                refs: &self.refs,
                names: &self.names,
                arrays_of: &arrays_of,
                schema: &self.schema,
                state: &self.state,
            };
            let (start, jobs) = (first, wave_jobs.min((n - first).div_ceil(per_job)));
            let chunk = |job: usize| inputs.chunk(start + job * per_job..(start + (job + 1) * per_job).min(n));
            // Clusters in chunks on every core, put back in order.
            let wave = parallel::map(jobs, chunk);
            first = (start + jobs * per_job).min(n);
            let bytes = wave
                .iter()
                .flatten()
                .map(|(rows, kept)| rows.get_array_memory_size() + kept.memory_size())
                .sum();
            let room = held(bytes).and_then(|room| {
                wave.iter().flatten().try_for_each(|(_, kept)| keep(kept.clone()))?;
                Ok(room)
            });
            Some(match room {
                Ok(room) => {
                    per_cluster = per_cluster.max(bytes.div_ceil(first - start));
                    let fit = (room / 2 / per_cluster / wave_jobs).max(1);
                    per_job = (per_job * 2).min(CHUNK).min(fit);
                    wave.into_iter().map(|r| r.map(|(rows, _)| rows)).collect()
                }
                Err(e) => {
                    stopped = true;
                    vec![Err(e)]
                }
            })
        });
        empty.into_iter().chain(waves.flatten())
    }
}

/// A wave's rows of the identity state (`state`) and of its winners.
#[derive(Clone)]
pub struct Kept {
    pub values: RecordBatch,
    pub winners: RecordBatch,
}

impl Kept {
    fn memory_size(&self) -> usize {
        self.values.get_array_memory_size() + self.winners.get_array_memory_size()
    }
}

/// The rows of `Kept`, being built.
#[derive(Default)]
struct KeptRows {
    values: state::Rows,
    winners: winners::Rows,
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
    names: &'a [String],
    arrays_of: &'a [Vec<Option<&'a Interned>>],
    schema: &'a SchemaRef,
    state: &'a StateInputs<'a>,
}

impl<'a> ChunkInputs<'a> {
    /// The golden records of the clusters `clusters_of_job`, in cluster
    /// order, and their rows of the identity state.
    fn chunk(&self, clusters_of_job: Range<usize>) -> Result<(RecordBatch, Kept)> {
        let size = clusters_of_job.len();
        let mut id_col = StringBuilder::with_capacity(size, size * 12);
        let mut count_col = Int64Builder::with_capacity(size);
        let mut sources_col = StringBuilder::new();
        let mut value_cols: Vec<StringBuilder> = self.refs.iter().map(|_| StringBuilder::new()).collect();
        let mut kept = KeptRows::default();
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut per_source: Vec<bool> = vec![false; self.records.sources.len()];
        let mut located: Vec<(usize, usize)> = Vec::new();
        for c in clusters_of_job {
            let rows = self.groups.of_cluster(c);
            let customer = self.clusters.ids[c];
            id_col.append_value(&self.clusters.names[c]);
            count_col.append_value(rows.len() as i64);
            self.locate(rows, &mut located);
            sources_col.append_value(self.sources(&located, &mut per_source));
            for (k, (((column, rule), arrays), out)) in self
                .refs
                .iter()
                .zip(self.arrays_of)
                .zip(value_cols.iter_mut())
                .enumerate()
            {
                self.candidates(arrays, &located, &mut candidates, &mut index);
                let chosen = choose(candidates.iter().map(|c| (c.value, c.stats)), *rule);
                out.append_option(chosen);
                let name = &self.names[k];
                let identifier = match column {
                    ColumnRef::Identifier(kind) => Some(*kind),
                    ColumnRef::Attribute(_) => None,
                };
                for candidate in &candidates {
                    let winner = chosen == Some(candidate.value);
                    let slot = k as winners::Slot;
                    self.keep(
                        &mut kept,
                        (customer, name, slot),
                        candidate,
                        winner,
                        identifier,
                        &located,
                    );
                }
            }
        }
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(id_col.finish()),
            Arc::new(count_col.finish()),
            Arc::new(sources_col.finish()),
        ];
        arrays.extend(value_cols.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        let kept = Kept {
            values: kept.values.finish()?,
            winners: kept.winners.finish()?,
        };
        Ok((RecordBatch::try_new(Arc::clone(self.schema), arrays)?, kept))
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
    /// commas (`per_source`: scratch space).
    fn sources(&self, located: &[(usize, usize)], per_source: &mut [bool]) -> String {
        per_source.iter_mut().for_each(|s| *s = false);
        for &(s, _) in located {
            per_source[s] = true;
        }
        let mut names: Vec<&str> = (per_source.iter().enumerate())
            .filter(|(_, here)| **here)
            .map(|(s, _)| self.records.sources[s].name.as_str())
            .collect();
        names.sort_unstable();
        names.join(",")
    }

    /// Into `candidates`, the column's distinct non-null values among the
    /// `located` records (`arrays`: the column's array per source), each
    /// with what survivorship weighs of it: its records, their latest
    /// `updated_at` (earliest when none) and source priority (`index`:
    /// scratch space).
    fn candidates(
        &self,
        arrays: &[Option<&'a Interned>],
        located: &[(usize, usize)],
        candidates: &mut Vec<Candidate<'a>>,
        index: &mut HashMap<&'a str, usize>,
    ) {
        candidates.clear();
        index.clear();
        for &(s, row) in located {
            let Some(column) = arrays[s] else {
                continue;
            };
            let (Some(value), Some(rank)) = (column.get(row), column.rank(row)) else {
                continue;
            };
            let source = &self.records.sources[s];
            let one = Stats::of(source.updated(row), source.priority);
            match index.get(value) {
                Some(&i) => candidates[i].stats.add(one),
                None => {
                    index.insert(value, candidates.len());
                    candidates.push(Candidate {
                        value,
                        rank,
                        stats: one,
                        first: (s, row),
                    });
                }
            }
        }
    }

    /// Keeps one value of a column as a row of the identity state; for an
    /// identifier (kind `identifier`), with what the value did and, if it
    /// linked, what its guards count among the cluster's records.
    fn keep(
        &self,
        kept: &mut KeptRows,
        (customer, column, slot): (u64, &str, winners::Slot),
        candidate: &Candidate,
        winner: bool,
        identifier: Option<usize>,
        located: &[(usize, usize)],
    ) {
        if !self.state.keep {
            return;
        }
        let at = (column, candidate.value);
        if winner {
            let key = state::key(column, candidate.value);
            let stats = candidate.stats;
            kept.winners.push(customer, slot, Winner { key, stats });
        }
        let Some(k) = identifier else {
            kept.values.push(customer, at, candidate.stats, None);
            return;
        };
        let status = ValueStatus::from_u8(self.state.status[k][candidate.rank as usize]).unwrap_or(ValueStatus::Linked);
        let (mut others, mut names): (Vec<String>, Vec<&str>) = (Vec::new(), Vec::new());
        let counted = status == ValueStatus::Linked || status == ValueStatus::Split;
        if counted && (!self.state.limits[k].is_empty() || self.state.split[k]) {
            // The value's records in this cluster: all of them, if it linked.
            for &(s, row) in located {
                let source = &self.records.sources[s];
                if source.identifiers[k].as_ref().and_then(|c| c.rank(row)) != Some(candidate.rank) {
                    continue;
                }
                for &o in &self.state.limits[k] {
                    let Some(column) = source.identifiers[o].as_ref() else {
                        continue;
                    };
                    if let (Some(rank), Some(value)) = (column.rank(row), column.get(row))
                        && self.state.status[o][rank as usize] != ValueStatus::Blocked as u8
                    {
                        others.push(format!("{}={value}", self.records.kinds[o]));
                    }
                }
                if self.state.split[k]
                    && let Some(name) = source.first_name(row)
                {
                    names.push(name);
                }
            }
            others.sort_unstable();
            others.dedup();
            names.sort_unstable();
            names.dedup();
        }
        let (s, row) = candidate.first;
        let source = &self.records.sources[s];
        let identifier = Identifier {
            status,
            others: &others,
            names: &names,
            record: (&source.name, source.record_id(row)),
        };
        kept.values.push(customer, at, candidate.stats, Some(identifier));
    }
}

/// The value a survivorship rule picks among a column's values (each with
/// what survivorship weighs of it among the customer's records): the
/// maximum by the rule's key, then the value itself (descending), so that
/// ties never depend on record order.
pub fn choose<'a>(values: impl Iterator<Item = (&'a str, Stats)>, rule: Survivorship) -> Option<&'a str> {
    let best = values.max_by(|(x, a), (y, b)| {
        let primary = match rule {
            Survivorship::MostFrequent => a
                .records
                .cmp(&b.records)
                .then(a.updated.cmp(&b.updated))
                .then(b.updated_priority.cmp(&a.updated_priority)),
            Survivorship::MostRecent => a.updated.cmp(&b.updated).then(a.records.cmp(&b.records)),
            Survivorship::SourcePriority => b.priority.cmp(&a.priority).then(a.records.cmp(&b.records)),
        };
        primary.then(y.cmp(x))
    })?;
    Some(best.0)
}
