//! Parquet encoded on every core, a column a job.
//!
//! `ArrowWriter` encodes and compresses one column after another on the
//! thread that hands it a batch: writing a wide table from a stream (the
//! golden records, the links, a query's result) kept one core busy while
//! the others waited. This writer buffers batches up to `BUFFERED_ROWS`,
//! then encodes each column of them (all the leaves of a nested one) as a
//! job of its own, the largest first, on every core. The file is what
//! `ArrowWriter` writes with the same properties (row groups of
//! `max_row_group_row_count` rows, the Arrow schema stored in its
//! metadata), but for two settings no oneview writer sets: row groups are
//! not cut at `max_row_group_bytes`, and pages not at content-defined
//! chunks. Up to `BUFFERED_ROWS` rows wait unencoded, outside the memory
//! pool.

use std::cmp::Reverse;
use std::io::Write;
use std::sync::{Mutex, PoisonError};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::writer::SerializedFileWriter;

use crate::error::Result;
use crate::util::parallel;

/// Rows buffered before they are encoded: enough that a column's job
/// outweighs starting a thread for it.
const BUFFERED_ROWS: usize = 1 << 16;

pub struct ParallelParquetWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The open row group's writers: per field, those of its leaves.
    writers: Option<Vec<Vec<ArrowColumnWriter>>>,
    buffered: Vec<RecordBatch>,
    buffered_rows: usize,
    /// Rows of the open row group encoded already.
    encoded_rows: usize,
    max_group_rows: usize,
    groups: usize,
}

impl<W: Write + Send> ParallelParquetWriter<W> {
    pub fn try_new(sink: W, schema: SchemaRef, properties: WriterProperties) -> Result<Self> {
        let max_group_rows = properties.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        // ArrowWriter makes the file writer as it would write itself: the
        // Arrow schema goes into the file's metadata.
        let (file, factory) =
            ArrowWriter::try_new(sink, std::sync::Arc::clone(&schema), Some(properties))?.into_serialized_writer()?;
        Ok(ParallelParquetWriter {
            file,
            factory,
            schema,
            writers: None,
            buffered: Vec::new(),
            buffered_rows: 0,
            encoded_rows: 0,
            max_group_rows,
            groups: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let room = self.max_group_rows - self.encoded_rows - self.buffered_rows;
        if rows > room {
            self.write(&batch.slice(0, room))?;
            return self.write(&batch.slice(room, rows - room));
        }
        self.buffered.push(batch.clone());
        self.buffered_rows += rows;
        if rows == room {
            self.close_group()
        } else if self.buffered_rows >= BUFFERED_ROWS {
            self.encode_buffered()
        } else {
            Ok(())
        }
    }

    pub fn close(mut self) -> Result<()> {
        self.close_group()?;
        self.file.close()?;
        Ok(())
    }

    /// Encodes the buffered batches into the open row group's writers,
    /// a field a job, the largest fields first (so that the jobs end
    /// together).
    fn encode_buffered(&mut self) -> Result<()> {
        if self.buffered.is_empty() {
            return Ok(());
        }
        if self.writers.is_none() {
            self.writers = Some(self.open_group()?);
        }
        let batches = std::mem::take(&mut self.buffered);
        let schema = &self.schema;
        let writers = self.writers.as_mut().expect("opened above");
        let mut order: Vec<usize> = (0..writers.len()).collect();
        order.sort_by_key(|&field| {
            Reverse(
                batches
                    .iter()
                    .map(|b| b.column(field).get_array_memory_size())
                    .sum::<usize>(),
            )
        });
        let jobs: Vec<Mutex<&mut Vec<ArrowColumnWriter>>> = writers.iter_mut().map(Mutex::new).collect();
        let done = parallel::map(order.len(), |job| {
            let field = order[job];
            let mut leaves_writers = jobs[field].lock().unwrap_or_else(PoisonError::into_inner);
            for batch in &batches {
                let leaves = compute_leaves(schema.field(field), batch.column(field))?;
                for (writer, leaf) in leaves_writers.iter_mut().zip(&leaves) {
                    writer.write(leaf)?;
                }
            }
            Ok::<_, ParquetError>(())
        });
        done.into_iter().collect::<std::result::Result<(), _>>()?;
        self.encoded_rows += self.buffered_rows;
        self.buffered_rows = 0;
        Ok(())
    }

    /// Writers for a new row group, grouped by the field their leaf
    /// belongs to.
    fn open_group(&self) -> Result<Vec<Vec<ArrowColumnWriter>>> {
        let descriptor = self.file.schema_descr();
        let mut by_field: Vec<Vec<ArrowColumnWriter>> = (0..self.schema.fields().len()).map(|_| Vec::new()).collect();
        for (leaf, writer) in self.factory.create_column_writers(self.groups)?.into_iter().enumerate() {
            by_field[descriptor.get_column_root_idx(leaf)].push(writer);
        }
        Ok(by_field)
    }

    /// Encodes what is buffered, closes the columns (each finishing its
    /// last page on a core) and writes the row group.
    fn close_group(&mut self) -> Result<()> {
        self.encode_buffered()?;
        let Some(writers) = self.writers.take() else {
            return Ok(());
        };
        let jobs: Vec<Mutex<Option<Vec<ArrowColumnWriter>>>> =
            writers.into_iter().map(|w| Mutex::new(Some(w))).collect();
        let chunks = parallel::map(jobs.len(), |field| {
            let writers = jobs[field]
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .expect("each field is closed once");
            writers
                .into_iter()
                .map(ArrowColumnWriter::close)
                .collect::<std::result::Result<Vec<ArrowColumnChunk>, _>>()
        });
        let mut group = self.file.next_row_group()?;
        for field in chunks {
            for chunk in field? {
                chunk.append_to_row_group(&mut group)?;
            }
        }
        group.close()?;
        self.groups += 1;
        self.encoded_rows = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array, ListArray, StringArray};
    use datafusion::arrow::datatypes::Int32Type;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn batch(from: i64, rows: usize) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(from..from + rows as i64));
        let names: ArrayRef = Arc::new(StringArray::from_iter(
            (0..rows).map(|i| (i % 7 != 0).then(|| format!("name {}", from + i as i64))),
        ));
        let lists: ArrayRef =
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>((0..rows).map(|i| {
                (i % 5 != 0).then(|| (0..(i % 4) as i32).map(Some).collect::<Vec<_>>())
            })));
        RecordBatch::try_from_iter([("id", ids), ("name", names), ("list", lists)]).unwrap()
    }

    /// What `ArrowWriter` and this writer make of the same batches reads
    /// back the same, in row groups of the same sizes.
    #[test]
    fn the_file_reads_back_as_arrow_writer_s_does() {
        let batches: Vec<RecordBatch> = (0..40).map(|b| batch(b * 9_000, 9_000)).collect();
        let schema = batches[0].schema();
        let properties = || {
            WriterProperties::builder()
                .set_max_row_group_row_count(Some(100_000))
                .build()
        };
        let mut ours = Vec::new();
        let mut writer = ParallelParquetWriter::try_new(&mut ours, Arc::clone(&schema), properties()).unwrap();
        let mut theirs = Vec::new();
        let mut reference = ArrowWriter::try_new(&mut theirs, Arc::clone(&schema), Some(properties())).unwrap();
        for b in &batches {
            writer.write(b).unwrap();
            reference.write(b).unwrap();
        }
        writer.close().unwrap();
        reference.close().unwrap();
        let read = |bytes: Vec<u8>| {
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
            let groups: Vec<i64> = builder.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
            let read: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
            (
                groups,
                datafusion::arrow::compute::concat_batches(&schema, &read).unwrap(),
            )
        };
        let (our_groups, our_rows) = read(ours);
        let (their_groups, their_rows) = read(theirs);
        assert_eq!(our_groups, their_groups);
        assert_eq!(our_groups.iter().sum::<i64>(), 360_000);
        assert_eq!(our_rows, their_rows);
    }

    #[test]
    fn no_rows_make_a_file_with_the_schema() {
        let schema = batch(0, 1).schema();
        let mut bytes = Vec::new();
        let writer =
            ParallelParquetWriter::try_new(&mut bytes, Arc::clone(&schema), WriterProperties::default()).unwrap();
        writer.close().unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(builder.schema().fields(), schema.fields());
        assert_eq!(builder.metadata().num_row_groups(), 0);
    }
}
