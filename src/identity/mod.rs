//! Identity resolution: the records of every `[identity]` source are linked
//! on shared normalized identifiers (with guards), clustered, given stable
//! customer ids and a golden record, and written as the identity tables.
//!
//! A run first lists what it would read (`inputs`): when nothing changed
//! since the committed run, that run stands. The order of a run: `records`
//! (read and normalize, via DataFusion; records alike held as one class,
//! `distinct`; record ids and identifier values in mapped files, `texts`) →
//! `graph` (links, guards, union-find; the links kept in a temporary file
//! by `edges`) → `probabilistic` (attribute links) →
//! `ids` (stable ids against the previous run) → `golden` (survivorship) →
//! `outputs` (Parquet, committed as one run). `tables` are the identity
//! tables as sessions read them; `explain` and `evaluate` read them back,
//! and `diagnose` scores the candidate pairs again against a truth table.
//! The section `[identity]` itself is the project's (`project::identity`).

mod budget;
mod customer_chain;
pub mod diagnose;
mod distinct;
pub mod edges;
pub mod evaluate;
pub mod explain;
mod given_names;
pub mod golden;
pub mod graph;
pub mod grow;
mod grown_golden;
pub mod ids;
mod incremental;
pub mod inputs;
mod joined;
mod kept_profiles;
mod key_filter;
mod moved;
pub mod outputs;
pub mod probabilistic;
pub mod read_back;
mod record_ids;
pub mod records;
pub mod regroup;
mod relink;
mod remap;
pub mod state;
mod tables;
mod temp_file;
pub mod texts;
pub mod winners;
mod words;

use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use url::Url;

use graph::GuardCounts;
use ids::{Change, Previous, parse_id};
pub use tables::tables;

use crate::error::{Error, Result};
use crate::project::TableSpec;
use crate::project::identity::{IdentityConfig, LinkType};
use crate::storage::StateStore;
use crate::util::memory;

/// What a run did, for the summary `oneview resolve` prints.
#[derive(Debug, Clone)]
pub struct Summary {
    pub records: Vec<(String, u64)>,
    pub link_type: LinkType,
    pub links: Vec<(String, u64)>,
    pub customers: u64,
    pub multi_record_customers: u64,
    pub largest: u64,
    pub guards: GuardCounts,
    pub new_ids: u64,
    pub merged: u64,
    pub split: u64,
    /// Customers new or changed since the last run, and the last run's
    /// customers none of whose records remain.
    pub touched: u64,
    pub gone: u64,
    pub probabilistic: Option<probabilistic::Outcome>,
    /// Per source, its files and what changed in them since the last run.
    pub read: Vec<inputs::SourceRead>,
    /// Why the run ran rather than let the committed run stand.
    pub why: String,
    /// The committed run this one grew by the new files' records alone
    /// (`None`: every record was read and resolved).
    pub grew: Option<String>,
    /// The most the run held at once as counted against `--memory-limit`,
    /// in bytes, and the process's peak resident memory (where the system
    /// tells it), in bytes.
    pub memory: (usize, Option<u64>),
    /// Bytes of words a record spilled to temporary files past the limit.
    pub spilled: usize,
    pub elapsed: Duration,
}

/// What `resolve` did: a run, or nothing, because nothing it would read
/// changed since the committed run.
#[derive(Debug, Clone)]
pub enum Resolved {
    Ran(Box<Summary>),
    UpToDate {
        /// The committed run, which stands.
        run: String,
        read: Vec<inputs::SourceRead>,
        elapsed: Duration,
    },
}

/// How `resolve` runs: `train` retrains the probabilistic model even when a
/// saved one exists; `full` resolves even when nothing changed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub train: bool,
    pub full: bool,
}

/// Where a resolution finds its model and keeps its state and outputs: the
/// project's folders, resolved when the project was loaded.
#[derive(Debug, Clone, Copy)]
pub struct Locations<'a> {
    /// The project directory, which a relative model file is below.
    pub dir: &'a std::path::Path,
    /// The configuration file, which errors about a source's columns name.
    pub config_file: &'a std::path::Path,
    /// The state folder: the lock and the highest id ever given.
    pub state: &'a Url,
    /// The output folder: the identity tables.
    pub output: &'a Url,
    /// The project's tables, whose files a run lists to tell what changed.
    pub tables: &'a [TableSpec],
}

/// The project's `[identity]`, or the error saying how to add one.
pub fn require(config: Option<&IdentityConfig>) -> Result<&IdentityConfig> {
    config.ok_or_else(|| {
        Error::Usage(
            "the project has no [identity] section; add [identity.sources.NAME] with a table, its record_id and identifier columns"
                .into(),
        )
    })
}

/// Resolves the project's identity sources and writes the identity tables,
/// unless nothing they read changed since the committed run (`Options`).
/// `step` is told what the run is doing (for a progress display).
pub async fn resolve(
    ctx: &SessionContext,
    config: &IdentityConfig,
    at: Locations<'_>,
    options: Options,
    step: &dyn Fn(&str),
) -> Result<Resolved> {
    let started = Instant::now();
    let state = StateStore::at(at.state.clone(), &ctx.runtime_env())?;
    // Each step is shown on the terminal and logged with the time so far
    // and the memory held (-v).
    let step = |what: &str| {
        if log::log_enabled!(log::Level::Info) {
            let memory = memory::resident_megabytes().map_or(String::new(), |mb| format!(", {mb} MB resident"));
            let counted = ctx.runtime_env().memory_pool.reserved() >> 20;
            log::info!(
                "{what} (at {:.1} s{memory}, {counted} MB counted)",
                started.elapsed().as_secs_f64()
            );
        }
        step(what);
    };
    let resolved = state
        .with_lock("identity", "identity resolution", || {
            resolve_if_changed(ctx, config, at, &state, options, &step)
        })
        .await?;
    Ok(match resolved {
        Resolved::Ran(summary) => Resolved::Ran(Box::new(Summary {
            elapsed: started.elapsed(),
            ..*summary
        })),
        Resolved::UpToDate { run, read, .. } => Resolved::UpToDate {
            run,
            read,
            elapsed: started.elapsed(),
        },
    })
}

/// Under the lock: lists what a run would read; runs unless that, the
/// settings and the model are what the committed run had; keeps what this
/// run read once it is committed.
async fn resolve_if_changed(
    ctx: &SessionContext,
    config: &IdentityConfig,
    at: Locations<'_>,
    state: &StateStore,
    options: Options,
    step: &dyn Fn(&str),
) -> Result<Resolved> {
    step("listing the sources' files");
    let year = chrono::Datelike::year(&chrono::Utc::now());
    let model = config
        .probabilistic
        .as_ref()
        .map(|p| probabilistic::model_path(at.dir, p));
    let settings = || inputs::settings_digest(config, at.tables, model.as_deref(), year);
    let now = inputs::list(ctx, config, at.tables, settings()).await?;
    let last = inputs::last(state).await?;
    let current = outputs::current_run(&StateStore::at(at.output.clone(), &ctx.runtime_env())?).await?;
    let read = inputs::compare(last.as_ref(), &now);
    let why = match (options.train, options.full) {
        (true, _) => Some("--train"),
        (_, true) => Some("--full"),
        _ => inputs::why_run(last.as_ref(), &now, current.as_deref()),
    };
    let Some(why) = why else {
        return Ok(Resolved::UpToDate {
            run: current.unwrap_or_default(),
            read,
            elapsed: Duration::ZERO,
        });
    };
    // What the last commit left to remove goes while this run works.
    let cleanup = match &current {
        Some(current) => {
            let store = StateStore::at(at.output.clone(), &ctx.runtime_env())?;
            let current = current.clone();
            Some(tokio::spawn(async move {
                outputs::remove_old(&store, std::slice::from_ref(&current), Some(&current)).await
            }))
        }
        None => None,
    };
    let resolved = run_now(
        ctx,
        config,
        at,
        state,
        (options, why, settings),
        (last, now, current, read),
        step,
    )
    .await;
    if let Some(cleanup) = cleanup {
        let _ = cleanup.await;
    }
    resolved
}

/// Resolves (`why`): grows the committed run when only new files came and
/// it can, or runs in full; keeps what the run read once it is committed.
async fn run_now(
    ctx: &SessionContext,
    config: &IdentityConfig,
    at: Locations<'_>,
    state: &StateStore,
    (options, why, settings): (Options, &str, impl Fn() -> String),
    (last, now, current, read): (
        Option<inputs::Inputs>,
        inputs::Inputs,
        Option<String>,
        Vec<inputs::SourceRead>,
    ),
    step: &dyn Fn(&str),
) -> Result<Resolved> {
    let mut why = why.to_string();
    if why == inputs::FILES_CHANGED
        && let (Some(last), Some(current)) = (&last, &current)
    {
        match grow(ctx, config, at, state, (last, &now), current, step).await? {
            Ok(summary) => return Ok(Resolved::Ran(Box::new(Summary { read, ..*summary }))),
            Err(reason) => why = format!("{reason}; every record is resolved again"),
        }
    }
    log::info!("resolving: {why}");
    let (summary, run_id) = run(ctx, config, at, state, options.train, step).await?;
    // The model's part of the settings as this run left it (it may have
    // trained and saved one).
    // A model trained on nothing is not saved: the next run, which reads
    // the file, did not link this one (it must not grow it).
    let unsaved = summary.probabilistic.as_ref().is_some_and(|p| p.unsaved);
    let kept = inputs::Inputs {
        run: run_id,
        settings: if unsaved {
            format!("{} (a model not saved)", settings())
        } else {
            settings()
        },
        records: summary.records.iter().cloned().collect(),
        refused: !summary.guards.max_cluster_size.is_empty()
            || summary.probabilistic.as_ref().is_some_and(|p| p.refused_size > 0),
        ..now
    };
    // The run is committed: a record that cannot be kept only means the
    // next run reads everything again.
    if let Err(e) = inputs::keep(state, &kept).await {
        log::warn!("the run is committed, but what it read could not be recorded ({e}); the next run reads everything");
    }
    Ok(Resolved::Ran(Box::new(Summary { read, why, ..summary })))
}

/// Grows the committed run `current` by the records of the sources' new
/// files (`incremental`) and commits it, unless the result could differ
/// from a full run's: then the answer is why (`Err`), and nothing is written
/// that a later run would read.
async fn grow(
    ctx: &SessionContext,
    config: &IdentityConfig,
    at: Locations<'_>,
    state: &StateStore,
    (last, now): (&inputs::Inputs, &inputs::Inputs),
    current: &str,
    step: &dyn Fn(&str),
) -> Result<std::result::Result<Box<Summary>, String>> {
    let plan = match incremental::plan(config, last, now) {
        Ok(plan) => plan,
        Err(why) => return Ok(Err(why)),
    };
    let mut budget = budget::Budget::new(ctx);
    let (highest, merges) = highest_given(ctx, state).await?;
    let place = incremental::Place {
        output: at.output,
        dir: at.dir,
        config_file: at.config_file,
        tables: at.tables,
        current,
        highest,
        merges,
    };
    let grown = match incremental::grow_run(ctx, config, &plan, place, &mut budget, step).await {
        Ok(incremental::Growing::Grown(grown)) => grown,
        Ok(incremental::Growing::Declined(why)) => return Ok(Err(why)),
        Err(Error::Interrupted) => return Err(Error::Interrupted),
        // Nothing of it is committed: a full run can still give the result.
        Err(e) => {
            log::warn!("growing the last run failed: {e}");
            return Ok(Err(format!("growing the last run failed ({e})")));
        }
    };
    state.put(HIGHEST_ID, grown.highest.to_string().into()).await?;
    outputs::commit(&StateStore::at(at.output.clone(), &ctx.runtime_env())?, &grown.run).await?;
    step("written");
    let mut records = last.records.clone();
    for (source, n) in &grown.records {
        *records.entry(source.clone()).or_default() += n;
    }
    let kept = inputs::Inputs {
        run: grown.run.clone(),
        records: records.clone(),
        refused: false,
        ..now.clone()
    };
    if let Err(e) = inputs::keep(state, &kept).await {
        log::warn!("the run is committed, but what it read could not be recorded ({e}); the next run reads everything");
    }
    Ok(Ok(Box::new(Summary {
        records: records.into_iter().collect(),
        link_type: config.link_type(),
        links: grown.links,
        customers: grown.customers,
        multi_record_customers: grown.multi_record_customers,
        largest: grown.largest,
        guards: GuardCounts::default(),
        new_ids: grown.new_ids,
        merged: grown.merged,
        split: grown.split,
        touched: grown.touched,
        gone: 0,
        probabilistic: None,
        read: Vec::new(),
        why: format!("only new files, read and linked into run {}", grown.grew),
        grew: Some(grown.grew),
        memory: (budget.peak(), memory::peak_resident()),
        spilled: budget.spilled(),
        elapsed: Duration::ZERO,
    })))
}

/// One resolution, under the lock: link, give ids, build the golden
/// records, write the run and commit it. Returns its summary and run id.
async fn run(
    ctx: &SessionContext,
    config: &IdentityConfig,
    at: Locations<'_>,
    state: &StateStore,
    train: bool,
    step: &dyn Fn(&str),
) -> Result<(Summary, String)> {
    // What the run holds, counted against --memory-limit.
    let mut budget = budget::Budget::new(ctx);
    let (mut records, mut graph, linked) = link(ctx, config, at, train, &mut budget, step).await?;
    let (probabilistic, profiles) = linked.unzip();
    step("assigning customer ids");
    let (clusters, highest, old_merges) = give_ids(ctx, &records, &mut graph, state, &mut budget).await?;
    let summary = summarize(config.link_type(), &records, &graph, &clusters, probabilistic);
    let now = chrono::Utc::now();
    let run = outputs::run_id(now);

    step("building golden records");
    write_golden(ctx, at.output, &run, &records, &graph, &clusters, config, &mut budget).await?;
    if let Some(kept) = profiles.flatten() {
        write_profiles(ctx, at.output, &run, &records, &clusters, &kept).await?;
    }
    budget.set(PROFILES_KEPT, 0)?;
    if grow::cannot_grow(config).is_none() {
        let ids = record_ids::batches(&records);
        outputs::write(ctx, at.output, &run, record_ids::IDS, record_ids::schema(), ids).await?;
    }

    step("writing the identity tables");
    // Writing needs record ids and identifier values only.
    records.release_attributes();
    budget.set(records::ATTRIBUTE_VALUES, 0)?;
    for source in &records.sources {
        budget.set(&records::records_part(&source.name), source.memory_size())?;
    }
    // Each record's strongest link, found while the links are written.
    let (part, n) = ("the links' strongest rules", records.len as usize);
    let rules = budget.filled_words(part, 0, (n, outputs::NO_RULE), "each record's strongest rule")?;
    let probabilities = budget.filled_words(part, rules.memory_size(), (n, 0), "each record's strongest link")?;
    let strongest = outputs::Strongest { rules, probabilities };
    let mut merges = old_merges;
    merges.push(outputs::merges(&clusters.changes, now)?);
    outputs::write_all(ctx, at.output, &run, &records, &graph, &clusters, (merges, strongest)).await?;
    // The highest id before the commit: a crash between the two can only
    // skip ids, never hand one out twice.
    state.put(HIGHEST_ID, highest.to_string().into()).await?;
    outputs::commit(&StateStore::at(at.output.clone(), &ctx.runtime_env())?, &run).await?;
    step("written");
    if log::log_enabled!(log::Level::Info) {
        let parts = budget
            .at_peak()
            .iter()
            .map(|(part, bytes)| format!("{part} {}", crate::util::human(*bytes, crate::util::Round::Up)))
            .collect::<Vec<_>>();
        log::info!("at the peak of counted memory: {}", parts.join(", "));
    }
    let memory = (budget.peak(), memory::peak_resident());
    Ok((
        Summary {
            memory,
            spilled: budget.spilled(),
            ..summary
        },
        run,
    ))
}

/// Numbers the clusters and gives them customer ids against the previous
/// run's; returns them, the highest id ever given and the merge log so far.
async fn give_ids(
    ctx: &SessionContext,
    records: &records::Records,
    graph: &mut graph::Graph,
    state: &StateStore,
    budget: &mut budget::Budget,
) -> Result<(ids::Clusters, u64, Vec<RecordBatch>)> {
    let (previous, old_merges) = previous(ctx, records, state, budget).await?;
    budget.set("the previous run's ids", previous.memory_size())?;
    let n = records.len as usize;
    let mut cluster_of = budget.filled_words("the clusters", 0, (n, 0), "each record's cluster")?;
    let numbered = ids::number_clusters(graph, &mut cluster_of);
    // The union-find is done with: freed before the ids are placed.
    graph.release_clusters();
    budget.set("the links", graph.memory_size())?;
    let placing = "placing the previous ids";
    let members = match previous.id_of.is_empty() {
        true => words::Words::held(Vec::new()),
        false => budget.filled_words(placing, 0, (n, 0), "the records in cluster order")?,
    };
    budget.set(placing, members.memory_size() + previous.places_size(numbered))?;
    let clusters = ids::assign(graph, (cluster_of, numbered), &previous, members)?;
    budget.set(placing, 0)?;
    budget.set("the clusters", clusters.memory_size())?;
    let highest = clusters.ids.iter().copied().max().unwrap_or(0).max(previous.highest);
    // What the ids were given from is not needed again.
    drop(previous);
    budget.set("the previous run's ids", 0)?;
    Ok((clusters, highest, old_merges))
}

/// Writes the golden records of `run`, built wave by wave as the writer
/// takes them, each wave counted, and beside them the identity state
/// (`state`) from the same pass, where a later run could grow this one: on
/// a thread of its own where the runtime has several, a wave or two
/// behind; else held until the golden records are written.
#[allow(clippy::too_many_arguments)]
async fn write_golden(
    ctx: &SessionContext,
    output: &Url,
    run: &str,
    records: &records::Records,
    graph: &graph::Graph,
    clusters: &ids::Clusters,
    config: &IdentityConfig,
    budget: &mut budget::Budget,
) -> Result<()> {
    let keep_state = grow::cannot_grow(config).is_none();
    let what = "the records in cluster order";
    let members = budget.filled_words("the golden records", 0, (records.len as usize, 0), what)?;
    let golden = golden::build(records, graph, clusters, config, (keep_state, members));
    budget.set("the golden records", golden.memory_size())?;
    let schema = golden.schema();
    let wave = "a wave of golden records";
    let held = |bytes| {
        budget.set(wave, bytes)?;
        Ok(budget.room_for(wave).unwrap_or(usize::MAX))
    };
    let handle = tokio::runtime::Handle::current();
    if !keep_state {
        // No later run can grow this one: nothing of the state is kept.
        let waves = golden.batches(held, |_| Ok(()));
        outputs::write(ctx, output, run, outputs::CUSTOMERS, schema, waves).await?;
    } else if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        let mut kept = Vec::new();
        let waves = golden.batches(held, |batch| {
            kept.push(batch);
            Ok(())
        });
        outputs::write(ctx, output, run, outputs::CUSTOMERS, schema, waves).await?;
        let (values, winners): (Vec<_>, Vec<_>) = kept.into_iter().map(|k| (k.values, k.winners)).unzip();
        outputs::write(
            ctx,
            output,
            run,
            state::VALUES,
            state::schema(),
            values.into_iter().map(Ok),
        )
        .await?;
        outputs::write(
            ctx,
            output,
            run,
            winners::WINNERS,
            winners::schema(),
            winners.into_iter().map(Ok),
        )
        .await?;
    } else {
        let (send_values, values) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
        let (send_winners, winners) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
        let keep = move |kept: golden::Kept| {
            let stopped = |_| Error::Usage("the identity state's writer stopped".into());
            send_values.send(kept.values).map_err(stopped)?;
            send_winners.send(kept.winners).map_err(stopped)
        };
        let waves = golden.batches(held, keep);
        let (values, winners) = (values.into_iter().map(Ok), winners.into_iter().map(Ok));
        tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let beside = |name: &'static str, schema, batches| {
                    let handle = &handle;
                    scope.spawn(move || handle.block_on(outputs::write(ctx, output, run, name, schema, batches)))
                };
                let values = beside(state::VALUES, state::schema(), values);
                let winners = beside(winners::WINNERS, winners::schema(), winners);
                let here = handle.block_on(outputs::write(ctx, output, run, outputs::CUSTOMERS, schema, waves));
                let values = values.join().expect("the state writer does not panic");
                let winners = winners.join().expect("the winners writer does not panic");
                values.and(winners).and(here)
            })
        })?;
    }
    budget.set(wave, 0)?;
    budget.set("the golden records", 0)
}

/// The budget's part for the profiles kept until the customers are known.
const PROFILES_KEPT: &str = "the profiles kept for the identity state";

/// Writes the profiles the model compared and the weak links it refused,
/// with their customers, to the state of `run`.
async fn write_profiles(
    ctx: &SessionContext,
    output: &Url,
    run: &str,
    records: &records::Records,
    clusters: &ids::Clusters,
    kept: &probabilistic::index::Kept,
) -> Result<()> {
    let rows = kept_profiles::batches(kept, records, clusters);
    outputs::write(ctx, output, run, kept_profiles::PROFILES, kept_profiles::schema(), rows).await?;
    let refused = std::iter::once(kept_profiles::refused(kept, clusters));
    outputs::write(
        ctx,
        output,
        run,
        kept_profiles::REFUSED,
        kept_profiles::refused_schema(),
        refused,
    )
    .await
}

/// Reads the sources and links their records: on identifiers, then, with
/// `[identity.probabilistic]`, on attributes (and the profiles compared,
/// kept for the state).
async fn link(
    ctx: &SessionContext,
    config: &IdentityConfig,
    at: Locations<'_>,
    train: bool,
    budget: &mut budget::Budget,
    step: &dyn Fn(&str),
) -> Result<(
    records::Records,
    graph::Graph,
    Option<(probabilistic::Outcome, Option<probabilistic::index::Kept>)>,
)> {
    step("reading the sources");
    let records = records::read(ctx, config, at.config_file, budget).await?;
    budget.set_records(records.len);
    step("linking records");
    let mut graph = graph::link(&records, config, budget)?;
    let keep = grow::cannot_grow(config).is_none();
    let probabilistic = match &config.probabilistic {
        Some(p) => {
            step("scoring attribute matches");
            let (outcome, kept) = probabilistic::link(&records, &mut graph, config, p, at.dir, (train, keep), budget)?;
            budget.set(
                PROFILES_KEPT,
                kept.as_ref().map_or(0, probabilistic::index::Kept::memory_size),
            )?;
            Some((outcome, kept))
        }
        None => None,
    };
    graph.edges.finish()?;
    budget.set("the links", graph.memory_size())?;
    Ok((records, graph, probabilistic))
}

/// The previous run's links, matched to this run's records, and its merge log.
/// The highest customer id ever given, kept in the state location: ids of
/// customers whose records were all deleted are not handed out again.
const HIGHEST_ID: &str = "identity/highest_id";

async fn previous(
    ctx: &SessionContext,
    records: &records::Records,
    state: &StateStore,
    budget: &mut budget::Budget,
) -> Result<(Previous, Vec<RecordBatch>)> {
    let (highest, merges) = highest_given(ctx, state).await?;
    let mut previous = Previous::none(records.len);
    previous.highest = highest;
    // Batch by batch: 26M previous links need not be in memory at once.
    let mut links = ctx
        .sql(&format!(
            "SELECT source, record_id, customer_id FROM {}",
            outputs::LINKS
        ))
        .await?
        .execute_stream()
        .await?;
    while let Some(batch) = links.next().await {
        let batch = batch?;
        if previous.id_of.is_empty() && batch.num_rows() > 0 {
            let (part, what) = ("the previous run's ids", "each record's previous id");
            previous.id_of = budget.filled_words(part, 0, (records.len as usize, 0), what)?;
        }
        let [s, r, c] = [utf8(batch.column(0))?, utf8(batch.column(1))?, utf8(batch.column(2))?];
        let (s, r, c) = (s.as_string::<i32>(), r.as_string::<i32>(), c.as_string::<i32>());
        previous.add_links(records, (0..s.len()).map(|i| (s.value(i), r.value(i), c.value(i))))?;
    }
    Ok((previous, merges))
}

/// The highest customer id ever given (kept in the state location, and in
/// the merge log), and the merge log.
async fn highest_given(ctx: &SessionContext, state: &StateStore) -> Result<(u64, Vec<RecordBatch>)> {
    let merges = ctx
        .sql(&format!("SELECT * FROM {}", outputs::MERGES))
        .await?
        .collect()
        .await?;
    let mut logged = 0;
    for batch in &merges {
        for column in ["old_id", "new_id"] {
            let ids = utf8(batch.column_by_name(column).expect("the merge log has its schema"))?;
            let ids = ids.as_string::<i32>();
            for i in 0..ids.len() {
                logged = logged.max(parse_id(ids.value(i)).unwrap_or(0));
            }
        }
    }
    let stored = state
        .get(HIGHEST_ID)
        .await?
        .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Ok((logged.max(stored), merges))
}

/// A text column as Utf8, whichever string type the scan produced.
fn utf8(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(cast(array, &DataType::Utf8)?)
}

/// The run's summary; its `elapsed` is filled in once the run is committed.
fn summarize(
    link_type: LinkType,
    records: &records::Records,
    graph: &graph::Graph,
    clusters: &ids::Clusters,
    probabilistic: Option<probabilistic::Outcome>,
) -> Summary {
    let sizes = clusters.sizes();
    let counts = || sizes.iter().copied();
    let links = (0..graph.rules.len()).map(|rule| graph.edges.made_by(rule));
    Summary {
        link_type,
        records: records.sources.iter().map(|s| (s.name.clone(), s.len as u64)).collect(),
        links: graph.rules.iter().cloned().zip(links).filter(|(_, n)| *n > 0).collect(),
        customers: clusters.ids.len() as u64,
        multi_record_customers: counts().filter(|n| *n > 1).count() as u64,
        largest: counts().max().unwrap_or(0) as u64,
        guards: graph.guards.clone(),
        new_ids: clusters.new_ids,
        merged: clusters.changes.iter().filter(|c| c.change == Change::Merged).count() as u64,
        split: clusters.changes.iter().filter(|c| c.change == Change::Split).count() as u64,
        touched: clusters.ids.len() as u64 - clusters.unchanged,
        gone: clusters.gone,
        probabilistic,
        read: Vec::new(),
        why: String::new(),
        grew: None,
        memory: (0, None),
        spilled: 0,
        elapsed: Duration::ZERO,
    }
}
