//! Reads every source's records through DataFusion: the record id, each
//! identifier normalized by its kind (emails and phones by the udfs crate),
//! the attributes as given, sorted by record id so that record numbers, and
//! everything derived from them, are the same on every run. Each text
//! column is reduced to the source's distinct values as the batches arrive,
//! and each record to its class of records alike (`SourceTexts`,
//! `distinct`); the values are then interned over the sources, column by
//! column: each distinct value is held once, in value order, and a class
//! holds its value's rank. Record ids and identifier values are then kept
//! in mapped temporary files (`texts`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder, UInt32Array};
use datafusion::arrow::compute::{cast, concat, sort_to_indices, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMicrosecondType};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::disk_manager::DiskManager;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use datafusion::common::HashMap;

use super::budget::Budget;
use super::distinct::{Classes, Distinct, MISSING, TooMuchText};
use super::texts::{Texts, Times};

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
    /// The record ids, sorted (`record_id`, `record_ids`).
    record_id: RecordIds,
    /// Per record, its class (`distinct`): records of one class hold the
    /// same values in every column below but the one that is the record id.
    class_of: Arc<Vec<u32>>,
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

/// A source's record ids: its own sorted column (in a mapped file,
/// `texts`), or, where the record id is also an identifier (an order's
/// `order_id`), that identifier's interned column (kept once, not twice).
enum RecordIds {
    Own(Texts),
    Identifier(usize),
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
    pub rows: Option<Arc<Vec<u32>>>,
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
        let own = match &self.record_id {
            RecordIds::Own(ids) => ids.memory_size(),
            RecordIds::Identifier(_) => 0,
        };
        let classes = self.class_of.capacity() * size_of::<u32>();
        let updated = self.updated.as_ref().map_or(0, Times::memory_size);
        own + columns.sum::<usize>() + classes + updated
    }

    /// The record's update time (`i64::MIN`: none).
    pub fn updated(&self, row: usize) -> i64 {
        self.updated.as_ref().map_or(i64::MIN, |times| times.get(row))
    }

    /// The id of the record at `row`.
    pub fn record_id(&self, row: usize) -> &str {
        match &self.record_id {
            RecordIds::Own(ids) => ids.value(row),
            RecordIds::Identifier(k) => self.identifiers[*k]
                .as_ref()
                .and_then(|ids| ids.get(row))
                .expect("a record id that is an identifier is never missing"),
        }
    }

    /// The ids of rows `start..start + rows`.
    pub fn record_ids(&self, start: usize, rows: usize) -> StringArray {
        match &self.record_id {
            RecordIds::Own(ids) => ids.slice(start, rows),
            RecordIds::Identifier(_) => (start..start + rows).map(|row| Some(self.record_id(row))).collect(),
        }
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

    /// Bytes held by the identifier values, for the memory budget.
    pub fn values_size(&self) -> usize {
        self.values.iter().map(|v| v.memory_size()).sum()
    }
}

/// Interns one column's values over the sources (`columns`: per source, as
/// read): its distinct values, sorted, and per source each record's rank
/// among them. Each source's values are sorted and the sources merged, so
/// that beside its result it holds two words a value (a source's order and
/// its ranks), not a hash table of every value (which for 10M order ids
/// was 0.6 GB at 1M people).
fn intern(columns: &[Option<StringArray>]) -> (StringArray, Vec<Option<UInt32Array>>) {
    // Each source's non-missing values in value order (positions).
    let orders: Vec<Vec<u32>> = columns
        .iter()
        .map(|column| {
            let Some(column) = column else {
                return Vec::new();
            };
            let mut order: Vec<u32> = (0..column.len() as u32)
                .filter(|&i| column.is_valid(i as usize))
                .collect();
            order.sort_unstable_by_key(|&i| column.value(i as usize));
            order
        })
        .collect();
    let mut ranks: Vec<Vec<u32>> = columns
        .iter()
        .map(|column| column.as_ref().map_or_else(Vec::new, |c| vec![0; c.len()]))
        .collect();
    // At least the largest source's values; more as other sources add some.
    let bytes = columns
        .iter()
        .flatten()
        .map(|c| c.value_data().len())
        .max()
        .unwrap_or(0);
    let mut values = StringBuilder::with_capacity(orders.iter().map(Vec::len).max().unwrap_or(0), bytes);
    // Merge: at each step the least value at the sources' heads (sources
    // are few: a scan, not a heap), ranked anew unless it repeats the last.
    let mut heads = vec![0usize; columns.len()];
    let mut last: Option<&str> = None;
    let mut rank = 0u32;
    loop {
        let mut least: Option<(usize, &str)> = None;
        for (s, column) in columns.iter().enumerate() {
            let (Some(column), Some(&at)) = (column, orders[s].get(heads[s])) else {
                continue;
            };
            let value = column.value(at as usize);
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
            values.append_value(value);
            last = Some(value);
        }
        ranks[s][orders[s][heads[s]] as usize] = rank;
        heads[s] += 1;
    }
    let ranked = ranks
        .into_iter()
        .zip(columns)
        .map(|(ranks, column)| {
            let column = column.as_ref()?;
            Some(UInt32Array::new(ranks.into(), column.nulls().cloned()))
        })
        .collect();
    (values.finish(), ranked)
}

/// Bytes interning `columns` holds while it runs: per value its source's
/// order and rank, and the distinct values it makes (at most all of them),
/// until they go to their file.
fn interning_size(columns: &[Option<Local>]) -> usize {
    let values: usize = columns.iter().flatten().map(|c| c.values.len()).sum();
    let bytes: usize = columns.iter().flatten().map(|c| c.values.value_data().len()).sum();
    values * 3 * size_of::<u32>() + bytes
}

/// The budget's part for interning one column.
const INTERNING: &str = "interning a column's values";

/// Per source, its ranks over `values` as an interned column, per class
/// where `rows` gives the source's classes, else per record.
fn interned(
    values: &Arc<Texts>,
    ranks: Vec<Option<UInt32Array>>,
    rows: Vec<Option<Arc<Vec<u32>>>>,
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
fn class_maps(columns: &[Option<Local>], sources: &[SourceRecords]) -> Vec<Option<Arc<Vec<u32>>>> {
    columns
        .iter()
        .zip(sources)
        .map(|(column, source)| column.as_ref()?.keys.as_ref().map(|_| Arc::clone(&source.class_of)))
        .collect()
}

/// Interns one column's values over the sources from what each source
/// read (`Local`: its distinct values and a key per record): the distinct
/// values of all sources, sorted, and per source each record's rank.
fn intern_locals(columns: &[Option<Local>]) -> (StringArray, Vec<Option<UInt32Array>>) {
    let distinct: Vec<Option<StringArray>> = columns.iter().map(|c| Some(c.as_ref()?.values.clone())).collect();
    let (values, ranked) = intern(&distinct);
    drop(distinct);
    let interned = columns
        .iter()
        .zip(ranked)
        .map(|(local, ranked)| {
            let (local, ranked) = (local.as_ref()?, ranked?);
            let Some(keys) = &local.keys else {
                // Record i holds value i: the ranks are the values' ranks.
                return Some(ranked);
            };
            // A missing value's key is meaningless (and there may be no
            // values at all); its rank is masked by the nulls.
            let ranks: Vec<u32> = (0..keys.len())
                .map(|row| match keys.is_valid(row) {
                    true => ranked.value(keys.value(row) as usize),
                    false => 0,
                })
                .collect();
            Some(UInt32Array::new(ranks.into(), keys.nulls().cloned()))
        })
        .collect();
    (values, interned)
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
    let mut reads = futures::stream::iter(&config.sources)
        .map(|(name, source)| read_source(ctx, name, source, config, config_file, &kinds, &disk))
        .buffered(side_by_side);
    let mut sources = Vec::with_capacity(config.sources.len());
    let mut texts: Vec<Vec<Option<Local>>> = Vec::with_capacity(config.sources.len());
    let mut attribute_texts: Vec<[Vec<Option<Local>>; 2]> = Vec::with_capacity(config.sources.len());
    let mut offset: u64 = 0;
    let id_kinds: Vec<Option<usize>> = config
        .sources
        .values()
        .map(|source| kinds.iter().position(|kind| is_record_id(kind, source)))
        .collect();
    while let Some(source) = reads.next().await {
        let (mut source, identifiers, attributes) = source?;
        let text_size: usize = identifiers
            .iter()
            .chain(attributes.iter().flatten())
            .flatten()
            .map(Local::memory_size)
            .sum();
        budget.set(
            &format!("the records of `{}`", source.name),
            source.memory_size() + text_size,
        )?;
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
    // Interned kind by kind, each kind's texts freed once it is done.
    let mut values = Vec::with_capacity(kinds.len());
    for k in 0..kinds.len() {
        let columns: Vec<Option<Local>> = texts.iter_mut().map(|t| t[k].take()).collect();
        budget.set(INTERNING, interning_size(&columns))?;
        let (distinct, ranks) = intern_locals(&columns);
        let rows = class_maps(&columns, &sources);
        drop(columns);
        let what = format!("the values of `{}`", kinds[k]);
        let distinct = Arc::new(Texts::spill(distinct, &disk, &what)?);
        for (source, ranks) in sources.iter_mut().zip(interned(&distinct, ranks, rows)) {
            source.identifiers.push(ranks);
        }
        budget.set(INTERNING, 0)?;
        values.push(distinct);
    }
    // A record id that is also an identifier is read from it from now on.
    for (source, kind) in sources.iter_mut().zip(&id_kinds) {
        if let Some(k) = kind {
            source.record_id = RecordIds::Identifier(*k);
        }
    }
    // Attributes as given and normalized, attribute by attribute.
    let mut attribute_values = 0;
    for form in 0..2 {
        for a in 0..ATTRIBUTES.len() {
            let columns: Vec<Option<Local>> = attribute_texts.iter_mut().map(|t| t[form][a].take()).collect();
            budget.set(INTERNING, interning_size(&columns))?;
            let (distinct, ranks) = intern_locals(&columns);
            let rows = class_maps(&columns, &sources);
            drop(columns);
            attribute_values += distinct.get_array_memory_size();
            let distinct = Arc::new(Texts::held(distinct));
            budget.set(INTERNING, 0)?;
            for (source, column) in sources.iter_mut().zip(interned(&distinct, ranks, rows)) {
                if form == 0 {
                    source.attributes.push(column);
                } else {
                    source.normalized.push(column);
                }
            }
        }
    }
    let records = Records {
        kinds,
        sources,
        len: offset as u32,
        values,
        attribute_values,
    };
    for source in &records.sources {
        budget.set(&format!("the records of `{}`", source.name), source.memory_size())?;
    }
    budget.set("the identifier values", records.values_size())?;
    budget.set(ATTRIBUTE_VALUES, records.attribute_values)?;
    Ok(records)
}

/// One source's records (its offset set by the caller, its identifiers and
/// attributes interned by it) and its text columns as read, each held as
/// the source's distinct values and a key per record.
async fn read_source(
    ctx: &SessionContext,
    name: &str,
    source: &SourceConfig,
    config: &IdentityConfig,
    config_file: &std::path::Path,
    kinds: &[String],
    disk: &Arc<DiskManager>,
) -> Result<(SourceRecords, Vec<Option<Local>>, [Vec<Option<Local>>; 2])> {
    let began = std::time::Instant::now();
    let mut stream = query_source(ctx, name, source, config, config_file, kinds).await?;
    let mut read = SourceTexts::new(&stream.schema(), name);
    while let Some(batch) = stream.next().await {
        read.append(&batch?)?;
    }
    drop(stream);
    let (record_id, order) = read.record_ids()?;
    check_record_ids(name, &record_id)?;
    let (mut texts, class_of, times) = read.finish(&order);
    let what = format!("the update times of `{name}`");
    let updated = times
        .map(|times| Times::spill(times, order.values(), disk, &what))
        .transpose()?;
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
    let len = record_id.len();
    // Record ids go to a file as soon as the source is read, unless they
    // are also an identifier: then they are interned with their kind.
    let record_id = if kinds.iter().any(|kind| is_record_id(kind, source)) {
        Texts::held(record_id)
    } else {
        Texts::spill(record_id, disk, &format!("the record ids of `{name}`"))?
    };
    let attributes = (0..ATTRIBUTES.len())
        .map(|i| texts.remove(&format!("attr_{i}")))
        .collect();
    let normalized = (0..ATTRIBUTES.len())
        .map(|i| texts.remove(&format!("norm_{i}")))
        .collect();
    log::info!(
        "source `{name}`: {} records read in {:.1} s",
        record_id.len(),
        began.elapsed().as_secs_f64()
    );
    let records = SourceRecords {
        name: name.to_string(),
        priority: source.priority.unwrap_or(DEFAULT_SOURCE_PRIORITY),
        offset: 0,
        len,
        record_id: RecordIds::Own(record_id),
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
/// seen, and each record's key among them (in record-id order); no keys
/// when record `i` holds value `i` (the record ids, whose text the source's
/// records already hold and count).
pub struct Local {
    values: StringArray,
    keys: Option<UInt32Array>,
}

impl Local {
    /// The record ids as a column of their own: every value distinct.
    fn unique(record_ids: &StringArray) -> Local {
        Local {
            values: record_ids.clone(),
            keys: None,
        }
    }

    fn memory_size(&self) -> usize {
        match &self.keys {
            Some(keys) => self.values.get_array_memory_size() + keys.get_array_memory_size(),
            None => 0,
        }
    }
}

/// One source's query result as its batches arrive: record ids and update
/// times kept, each text column reduced to its distinct values
/// (`Distinct`), and each record to its class (`Classes`: the keys of its
/// values), so that a device's 200 page views hold its values once and a
/// class number each, and no text column but the record id is held row by
/// row.
struct SourceTexts {
    source: String,
    record_id: Vec<ArrayRef>,
    /// The text columns (identifiers, attributes and their normalized
    /// forms): names, and distinct values so far.
    names: Vec<String>,
    distinct: Vec<Distinct>,
    classes: Classes,
    /// Per record as read, its class.
    class_of: Vec<u32>,
    /// Per record as read, its update time (when the source has
    /// `updated_at`).
    updated: Option<Vec<i64>>,
    /// Reused from batch to batch: per column its keys, and one tuple.
    keys: Vec<Vec<u32>>,
    tuple: Vec<u32>,
}

impl SourceTexts {
    fn new(schema: &SchemaRef, source: &str) -> SourceTexts {
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.name())
            .filter(|n| !matches!(n.as_str(), "record_id" | "updated_at"))
            .cloned()
            .collect();
        SourceTexts {
            source: source.to_string(),
            record_id: Vec::new(),
            distinct: names.iter().map(|_| Distinct::default()).collect(),
            classes: Classes::new(names.len()),
            class_of: Vec::new(),
            updated: schema.field_with_name("updated_at").is_ok().then(Vec::new),
            keys: vec![Vec::new(); names.len()],
            tuple: Vec::with_capacity(names.len()),
            names,
        }
    }

    fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let column = |name: &str| batch.column_by_name(name).expect("the source query names its columns");
        self.record_id.push(cast(column("record_id"), &DataType::Utf8)?);
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
        for row in 0..batch.num_rows() {
            self.tuple.clear();
            self.tuple.extend(self.keys.iter().map(|keys| keys[row]));
            let class = self.classes.class(&self.tuple);
            self.class_of.push(class);
            if let (Some(kept), Some(times)) = (&mut self.updated, &updated) {
                kept.push(if times.is_valid(row) {
                    times.value(row)
                } else {
                    i64::MIN
                });
            }
        }
        Ok(())
    }

    /// The record ids in order (sorted here, once, rather than by the
    /// query, whose sort would hold the source twice) and the order that
    /// sorts them.
    fn record_ids(&mut self) -> Result<(StringArray, UInt32Array)> {
        let ids = joined(std::mem::take(&mut self.record_id), &DataType::Utf8)?;
        let order = sort_to_indices(&ids, None, None)?;
        let record_id = take(&ids, &order, None)?.as_string::<i32>().clone();
        Ok((record_id, order))
    }

    /// The text columns by name (their distinct values, and per class its
    /// key), each record's class in record-id order, and the update times
    /// as read.
    fn finish(self, order: &UInt32Array) -> (HashMap<String, Local>, Vec<u32>, Option<Vec<i64>>) {
        let class_of: Vec<u32> = order.values().iter().map(|&row| self.class_of[row as usize]).collect();
        drop(self.class_of);
        // As read: `Times::spill` puts them in order as it writes them.
        let texts = self
            .names
            .into_iter()
            .zip(self.distinct)
            .enumerate()
            .map(|(c, (name, distinct))| {
                let local = Local {
                    values: distinct.finish(),
                    keys: Some(self.classes.column(c)),
                };
                (name, local)
            })
            .collect();
        (texts, class_of, self.updated)
    }
}

/// Pieces of one column joined into one array of type `to` (empty when
/// the source has no rows).
fn joined(pieces: Vec<ArrayRef>, to: &DataType) -> Result<ArrayRef> {
    if pieces.is_empty() {
        return Ok(datafusion::arrow::array::new_empty_array(to));
    }
    let pieces: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
    Ok(concat(&pieces)?)
}

/// Ids must be present and unique within a source: links and stable
/// customer ids are kept per record id.
fn check_record_ids(source: &str, ids: &StringArray) -> Result<()> {
    let nulls = ids.null_count();
    if nulls > 0 {
        return Err(Error::table(
            source,
            format!(
                "the identity source's record_id is NULL or empty in {nulls} rows; expected an id for every record"
            ),
        ));
    }
    for i in 1..ids.len() {
        if ids.value(i) < ids.value(i - 1) {
            return Err(Error::table(
                source,
                format!(
                    "the identity source's record ids came back out of order (`{}` after `{}`); this is a bug in oneview, please report it",
                    ids.value(i),
                    ids.value(i - 1)
                ),
            ));
        }
        if ids.value(i) == ids.value(i - 1) {
            return Err(Error::table(
                source,
                format!(
                    "the identity source's record_id `{}` appears more than once; expected one row per record",
                    ids.value(i)
                ),
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

    /// One kind's values over two sources: each distinct value held once,
    /// sorted, so that ranks compare as the values do (links are made in
    /// value order); missing values stay missing; a source without the kind
    /// has no ranks.
    #[test]
    fn identifier_values_are_interned_in_value_order() {
        let crm = StringArray::from(vec![Some("k@x.org"), None, Some("a@x.org"), Some("k@x.org")]);
        let orders = StringArray::from(vec![Some("b@x.org"), Some("a@x.org"), None]);
        let (values, ranks) = intern(&[Some(crm.clone()), None, Some(orders.clone())]);
        let ranks = interned(&Arc::new(Texts::held(values.clone())), ranks, vec![None; 3]);
        let values: Vec<&str> = values.iter().flatten().collect();
        assert_eq!(values, ["a@x.org", "b@x.org", "k@x.org"]);
        assert!(ranks[1].is_none());
        for (column, interned) in [(&crm, &ranks[0]), (&orders, &ranks[2])] {
            let interned = interned.as_ref().unwrap();
            for row in 0..column.len() {
                let back = interned.rank(row).map(|rank| values[rank as usize]);
                assert_eq!(back, column.is_valid(row).then(|| column.value(row)), "row {row}");
                assert_eq!(interned.get(row), back);
            }
        }
        let (values, ranks) = intern(&[Some(StringArray::from(Vec::<Option<&str>>::new()))]);
        assert_eq!(values.len(), 0);
        assert_eq!(ranks[0].as_ref().unwrap().len(), 0);
    }
}
