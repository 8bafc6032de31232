//! Column buffers for the generated tables, flushed to Parquet a row group at
//! a time so memory stays flat whatever the number of customers.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// A column type of the generated data.
pub trait Column: ArrayBuilder + Default {
    fn data_type() -> DataType;
}

impl Column for StringBuilder {
    fn data_type() -> DataType {
        DataType::Utf8
    }
}
impl Column for Int64Builder {
    fn data_type() -> DataType {
        DataType::Int64
    }
}
impl Column for Float64Builder {
    fn data_type() -> DataType {
        DataType::Float64
    }
}
impl Column for BooleanBuilder {
    fn data_type() -> DataType {
        DataType::Boolean
    }
}
impl Column for TimestampMicrosecondBuilder {
    fn data_type() -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, None)
    }
}

/// A table's buffered rows.
pub trait Rows {
    const NAME: &'static str;
    fn schema() -> SchemaRef;
    fn len(&self) -> usize;
    fn finish(&mut self) -> Vec<ArrayRef>;
}

/// Declares a table: a struct with one builder per column.
macro_rules! table {
    ($(#[$doc:meta])* $name:ident = $sql:literal { $($col:ident: $ty:ty),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Default)]
        pub struct $name {
            $(pub $col: $ty,)+
        }

        impl $crate::datagen::table::Rows for $name {
            const NAME: &'static str = $sql;

            fn schema() -> datafusion::arrow::datatypes::SchemaRef {
                use $crate::datagen::table::Column;
                std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
                    $(datafusion::arrow::datatypes::Field::new(stringify!($col), <$ty>::data_type(), true),)+
                ]))
            }

            fn len(&self) -> usize {
                let lens = [$(datafusion::arrow::array::ArrayBuilder::len(&self.$col)),+];
                debug_assert!(lens.iter().all(|l| *l == lens[0]), "ragged row in {}", $sql);
                lens[0]
            }

            fn finish(&mut self) -> Vec<datafusion::arrow::array::ArrayRef> {
                vec![$(std::sync::Arc::new(self.$col.finish()) as datafusion::arrow::array::ArrayRef),+]
            }
        }
    };
}
pub(crate) use table;

/// Writes one Parquet file for a table, a row group at a time.
pub struct TableWriter<R: Rows> {
    rows: R,
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    row_group_rows: usize,
    written: u64,
    path: PathBuf,
}

impl<R: Rows + Default> TableWriter<R> {
    pub fn create(dir: &Path, part: usize, row_group_rows: usize) -> Result<Self> {
        let table_dir = dir.join(R::NAME);
        std::fs::create_dir_all(&table_dir)
            .map_err(|e| Error::io(format!("cannot create {}", table_dir.display()), e))?;
        let path = table_dir.join(format!("part-{part:05}.parquet"));
        let file = File::create(&path).map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level")))
            .set_max_row_group_row_count(Some(row_group_rows))
            .set_created_by(format!("oneview gen {}", env!("CARGO_PKG_VERSION")))
            .build();
        let schema = R::schema();
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))?;
        Ok(Self {
            rows: R::default(),
            writer,
            schema,
            row_group_rows,
            written: 0,
            path,
        })
    }

    /// The buffers to append a row to; call [`TableWriter::end_row`] after.
    pub fn row(&mut self) -> &mut R {
        &mut self.rows
    }

    pub fn end_row(&mut self) -> Result<()> {
        if self.rows.len() >= self.row_group_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let n = self.rows.len();
        if n == 0 {
            return Ok(());
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), self.rows.finish())?;
        self.writer.write(&batch).map_err(|e| self.fail(e))?;
        self.written += n as u64;
        Ok(())
    }

    fn fail(&self, e: datafusion::parquet::errors::ParquetError) -> Error {
        Error::Output {
            target: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// Flushes the rest and closes the file; returns the rows written.
    pub fn close(mut self) -> Result<u64> {
        self.flush()?;
        let path = self.path.display().to_string();
        self.writer.close().map_err(|e| Error::Output {
            target: path,
            message: e.to_string(),
        })?;
        Ok(self.written)
    }
}
