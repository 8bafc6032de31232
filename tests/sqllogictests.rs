//! Runs every `tests/slt/*.slt` file against a oneview session over the demo
//! project: everything a user does in SQL is tested as SQL.
//!
//! `cargo test --test sqllogictests [FILTER]` runs the files whose name
//! contains FILTER.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::TryStreamExt;
use oneview::project::Project;
use oneview::session::{Session, SessionOptions};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

struct Oneview {
    session: Session,
}

#[async_trait]
impl AsyncDB for Oneview {
    type Error = oneview::Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, oneview::Error> {
        // The same path as `oneview sql`: parse, plan, execute.
        let mut statements = oneview::exec::parse_statements(&self.session.ctx, sql)?;
        let statement = match (statements.pop(), statements.is_empty()) {
            (Some(statement), true) => statement,
            _ => return Err(oneview::Error::Usage("one statement per record".into())),
        };
        let stream = oneview::exec::execute(&self.session.ctx, statement).await?;
        let schema = stream.schema();
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
        Ok(DBOutput::Rows {
            types,
            rows: render(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "oneview"
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => DefaultColumnType::Integer,
        DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => {
            DefaultColumnType::FloatingPoint
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

fn render(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, oneview::Error> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| oneview::Error::Query(e.into()))?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .zip(batch.columns())
                    .map(|(f, column)| {
                        let text = f.value(row).to_string();
                        match column.data_type() {
                            // Whole floats print as integers, as in DataFusion's own tests.
                            DataType::Float64 | DataType::Float32 => {
                                text.strip_suffix(".0").unwrap_or(&text).to_string()
                            }
                            _ if text.is_empty() => "(empty)".to_string(),
                            _ => text,
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

fn slt_files(filter: Option<&str>) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| filter.is_none_or(|f| p.file_name().unwrap().to_string_lossy().contains(f)))
        .collect();
    files.sort();
    files
}

fn main() {
    // `cargo test` passes its own flags (some with a value); a bare word is
    // a filter on file names.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let takes_value = [
        "--test-threads",
        "--skip",
        "--format",
        "--color",
        "-Z",
        "--logfile",
        "--report-time",
    ];
    let filter = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with('-') && (*i == 0 || !takes_value.contains(&args[i - 1].as_str())))
        .map(|(_, a)| a.clone());
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
    let mut failed = 0;
    let files = slt_files(filter.as_deref());
    if files.is_empty() {
        println!("slt: no .slt file matches {filter:?}");
        std::process::exit(1);
    }
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let demo = demo.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let demo = demo.clone();
            async move {
                let project = Project::load(&demo)?;
                Ok(Oneview {
                    session: Session::open(project, &SessionOptions::default())?,
                })
            }
        });
        match runtime.block_on(runner.run_file_async(file)) {
            Ok(()) => println!("slt {name} ... ok"),
            Err(e) => {
                failed += 1;
                println!("slt {name} ... FAILED\n{e}\n");
            }
        }
    }
    println!("\nslt: {} passed, {failed} failed", files.len() - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
