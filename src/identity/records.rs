//! Reads every source's records through DataFusion: the record id, each
//! identifier normalized by its kind (emails and phones by the udfs crate),
//! the attributes as given, sorted by record id so that record numbers, and
//! everything derived from them, are the same on every run. Each text
//! column is reduced to the source's distinct values as the batches arrive,
//! and each record to its class of records alike (`SourceTexts`,
//! `distinct`); the values are then interned over the sources, column by
//! column: each distinct value is held once, in value order, and a class
//! holds its value's rank. Record ids and update times go to temporary
//! files as they are read, and are put in record-id order from there; the
//! identifier values are kept in such files too (`texts`). What a source
//! holds as it is read is counted against the memory limit batch by batch.

use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMicrosecondType};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::disk_manager::DiskManager;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use datafusion::common::HashMap;

use super::budget::Budget;
use super::distinct::{Classes, Distinct, MISSING, TooMuchText};
use super::texts::{Texts, TextsBuilder, Times, TimesBuilder};
use super::words::{Words, WordsBuilder};

/// The most records a run can resolve: a record number is 31 bits (the
/// union-find keeps the top bit for its roots).
pub const MAX_RECORDS: u32 = (1 << 31) - 1;

/// The budget's part for the attributes' distinct values.
pub const ATTRIBUTE_VALUES: &str = "the attribute values";
use crate::error::{Error, Result};
use crate::project::identity::{ATTRIBUTES, DEFAULT_SOURCE_PRIORITY, IdentityConfig, SourceConfig};

/// One source's records, in record-id order. Record `i` of the source is
/// record `offset + i` of the run.
pub struct SourceRecords {
    pub name: String,
    pub priority: u32,
    pub offset: u32,
    /// Records in the source.
    pub len: usize,
    /// The record ids, sorted (`record_id`, `record_ids`), in a mapped
    /// file (`texts`); also the values of an identifier that is the record
    /// id (an order's `order_id`) while it is interned.
    record_id: Arc<Texts>,
    /// Per record, its class (`distinct`): records of one class hold the
    /// same values in every column below but the one that is the record id.
    /// Spilled to a temporary file where `--memory-limit` has no room.
    class_of: Arc<Words>,
    /// Per record, its update time (`i64::MIN`: none), when the source has
    /// `updated_at`, in a mapped file (`texts`): records of one class may
    /// end up in different customers, so a class's latest time cannot stand
    /// for its records'.
    updated: Option<Times>,
    /// Per identifier kind of the run (`Records::kinds`): normalized values,
    /// ranked among the kind's distinct values (`Records::values`), which
    /// are in value order, so that ranks compare as the values do.
    pub identifiers: Vec<Option<Interned>>,
    /// Per attribute of `ATTRIBUTES`: values as given (trimmed).
    pub attributes: Vec<Option<Interned>>,
    /// Per attribute, normalized for comparison (with a probabilistic model
    /// only): names and places by `normalize_name` ("Neal, Kelly" becomes
    /// "kelly neal"), addresses and postcodes by their functions.
    pub normalized: Vec<Option<Interned>>,
}

pub struct Records {
    /// Identifier kinds in linking order.
    pub kinds: Vec<String>,
    pub sources: Vec<SourceRecords>,
    pub len: u32,
    /// Per identifier kind, its distinct normalized values, sorted (what
    /// its sources' `Interned` columns share), in a mapped file (`texts`).
    pub values: Vec<Arc<Texts>>,
    /// Bytes held by the attributes' distinct values (`Interned::values`).
    pub attribute_values: usize,
}

/// A text column held as each class's (or, for a record id, each
/// record's) rank among the column's distinct values, which every source's
/// column of one attribute shares: a name on twenty orders is held once.
#[derive(Clone)]
pub struct Interned {
    /// Per class (per record where `rows` is `None`), its value's rank.
    pub ranks: UInt32Array,
    pub values: Arc<Texts>,
    /// Per record, its class (the source's `class_of`).
    pub rows: Option<Arc<Words>>,
}

impl Interned {
    /// The rank of a record's value among the distinct values.
    pub fn rank(&self, row: usize) -> Option<u32> {
        let at = self.rows.as_ref().map_or(row, |classes| classes[row] as usize);
        self.ranks.is_valid(at).then(|| self.ranks.value(at))
    }

    /// How many records have a value.
    pub fn present(&self) -> usize {
        match &self.rows {
            None => self.ranks.len() - self.ranks.null_count(),
            Some(classes) if self.ranks.null_count() == 0 => classes.len(),
            Some(classes) => classes.iter().filter(|&&c| self.ranks.is_valid(c as usize)).count(),
        }
    }

    pub fn get(&self, row: usize) -> Option<&str> {
        self.rank(row).map(|rank| self.values.value(rank as usize))
    }
}

impl SourceRecords {
    /// Bytes held by the source's columns, for the memory budget.
    pub fn memory_size(&self) -> usize {
        let columns = self
            .identifiers
            .iter()
            .chain(&self.attributes)
            .chain(&self.normalized)
            .flatten()
            .map(|column| column.ranks.get_array_memory_size());
        let own = self.record_id.memory_size();
        let classes = self.class_of.memory_size();
        let updated = self.updated.as_ref().map_or(0, Times::memory_size);
        own + columns.sum::<usize>() + classes + updated
    }

    /// The record's update time (`i64::MIN`: none).
    pub fn updated(&self, row: usize) -> i64 {
        self.updated.as_ref().map_or(i64::MIN, |times| times.get(row))
    }

    /// The id of the record at `row`.
    pub fn record_id(&self, row: usize) -> &str {
        self.record_id.value(row)
    }

    /// The ids of rows `start..start + rows`.
    pub fn record_ids(&self, start: usize, rows: usize) -> StringArray {
        self.record_id.slice(start, rows)
    }

    /// The row of record id `id`, if the source has it (ids are sorted).
    pub fn row_of(&self, id: &str) -> Option<usize> {
        let (mut low, mut high) = (0, self.len);
        while low < high {
            let mid = (low + high) / 2;
            match self.record_id(mid).cmp(id) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// A record's given name for comparison: its first name, else the first
    /// word of its full name that is not a title ("Mr John Neal").
    pub fn first_name(&self, row: usize) -> Option<&str> {
        const TITLES: &[&str] = &["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir"];
        const FIRST: usize = attribute_index("first_name");
        const FULL: usize = attribute_index("full_name");
        value(&self.normalized[FIRST], row).or_else(|| {
            value(&self.normalized[FULL], row)?
                .split(' ')
                .find(|w| !TITLES.contains(w))
        })
    }
}

/// The position of an attribute in `ATTRIBUTES` (a const fn, so that hot
/// paths take it as a constant).
pub const fn attribute_index(name: &str) -> usize {
    let mut i = 0;
    while i < ATTRIBUTES.len() {
        let (a, b) = (ATTRIBUTES[i].as_bytes(), name.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not an attribute oneview knows")
}

impl Records {
    /// Frees what only matching and golden records read (attributes, their
    /// normalized forms, update times) before the identity tables are
    /// written, where the peak of a resolution comes.
    pub fn release_attributes(&mut self) {
        for source in &mut self.sources {
            for column in source.attributes.iter_mut().chain(source.normalized.iter_mut()) {
                *column = None;
            }
            source.updated = None;
        }
        self.attribute_values = 0;
    }

    /// The source holding record `r` and the row within it.
    pub fn locate(&self, r: u32) -> (&SourceRecords, usize) {
        let i = self.source_of(r);
        let source = &self.sources[i];
        (source, (r - source.offset) as usize)
    }

    /// The index in `sources` of the source holding record `r`.
    pub fn source_of(&self, r: u32) -> usize {
        self.sources.partition_point(|s| s.offset <= r) - 1
    }

    pub fn kind_index(&self, kind: &str) -> Option<usize> {
        self.kinds.iter().position(|k| k == kind)
    }
}

/// Interns one column's values over the sources (`columns`: per source,
/// its distinct values, and whether they are already in order, as a
/// source's record ids are): the distinct values of all sources, sorted,
/// into `out`, and per source each value's rank among them. Each source's
/// values are put in order and the sources merged, so that beside its
/// result it holds two words a value (a source's order and its ranks; four
/// more a value of the source being put in order, `interning_size`), not a
/// hash table of every value (which for 10M order ids was 0.6 GB at 1M
/// people), and none of their text.
fn intern(columns: &[Option<(&Texts, bool)>], mut out: TextsBuilder) -> Result<(Texts, Vec<Option<Vec<u32>>>)> {
    // Each source's values in value order (positions), unless they are.
    let orders: Vec<Option<Vec<u32>>> = columns
        .iter()
        .map(|column| match column {
            Some((values, false)) => Some(values.order()),
            _ => None,
        })
        .collect();
    let at = |s: usize, head: usize| orders[s].as_ref().map_or(head, |order| order[head] as usize);
    let mut ranks: Vec<Option<Vec<u32>>> = columns
        .iter()
        .map(|column| column.map(|(values, _)| vec![0; values.len()]))
        .collect();
    // Merge: at each step the least value at the sources' heads (sources
    // are few: a scan, not a heap), ranked anew unless it repeats the last.
    let mut heads = vec![0usize; columns.len()];
    let mut last: Option<&str> = None;
    let mut rank = 0u32;
    loop {
        let mut least: Option<(usize, &str)> = None;
        for (s, column) in columns.iter().enumerate() {
            let Some((values, _)) = column else {
                continue;
            };
            if heads[s] == values.len() {
                continue;
            }
            let value = values.value(at(s, heads[s]));
            if least.is_none_or(|(_, v)| value < v) {
                least = Some((s, value));
            }
        }
        let Some((s, value)) = least else {
            break;
        };
        if last != Some(value) {
            if last.is_some() {
                rank += 1;
            }
            out.append(value)?;
            last = Some(value);
        }
        let position = at(s, heads[s]);
        ranks[s].as_mut().expect("a source with values has ranks")[position] = rank;
        heads[s] += 1;
    }
    Ok((out.finish()?, ranks))
}

/// Bytes interning `columns` holds while it runs: per value its rank and,
/// unless its source's values are in order already, its place in their
/// order, with three words a value more while the largest such source is
/// put in order (`Texts::order`); and the distinct values it makes when
/// they are held rather than written to a file (`held`: at most all).
fn interning_size(columns: &[Option<Local>], held: bool) -> usize {
    let unsorted = || {
        columns
            .iter()
            .flatten()
            .filter(|c| c.keys.is_some())
            .map(|c| c.values.len())
    };
    let ranks: usize = columns.iter().flatten().map(|c| c.values.len()).sum();
    let words = ranks + unsorted().sum::<usize>() + 3 * unsorted().max().unwrap_or(0);
    let bytes: usize = match held {
        true => columns.iter().flatten().map(|c| c.values.bytes()).sum(),
        false => 0,
    };
    words * size_of::<u32>() + bytes
}

/// The budget's part for interning one column.
const INTERNING: &str = "interning a column's values";

/// Per source, its ranks over `values` as an interned column, per class
/// where `rows` gives the source's classes, else per record.
fn interned(
    values: &Arc<Texts>,
    ranks: Vec<Option<UInt32Array>>,
    rows: Vec<Option<Arc<Words>>>,
) -> Vec<Option<Interned>> {
    ranks
        .into_iter()
        .zip(rows)
        .map(|(ranks, rows)| {
            Some(Interned {
                ranks: ranks?,
                values: Arc::clone(values),
                rows,
            })
        })
        .collect()
}

/// Per source, its classes where its column (`columns`) holds a key per
/// class rather than a value per record.
fn class_maps(columns: &[Option<Local>], sources: &[SourceRecords]) -> Vec<Option<Arc<Words>>> {
    columns
        .iter()
        .zip(sources)
        .map(|(column, source)| column.as_ref()?.keys.as_ref().map(|_| Arc::clone(&source.class_of)))
        .collect()
}

/// Interns one column's values over the sources from what each source
/// read (`Local`: its distinct values and a key per class) into `out`: the
/// distinct values of all sources, sorted, and per source each class's (or
/// each record's, for record ids) rank.
fn intern_locals(columns: &[Option<Local>], out: TextsBuilder) -> Result<(Texts, Vec<Option<UInt32Array>>)> {
    let distinct: Vec<Option<(&Texts, bool)>> = columns
        .iter()
        .map(|c| c.as_ref().map(|c| (c.values.as_ref(), c.keys.is_none())))
        .collect();
    let (values, ranked) = intern(&distinct, out)?;
    let interned = columns
        .iter()
        .zip(ranked)
        .map(|(local, ranked)| {
            let (local, ranked) = (local.as_ref()?, ranked?);
            let Some(keys) = &local.keys else {
                // Record i holds value i: the ranks are the values' ranks.
                return Some(UInt32Array::from(ranked));
            };
            // A missing value's key is meaningless (and there may be no
            // values at all); its rank is masked by the nulls.
            let ranks: Vec<u32> = (0..keys.len())
                .map(|row| match keys.is_valid(row) {
                    true => ranked[keys.value(row) as usize],
                    false => 0,
                })
                .collect();
            Some(UInt32Array::new(ranks.into(), keys.nulls().cloned()))
        })
        .collect();
    Ok((values, interned))
}

/// The SQL that reads one source: one column per mapped key.
pub fn source_sql(name: &str, source: &SourceConfig, config: &IdentityConfig, kinds: &[String]) -> String {
    let text = |expr: &str| format!("nullif(trim(CAST((\n{expr}\n) AS VARCHAR)), '')");
    let mut columns = vec![format!("{} AS record_id", text(&source.record_id))];
    for (i, kind) in kinds.iter().enumerate() {
        let Some(expr) = source.identifiers.get(kind) else {
            continue;
        };
        if is_record_id(kind, source) {
            continue;
        }
        let value = text(expr);
        let normalized = match kind.as_str() {
            "email" => {
                let rules = if config.gmail_rules.unwrap_or(true) {
                    "gmail"
                } else {
                    "none"
                };
                format!("normalize_email({value}, '{rules}')")
            }
            "phone" => {
                let region = source
                    .phone_region
                    .clone()
                    .unwrap_or_else(|| format!("'{}'", config.default_region.as_deref().unwrap_or("US")));
                format!("normalize_phone({value}, (\n{region}\n))")
            }
            "handle" => format!("nullif(lower(ltrim({value}, '@')), '')"),
            _ => value,
        };
        columns.push(format!("{normalized} AS id_{i}"));
    }
    for (i, attribute) in ATTRIBUTES.iter().enumerate() {
        if let Some(expr) = source.attributes.get(*attribute) {
            let value = text(expr);
            columns.push(format!("{value} AS attr_{i}"));
            if config.compares_attributes() {
                columns.push(format!("{} AS norm_{i}", normalized(attribute, &value)));
            }
        }
    }
    if let Some(expr) = &source.updated_at {
        columns.push(format!("CAST((\n{expr}\n) AS TIMESTAMP) AS updated_at"));
    }
    let table = source.table(name).replace('"', "\"\"");
    format!("SELECT {} FROM \"{table}\"", columns.join(",\n"))
}

/// Whether identifier `kind` of a source is its record id: read by the same
/// expression and not normalized by kind (an order's `order_id`). The
/// record id column then serves as both rather than being read twice.
fn is_record_id(kind: &str, source: &SourceConfig) -> bool {
    !matches!(kind, "email" | "phone" | "handle")
        && source
            .identifiers
            .get(kind)
            .is_some_and(|expr| expr.trim() == source.record_id.trim())
}

/// The comparison form of an attribute's value.
fn normalized(attribute: &str, value: &str) -> String {
    match attribute {
        "full_name" => format!(
            "normalize_name(CASE WHEN strpos({value}, ',') > 0 \
             THEN split_part({value}, ',', 2) || ' ' || split_part({value}, ',', 1) ELSE {value} END)"
        ),
        "address" => format!("normalize_address({value})"),
        "postcode" => format!("normalize_postcode({value})"),
        "date_of_birth" => value.to_string(),
        _ => format!("normalize_name({value})"),
    }
}

/// Reads every source; a column or expression that does not plan is named
/// by its key. Sources are read side by side: normalizing a source's phones
/// is single-threaded work when its file is one row group.
pub async fn read(
    ctx: &SessionContext,
    config: &IdentityConfig,
    config_file: &std::path::Path,
    budget: &mut Budget,
) -> Result<Records> {
    let kinds = config.kinds();
    let disk = Arc::clone(budget.disk());
    let side_by_side = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Sources read side by side count what they hold as they read it.
    let shared = Mutex::new(&mut *budget);
    let mut reads = futures::stream::iter(&config.sources)
        .map(|(name, source)| read_source(ctx, name, source, config, config_file, &kinds, (&shared, &disk)))
        .buffered(side_by_side);
    let mut sources = Vec::with_capacity(config.sources.len());
    let mut texts: Vec<Vec<Option<Local>>> = Vec::with_capacity(config.sources.len());
    let mut attribute_texts: Vec<[Vec<Option<Local>>; 2]> = Vec::with_capacity(config.sources.len());
    let mut offset: u64 = 0;
    while let Some(source) = reads.next().await {
        let (mut source, identifiers, attributes) = source?;
        let mut budget = shared.lock().unwrap_or_else(PoisonError::into_inner);
        budget.set(&reading(&source.name), 0)?;
        budget.set(&records_part(&source.name), held(&source, &identifiers, &attributes))?;
        drop(budget);
        let rows = source.len as u64;
        source.offset = offset as u32;
        sources.push(source);
        texts.push(identifiers);
        attribute_texts.push(attributes);
        offset += rows;
        if offset > u64::from(MAX_RECORDS) {
            return Err(Error::Usage(format!(
                "the identity sources hold more than {} records; resolve fewer or smaller sources",
                MAX_RECORDS
            )));
        }
    }
    drop(reads);
    // Interned kind by kind, each kind's texts freed once it is done; the
    // distinct values go to a file as they are merged.
    let mut values = Vec::with_capacity(kinds.len());
    for k in 0..kinds.len() {
        let columns: Vec<Option<Local>> = texts.iter_mut().map(|t| t[k].take()).collect();
        // Held after all where no temporary file can be made.
        budget.set(INTERNING, interning_size(&columns, !disk.tmp_files_enabled()))?;
        let what = format!("the values of `{}`", kinds[k]);
        let (distinct, ranks) = intern_locals(&columns, TextsBuilder::spilling(&disk, &what)?)?;
        let rows = class_maps(&columns, &sources);
        drop(columns);
        let distinct = Arc::new(distinct);
        for (source, ranks) in sources.iter_mut().zip(interned(&distinct, ranks, rows)) {
            source.identifiers.push(ranks);
        }
        values.push(distinct);
        count_sources(budget, &sources, &texts, &attribute_texts)?;
        budget.set("the identifier values", values.iter().map(|v| v.memory_size()).sum())?;
        budget.set(INTERNING, 0)?;
    }
    // Attributes as given and normalized, attribute by attribute, held:
    // matching and golden records read them over and over.
    let mut attribute_values = 0;
    for form in 0..2 {
        for a in 0..ATTRIBUTES.len() {
            let columns: Vec<Option<Local>> = attribute_texts.iter_mut().map(|t| t[form][a].take()).collect();
            budget.set(INTERNING, interning_size(&columns, true))?;
            let what = format!("the values of attribute `{}`", ATTRIBUTES[a]);
            let (distinct, ranks) = intern_locals(&columns, TextsBuilder::held(&what))?;
            let rows = class_maps(&columns, &sources);
            drop(columns);
            attribute_values += distinct.memory_size();
            let distinct = Arc::new(distinct);
            for (source, column) in sources.iter_mut().zip(interned(&distinct, ranks, rows)) {
                if form == 0 {
                    source.attributes.push(column);
                } else {
                    source.normalized.push(column);
                }
            }
            count_sources(budget, &sources, &texts, &attribute_texts)?;
            budget.set(ATTRIBUTE_VALUES, attribute_values)?;
            budget.set(INTERNING, 0)?;
        }
    }
    // Each part was counted as the last column was interned.
    Ok(Records {
        kinds,
        sources,
        len: offset as u32,
        values,
        attribute_values,
    })
}

/// Sets each source's part of the budget to what it holds now: its
/// interned columns and its text columns not yet interned.
fn count_sources(
    budget: &mut Budget,
    sources: &[SourceRecords],
    texts: &[Vec<Option<Local>>],
    attribute_texts: &[[Vec<Option<Local>>; 2]],
) -> Result<()> {
    for ((source, identifiers), attributes) in sources.iter().zip(texts).zip(attribute_texts) {
        budget.set(&records_part(&source.name), held(source, identifiers, attributes))?;
    }
    Ok(())
}

/// What a source holds: its interned columns and its text columns not yet
/// interned.
fn held(source: &SourceRecords, identifiers: &[Option<Local>], attributes: &[Vec<Option<Local>>; 2]) -> usize {
    let text: usize = identifiers
        .iter()
        .chain(attributes.iter().flatten())
        .flatten()
        .map(Local::memory_size)
        .sum();
    source.memory_size() + text
}

/// The budget's part for a source's records once it is read.
pub fn records_part(source: &str) -> String {
    format!("the records of `{source}`")
}

/// The budget's part for a source as it is read.
fn reading(source: &str) -> String {
    format!("reading `{source}`")
}

/// One source's records (its offset set by the caller, its identifiers and
/// attributes interned by it) and its text columns as read, each held as
/// the source's distinct values (in a mapped file) and a key per class.
/// What it holds as it reads is counted in `budget` as it grows; its ids,
/// times and values go to temporary files of `disk`.
async fn read_source(
    ctx: &SessionContext,
    name: &str,
    source: &SourceConfig,
    config: &IdentityConfig,
    config_file: &std::path::Path,
    kinds: &[String],
    (budget, disk): (&Mutex<&mut Budget>, &Arc<DiskManager>),
) -> Result<(SourceRecords, Vec<Option<Local>>, [Vec<Option<Local>>; 2])> {
    let began = std::time::Instant::now();
    let part = reading(name);
    let counted = SourceBudget { budget, part: &part };
    let mut stream = query_source(ctx, name, source, config, config_file, kinds).await?;
    let mut read = SourceTexts::new(&stream.schema(), name, disk)?;
    while let Some(batch) = stream.next().await {
        read.append(&batch?)?;
        // Past the limit the classes so far go to a file, and later ones
        // follow them there.
        if let Err(refused) = counted.count(read.memory_size()) {
            let what = format!("the classes of `{name}`'s records");
            if !matches!(refused, Error::OutOfMemory(_)) || !read.class_of.spill(disk, &what)? {
                return Err(refused);
            }
            counted
                .lock()
                .note_spilled(read.class_of.len() * size_of::<u32>(), &what);
            counted.count(read.memory_size())?;
        }
    }
    drop(stream);
    let Finished {
        record_id,
        class_of,
        updated,
        mut texts,
    } = read.finish(disk, &counted)?;
    let record_id = Arc::new(record_id);
    let identifiers: Vec<Option<Local>> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            if is_record_id(kind, source) {
                Some(Local::unique(&record_id))
            } else {
                texts.remove(&format!("id_{i}"))
            }
        })
        .collect();
    let attributes = (0..ATTRIBUTES.len())
        .map(|i| texts.remove(&format!("attr_{i}")))
        .collect();
    let normalized = (0..ATTRIBUTES.len())
        .map(|i| texts.remove(&format!("norm_{i}")))
        .collect();
    log::info!(
        "source `{name}`: {} records ({} alike classes) read in {:.1} s",
        record_id.len(),
        class_of.iter().max().map_or(0, |&c| c as u64 + 1),
        began.elapsed().as_secs_f64()
    );
    let records = SourceRecords {
        name: name.to_string(),
        priority: source.priority.unwrap_or(DEFAULT_SOURCE_PRIORITY),
        offset: 0,
        len: record_id.len(),
        record_id,
        class_of: Arc::new(class_of),
        updated,
        identifiers: Vec::with_capacity(kinds.len()),
        attributes: Vec::with_capacity(ATTRIBUTES.len()),
        normalized: Vec::with_capacity(ATTRIBUTES.len()),
    };
    Ok((records, identifiers, [attributes, normalized]))
}

/// Runs the source's query; a query that does not plan is blamed on the key
/// whose expression fails.
async fn query_source(
    ctx: &SessionContext,
    name: &str,
    source: &SourceConfig,
    config: &IdentityConfig,
    config_file: &std::path::Path,
    kinds: &[String],
) -> Result<SendableRecordBatchStream> {
    let sql = source_sql(name, source, config, kinds);
    let frame = match ctx.sql(&sql).await {
        Ok(frame) => frame,
        Err(e) => return Err(blame_key(ctx, name, source, config_file, e).await),
    };
    Ok(frame.execute_stream().await?)
}

/// A source's text column as read: its distinct values, in the order first
/// seen (in a mapped file), and each class's key among them; no keys when
/// record `i` holds value `i` (the record ids, in order, which the
/// source's records hold and count).
pub struct Local {
    values: Arc<Texts>,
    keys: Option<UInt32Array>,
}

impl Local {
    /// The record ids as a column of their own: every value distinct, in
    /// order.
    fn unique(record_ids: &Arc<Texts>) -> Local {
        Local {
            values: Arc::clone(record_ids),
            keys: None,
        }
    }

    fn memory_size(&self) -> usize {
        match &self.keys {
            Some(keys) => self.values.memory_size() + keys.get_array_memory_size(),
            None => 0,
        }
    }
}

/// One source's query result as its batches arrive: record ids and update
/// times written to temporary files (`texts`), each text column reduced to
/// its distinct values (`Distinct`), and each record to its class
/// (`Classes`: the keys of its values), so that a device's 200 page views
/// hold its values once and a class number each, and no text column is
/// held row by row.
struct SourceTexts {
    source: String,
    record_id: TextsBuilder,
    /// Record ids missing (NULL or empty), refused once the source is read.
    missing_ids: usize,
    /// The text columns (identifiers, attributes and their normalized
    /// forms): names, and distinct values so far.
    names: Vec<String>,
    distinct: Vec<Distinct>,
    classes: Classes,
    /// Per record as read, its class (to a temporary file once the limit
    /// has no room for them).
    class_of: WordsBuilder,
    /// Per record as read, its update time (when the source has
    /// `updated_at`).
    updated: Option<TimesBuilder>,
    /// Reused from batch to batch: per column its keys, and one tuple.
    keys: Vec<Vec<u32>>,
    tuple: Vec<u32>,
}

/// A source read: its record ids, classes and update times in record-id
/// order, and its text columns by name.
struct Finished {
    record_id: Texts,
    class_of: Words,
    updated: Option<Times>,
    texts: HashMap<String, Local>,
}

impl SourceTexts {
    fn new(schema: &SchemaRef, source: &str, disk: &Arc<DiskManager>) -> Result<SourceTexts> {
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.name())
            .filter(|n| !matches!(n.as_str(), "record_id" | "updated_at"))
            .cloned()
            .collect();
        let updated = match schema.field_with_name("updated_at") {
            Ok(_) => Some(TimesBuilder::spilling(
                disk,
                &format!("the update times of `{source}`"),
            )?),
            Err(_) => None,
        };
        Ok(SourceTexts {
            source: source.to_string(),
            record_id: TextsBuilder::spilling(disk, &format!("the record ids of `{source}`"))?,
            missing_ids: 0,
            distinct: names.iter().map(|_| Distinct::default()).collect(),
            classes: Classes::new(names.len()),
            class_of: WordsBuilder::held(),
            updated,
            keys: vec![Vec::new(); names.len()],
            tuple: Vec::with_capacity(names.len()),
            names,
        })
    }

    /// Bytes held so far (not the files).
    fn memory_size(&self) -> usize {
        let distinct: usize = self.distinct.iter().map(Distinct::memory_size).sum();
        let times = self.updated.as_ref().map_or(0, TimesBuilder::memory_size);
        distinct + self.classes.memory_size() + self.class_of.memory_size() + self.record_id.memory_size() + times
    }

    fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let column = |name: &str| batch.column_by_name(name).expect("the source query names its columns");
        let ids = cast(column("record_id"), &DataType::Utf8)?;
        let ids = ids.as_string::<i32>();
        self.missing_ids += ids.null_count();
        self.record_id.append_array(ids)?;
        for ((name, distinct), keys) in self.names.iter().zip(&mut self.distinct).zip(&mut self.keys) {
            let text = cast(column(name), &DataType::Utf8)?;
            keys.clear();
            for value in text.as_string::<i32>() {
                keys.push(match value {
                    Some(value) => distinct.key(value).map_err(|TooMuchText| {
                        Error::table(
                            &self.source,
                            format!("the identity source's `{name}` values pass 2 GiB of text; split the source into several tables"),
                        )
                    })?,
                    None => MISSING,
                });
            }
        }
        let updated = match (&self.updated, batch.column_by_name("updated_at")) {
            (Some(_), Some(times)) => {
                let to = DataType::Timestamp(TimeUnit::Microsecond, None);
                Some(cast(times, &to)?.as_primitive::<TimestampMicrosecondType>().clone())
            }
            _ => None,
        };
        if self.class_of.len() + batch.num_rows() > MAX_RECORDS as usize {
            return Err(Error::table(
                &self.source,
                format!("the identity source holds more than {MAX_RECORDS} records; split it into several tables"),
            ));
        }
        for row in 0..batch.num_rows() {
            self.tuple.clear();
            self.tuple.extend(self.keys.iter().map(|keys| keys[row]));
            let class = self.classes.class(&self.tuple);
            self.class_of.push(class)?;
            if let (Some(kept), Some(times)) = (&mut self.updated, &updated) {
                kept.append(match times.is_valid(row) {
                    true => times.value(row),
                    false => i64::MIN,
                })?;
            }
        }
        Ok(())
    }

    /// The source in record-id order (sorted here, once, from the ids'
    /// file rather than by the query, whose sort would hold the source
    /// twice), its ids checked, and its text columns by name (their
    /// distinct values, to mapped files, and per class its key). What it
    /// holds is counted in `budget`, and its classes spilled where the
    /// limit has no room for them: before the records are put in order,
    /// beside what that holds, and once they are. Where the limit has no
    /// room to sort all the ids at once, they are sorted in runs that fit
    /// and merged (`Texts::order_within`).
    fn finish(self, disk: &Arc<DiskManager>, budget: &SourceBudget<'_, '_>) -> Result<Finished> {
        let SourceTexts {
            source: name,
            record_id,
            missing_ids,
            names,
            distinct,
            classes,
            class_of,
            updated,
            ..
        } = self;
        if missing_ids > 0 {
            return Err(Error::table(
                &name,
                format!(
                    "the identity source's record_id is NULL or empty in {missing_ids} rows; expected an id for every record"
                ),
            ));
        }
        // The text columns first, so that their tables are freed before
        // the records are put in order.
        let mut texts = HashMap::default();
        for (c, (column, distinct)) in names.into_iter().zip(distinct).enumerate() {
            let what = format!("the values of `{name}`'s column `{column}`");
            let local = Local {
                values: Arc::new(Texts::spill(distinct.finish(), disk, &what)?),
                keys: Some(classes.column(c)),
            };
            texts.insert(column, local);
        }
        drop(classes);
        let as_read = record_id.finish()?;
        let keys: usize = texts.values().map(Local::memory_size).sum();
        let what = format!("the classes of `{name}`'s records");
        let other = keys + as_read.memory_size();
        let (order, class_of) = budget.order(&as_read, other, class_of.finish()?, (disk, &name))?;
        let record_id = as_read.in_order(&order, disk, &format!("the record ids of `{name}`"))?;
        drop(as_read);
        check_record_ids(&name, &record_id)?;
        let updated = match updated {
            Some(times) => {
                let what = format!("the update times of `{name}`");
                Some(times.finish()?.in_order(&order, disk, &what)?)
            }
            None => None,
        };
        // The order becomes the classes in record-id order, in place.
        let mut class_in_order = order;
        for row in class_in_order.iter_mut() {
            *row = class_of[*row as usize];
        }
        drop(class_of);
        let times = updated.as_ref().map_or(0, Times::memory_size);
        let class_of = budget.keep(class_in_order, keys + times + record_id.memory_size(), &what)?;
        Ok(Finished {
            record_id,
            class_of,
            updated,
            texts,
        })
    }
}

/// A source's part of the budget the sources read side by side share.
struct SourceBudget<'a, 'b> {
    budget: &'a Mutex<&'b mut Budget>,
    part: &'a str,
}

/// Sorted runs the record ids may be put in order by at most: each run is
/// a temporary file, open until the merge is done.
const MAX_RUNS: usize = 64;

impl<'b> SourceBudget<'_, 'b> {
    fn lock(&self) -> std::sync::MutexGuard<'_, &'b mut Budget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets what the source holds to `bytes`.
    fn count(&self, bytes: usize) -> Result<()> {
        self.lock().set(self.part, bytes)
    }

    /// Keeps `words` beside `other` bytes the source holds (`Budget::keep_words`).
    fn keep(&self, words: Words, other: usize, what: &str) -> Result<Words> {
        self.lock().keep_words(self.part, other, words, what)
    }

    /// The order of the source's record ids (`ids`, as read), and its
    /// classes as read, beside `other` bytes it holds. Sorting holds four
    /// words a record (three to sort by, then the order): the classes are
    /// spilled first where the limit has no room for them beside that, and
    /// where it has no room for the sort either, the ids are sorted in runs
    /// that fit and merged (at most `MAX_RUNS`; below that the limit's
    /// error).
    fn order(
        &self,
        ids: &Texts,
        other: usize,
        classes: Words,
        (disk, name): (&Arc<DiskManager>, &str),
    ) -> Result<(Words, Words)> {
        let sort = 4 * ids.len() * size_of::<u32>();
        let mut budget = self.lock();
        let classes = match budget.has_room(self.part, other + classes.memory_size() + sort) {
            true => classes,
            false => budget.spill(classes, &format!("the classes of `{name}`'s records"))?,
        };
        let beside = other + classes.memory_size();
        let room = match budget.has_room(self.part, beside + sort) {
            true => None,
            false => budget.room_for(self.part).map(|room| room.saturating_sub(beside)),
        };
        let keys = room.map_or(ids.len(), |room| room / (4 * size_of::<u32>()));
        if keys >= ids.len() || ids.len().div_ceil(keys.max(1)) > MAX_RUNS {
            // At once, counted (past the limit, its error).
            budget.set(self.part, beside + sort)?;
            drop(budget);
            return Ok((Words::held(ids.order()), classes));
        }
        budget.set(self.part, beside + keys * 4 * size_of::<u32>())?;
        drop(budget);
        let what = format!("the order of `{name}`'s record ids");
        match ids.order_within(keys, disk, &what)? {
            Some(order) => {
                log::info!("{what}: {} records sorted in runs of {keys}", ids.len());
                Ok((self.lock().spilled_now(order, &what), classes))
            }
            None => {
                self.count(beside + sort)?;
                Ok((Words::held(ids.order()), classes))
            }
        }
    }
}

/// Ids must be unique within a source (their absence is refused as they
/// are read): links and stable customer ids are kept per record id.
fn check_record_ids(source: &str, ids: &Texts) -> Result<()> {
    for i in 1..ids.len() {
        let (before, id) = (ids.value(i - 1), ids.value(i));
        if id < before {
            return Err(Error::table(
                source,
                format!(
                    "the identity source's record ids are out of order once sorted (`{id}` after `{before}`); this is a bug in oneview, please report it"
                ),
            ));
        }
        if id == before {
            return Err(Error::table(
                source,
                format!("the identity source's record_id `{id}` appears more than once; expected one row per record"),
            ));
        }
    }
    Ok(())
}

/// Plans each configured expression alone to find the one that fails.
async fn blame_key(
    ctx: &SessionContext,
    name: &str,
    source: &SourceConfig,
    config_file: &std::path::Path,
    error: datafusion::error::DataFusionError,
) -> Error {
    let table = source.table(name).replace('"', "\"\"");
    let mut keys: Vec<(String, &str)> = vec![("record_id".into(), source.record_id.as_str())];
    keys.extend(
        source
            .identifiers
            .iter()
            .map(|(k, e)| (format!("identifiers.{k}"), e.as_str())),
    );
    keys.extend(
        source
            .attributes
            .iter()
            .map(|(k, e)| (format!("attributes.{k}"), e.as_str())),
    );
    if let Some(region) = &source.phone_region {
        keys.push(("phone_region".into(), region.as_str()));
    }
    if let Some(updated) = &source.updated_at {
        keys.push(("updated_at".into(), updated.as_str()));
    }
    for (key, expr) in keys {
        if let Err(e) = ctx.sql(&format!("SELECT (\n{expr}\n) FROM \"{table}\" LIMIT 0")).await {
            let detail = e.strip_backtrace().lines().next().unwrap_or_default().to_string();
            return Error::config(
                config_file,
                format!("key `identity.sources.{name}.{key}` = {expr:?} does not work on table `{table}`: {detail}"),
            );
        }
    }
    Error::Query(error)
}

/// The value of an optional attribute column at a row.
pub fn value(column: &Option<Interned>, row: usize) -> Option<&str> {
    column.as_ref()?.get(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source's column as `SourceTexts` leaves it: distinct values in the
    /// order first seen, and a key per row (here one class a row).
    fn local(column: &[Option<&str>]) -> Local {
        let mut distinct = Distinct::default();
        let keys: UInt32Array = column
            .iter()
            .map(|value| value.map(|v| distinct.key(v).unwrap()))
            .collect();
        Local {
            values: Arc::new(Texts::held(distinct.finish())),
            keys: Some(keys),
        }
    }

    /// One kind's values over three sources: each distinct value held once,
    /// sorted, so that ranks compare as the values do (links are made in
    /// value order); missing values stay missing; a source without the kind
    /// has no ranks; a source's record ids (in order, no keys) are ranked
    /// among the others' values, into a file or held alike.
    #[test]
    fn identifier_values_are_interned_in_value_order() {
        let crm = [Some("k@x.org"), None, Some("a@x.org"), Some("k@x.org")];
        let orders = [Some("b@x.org"), Some("a@x.org"), None];
        let ids = Arc::new(Texts::held(StringArray::from(vec!["a@x.org", "c@x.org"])));
        let disk = Arc::new(
            datafusion::execution::disk_manager::DiskManagerBuilder::default()
                .build()
                .unwrap(),
        );
        for out in [
            TextsBuilder::spilling(&disk, "test values").unwrap(),
            TextsBuilder::held("test values"),
        ] {
            let columns = [Some(local(&crm)), None, Some(local(&orders)), Some(Local::unique(&ids))];
            let (values, ranks) = intern_locals(&columns, out).unwrap();
            let ranks = interned(&Arc::new(values), ranks, vec![None; 4]);
            let values: Vec<&str> = ranks[0].as_ref().unwrap().values.iter().collect();
            assert_eq!(values, ["a@x.org", "b@x.org", "c@x.org", "k@x.org"]);
            assert!(ranks[1].is_none());
            let ids: Vec<Option<&str>> = ids.iter().map(Some).collect();
            for (column, interned) in [(&crm[..], &ranks[0]), (&orders[..], &ranks[2]), (&ids[..], &ranks[3])] {
                let interned = interned.as_ref().unwrap();
                for (row, given) in column.iter().enumerate() {
                    let back = interned.rank(row).map(|rank| values[rank as usize]);
                    assert_eq!(back, *given, "row {row}");
                    assert_eq!(interned.get(row), back);
                }
            }
        }
        let (values, ranks) = intern_locals(&[Some(local(&[]))], TextsBuilder::held("none")).unwrap();
        assert_eq!(values.len(), 0);
        assert_eq!(ranks[0].as_ref().unwrap().len(), 0);
    }
}
