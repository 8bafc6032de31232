//! The `table` output format: an aligned text table for people, eliding
//! rows beyond a limit so a `SELECT *` on a big table stays readable.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::error::Result;

/// Keeps at most `max_rows` rows and counts the rest.
pub async fn collect_for_display(
    stream: &mut SendableRecordBatchStream,
    max_rows: Option<usize>,
) -> Result<(Vec<RecordBatch>, u64)> {
    let limit = max_rows.unwrap_or(usize::MAX);
    let mut kept = Vec::new();
    let mut kept_rows = 0usize;
    let mut total = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        total += batch.num_rows() as u64;
        if kept_rows < limit {
            let take = (limit - kept_rows).min(batch.num_rows());
            kept.push(batch.slice(0, take));
            kept_rows += take;
        }
    }
    Ok((kept, total))
}

pub fn table(schema: &SchemaRef, batches: &[RecordBatch], total: u64) -> Result<String> {
    let shown: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut text = if shown == 0 {
        // Show the header even without rows, as psql and DuckDB do.
        let empty = RecordBatch::new_empty(schema.clone());
        pretty_format_batches(&[empty])?.to_string()
    } else {
        pretty_format_batches(batches)?.to_string()
    };
    text.push('\n');
    if (shown as u64) < total {
        text.push_str(&format!(
            "({total} rows, {shown} shown; use --max-rows or another --format for all)\n"
        ));
    }
    Ok(text)
}
