//! The records a run holds, as eight-byte hashes of their source and
//! record id, kept for a run that grows this one (`incremental`): a new
//! file that repeats a record id of its source is found by reading eight
//! bytes a record, not the text ids of `identity_links` (two of the nine
//! seconds of lookups at 1M people).
//!
//! Written as the hidden chained table `_ids` beside the state (`state`),
//! by every run a later run could grow: a full run with all its records,
//! a growing run with its new ones. A hash met again is only a candidate:
//! `incremental` looks its record up in `identity_links` before refusing.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::common::HashSet;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use url::Url;

use super::key_filter::KeyFilter;
use super::records::Records;
use super::state::StateFile;
use crate::error::{Error, Result};
use crate::util::parallel;

/// The hidden table's name (its folder below the output's `identity/`).
pub const IDS: &str = "_ids";

/// Hashes to a batch written.
const BATCH: usize = 1 << 20;

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("id", DataType::UInt64, false)]))
}

/// The hash of a record's source and id (stable within one binary, which
/// is all it must be: a new binary resolves everything).
pub fn hash(source: &str, record_id: &str) -> u64 {
    super::state::key(source, record_id)
}

/// The hashes of every record of `records`, a batch at a time (each
/// hashed on every core), so that they are written as they are made.
pub fn batches(records: &Records) -> impl Iterator<Item = Result<RecordBatch>> + '_ {
    records.sources.iter().flat_map(|source| {
        (0..source.len).step_by(BATCH).map(move |start| {
            let rows = BATCH.min(source.len - start);
            let per = rows.div_ceil(parallel::cores());
            let parts = parallel::map(rows.div_ceil(per.max(1)), |p| {
                let from = start + p * per;
                (from..(from + per).min(start + rows))
                    .map(|row| hash(&source.name, source.record_id(row)))
                    .collect::<Vec<u64>>()
            });
            let ids = UInt64Array::from(parts.concat());
            Ok(RecordBatch::try_new(schema(), vec![Arc::new(ids) as ArrayRef])?)
        })
    })
}

/// Whether any of `wanted` is among the hashes of `files` (the chain's
/// `_ids` files), each file's parts read on every core.
pub async fn any_of(ctx: &SessionContext, files: &[Url], wanted: &HashSet<u64>) -> Result<bool> {
    let filter = KeyFilter::new(wanted.iter().copied(), wanted.len());
    let filter = &filter;
    for url in files {
        let file = StateFile::open(&ctx.runtime_env(), url).await?;
        let parts = file.parts().await?;
        let file_ref = &file;
        let found = parallel::on_cores(parts.len(), |p| {
            let groups = parts[p].groups.clone();
            async move {
                let builder = file_ref.builder().await?;
                let mask = ProjectionMask::roots(builder.parquet_schema(), [0]);
                let mut hashes = builder.with_row_groups(groups).with_projection(mask).build()?;
                while let Some(batch) = hashes.next().await {
                    let batch = batch?;
                    let column = batch.column(0).as_primitive_opt::<UInt64Type>().ok_or_else(|| {
                        Error::Usage(
                            "the identity state's `_ids` table has an unexpected type; run `oneview resolve --full`"
                                .into(),
                        )
                    })?;
                    if column
                        .values()
                        .iter()
                        .any(|h| filter.may_contain(*h) && wanted.contains(h))
                    {
                        return Ok(true);
                    }
                }
                Ok::<_, Error>(false)
            }
        })
        .await;
        for part in found {
            if part? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
