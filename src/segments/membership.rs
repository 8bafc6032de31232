//! Who is in a segment, and since when.
//!
//! Each segment's history is one Parquet file in the state location,
//! `segment_membership/NAME.parquet`, with a row per stay: (segment,
//! customer_id, entered_at, exited_at) — `exited_at` is NULL while the
//! customer is still in. The open rows are the last snapshot; materializing
//! closes the rows of those who left, adds rows for those who entered and
//! replaces the file in one atomic put.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use url::Url;

use super::KEY_COLUMN;
use crate::catalog::parquet_table;
use crate::error::{Error, Result};
use crate::project::names;
use crate::storage::{StateStore, parquet_bytes, read_parquet_bytes};

pub const TABLE: &str = names::SEGMENT_MEMBERSHIP;
pub const FOLDER: &str = "segment_membership/";

/// `segment_membership`: every segment's history below the state folder `state`.
pub fn table(state: &Url) -> Result<Arc<dyn TableProvider>> {
    let folder = state.join(FOLDER).expect("the membership folder is a valid URL path");
    Ok(parquet_table(&folder, schema())?)
}

pub fn schema() -> SchemaRef {
    let time = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("segment", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("entered_at", time.clone(), false),
        Field::new("exited_at", time, true),
    ]))
}

fn file(segment: &str) -> String {
    format!("{FOLDER}{segment}.parquet")
}

/// Who entered and who exited between the last snapshot and now.
#[derive(Debug, Default)]
pub struct Diff {
    pub entered: Vec<String>,
    pub exited: Vec<String>,
    /// Members now.
    pub members: usize,
    /// Whether a snapshot existed to compare with.
    pub had_snapshot: bool,
}

impl Diff {
    /// (segment, customer_id, change) rows: entries first, then exits.
    pub fn to_batch(&self, segment: &str) -> Result<RecordBatch> {
        let schema = change_schema();
        let n = self.entered.len() + self.exited.len();
        let customers = self.entered.iter().chain(&self.exited).map(String::as_str);
        let changes =
            std::iter::repeat_n("entered", self.entered.len()).chain(std::iter::repeat_n("exited", self.exited.len()));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(segment, n))),
            Arc::new(StringArray::from_iter_values(customers)),
            Arc::new(StringArray::from_iter_values(changes)),
        ];
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

pub fn change_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("segment", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("change", DataType::Utf8, false),
    ]))
}

/// The distinct, non-null `customer_id`s the segment returns now.
pub async fn current_members(ctx: &SessionContext, segment: &str, file: &std::path::Path) -> Result<HashSet<String>> {
    let table = ctx.table(segment).await?;
    if table.schema().field_with_unqualified_name(KEY_COLUMN).is_err() {
        return Err(Error::segment(
            file,
            None,
            format!("the segment returns no `{KEY_COLUMN}` column; select your customer key AS {KEY_COLUMN}"),
        ));
    }
    let sql = format!(
        "SELECT DISTINCT CAST({KEY_COLUMN} AS VARCHAR) AS {KEY_COLUMN} FROM \"{segment}\" WHERE {KEY_COLUMN} IS NOT NULL"
    );
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    let mut members = HashSet::new();
    while let Some(batch) = stream.try_next().await? {
        let column = cast(batch.column(0), &DataType::Utf8)?;
        let strings = column.as_any().downcast_ref::<StringArray>().expect("cast to Utf8");
        members.extend(strings.iter().flatten().map(str::to_string));
    }
    Ok(members)
}

/// The segment's stored history (empty before the first snapshot).
pub async fn history(state: &StateStore, segment: &str) -> Result<Option<Vec<RecordBatch>>> {
    match state.get(&file(segment)).await? {
        Some(bytes) => read_parquet_bytes(bytes).map(Some),
        None => Ok(None),
    }
}

fn strings(batch: &RecordBatch, column: usize) -> &StringArray {
    batch
        .column(column)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("membership files are written with Utf8 columns")
}

fn times(batch: &RecordBatch, column: usize) -> &TimestampMicrosecondArray {
    batch
        .column(column)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .expect("membership files are written with microsecond timestamps")
}

/// Compares the open rows of the history with the current members.
pub fn diff(history: Option<&[RecordBatch]>, current: &HashSet<String>) -> Diff {
    let mut open: HashSet<&str> = HashSet::new();
    for batch in history.unwrap_or_default() {
        let customers = strings(batch, 1);
        let exited = times(batch, 3);
        for row in 0..batch.num_rows() {
            if exited.is_null(row) {
                open.insert(customers.value(row));
            }
        }
    }
    let mut entered: Vec<String> = current.iter().filter(|c| !open.contains(c.as_str())).cloned().collect();
    let mut exited: Vec<String> = open
        .iter()
        .filter(|c| !current.contains(**c))
        .map(|c| c.to_string())
        .collect();
    entered.sort_unstable();
    exited.sort_unstable();
    Diff {
        entered,
        exited,
        members: current.len(),
        had_snapshot: history.is_some(),
    }
}

/// The segment now, next to its stored history.
pub struct Comparison {
    pub history: Option<Vec<RecordBatch>>,
    pub diff: Diff,
}

pub async fn compare(
    ctx: &SessionContext,
    state: &StateStore,
    segment: &str,
    file: &std::path::Path,
) -> Result<Comparison> {
    let current = current_members(ctx, segment, file).await?;
    let history = history(state, segment).await?;
    let diff = diff(history.as_deref(), &current);
    Ok(Comparison { history, diff })
}

/// Runs `work` holding the segment's lock: one snapshot at a time.
pub async fn with_lock<T, F, Fut>(state: &StateStore, segment: &str, work: F) -> Result<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let what = format!("a snapshot of segment `{segment}`");
    state.with_lock(&format!("segment-{segment}"), &what, work).await
}

/// Records the comparison as the snapshot at `now` (microseconds since the
/// epoch, UTC): closes the stays of those who exited and opens stays for
/// those who entered, in one atomic replacement of the history file.
pub async fn record(state: &StateStore, segment: &str, comparison: &Comparison, now: i64) -> Result<()> {
    let schema = schema();
    let diff = &comparison.diff;
    let exited: HashSet<&str> = diff.exited.iter().map(String::as_str).collect();
    let mut batches = Vec::new();
    for batch in comparison.history.iter().flatten() {
        let customers = strings(batch, 1);
        let exited_at = times(batch, 3);
        let closed: TimestampMicrosecondArray = (0..batch.num_rows())
            .map(|row| {
                if exited_at.is_null(row) {
                    exited.contains(customers.value(row)).then_some(now)
                } else {
                    Some(exited_at.value(row))
                }
            })
            .collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[3] = Arc::new(closed.with_timezone("UTC"));
        batches.push(RecordBatch::try_new(Arc::clone(&schema), columns)?);
    }
    if !diff.entered.is_empty() {
        let n = diff.entered.len();
        let entered_at = TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC");
        let exited_at = TimestampMicrosecondArray::from(vec![None::<i64>; n]).with_timezone("UTC");
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(segment, n))),
                Arc::new(StringArray::from_iter_values(diff.entered.iter())),
                Arc::new(entered_at),
                Arc::new(exited_at),
            ],
        )?;
        batches.push(batch);
    }
    // The file is rewritten even without changes: its time is the snapshot's.
    state.put(&file(segment), parquet_bytes(&schema, &batches)?).await
}

/// Compares and records under the segment's lock.
pub async fn materialize(
    ctx: &SessionContext,
    state: &StateStore,
    segment: &str,
    file: &std::path::Path,
    now: i64,
) -> Result<Diff> {
    with_lock(state, segment, || async {
        let comparison = compare(ctx, state, segment, file).await?;
        record(state, segment, &comparison, now).await?;
        Ok(comparison.diff)
    })
    .await
}

/// When the last snapshot was taken, if ever.
pub async fn last_snapshot(state: &StateStore, segment: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    state.modified(&file(segment)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history_batch(rows: &[(&str, i64, Option<i64>)]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "s"))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1)).with_timezone("UTC")),
                Arc::new(TimestampMicrosecondArray::from_iter(rows.iter().map(|r| r.2)).with_timezone("UTC")),
            ],
        )
        .unwrap()
    }

    #[test]
    fn diff_compares_open_stays_with_current_members() {
        // a: in and staying; b: in and leaving; c: left before and back now; d: new.
        let history = [history_batch(&[("a", 1, None), ("b", 1, None), ("c", 1, Some(2))])];
        let current: HashSet<String> = ["a", "c", "d"].iter().map(|s| s.to_string()).collect();
        let diff = diff(Some(&history), &current);
        assert_eq!(diff.entered, ["c", "d"]);
        assert_eq!(diff.exited, ["b"]);
        assert_eq!(diff.members, 3);
        assert!(diff.had_snapshot);
    }

    #[test]
    fn without_a_snapshot_everyone_enters() {
        let current: HashSet<String> = ["x", "y"].iter().map(|s| s.to_string()).collect();
        let diff = diff(None, &current);
        assert_eq!(diff.entered, ["x", "y"]);
        assert!(diff.exited.is_empty());
        assert!(!diff.had_snapshot);
    }
}
