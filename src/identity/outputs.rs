//! The tables a resolution writes below `[project] output` (default
//! `output/`), one Parquet file each in `identity/NAME/`, registered in every
//! session: `identity_links`, `identity_edges`, `identity_merges`, `customers`.
//!
//! The four are one set: a run writes its files under new names
//! (`run-RUN.parquet`), then commits them all at once by replacing the one
//! small file `identity/current` that names the run, then removes older
//! runs' files (the replaced run's stay one run longer, for queries already
//! reading them). Every query of the identity tables reads the files
//! `identity/current` names when it is planned, all its scans from the same
//! run (see `tables`' `RunPins`), so it sees a whole run, never half of
//! one; a run that fails before its commit leaves files no one reads and the
//! next run removes. A run that grows the last one (`incremental`) adds one
//! file to each of the `CHAINED` tables: those tables of a run are the
//! files of its chain of runs (`identity/chains/RUN`).

use futures::StreamExt;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use url::Url;

use super::graph::Graph;
use super::ids::{Change, Clusters, IdChange, format_id};
use super::records::Records;
use super::words::Words;
use crate::error::Result;
use crate::project::names;
use crate::storage::{Destination, OutputFormat, OutputSpec, ResultWriter, StateStore};

pub const LINKS: &str = names::IDENTITY_LINKS;
pub const EDGES: &str = names::IDENTITY_EDGES;
pub const MERGES: &str = names::IDENTITY_MERGES;
pub const CUSTOMERS: &str = names::CUSTOMERS;
pub const NAMES: &[&str] = names::IDENTITY_TABLES;

/// The file, below the output location, naming the committed run.
pub const CURRENT: &str = "identity/current";

/// A run's id: when it started, so that ids sort in run order.
pub fn run_id(started: chrono::DateTime<chrono::Utc>) -> String {
    started.format("%Y%m%dT%H%M%S%.6fZ").to_string()
}

fn file_name(run: &str) -> String {
    format!("run-{run}.parquet")
}

/// The committed run, if any.
pub async fn current_run(store: &StateStore) -> Result<Option<String>> {
    Ok(store
        .get(CURRENT)
        .await?
        .and_then(|bytes| Some(std::str::from_utf8(&bytes).ok()?.trim().to_string()))
        .filter(|run| !run.is_empty()))
}

/// The file of one identity table in `run`, the committed run; before any
/// commit (`None`), the file a version of oneview that replaced each table's
/// file on its own wrote (or nothing), never a run's files that were not
/// committed.
pub fn run_location(output: &Url, name: &str, run: Option<&str>) -> Url {
    let file = run.map_or_else(|| LEGACY_FILE.to_string(), file_name);
    folder(output, name)
        .join(&file)
        .expect("a file name joins a folder URL")
}

/// Each table's file before runs were committed as a set.
const LEGACY_FILE: &str = "data.parquet";

/// The tables a run that grows the last one (`grow`) adds a file to, so
/// that each is the files of a chain of runs (for `customers`, back to the
/// last one written whole: `customer_chain`); the others each run writes
/// whole.
pub const CHAINED: &[&str] = &[
    LINKS,
    EDGES,
    CUSTOMERS,
    super::state::VALUES,
    super::winners::WINNERS,
    super::record_ids::IDS,
    super::kept_profiles::PROFILES,
    super::kept_profiles::REFUSED,
];

/// The tables only oneview reads, kept for a run that grows this one.
pub const HIDDEN: &[&str] = &[
    super::state::VALUES,
    super::winners::WINNERS,
    super::record_ids::IDS,
    super::kept_profiles::PROFILES,
    super::kept_profiles::REFUSED,
];

/// The folder of the files naming each run's chain.
const CHAINS: &str = "identity/chains/";

/// The runs whose files make up the chained tables of `run`, oldest first:
/// the run itself unless it grew an earlier one.
pub async fn chain(store: &StateStore, run: &str) -> Result<Vec<String>> {
    Ok(match store.get(&format!("{CHAINS}{run}")).await? {
        Some(bytes) => std::str::from_utf8(&bytes)
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        None => vec![run.to_string()],
    })
}

/// Records the chain of `run` (before it is committed).
pub async fn write_chain(store: &StateStore, run: &str, chain: &[String]) -> Result<()> {
    store.put(&format!("{CHAINS}{run}"), chain.join("\n").into()).await
}

/// The files of one identity table in `run` (the committed run, `None`
/// before any), oldest first.
pub async fn run_locations(store: &StateStore, output: &Url, name: &str, run: Option<&str>) -> Result<Vec<Url>> {
    let runs = match run {
        Some(run) if CHAINED.contains(&name) => chain(store, run).await?,
        _ => return Ok(vec![run_location(output, name, run)]),
    };
    Ok(runs.iter().map(|r| run_location(output, name, Some(r))).collect())
}

/// Makes `run` the current set of identity tables, then removes the files
/// of the tables' folders but this run's and the one it replaces (which
/// queries planned before the commit may still be reading), with the runs
/// of their chains: older runs and runs that never committed. Nothing
/// after the commit fails the run.
pub async fn commit(store: &StateStore, run: &str) -> Result<()> {
    let replaced = current_run(store).await?;
    store.put(CURRENT, run.to_string().into()).await?;
    let mut kept_runs = vec![run.to_string()];
    kept_runs.extend(replaced);
    remove_old(store, &kept_runs, None).await;
    Ok(())
}

/// Removes the files of the tables' folders but those of the runs `keep`
/// and of their chains; with `before` (a run id), only files of runs
/// that started before it. A resolution calls it as it starts, keeping
/// the committed run and removing only runs older than it, so that the
/// removal of what the last commit left (a full run's gigabytes at 1M
/// people) overlaps its work rather than follows it, and the files it is
/// writing (of a later run) are not touched.
pub async fn remove_old(store: &StateStore, keep: &[String], before: Option<&str>) {
    let mut chained = Vec::new();
    for r in keep {
        match chain(store, r).await {
            Ok(runs) => chained.extend(runs),
            // Unsure what the chain holds: nothing chained is removed.
            Err(e) => {
                log::warn!("could not read the chain of run {r} to remove old identity files: {e}");
                return;
            }
        }
    }
    let older = |file: &String| before.is_none_or(|before| run_of(file).is_some_and(|run| run < before));
    let mut old = Vec::new();
    for name in NAMES.iter().chain(HIDDEN) {
        let kept: Vec<String> = if CHAINED.contains(name) {
            chained.iter().map(|r| file_name(r)).collect()
        } else {
            keep.iter().map(|r| file_name(r)).collect()
        };
        old.extend(files_but(store, &format!("identity/{name}/"), &kept, older).await);
    }
    old.extend(files_but(store, CHAINS, keep, older).await);
    old.extend(files_but(store, super::remap::REMAPS, keep, older).await);
    old.extend(files_but(store, super::moved::MOVED, keep, older).await);
    // Removed together: a large file's removal takes the file system a
    // while (a run's state is a gigabyte at 1M people).
    futures::stream::iter(old)
        .for_each_concurrent(REMOVALS_AT_ONCE, |file| async move {
            if let Err(e) = store.delete(&file).await {
                log::warn!("could not remove the old identity file {file}: {e}");
            }
        })
        .await;
}

/// The run a file of the identity folders belongs to (`run-RUN.parquet`
/// in a table's folder, `RUN` in those of chains, remaps and moved
/// records, either with
/// `#N` while staged), if its name is one of those.
fn run_of(file: &str) -> Option<&str> {
    let name = file.split('#').next()?;
    let run = name.strip_prefix("run-").unwrap_or(name);
    let run = run.strip_suffix(".parquet").unwrap_or(run);
    let is_run =
        run.len() == run_id(chrono::DateTime::UNIX_EPOCH).len() && run.starts_with(|c: char| c.is_ascii_digit());
    is_run.then_some(run)
}

/// Old files removed at once by a commit.
const REMOVALS_AT_ONCE: usize = 8;

/// The files of `folder` but those named `keep`, of those `also` takes
/// (none, with a warning, if the folder cannot be listed).
async fn files_but(store: &StateStore, folder: &str, keep: &[String], also: impl Fn(&String) -> bool) -> Vec<String> {
    match store.list(folder).await {
        Ok(files) => files
            .into_iter()
            .filter(|file| !keep.contains(file) && also(file))
            .map(|file| format!("{folder}{file}"))
            .collect(),
        Err(e) => {
            log::warn!("could not list {folder} to remove old identity files: {e}");
            Vec::new()
        }
    }
}

/// The folder of one identity table.
pub fn folder(output: &Url, name: &str) -> Url {
    output
        .join(&format!("identity/{name}/"))
        .expect("identity folders are valid URL paths")
}

pub fn links_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("record_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, true),
        Field::new("match_probability", DataType::Float64, true),
    ]))
}

pub fn edges_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("source_a", DataType::Utf8, false),
        Field::new("record_id_a", DataType::Utf8, false),
        Field::new("source_b", DataType::Utf8, false),
        Field::new("record_id_b", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        Field::new("match_probability", DataType::Float64, true),
    ]))
}

pub fn merges_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("old_id", DataType::Utf8, false),
        Field::new("new_id", DataType::Utf8, false),
        Field::new("change", DataType::Utf8, false),
        Field::new(
            "changed_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("reason", DataType::Utf8, true),
    ]))
}

const BATCH: usize = 1 << 20;

/// Links read back from their file at a time (the links and the edges are
/// written side by side, each reading its own): a few MB, not counted.
const READ: usize = 1 << 16;

/// Each record's strongest link, found as the links are written: its rule
/// (`NO_RULE`: none) and the bits of its probability, a word a record each
/// (`Budget::filled_words`).
pub struct Strongest {
    pub rules: Words,
    pub probabilities: Words,
}

/// A record no link reached.
pub const NO_RULE: u32 = u32::MAX;

/// One row per record: its customer and the strongest rule that linked it,
/// found into `best` (its words as `Strongest` describes, filled with
/// `NO_RULE` and zeros). Batches are made as the writer asks for them, so a
/// run never holds the whole table in memory.
pub fn links<'a>(
    records: &'a Records,
    graph: &'a Graph,
    clusters: &'a Clusters,
    mut best: Strongest,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + 'a> {
    // Each record's strongest link: the earliest rule, then the most probable.
    for chunk in graph.edges.read(READ)? {
        for edge in chunk? {
            for r in [edge.a as usize, edge.b as usize] {
                let held = (best.rules[r], -f32::from_bits(best.probabilities[r]));
                if (u32::from(edge.rule), -edge.probability) < held {
                    best.rules[r] = u32::from(edge.rule);
                    best.probabilities[r] = edge.probability.to_bits();
                }
            }
        }
    }
    let chunks = records.sources.iter().flat_map(|source| {
        (0..source.len)
            .step_by(BATCH)
            .map(move |start| (source, start, (start + BATCH).min(source.len)))
    });
    Ok(chunks.map(move |(source, start, end)| {
        let rows = end - start;
        let mut customer = StringBuilder::with_capacity(rows, rows * 12);
        let mut rule = StringBuilder::with_capacity(rows, rows * 6);
        let mut probability = Float64Builder::with_capacity(rows);
        for row in start..end {
            let r = source.offset as usize + row;
            customer.append_value(&clusters.names[clusters.cluster_of[r] as usize]);
            match best.rules[r] {
                NO_RULE => {
                    rule.append_null();
                    probability.append_null();
                }
                k => {
                    rule.append_value(&graph.rules[k as usize]);
                    probability.append_value(f64::from(f32::from_bits(best.probabilities[r])));
                }
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![source.name.as_str(); rows])),
            Arc::new(source.record_ids(start, rows)),
            Arc::new(customer.finish()),
            Arc::new(rule.finish()),
            Arc::new(probability.finish()),
        ];
        Ok(RecordBatch::try_new(links_schema(), columns)?)
    }))
}

/// One row per link kept: the two records, the rule and the shared value
/// (made batch by batch as the writer asks, like the links).
pub fn edges<'a>(
    records: &'a Records,
    graph: &'a Graph,
    clusters: &'a Clusters,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + 'a> {
    Ok(graph.edges.read(READ)?.map(move |chunk| {
        let chunk = chunk?;
        let mut rows = EdgeRows::default();
        for edge in &chunk {
            let customer = &clusters.names[clusters.cluster_of[edge.a as usize] as usize];
            let end = |r: u32| {
                let (source, row) = records.locate(r);
                (source.name.as_str(), source.record_id(row))
            };
            let value = if (edge.rule as usize) < records.kinds.len() {
                let (source, row) = records.locate(edge.a);
                super::records::value(&source.identifiers[edge.rule as usize], row)
            } else {
                Some(graph.descriptions[edge.value as usize].as_str())
            };
            let rule = &graph.rules[edge.rule as usize];
            rows.push(
                customer,
                (end(edge.a), end(edge.b)),
                rule,
                value,
                f64::from(edge.probability),
            );
        }
        rows.finish()
    }))
}

/// The rows of `identity_edges`, built a link at a time.
#[derive(Default)]
pub struct EdgeRows {
    customer: StringBuilder,
    source_a: StringBuilder,
    id_a: StringBuilder,
    source_b: StringBuilder,
    id_b: StringBuilder,
    rule: StringBuilder,
    value: StringBuilder,
    probability: Float64Builder,
}

impl EdgeRows {
    /// A link of `customer` between two records (each its source and
    /// record id), by `rule`, on `value`.
    pub fn push(
        &mut self,
        customer: &str,
        ((source_a, id_a), (source_b, id_b)): ((&str, &str), (&str, &str)),
        rule: &str,
        value: Option<&str>,
        probability: f64,
    ) {
        self.customer.append_value(customer);
        self.source_a.append_value(source_a);
        self.id_a.append_value(id_a);
        self.source_b.append_value(source_b);
        self.id_b.append_value(id_b);
        self.rule.append_value(rule);
        self.value.append_option(value);
        self.probability.append_value(probability);
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.customer.finish()),
            Arc::new(self.source_a.finish()),
            Arc::new(self.id_a.finish()),
            Arc::new(self.source_b.finish()),
            Arc::new(self.id_b.finish()),
            Arc::new(self.rule.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.probability.finish()),
        ];
        Ok(RecordBatch::try_new(edges_schema(), columns)?)
    }
}

/// This run's id changes as merge-log rows.
pub fn merges(changes: &[IdChange], at: chrono::DateTime<chrono::Utc>) -> Result<RecordBatch> {
    let old: StringArray = changes.iter().map(|c| Some(format_id(c.old))).collect();
    let new: StringArray = changes.iter().map(|c| Some(format_id(c.new))).collect();
    let change: StringArray = changes
        .iter()
        .map(|c| {
            Some(match c.change {
                Change::Merged => "merged",
                Change::Split => "split",
            })
        })
        .collect();
    let when = TimestampMicrosecondArray::from(vec![at.timestamp_micros(); changes.len()]).with_timezone("UTC");
    let reason: StringArray = changes
        .iter()
        .map(|c| {
            Some(match c.change {
                Change::Merged if c.rules.is_empty() => "clusters joined".to_string(),
                Change::Merged => format!("clusters joined by {} links", c.rules.join(", ")),
                Change::Split => "records no longer linked to the old customer".to_string(),
            })
        })
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(old),
        Arc::new(new),
        Arc::new(change),
        Arc::new(when),
        Arc::new(reason),
    ];
    Ok(RecordBatch::try_new(merges_schema(), columns)?)
}

/// Writes the links, edges and merges of `run` (the golden records are
/// written before, as they are built): the links on a thread of their own
/// beside the others when the runtime has several (encoding tens of
/// millions of links and edges is most of a large run's writing).
pub async fn write_all(
    ctx: &SessionContext,
    output: &Url,
    run: &str,
    records: &Records,
    graph: &Graph,
    clusters: &Clusters,
    (merges, strongest): (Vec<RecordBatch>, Strongest),
) -> Result<()> {
    let rest = async {
        write(
            ctx,
            output,
            run,
            EDGES,
            edges_schema(),
            edges(records, graph, clusters)?,
        )
        .await?;
        write(ctx, output, run, MERGES, merges_schema(), merges.into_iter().map(Ok)).await
    };
    let links = || async {
        write(
            ctx,
            output,
            run,
            LINKS,
            links_schema(),
            links(records, graph, clusters, strongest)?,
        )
        .await
    };
    let handle = tokio::runtime::Handle::current();
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        rest.await?;
        return links().await;
    }
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let beside = scope.spawn(|| handle.block_on(links()));
            let here = handle.block_on(rest);
            let beside = beside.join().expect("the links writer does not panic");
            here.and(beside)
        })
    })
}

/// Writes one identity table's file of `run` (staged, then renamed or
/// uploaded whole); sessions read it once the run is committed.
pub async fn write(
    ctx: &SessionContext,
    output: &Url,
    run: &str,
    name: &str,
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<()> {
    write_stream(ctx, output, run, name, schema, futures::stream::iter(batches)).await
}

/// Like `write`, the batches coming as a stream.
pub async fn write_stream(
    ctx: &SessionContext,
    output: &Url,
    run: &str,
    name: &str,
    schema: SchemaRef,
    batches: impl futures::Stream<Item = Result<RecordBatch>> + Unpin,
) -> Result<()> {
    let properties = HIDDEN.contains(&name).then(super::state::writer_properties);
    write_stream_with(ctx, (output, run, name), schema, batches, properties).await
}

/// Like `write_stream`, the Parquet written with `properties` (if given).
pub async fn write_stream_with(
    ctx: &SessionContext,
    (output, run, name): (&Url, &str, &str),
    schema: SchemaRef,
    batches: impl futures::Stream<Item = Result<RecordBatch>> + Unpin,
    properties: Option<WriterProperties>,
) -> Result<()> {
    let url = folder(output, name)
        .join(&file_name(run))
        .expect("a file name joins a folder URL");
    let spec = OutputSpec {
        format: OutputFormat::Parquet,
        destination: Destination::Url(url),
        max_rows: None,
    };
    let mut writer = ResultWriter::open(&spec, ctx).await?;
    if let Some(properties) = properties {
        writer = writer.with_parquet_properties(properties);
    }
    writer.write_batches(schema, batches).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removing what runs older than the committed one left keeps the
    /// committed run's chain and every file of a later run (one being
    /// written); a staged file's run is its name's.
    #[tokio::test]
    async fn old_runs_go_and_a_later_run_being_written_stays() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SessionContext::new();
        let store = StateStore::at(Url::from_directory_path(dir.path()).unwrap(), &ctx.runtime_env()).unwrap();
        let at = |s: i64| run_id(chrono::DateTime::from_timestamp(s, 0).unwrap());
        let (older, base, current, later) = (at(1), at(2), at(3), at(4));
        for run in [&older, &base, &current, &later] {
            store
                .put(&format!("identity/{LINKS}/{}", file_name(run)), "x".into())
                .await
                .unwrap();
        }
        store
            .put(&format!("identity/{CUSTOMERS}/{}", file_name(&later)), "x".into())
            .await
            .unwrap();
        store
            .put(&format!("identity/{MERGES}/{}", file_name(&base)), "x".into())
            .await
            .unwrap();
        write_chain(&store, &current, &[base.clone(), current.clone()])
            .await
            .unwrap();
        write_chain(&store, &later, &[base.clone(), current.clone(), later.clone()])
            .await
            .unwrap();

        remove_old(&store, std::slice::from_ref(&current), Some(&current)).await;
        let listed = |folder: String| {
            let store = &store;
            async move {
                let mut files = store.list(&folder).await.unwrap();
                files.sort();
                files
            }
        };
        let links: Vec<String> = [&base, &current, &later].iter().map(|r| file_name(r)).collect();
        assert_eq!(listed(format!("identity/{LINKS}/")).await, links);
        assert_eq!(listed(format!("identity/{CUSTOMERS}/")).await, [file_name(&later)]);
        assert!(
            listed(format!("identity/{MERGES}/")).await.is_empty(),
            "merges are not chained"
        );
        assert_eq!(listed(CHAINS.to_string()).await, [current.clone(), later.clone()]);
        assert_eq!(
            run_of("run-20261207T155711.553529Z.parquet#2"),
            Some("20261207T155711.553529Z")
        );
        assert_eq!(run_of("data.parquet"), None);
    }
}
