//! Running SQL text: splitting it into statements, planning and executing
//! each (refusing those that would change the project's source data), and
//! sending results to the terminal or to a file or object through storage's
//! result writer.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::ast::{ObjectType, Statement as SqlStatement};
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use futures::StreamExt;

use crate::catalog::{CATALOG, ProjectSchema, SCHEMA};
use crate::error::{Error, Result};
use crate::storage::{Destination, OutputFormat, OutputSpec, ResultWriter};
use crate::util::progress;

/// Splits SQL text into statements (a parse error anywhere stops everything
/// before any statement runs).
pub fn parse_statements(ctx: &SessionContext, sql: &str) -> Result<Vec<Statement>> {
    let state = ctx.state();
    let options = &state.config().options().sql_parser;
    let dialect = dialect_from_str(options.dialect)
        .ok_or_else(|| Error::Usage(format!("unknown SQL dialect {}", options.dialect)))?;
    let statements = DFParserBuilder::new(sql)
        .with_dialect(dialect.as_ref())
        .with_recursion_limit(options.recursion_limit.get())
        .build()?
        .parse_statements()?;
    Ok(statements.into_iter().collect())
}

/// Plans and starts one statement; DDL statements run to completion here.
pub async fn execute(ctx: &SessionContext, statement: Statement) -> Result<SendableRecordBatchStream> {
    guard_statement(ctx, &statement)?;
    let plan = ctx.state().statement_to_plan(statement).await?;
    let df = ctx.execute_logical_plan(plan).await?;
    Ok(df.execute_stream().await?)
}

/// Runs every statement of `sql`. Results of statements that return columns
/// are written; with a file or object destination only the last statement's
/// result is written there (earlier ones must still succeed).
pub async fn run_sql(ctx: &SessionContext, sql: &str, output: &OutputSpec) -> Result<u64> {
    let statements = parse_statements(ctx, sql)?;
    if statements.is_empty() {
        return Err(Error::Usage("no SQL statement given".into()));
    }
    let count = statements.len();
    let mut rows = 0;
    for (i, statement) in statements.into_iter().enumerate() {
        let is_last = i + 1 == count;
        let result = run_one(ctx, statement, output, is_last).await;
        match result {
            Ok(n) => rows = n,
            Err(e) if count > 1 => {
                return Err(Error::Statement {
                    index: i + 1,
                    count,
                    source: Box::new(e),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(rows)
}

async fn run_one(ctx: &SessionContext, statement: Statement, output: &OutputSpec, is_last: bool) -> Result<u64> {
    let spinner = progress::spinner("running query");
    let stream = match execute(ctx, statement).await {
        Ok(stream) => stream,
        Err(e) => {
            spinner.finish_and_clear();
            return Err(e);
        }
    };
    let destination = match (&output.destination, is_last) {
        _ if stream.schema().fields().is_empty() => None,
        (Destination::Stdout, _) | (_, true) => Some(output.destination.clone()),
        // An earlier statement of a script whose last result goes to a file.
        (_, false) => None,
    };
    let Some(destination) = destination else {
        let drained = drain(stream).await;
        spinner.finish_and_clear();
        return drained.map(|_| 0);
    };
    let spec = OutputSpec {
        destination,
        ..output.clone()
    };
    let writer = ResultWriter::open(&spec, ctx).await?.with_progress(spinner);
    writer.write_stream(stream).await
}

/// Statements that would change data behind the user's back are refused:
/// dropping or inserting into a project table (DataFusion would report a
/// refused DROP as "doesn't exist", and an INSERT would add files to the
/// source folder), and COPY, which writes files non-atomically.
fn guard_statement(ctx: &SessionContext, statement: &Statement) -> Result<()> {
    let refuse = |message: String| Err(Error::Query(DataFusionError::Plan(message)));
    let inner = match statement {
        Statement::CopyTo(_) => {
            return refuse(
                "COPY is not supported: write results with `oneview sql -o PATH|URL`, which writes atomically".into(),
            );
        }
        Statement::Statement(inner) => inner.as_ref(),
        _ => return Ok(()),
    };
    let (names, verb): (Vec<String>, &str) = match inner {
        SqlStatement::Drop {
            object_type: ObjectType::Table,
            names,
            ..
        } => (names.iter().map(|n| n.to_string()).collect(), "dropped"),
        SqlStatement::Insert(insert) => (vec![insert.table.to_string()], "written to"),
        _ => return Ok(()),
    };
    let schema = ctx.catalog(CATALOG).and_then(|c| c.schema(SCHEMA));
    let Some(project) = schema.as_ref().and_then(|s| s.downcast_ref::<ProjectSchema>()) else {
        return Ok(());
    };
    for name in names {
        let table = name.rsplit('.').next().unwrap_or(&name).trim_matches('"').to_string();
        if project.spec(&table).is_some() {
            return refuse(format!(
                "`{table}` is a table of the project (oneview.toml) and cannot be {verb}; its files are the source data"
            ));
        }
    }
    Ok(())
}

/// Writes one in-memory result (a listing, a summary, a diff) to `spec`.
pub async fn write_batch(ctx: &SessionContext, batch: RecordBatch, spec: &OutputSpec) -> Result<u64> {
    let stream = RecordBatchStreamAdapter::new(batch.schema(), futures::stream::iter([Ok(batch)]));
    ResultWriter::open(spec, ctx)
        .await?
        .write_stream(Box::pin(stream))
        .await
}

/// Writes one in-memory result to standard output.
pub async fn print_batch(ctx: &SessionContext, batch: RecordBatch, format: OutputFormat) -> Result<u64> {
    let spec = OutputSpec {
        format,
        destination: Destination::Stdout,
        max_rows: None,
    };
    write_batch(ctx, batch, &spec).await
}

/// A listing of text columns as one batch.
pub fn text_batch(columns: Vec<(&str, Vec<Option<String>>)>) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, _)| Field::new(*name, DataType::Utf8, true))
        .collect();
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .map(|(_, values)| Arc::new(StringArray::from(values)) as ArrayRef)
        .collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

async fn drain(mut stream: SendableRecordBatchStream) -> Result<()> {
    while let Some(batch) = stream.next().await {
        batch?;
    }
    Ok(())
}
