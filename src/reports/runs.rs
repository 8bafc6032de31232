//! `report_runs`: one small Parquet file per run in the state location,
//! `report_runs/<started>-<name>.parquet`, so runs never contend for a file
//! and a crash loses at most the record of the run it interrupted.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use url::Url;

use crate::catalog::parquet_table;
use crate::error::Result;
use crate::project::names;
use crate::storage::{StateStore, parquet_bytes, read_parquet_bytes};

pub const TABLE: &str = names::REPORT_RUNS;
pub const FOLDER: &str = "report_runs/";

/// `report_runs`: every recorded run below the state folder `state`.
pub fn table(state: &Url) -> Result<Arc<dyn TableProvider>> {
    let folder = state.join(FOLDER).expect("the report runs folder is a valid URL path");
    Ok(parquet_table(&folder, schema())?)
}
const STAMP: &str = "%Y%m%dT%H%M%S%6fZ";

pub fn schema() -> SchemaRef {
    let time = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("started", time.clone(), false),
        Field::new("finished", time, false),
        Field::new("rows", DataType::Int64, true),
        Field::new("output", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
    ]))
}

#[derive(Debug, Clone)]
pub struct RunRecord {
    pub name: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub rows: Option<u64>,
    pub output: Option<String>,
    /// `ok` or `failed`.
    pub status: String,
    pub error: Option<String>,
}

pub async fn record(state: &StateStore, run: &RunRecord) -> Result<()> {
    let schema = schema();
    let micros = |t: DateTime<Utc>| TimestampMicrosecondArray::from(vec![t.timestamp_micros()]).with_timezone("UTC");
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec![run.name.as_str()])),
            Arc::new(micros(run.started)),
            Arc::new(micros(run.finished)),
            Arc::new(Int64Array::from(vec![run.rows.map(|r| r as i64)])),
            Arc::new(StringArray::from(vec![run.output.as_deref()])),
            Arc::new(StringArray::from(vec![run.status.as_str()])),
            Arc::new(StringArray::from(vec![run.error.as_deref()])),
        ],
    )?;
    let file = format!("{FOLDER}{}-{}.parquet", run.started.format(STAMP), run.name);
    state.put(&file, parquet_bytes(&schema, &[batch])?).await
}

/// The latest run of each report, read from the newest file per name.
pub async fn latest(state: &StateStore) -> Result<BTreeMap<String, RunRecord>> {
    let mut newest: BTreeMap<String, (DateTime<Utc>, String)> = BTreeMap::new();
    for file in state.list(FOLDER).await? {
        let Some(stem) = file.strip_suffix(".parquet") else {
            continue;
        };
        let Some((stamp, name)) = stem.split_once('-') else {
            continue;
        };
        let Ok(started) = NaiveDateTime::parse_from_str(stamp, STAMP) else {
            continue;
        };
        let started = started.and_utc();
        let entry = newest.entry(name.to_string()).or_insert((started, file.clone()));
        if started >= entry.0 {
            *entry = (started, file.clone());
        }
    }
    let mut latest = BTreeMap::new();
    for (name, (_, file)) in newest {
        let Some(bytes) = state.get(&format!("{FOLDER}{file}")).await? else {
            continue;
        };
        if let Some(run) = read_parquet_bytes(bytes)?.first().and_then(decode) {
            latest.insert(name, run);
        }
    }
    Ok(latest)
}

fn decode(batch: &RecordBatch) -> Option<RunRecord> {
    if batch.num_rows() == 0 {
        return None;
    }
    let text = |i: usize| {
        let column = batch.column(i).as_any().downcast_ref::<StringArray>()?;
        (!column.is_null(0)).then(|| column.value(0).to_string())
    };
    let time = |i: usize| {
        let column = batch.column(i).as_any().downcast_ref::<TimestampMicrosecondArray>()?;
        DateTime::from_timestamp_micros(column.value(0))
    };
    let rows = batch.column(3).as_any().downcast_ref::<Int64Array>()?;
    Some(RunRecord {
        name: text(0)?,
        started: time(1)?,
        finished: time(2)?,
        rows: (!rows.is_null(0)).then(|| rows.value(0) as u64),
        output: text(4),
        status: text(5)?,
        error: text(6),
    })
}
