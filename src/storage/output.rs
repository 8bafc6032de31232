//! Result output: encoders for each format and the sink they write to.
//!
//! A file or object destination is written through object_store's buffered
//! writer, which makes the object appear only when complete (a put, a
//! completed multipart upload, or a rename of a staged local file). On any
//! error the upload is aborted, so nothing is ever left at the final name.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use indicatif::ProgressBar;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use tokio::io::AsyncWriteExt;
use url::Url;

use super::format::OutputFormat;
use super::parallel_parquet::ParallelParquetWriter;
use super::parquet::parquet_properties;
use super::render;
use crate::error::{Error, Result};

/// Where and how results go.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    pub format: OutputFormat,
    pub destination: Destination,
    /// For the table format on a terminal: rows shown before eliding.
    pub max_rows: Option<usize>,
}

#[derive(Debug, Clone)]
pub enum Destination {
    Stdout,
    Url(Url),
}

enum Sink {
    Stdout { closed: bool },
    Object { writer: Box<BufWriter>, target: String },
}

impl Sink {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            Sink::Stdout { closed } => {
                if *closed {
                    return Ok(());
                }
                let mut out = std::io::stdout().lock();
                match out.write_all(bytes) {
                    Ok(()) => Ok(()),
                    // `oneview sql … | head` closes the pipe early: not an
                    // error, but there is no point in computing the rest.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                        *closed = true;
                        Ok(())
                    }
                    Err(e) => Err(Error::io("cannot write to standard output", e)),
                }
            }
            Sink::Object { writer, target } => writer.write_all(bytes).await.map_err(|e| Error::Output {
                target: target.clone(),
                message: e.to_string(),
            }),
        }
    }

    async fn commit(&mut self) -> Result<()> {
        match self {
            Sink::Stdout { .. } => {
                let _ = std::io::stdout().lock().flush();
                Ok(())
            }
            Sink::Object { writer, target } => writer.shutdown().await.map_err(|e| Error::Output {
                target: target.clone(),
                message: e.to_string(),
            }),
        }
    }

    fn is_closed(&self) -> bool {
        matches!(self, Sink::Stdout { closed: true })
    }

    async fn abort(&mut self) {
        if let Sink::Object { writer, .. } = self {
            let _ = writer.abort().await;
        }
    }
}

/// A `Write` whose bytes the async side takes after each batch.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("buffer lock"))
    }
}

enum Encoder {
    Csv(Box<csv::Writer<SharedBuf>>),
    Json(ArrayWriter<SharedBuf>),
    Ndjson(LineDelimitedWriter<SharedBuf>),
    /// With the schema it writes: view types as their classic forms.
    Parquet(Box<ParallelParquetWriter<SharedBuf>>, SchemaRef),
}

/// A type with string and binary views (DataFusion's) as Utf8 and Binary.
/// The Parquet is the same, but the Arrow schema stored in the file names
/// the type: a file written with views beside files written with Utf8 (by
/// any other tool, or the generator) makes their folder's table fail to
/// merge schemas, and older readers cannot read views.
fn classic_type(t: &DataType) -> DataType {
    let field = |f: &FieldRef| Arc::new(Field::clone(f).with_data_type(classic_type(f.data_type())));
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect::<Fields>()),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        other => other.clone(),
    }
}

fn classic_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Fields = schema
        .fields()
        .iter()
        .map(|f| Arc::new(Field::clone(f).with_data_type(classic_type(f.data_type()))))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// A batch cast to `schema` (a no-op where the types already agree).
fn cast_to(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast(column, field.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

impl Encoder {
    fn new(
        format: OutputFormat,
        schema: &SchemaRef,
        buf: &SharedBuf,
        parquet: Option<WriterProperties>,
    ) -> Result<Encoder> {
        Ok(match format {
            OutputFormat::Csv => Encoder::Csv(Box::new(csv::WriterBuilder::new().with_header(true).build(buf.clone()))),
            OutputFormat::Json => Encoder::Json(ArrayWriter::new(buf.clone())),
            OutputFormat::Ndjson => Encoder::Ndjson(LineDelimitedWriter::new(buf.clone())),
            OutputFormat::Parquet => {
                let classic = classic_schema(schema);
                let properties = parquet.unwrap_or_else(parquet_properties);
                let writer = ParallelParquetWriter::try_new(buf.clone(), Arc::clone(&classic), properties)?;
                Encoder::Parquet(Box::new(writer), classic)
            }
            OutputFormat::Table => unreachable!("the table format is rendered, not encoded"),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let result = match self {
            Encoder::Csv(w) => w.write(batch),
            Encoder::Json(w) => w.write(batch),
            Encoder::Ndjson(w) => w.write(batch),
            Encoder::Parquet(w, schema) => return w.write(&cast_to(batch, schema)?),
        };
        Ok(result?)
    }

    fn finish(self) -> Result<()> {
        let result = match self {
            Encoder::Csv(_) => Ok(()),
            Encoder::Json(mut w) => w.finish(),
            Encoder::Ndjson(mut w) => w.finish(),
            Encoder::Parquet(w, _) => return w.close(),
        };
        Ok(result?)
    }
}

pub struct ResultWriter {
    format: OutputFormat,
    sink: Sink,
    max_rows: Option<usize>,
    progress: Option<ProgressBar>,
    /// Parquet writer settings other than the default (zstd).
    parquet: Option<WriterProperties>,
}

impl ResultWriter {
    pub async fn open(spec: &OutputSpec, ctx: &SessionContext) -> Result<ResultWriter> {
        let sink = match &spec.destination {
            Destination::Stdout => {
                if spec.format == OutputFormat::Parquet && std::io::stdout().is_terminal() {
                    return Err(Error::Usage(
                        "refusing to write Parquet to a terminal; add -o FILE or pipe the output".into(),
                    ));
                }
                Sink::Stdout { closed: false }
            }
            Destination::Url(url) => {
                let store = ctx
                    .runtime_env()
                    .object_store_registry
                    .get_store(url)
                    .map_err(Error::Query)?;
                let path = object_path(url)?;
                Sink::Object {
                    writer: Box::new(BufWriter::new(store, path)),
                    target: url.to_string(),
                }
            }
        };
        let max_rows = match spec.destination {
            Destination::Stdout => spec.max_rows,
            Destination::Url(_) => None,
        };
        Ok(ResultWriter {
            format: spec.format,
            sink,
            max_rows,
            progress: None,
            parquet: None,
        })
    }

    /// Writes every batch of `stream`, then commits. Returns the row count.
    /// Shows `progress` until the first rows reach the terminal, or while
    /// rows are written to a file or object.
    /// Parquet written with `properties` (for files oneview alone reads).
    pub fn with_parquet_properties(mut self, properties: WriterProperties) -> Self {
        self.parquet = Some(properties);
        self
    }

    pub fn with_progress(mut self, progress: ProgressBar) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Writes every batch of `stream`, then commits; aborts on error or
    /// Ctrl-C, so nothing is left at the final name. Returns the row count.
    pub async fn write_stream(mut self, stream: SendableRecordBatchStream) -> Result<u64> {
        let result = tokio::select! {
            result = self.write_inner(stream) => result,
            _ = tokio::signal::ctrl_c() => Err(Error::Interrupted),
        };
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        self.settle(result).await
    }

    /// Writes batches made on demand (not a query's stream), then commits;
    /// aborts on error or Ctrl-C. Returns the row count.
    pub async fn write_batches<S>(mut self, schema: SchemaRef, batches: S) -> Result<u64>
    where
        S: futures::Stream<Item = Result<RecordBatch>> + Unpin,
    {
        let result = tokio::select! {
            result = self.encode(schema, batches) => result,
            _ = tokio::signal::ctrl_c() => Err(Error::Interrupted),
        };
        self.settle(result).await
    }

    /// Commits the output after a successful write, aborts it otherwise.
    async fn settle(&mut self, result: Result<u64>) -> Result<u64> {
        match result {
            Ok(rows) => {
                if let Err(e) = self.sink.commit().await {
                    self.sink.abort().await;
                    return Err(e);
                }
                Ok(rows)
            }
            Err(e) => {
                self.sink.abort().await;
                Err(e)
            }
        }
    }

    async fn write_inner(&mut self, mut stream: SendableRecordBatchStream) -> Result<u64> {
        let schema = stream.schema();
        if self.format == OutputFormat::Table {
            let (batches, total) = render::collect_for_display(&mut stream, self.max_rows).await?;
            if let Some(bar) = self.progress.take() {
                bar.finish_and_clear();
            }
            let text = render::table(&schema, &batches, total)?;
            self.sink.write(text.as_bytes()).await?;
            return Ok(total);
        }
        self.encode(schema, stream.map(|b| b.map_err(Error::Query))).await
    }

    /// Encodes batches in the writer's (non-table) format into the sink.
    async fn encode<S>(&mut self, schema: SchemaRef, mut stream: S) -> Result<u64>
    where
        S: futures::Stream<Item = Result<RecordBatch>> + Unpin,
    {
        let buf = SharedBuf::default();
        let mut encoder = Encoder::new(self.format, &schema, &buf, self.parquet.clone())?;
        let mut rows = 0u64;
        let mut batches = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            batches += 1;
            encoder.write(&batch)?;
            let bytes = buf.take();
            match (&self.progress, &self.sink) {
                (Some(bar), Sink::Object { .. }) => bar.set_message(format!("writing: {rows} rows")),
                (Some(_), Sink::Stdout { .. }) => self.progress.take().expect("present").finish_and_clear(),
                _ => {}
            }
            if !bytes.is_empty() {
                self.sink.write(&bytes).await?;
            }
            if self.sink.is_closed() {
                // Dropping the stream cancels the rest of the query.
                return Ok(rows);
            }
        }
        if batches == 0 {
            // An empty result still gets its CSV header (or Parquet schema).
            encoder.write(&RecordBatch::new_empty(Arc::clone(&schema)))?;
        }
        encoder.finish()?;
        self.sink.write(&buf.take()).await?;
        Ok(rows)
    }
}

fn object_path(url: &Url) -> Result<ObjectPath> {
    let invalid = |e: String| Error::Output {
        target: url.to_string(),
        message: e,
    };
    if url.scheme() == "file" {
        let path = url.to_file_path().map_err(|_| invalid("not a file path".into()))?;
        if path.is_dir() {
            return Err(invalid("it is a directory; expected a file name".into()));
        }
        ObjectPath::from_absolute_path(&path).map_err(|e| invalid(e.to_string()))
    } else {
        ObjectPath::from_url_path(url.path()).map_err(|e| invalid(e.to_string()))
    }
}
