//! What each customer's golden record was chosen from, kept for a run that
//! grows this one (`incremental`): per customer and golden column, the
//! winning value's hash (`state::key`) and what survivorship weighed of it
//! (`Stats`). (The golden record's `records` and `sources` a growing run
//! adds to as they are.)
//!
//! Numbers only, so that a growing run reads the winners of the customers
//! it touches without reading the identity state's values (`state`) whole:
//! the winning value itself is in the golden record. Written as the hidden
//! table `_winners` beside the state, by the same runs; a row of a later
//! file replaces the row of an earlier one with the same customer and slot
//! (a row of no records: the slot has no winner any more).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, AsArray, BooleanArray, Int64Builder, RecordBatch, UInt16Builder, UInt32Builder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, UInt16Type, UInt32Type, UInt64Type};
use datafusion::common::HashMap;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::RowSelection;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use url::Url;

use super::state::{StateFile, Stats};
use crate::error::{Error, Result};
use crate::util::parallel;

/// The hidden table's name (its folder below the output's `identity/`).
pub const WINNERS: &str = "_winners";

/// A customer's slots: its golden columns' winners by column index
/// (`golden::columns`).
pub type Slot = u16;

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::UInt64, false),
        Field::new("slot", DataType::UInt16, false),
        Field::new("key", DataType::UInt64, false),
        Field::new("records", DataType::UInt64, false),
        Field::new("updated", DataType::Int64, false),
        Field::new("updated_priority", DataType::UInt32, false),
        Field::new("priority", DataType::UInt32, false),
    ]))
}

/// A slot's winner: the value's hash and stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Winner {
    pub key: u64,
    pub stats: Stats,
}

/// The rows of `_winners`, built a row at a time.
#[derive(Default)]
pub struct Rows {
    customer: UInt64Builder,
    slot: UInt16Builder,
    key: UInt64Builder,
    records: UInt64Builder,
    updated: Int64Builder,
    updated_priority: UInt32Builder,
    priority: UInt32Builder,
}

impl Rows {
    pub fn push(&mut self, customer: u64, slot: Slot, winner: Winner) {
        self.customer.append_value(customer);
        self.slot.append_value(slot);
        self.key.append_value(winner.key);
        self.records.append_value(winner.stats.records);
        self.updated.append_value(winner.stats.updated);
        self.updated_priority.append_value(winner.stats.updated_priority);
        self.priority.append_value(winner.stats.priority);
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.customer.finish()),
            Arc::new(self.slot.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.records.finish()),
            Arc::new(self.updated.finish()),
            Arc::new(self.updated_priority.finish()),
            Arc::new(self.priority.finish()),
        ];
        Ok(RecordBatch::try_new(schema(), columns)?)
    }
}

/// Winners by customer and slot.
pub type Held = HashMap<(u64, Slot), Winner>;

/// The winners of the slots `want` picks, from `files` (newest first: a
/// slot's row in a newer file is the one kept). Each file's customer and
/// slot columns are read first, then the picked rows whole, each file's
/// parts (`StateFile::parts`) on every core.
pub async fn read(ctx: &SessionContext, files: &[Url], want: impl Fn(u64, Slot) -> bool + Sync) -> Result<Held> {
    let mut held = Held::default();
    for url in files {
        let file = StateFile::open(&ctx.runtime_env(), url).await?;
        let parts = file.parts().await?;
        let (file_ref, held_ref, want) = (&file, &held, &want);
        let done = parallel::on_cores(parts.len(), |p| {
            let groups = parts[p].groups.clone();
            async move {
                let builder = file_ref.builder().await?;
                let mask = ProjectionMask::roots(builder.parquet_schema(), [0, 1]);
                let mut keys = builder.with_row_groups(groups.clone()).with_projection(mask).build()?;
                let mut picked: Vec<BooleanArray> = Vec::new();
                while let Some(batch) = keys.next().await {
                    let batch = batch?;
                    let (customer, slot) = (
                        batch.column(0).as_primitive::<UInt64Type>(),
                        batch.column(1).as_primitive::<UInt16Type>(),
                    );
                    picked.push(
                        (0..batch.num_rows())
                            .map(|i| {
                                let at = (customer.value(i), slot.value(i));
                                Some(want(at.0, at.1) && !held_ref.contains_key(&at))
                            })
                            .collect(),
                    );
                }
                let mut rows = Vec::new();
                if picked.iter().any(|p| p.true_count() > 0) {
                    let mut read = file_ref
                        .selective_builder()
                        .await?
                        .with_row_groups(groups)
                        .with_row_selection(RowSelection::from_filters(&picked))
                        .build()?;
                    while let Some(batch) = read.next().await {
                        rows.push(batch?);
                    }
                }
                Ok::<_, Error>(rows)
            }
        })
        .await;
        for part in done {
            for batch in part? {
                add_rows(&batch, &mut held)?;
            }
        }
    }
    // A row of no records says the slot has no winner any more (its
    // customer was linked again, `relink`): it hid the older files' rows.
    held.retain(|_, winner| winner.stats.records > 0);
    Ok(held)
}

/// A row saying a customer's slot has no winner any more (`read` skips it,
/// and the older files' rows of the slot).
pub fn push_none(rows: &mut Rows, customer: u64, slot: Slot) {
    rows.push(
        customer,
        slot,
        Winner {
            key: 0,
            stats: Stats::NONE,
        },
    );
}

/// Adds a batch of `_winners` rows to `held`, but for slots held already
/// (read from a newer file).
pub(super) fn add_rows(batch: &RecordBatch, held: &mut Held) -> Result<()> {
    let bad = || {
        Error::Usage(
            "the identity state's `_winners` table has an unexpected type; run `oneview resolve --full`".into(),
        )
    };
    let column = |i: usize| -> Result<&ArrayRef> {
        (batch.num_columns() == schema().fields().len())
            .then(|| batch.column(i))
            .ok_or_else(bad)
    };
    let customer = column(0)?.as_primitive_opt::<UInt64Type>().ok_or_else(bad)?;
    let slot = column(1)?.as_primitive_opt::<UInt16Type>().ok_or_else(bad)?;
    let key = column(2)?.as_primitive_opt::<UInt64Type>().ok_or_else(bad)?;
    let records = column(3)?.as_primitive_opt::<UInt64Type>().ok_or_else(bad)?;
    let updated = column(4)?.as_primitive_opt::<Int64Type>().ok_or_else(bad)?;
    let updated_priority = column(5)?.as_primitive_opt::<UInt32Type>().ok_or_else(bad)?;
    let priority = column(6)?.as_primitive_opt::<UInt32Type>().ok_or_else(bad)?;
    for i in 0..batch.num_rows() {
        held.entry((customer.value(i), slot.value(i))).or_insert(Winner {
            key: key.value(i),
            stats: Stats {
                records: records.value(i),
                updated: updated.value(i),
                updated_priority: updated_priority.value(i),
                priority: priority.value(i),
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_newest_first() {
        let mut rows = Rows::default();
        let w = |key, records| Winner {
            key,
            stats: Stats {
                records,
                ..Stats::of(5, 1)
            },
        };
        rows.push(7, 0, w(11, 2));
        rows.push(7, 2, w(0, 4));
        let older = rows.finish().unwrap();
        rows.push(7, 0, w(12, 3));
        let newer = rows.finish().unwrap();
        let mut held = Held::default();
        add_rows(&newer, &mut held).unwrap();
        add_rows(&older, &mut held).unwrap();
        assert_eq!(held[&(7, 0)], w(12, 3), "a newer file's row is kept");
        assert_eq!(held[&(7, 2)], w(0, 4));
        assert_eq!(held.len(), 2);
    }
}
