//! What a run keeps for the next to grow from (`grow`): per customer, each
//! identifier and attribute value its records carry, with what golden
//! survivorship weighs (`Stats`: records, latest update, source priority),
//! and for identifier values what the value did (`ValueStatus`), what its
//! guards count (the other kinds' values, the first names) and a record
//! holding it (the far end of a new record's link). Which value won each
//! golden column is kept apart, as numbers (`winners`).
//!
//! Written as the hidden table `_values` beside the golden records, from
//! the same pass, by every run a later run could grow (`grow::cannot_grow`);
//! a run that grows the last one writes only the rows it changed, and a
//! row of a later file replaces the row of an earlier one with the same
//! customer and `key` (the hash of its column and value). A row of no
//! records (`Rows::push_gone`) says the customer holds the value no more:
//! a growing run that joins customers writes one for each row of those
//! it absorbs, and reads skip them.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, Int64Builder, ListBuilder, RecordBatch, StringBuilder, UInt8Builder,
    UInt32Array, UInt32Builder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, UInt8Type, UInt32Type, UInt64Type};

use datafusion::common::HashSet;

use datafusion::arrow::array::BooleanArray;
use datafusion::datasource::listing::{ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::parquet::{DefaultParquetFileReaderFactory, ParquetFileReaderFactory};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderOptions, RowSelection};
use datafusion::parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::metadata::PageIndexPolicy;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use url::Url;

use super::graph::ValueStatus;
use super::grow::Known;
use crate::error::{Error, Result};
use crate::util::parallel;

/// The hidden table's name (its folder below the output's `identity/`).
pub const VALUES: &str = "_values";

/// What golden survivorship weighs of one value among a customer's
/// records: how many carry it, the latest update among them, the best
/// (lowest) source priority among those latest, and the best overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub records: u64,
    pub updated: i64,
    pub updated_priority: u32,
    pub priority: u32,
}

impl Stats {
    /// What no record weighs: adding a record's to it gives the record's.
    pub const NONE: Stats = Stats {
        records: 0,
        updated: i64::MIN,
        updated_priority: u32::MAX,
        priority: u32::MAX,
    };

    /// One record's: its update time and its source's priority.
    pub fn of(updated: i64, priority: u32) -> Stats {
        Stats {
            records: 1,
            updated,
            updated_priority: priority,
            priority,
        }
    }

    pub fn add(&mut self, other: Stats) {
        self.records += other.records;
        if other.updated > self.updated {
            self.updated = other.updated;
            self.updated_priority = other.updated_priority;
        } else if other.updated == self.updated {
            self.updated_priority = self.updated_priority.min(other.updated_priority);
        }
        self.priority = self.priority.min(other.priority);
    }
}

/// The hash of a column's value (`key`): what lookups read first, eight
/// bytes a row, before the rows they pick are read whole. (Stable within
/// one binary, which is all it must be: a new binary resolves everything.)
pub fn key(column: &str, value: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    column.hash(&mut hasher);
    value.hash(&mut hasher);
    hasher.finish()
}

/// The hash of a customer's value of a column, from the value's `key` (a
/// multiply-and-rotate mix: `key` is a hash already).
pub fn customer_key(customer: u64, key: u64) -> u64 {
    (customer.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ key)
        .rotate_left(31)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

/// The columns lookups read first, by index in `schema`.
const CUSTOMER: usize = 0;
const KEY: usize = 1;
const COLUMN: usize = 2;

/// How the hidden tables (the state, `winners`, `record_ids`) are written:
/// only oneview reads them, every run writes them beside the golden
/// records, and most of their columns are hashes and values met once, so
/// a fast codec and no dictionaries but the column names' and the
/// sources'; hashes uncompressed (no codec shrinks them, and a growing run
/// decodes most of their pages to pick a few rows).
pub fn writer_properties() -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("column"), true)
        .set_column_dictionary_enabled(ColumnPath::from("source"), true);
    for hashes in ["key", "id"] {
        builder = builder.set_column_compression(ColumnPath::from(hashes), Compression::UNCOMPRESSED);
    }
    builder.build()
}

pub fn schema() -> SchemaRef {
    let list = || DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::UInt64, false),
        Field::new("key", DataType::UInt64, false),
        Field::new("column", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
        Field::new("records", DataType::UInt64, false),
        Field::new("updated", DataType::Int64, false),
        Field::new("updated_priority", DataType::UInt32, false),
        Field::new("priority", DataType::UInt32, false),
        Field::new("status", DataType::UInt8, true),
        Field::new("others", list(), true),
        Field::new("names", list(), true),
        Field::new("source", DataType::Utf8, true),
        Field::new("record_id", DataType::Utf8, true),
    ]))
}

/// An identifier value's part of its row.
pub struct Identifier<'a> {
    pub status: ValueStatus,
    /// The other kinds' values its records carry, as `kind=value`.
    pub others: &'a [String],
    pub names: &'a [&'a str],
    /// A record holding it: its source and record id.
    pub record: (&'a str, &'a str),
}

/// The rows of `_values`, built a row at a time.
pub struct Rows {
    customer: UInt64Builder,
    key: UInt64Builder,
    column: StringBuilder,
    value: StringBuilder,
    records: UInt64Builder,
    updated: Int64Builder,
    updated_priority: UInt32Builder,
    priority: UInt32Builder,
    status: UInt8Builder,
    others: ListBuilder<StringBuilder>,
    names: ListBuilder<StringBuilder>,
    source: StringBuilder,
    record_id: StringBuilder,
}

impl Default for Rows {
    fn default() -> Self {
        Rows {
            customer: UInt64Builder::new(),
            key: UInt64Builder::new(),
            column: StringBuilder::new(),
            value: StringBuilder::new(),
            records: UInt64Builder::new(),
            updated: Int64Builder::new(),
            updated_priority: UInt32Builder::new(),
            priority: UInt32Builder::new(),
            status: UInt8Builder::new(),
            others: ListBuilder::new(StringBuilder::new()),
            names: ListBuilder::new(StringBuilder::new()),
            source: StringBuilder::new(),
            record_id: StringBuilder::new(),
        }
    }
}

impl Rows {
    /// A row: a customer's value of a column.
    pub fn push(&mut self, customer: u64, (column, value): (&str, &str), stats: Stats, identifier: Option<Identifier>) {
        self.customer.append_value(customer);
        self.key.append_value(key(column, value));
        self.column.append_value(column);
        self.value.append_value(value);
        self.records.append_value(stats.records);
        self.updated.append_value(stats.updated);
        self.updated_priority.append_value(stats.updated_priority);
        self.priority.append_value(stats.priority);
        match identifier {
            Some(id) => {
                self.status.append_value(id.status as u8);
                let linked = id.status == ValueStatus::Linked;
                // Null where there is nothing to count: read back alike.
                let counted = linked || id.status == ValueStatus::Split;
                let others = counted && !id.others.is_empty();
                let names = counted && !id.names.is_empty();
                append_list(&mut self.others, others.then_some(id.others.iter().map(String::as_str)));
                append_list(&mut self.names, names.then_some(id.names.iter().copied()));
                self.source.append_value(id.record.0);
                self.record_id.append_value(id.record.1);
            }
            None => {
                self.status.append_null();
                self.others.append_null();
                self.names.append_null();
                self.source.append_null();
                self.record_id.append_null();
            }
        }
    }

    /// A row saying `customer` holds the value no more (it was joined to
    /// another): it replaces the customer's row of the value, and reads
    /// skip it.
    pub fn push_gone(&mut self, customer: u64, (column, value): (&str, &str)) {
        self.push(customer, (column, value), Stats::NONE, None);
    }

    pub fn len(&self) -> usize {
        self.customer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows pushed so far, each column's together (`grouped_by_column`).
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.customer.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.column.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.records.finish()),
            Arc::new(self.updated.finish()),
            Arc::new(self.updated_priority.finish()),
            Arc::new(self.priority.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.others.finish()),
            Arc::new(self.names.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.record_id.finish()),
        ];
        grouped_by_column(RecordBatch::try_new(schema(), columns)?)
    }
}

/// A batch of `_values` with the rows of each column together, in the
/// order the columns first come. A growing run's read picks the rows of
/// a few values, spread over every page; its rows of a column it wants
/// nothing of are then whole pages, which the page index lets it skip
/// (at 1M people, two rows in five are of order ids, seldom wanted: a
/// new order's id is new).
fn grouped_by_column(batch: RecordBatch) -> Result<RecordBatch> {
    let names = batch.column(COLUMN).as_string::<i32>();
    let mut groups: Vec<(&str, Vec<u32>)> = Vec::new();
    let mut last = 0;
    for row in 0..names.len() {
        let name = names.value(row);
        if groups.get(last).is_none_or(|(g, _)| *g != name) {
            last = match groups.iter().position(|(g, _)| *g == name) {
                Some(at) => at,
                None => {
                    groups.push((name, Vec::new()));
                    groups.len() - 1
                }
            };
        }
        groups[last].1.push(row as u32);
    }
    if groups.len() <= 1 {
        return Ok(batch);
    }
    let order = UInt32Array::from(groups.into_iter().flat_map(|(_, rows)| rows).collect::<Vec<u32>>());
    Ok(datafusion::arrow::compute::take_record_batch(&batch, &order)?)
}

/// A list of texts, or null for `None` (an empty list is a list).
fn append_list<'a>(list: &mut ListBuilder<StringBuilder>, items: Option<impl Iterator<Item = &'a str>>) {
    match items {
        Some(items) => {
            for item in items {
                list.values().append_value(item);
            }
            list.append(true);
        }
        None => list.append(false),
    }
}

/// One row of `_values` as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub customer: u64,
    pub column: String,
    pub value: String,
    pub stats: Stats,
    pub status: Option<ValueStatus>,
    pub others: Vec<String>,
    pub names: Vec<String>,
    /// A record holding an identifier value: its source and record id.
    pub record: Option<(String, String)>,
    /// Whether a growing run changed it (not kept: a row read is not).
    pub changed: bool,
}

impl Row {
    /// Bytes held by the row.
    pub fn memory_size(&self) -> usize {
        let texts =
            |v: &Vec<String>| v.iter().map(String::capacity).sum::<usize>() + v.capacity() * size_of::<String>();
        size_of::<Row>()
            + self.column.capacity()
            + self.value.capacity()
            + texts(&self.others)
            + texts(&self.names)
            + self.record.as_ref().map_or(0, |(s, r)| s.capacity() + r.capacity())
    }
}

/// The rows of a batch of `_values` (as its file holds them) but those of
/// no records (`Rows::push_gone`); `keep` picks rows by customer and key
/// before they are copied.
pub fn rows_of(batch: &RecordBatch, mut keep: impl FnMut(u64, u64) -> bool) -> Result<Vec<Row>> {
    // The rows kept are found first, by the numbers alone: the texts are
    // made of those only (a read may keep a few of many rows).
    let numbers = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<UInt64Type>())
            .ok_or_else(|| unexpected(name))
    };
    let (customer, key, records) = (numbers("customer_id")?, numbers("key")?, numbers("records")?);
    let kept: Vec<u32> = (0..batch.num_rows())
        .filter(|&i| records.value(i) != 0 && keep(customer.value(i), key.value(i)))
        .map(|i| i as u32)
        .collect();
    if kept.len() == batch.num_rows() {
        return all_rows_of(batch);
    }
    if kept.is_empty() {
        return Ok(Vec::new());
    }
    all_rows_of(&datafusion::arrow::compute::take_record_batch(
        batch,
        &UInt32Array::from(kept),
    )?)
}

/// The error for a state column not of the type oneview writes.
fn unexpected(what: &str) -> Error {
    Error::Usage(format!(
        "the identity state's `{what}` column has an unexpected type; run `oneview resolve --full`"
    ))
}

/// Every row of a batch of `_values`.
fn all_rows_of(batch: &RecordBatch) -> Result<Vec<Row>> {
    let bad = unexpected;
    let column = |name: &str| batch.column_by_name(name).ok_or_else(|| bad(name));
    let text =
        |name: &str| -> Result<ArrayRef> { Ok(datafusion::arrow::compute::cast(column(name)?, &DataType::Utf8)?) };
    let customer = column("customer_id")?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| bad("customer_id"))?;
    let (col, value) = (text("column")?, text("value")?);
    let (col, value) = (col.as_string::<i32>(), value.as_string::<i32>());
    let records = column("records")?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| bad("records"))?;
    let updated = column("updated")?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| bad("updated"))?;
    let updated_priority = column("updated_priority")?
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| bad("updated_priority"))?;
    let priority = column("priority")?
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| bad("priority"))?;
    let status = column("status")?
        .as_primitive_opt::<UInt8Type>()
        .ok_or_else(|| bad("status"))?;
    let others = column("others")?.as_list_opt::<i32>().ok_or_else(|| bad("others"))?;
    let names = column("names")?.as_list_opt::<i32>().ok_or_else(|| bad("names"))?;
    let (source, record_id) = (text("source")?, text("record_id")?);
    let (source, record_id) = (source.as_string::<i32>(), record_id.as_string::<i32>());
    // Each list's items cast once, then read by its offsets.
    let items = |list: &datafusion::arrow::array::ListArray| -> Result<ArrayRef> {
        Ok(datafusion::arrow::compute::cast(list.values(), &DataType::Utf8)?)
    };
    let (other_items, name_items) = (items(others)?, items(names)?);
    let list = |list: &datafusion::arrow::array::ListArray, items: &ArrayRef, i: usize| -> Result<Vec<String>> {
        if list.is_null(i) {
            return Ok(Vec::new());
        }
        let items = items.as_string::<i32>();
        let offsets = list.value_offsets();
        let range = offsets[i] as usize..offsets[i + 1] as usize;
        Ok(range
            .filter(|j| items.is_valid(*j))
            .map(|j| items.value(j).to_string())
            .collect())
    };
    let mut rows = Vec::new();
    for i in 0..batch.num_rows() {
        let status = if status.is_null(i) {
            None
        } else {
            Some(ValueStatus::from_u8(status.value(i)).ok_or_else(|| bad("status"))?)
        };
        rows.push(Row {
            customer: customer.value(i),
            column: col.value(i).to_string(),
            value: value.value(i).to_string(),
            stats: Stats {
                records: records.value(i),
                updated: updated.value(i),
                updated_priority: updated_priority.value(i),
                priority: priority.value(i),
            },
            status,
            others: list(others, &other_items, i)?,
            names: list(names, &name_items, i)?,
            record: (!source.is_null(i)).then(|| (source.value(i).to_string(), record_id.value(i).to_string())),
            changed: false,
        });
    }
    Ok(rows)
}

/// Rows picked one in this many or more are read by reading every row
/// (at 1M people, 8% of the rows picked read in 2.5 s by selection and in
/// 3.8 s by reading every row and dropping the rest).
const DENSE: usize = 4;

/// Row groups of a file read together: which, and their rows (the first's
/// number in the file and how many).
pub(crate) struct Part {
    pub(crate) groups: Vec<usize>,
    pub(crate) first: usize,
    pub(crate) rows: usize,
}

/// One file of the state (or of `winners`), opened for reading.
pub(crate) struct StateFile {
    url: Url,
    readers: DefaultParquetFileReaderFactory,
    meta: object_store::ObjectMeta,
}

impl StateFile {
    pub(crate) async fn open(runtime: &RuntimeEnv, url: &Url) -> Result<StateFile> {
        let table_url = ListingTableUrl::parse(url.as_str())?;
        let store = runtime.object_store(&table_url)?;
        let meta = store.head(table_url.prefix()).await?;
        Ok(StateFile {
            url: url.clone(),
            readers: DefaultParquetFileReaderFactory::new(store),
            meta,
        })
    }

    /// The file's row groups in contiguous parts, one per core (fewer if
    /// it has fewer groups), each with its first row and rows.
    pub(crate) async fn parts(&self) -> Result<Vec<Part>> {
        let builder = self.builder().await?;
        let groups: Vec<usize> = builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows() as usize)
            .collect();
        let per = groups.len().div_ceil(parallel::cores()).max(1);
        let mut parts = Vec::new();
        let mut first = 0;
        // At least one part, empty for a file without row groups.
        for start in (0..groups.len().max(1)).step_by(per) {
            let here: Vec<usize> = (start..(start + per).min(groups.len())).collect();
            let rows = here.iter().map(|g| groups[*g]).sum();
            parts.push(Part {
                groups: here,
                first,
                rows,
            });
            first += rows;
        }
        Ok(parts)
    }

    /// A reader of the file's every page.
    pub(crate) async fn builder(&self) -> Result<ParquetRecordBatchStreamBuilder<Box<dyn AsyncFileReader>>> {
        self.builder_with(PageIndexPolicy::Skip).await
    }

    /// A reader of picked rows: with the page index (where each page
    /// starts), a read of a few rows fetches and decodes only their pages.
    pub(crate) async fn selective_builder(&self) -> Result<ParquetRecordBatchStreamBuilder<Box<dyn AsyncFileReader>>> {
        self.builder_with(PageIndexPolicy::Optional).await
    }

    async fn builder_with(
        &self,
        page_index: PageIndexPolicy,
    ) -> Result<ParquetRecordBatchStreamBuilder<Box<dyn AsyncFileReader>>> {
        let metrics = ExecutionPlanMetricsSet::new();
        let file = PartitionedFile::new_from_meta(self.meta.clone());
        let reader: Box<dyn AsyncFileReader> = self.readers.create_reader(0, file, None, &metrics)?;
        // DataFusion's reader loads both indexes by the column index's policy.
        let options = ArrowReaderOptions::new().with_page_index_policy(page_index);
        Ok(ParquetRecordBatchStreamBuilder::new_with_options(reader, options).await?)
    }
}

/// What a lookup does with a row of the state (`pick`): read it whole
/// now, remember where it is for a later read (`Picked::later`), or pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Now,
    Later,
    No,
}

/// Rows of the state's files picked for reading whole: per file, per
/// batch of its keys, a flag per row, and the customer and key of each
/// (`now`); and the rows kept for later, each as its file (index in
/// `files`), row, customer and key.
pub struct Picked {
    files: Vec<(StateFile, Vec<BooleanArray>)>,
    pub now: Vec<(u64, u64)>,
    later: Vec<(usize, usize, u64, u64)>,
}

impl Picked {
    /// Rows kept for later (and not promoted).
    pub fn later_rows(&self) -> usize {
        self.later.len()
    }

    pub fn rows(&self) -> usize {
        self.files
            .iter()
            .flat_map(|(_, picked)| picked)
            .map(BooleanArray::true_count)
            .sum()
    }

    /// Picks now the rows kept for later that `keep` says (by customer
    /// and key): they are read with the others.
    pub fn promote(&mut self, keep: impl Fn(u64, u64) -> bool) {
        let mut flags: Vec<Vec<bool>> = self
            .files
            .iter()
            .map(|(_, picked)| picked.iter().flat_map(|p| p.values().iter()).collect())
            .collect();
        self.later.retain(|&(file, row, customer, key)| {
            let now = keep(customer, key);
            if now {
                flags[file][row] = true;
                self.now.push((customer, key));
            }
            !now
        });
        for ((_, picked), flags) in self.files.iter_mut().zip(flags) {
            *picked = vec![BooleanArray::from(flags)];
        }
    }

    /// The rows kept for later (and not promoted) that `keep` says (by
    /// customer and key), to read whole (`read`).
    pub fn later(self, keep: impl Fn(u64, u64) -> bool) -> Picked {
        let mut flags: Vec<Vec<bool>> = self
            .files
            .iter()
            .map(|(_, picked)| vec![false; picked.iter().map(BooleanArray::len).sum()])
            .collect();
        for &(file, row, customer, key) in &self.later {
            if keep(customer, key) {
                flags[file][row] = true;
            }
        }
        let files = self
            .files
            .into_iter()
            .zip(flags)
            .map(|((file, _), flags)| (file, vec![BooleanArray::from(flags)]))
            .collect();
        Picked {
            files,
            now: Vec::new(),
            later: Vec::new(),
        }
    }
}

/// Reads the customer and key of every row of the state's `files` (newest
/// first), and picks the rows `pick` says now or for later; a row of an
/// older file that a newer file has again (its customer and key) is
/// neither shown to `pick` nor picked. Each file's parts
/// (`StateFile::parts`) are read on every core.
pub async fn pick(ctx: &SessionContext, files: &[Url], pick: impl Fn(u64, u64) -> Pick + Sync) -> Result<Picked> {
    let mut newer: HashSet<(u64, u64)> = HashSet::new();
    let mut picked_files = Vec::with_capacity(files.len());
    let (mut now, mut later) = (Vec::new(), Vec::new());
    for (i, url) in files.iter().enumerate() {
        let file = StateFile::open(&ctx.runtime_env(), url).await?;
        let older_follow = i + 1 < files.len();
        let parts = file.parts().await?;
        let (file_ref, newer_ref, pick) = (&file, &newer, &pick);
        let done = parallel::on_cores(parts.len(), |p| {
            let (groups, first) = (parts[p].groups.clone(), parts[p].first);
            async move {
                let builder = file_ref.builder().await?;
                let mask = ProjectionMask::roots(builder.parquet_schema(), [CUSTOMER, KEY]);
                let mut keys = builder.with_row_groups(groups).with_projection(mask).build()?;
                let (mut picked, mut now, mut later, mut here_keys) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                let mut row = first;
                while let Some(batch) = keys.next().await {
                    let batch = batch?;
                    let customer = batch.column(0).as_primitive::<UInt64Type>();
                    let key = batch.column(1).as_primitive::<UInt64Type>();
                    let chosen: BooleanArray = (0..batch.num_rows())
                        .map(|i| {
                            let (c, k) = (customer.value(i), key.value(i));
                            if older_follow {
                                here_keys.push((c, k));
                            }
                            let what = match newer_ref.contains(&(c, k)) {
                                true => Pick::No,
                                false => pick(c, k),
                            };
                            match what {
                                Pick::Now => now.push((c, k)),
                                Pick::Later => later.push((row + i, c, k)),
                                Pick::No => {}
                            }
                            Some(what == Pick::Now)
                        })
                        .collect();
                    row += batch.num_rows();
                    picked.push(chosen);
                }
                Ok::<_, Error>((picked, now, later, here_keys))
            }
        })
        .await;
        let mut picked = Vec::new();
        for part in done {
            let (flags, here_now, here_later, here_keys) = part?;
            picked.extend(flags);
            now.extend(here_now);
            later.extend(here_later.into_iter().map(|(row, c, k)| (i, row, c, k)));
            newer.extend(here_keys);
        }
        picked_files.push((file, picked));
    }
    Ok(Picked {
        files: picked_files,
        now,
        later,
    })
}

/// The current rows of the state's `files` (newest first) that `keep`
/// picks by customer and key, read whole (but those of no records).
pub async fn read_rows(
    ctx: &SessionContext,
    files: &[Url],
    keep: impl Fn(u64, u64) -> bool + Sync,
) -> Result<Vec<Row>> {
    let picked = pick(ctx, files, |c, key| match keep(c, key) {
        true => Pick::Now,
        false => Pick::No,
    })
    .await?;
    let mut rows = Vec::new();
    for batch in read(&picked).await? {
        rows.extend(rows_of(&batch, |_, _| true)?);
    }
    Ok(rows)
}

/// The picked rows, read whole (each file's pages once, its parts on every
/// core), as the files hold them (`rows_of` makes rows of them).
pub async fn read(picked: &Picked) -> Result<Vec<RecordBatch>> {
    let mut rows: Vec<RecordBatch> = Vec::new();
    for (file, picked) in &picked.files {
        if picked.iter().all(|p| p.true_count() == 0) {
            continue;
        }
        let total: usize = picked.iter().map(BooleanArray::len).sum();
        let count: usize = picked.iter().map(BooleanArray::true_count).sum();
        let mask = datafusion::arrow::compute::concat(&picked.iter().map(|p| p as &dyn Array).collect::<Vec<_>>())?;
        let mask = mask.as_boolean();
        // Picked so densely that skipping row by row costs more than
        // reading every row and dropping the rest.
        let dense = count * DENSE >= total;
        let parts = file.parts().await?;
        let done = parallel::on_cores(parts.len(), |p| {
            let part = &parts[p];
            let here = mask.slice(part.first, part.rows);
            async move {
                let builder = match dense {
                    true => file.builder().await?,
                    false => file.selective_builder().await?,
                };
                let builder = builder.with_row_groups(part.groups.clone());
                let mut read = Vec::new();
                if dense {
                    let mut whole = builder.build()?;
                    let mut offset = 0;
                    while let Some(batch) = whole.next().await {
                        let batch = batch?;
                        let flags = here.slice(offset, batch.num_rows());
                        offset += batch.num_rows();
                        read.push(datafusion::arrow::compute::filter_record_batch(&batch, &flags)?);
                    }
                } else {
                    let selection = RowSelection::from_filters(&[here]);
                    let mut whole = builder.with_row_selection(selection).build()?;
                    while let Some(batch) = whole.next().await {
                        read.push(batch?);
                    }
                }
                Ok::<_, Error>(read)
            }
        })
        .await;
        for part in done {
            rows.extend(part?);
        }
        let read: usize = rows.iter().map(RecordBatch::num_rows).sum();
        log::debug!("identity state {}: {read} rows read", file.url);
    }
    Ok(rows)
}

/// Which of a value's rows says what the value does: blocked over stopped
/// over split over linked (a row still linked is a value's one record
/// before others came, `grow`; the rows of its later records say more).
pub fn rank(status: ValueStatus) -> u8 {
    match status {
        ValueStatus::Linked => 0,
        ValueStatus::Split => 1,
        ValueStatus::Stopped => 2,
        ValueStatus::Blocked => 3,
    }
}

/// What the rows of one identifier value (a row per customer whose
/// records carry it) say the run knows of it: a stopped row stops it (a
/// value that linked one record can stop once another carries it), the
/// records add up, a linked value's guard counts are its one row's, and a
/// value linked by first name has each customer's names.
pub fn known<'a>(rows: impl Iterator<Item = &'a Row>) -> Option<Known> {
    let rows: Vec<&Row> = rows.filter(|r| r.status.is_some()).collect();
    let status = rows.iter().filter_map(|r| r.status).max_by_key(|s| rank(*s))?;
    let mut known = Known {
        status,
        customer: rows[0].customer,
        records: rows.iter().map(|r| r.stats.records).sum(),
        others: Default::default(),
        names: Vec::new(),
        people: Vec::new(),
    };
    match status {
        ValueStatus::Linked | ValueStatus::Split => {
            for item in rows.iter().flat_map(|r| &r.others) {
                if let Some((kind, value)) = item.split_once('=') {
                    known
                        .others
                        .entry(kind.to_string())
                        .or_default()
                        .push(value.to_string());
                }
            }
            for values in known.others.values_mut() {
                values.sort_unstable();
                values.dedup();
            }
            if status == ValueStatus::Linked {
                known.names = rows.iter().flat_map(|r| r.names.iter().cloned()).collect();
                known.names.sort_unstable();
                known.names.dedup();
            } else {
                known.people = rows.iter().map(|r| (r.customer, r.names.clone())).collect();
            }
        }
        ValueStatus::Stopped | ValueStatus::Blocked => {}
    }
    Some(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_add_as_survivorship_weighs_them() {
        let mut s = Stats::of(10, 3);
        s.add(Stats::of(10, 1));
        assert_eq!((s.records, s.updated, s.updated_priority, s.priority), (2, 10, 1, 1));
        s.add(Stats::of(12, 5));
        assert_eq!((s.records, s.updated, s.updated_priority, s.priority), (3, 12, 5, 1));
        s.add(Stats::of(11, 0));
        assert_eq!((s.records, s.updated, s.updated_priority, s.priority), (4, 12, 5, 0));
    }

    /// A read of picked rows has the page index (where pages start) to
    /// skip the pages without them; a pass over every row does without.
    #[tokio::test]
    async fn a_selective_read_knows_where_the_pages_start() {
        let mut rows = Rows::default();
        for i in 0..1000u64 {
            rows.push(i, ("email", &format!("p{i}@x.org")), Stats::of(1, 1), None);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("values.parquet");
        let batch = rows.finish().unwrap();
        let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            batch.schema(),
            Some(writer_properties()),
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let ctx = SessionContext::new();
        let file = StateFile::open(&ctx.runtime_env(), &Url::from_file_path(&path).unwrap())
            .await
            .unwrap();
        let selective = file.selective_builder().await.unwrap();
        assert!(selective.metadata().offset_index().is_some());
        assert!(file.builder().await.unwrap().metadata().offset_index().is_none());
    }

    #[test]
    fn rows_read_back_as_written() {
        let mut rows = Rows::default();
        let others = vec!["user_id=u1".to_string()];
        let names = ["kelly"];
        rows.push(
            7,
            ("email", "k@x.org"),
            Stats::of(5, 2),
            Some(Identifier {
                status: ValueStatus::Linked,
                others: &others,
                names: &names,
                record: ("crm", "c1"),
            }),
        );
        rows.push(7, ("city", "Leeds"), Stats::of(3, 1), None);
        rows.push(
            9,
            ("email", "k@x.org"),
            Stats::of(1, 1),
            Some(Identifier {
                status: ValueStatus::Stopped,
                others: &others,
                names: &names,
                record: ("web", "w1"),
            }),
        );
        let batch = rows.finish().unwrap();
        let read = rows_of(&batch, |_, _| true).unwrap();
        // Each column's rows together, in the order the columns came.
        let at: Vec<(u64, &str)> = read.iter().map(|r| (r.customer, r.column.as_str())).collect();
        assert_eq!(at, vec![(7, "email"), (9, "email"), (7, "city")]);
        assert_eq!(read[0].others, others);
        assert_eq!(read[0].names, vec!["kelly".to_string()]);
        assert_eq!(read[0].record, Some(("crm".into(), "c1".into())));
        assert_eq!(read[2].status, None);
        assert_eq!(
            read[1].others,
            Vec::<String>::new(),
            "a stopped value keeps no guard counts"
        );
        let linked = known(read[..1].iter()).unwrap();
        assert_eq!(linked.status, ValueStatus::Linked);
        assert_eq!(linked.others["user_id"], vec!["u1".to_string()]);
        let both = known(read[..2].iter()).unwrap();
        assert_eq!((both.status, both.records), (ValueStatus::Stopped, 2));
        assert!(known(read[2..].iter()).is_none(), "an attribute is no identifier");
        assert_eq!(rows_of(&batch, |c, _| c == 9).unwrap().len(), 1);
        let email = key("email", "k@x.org");
        assert_eq!(rows_of(&batch, |_, k| k == email).unwrap().len(), 2);
    }
}
