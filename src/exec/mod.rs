//! Running SQL text: splitting it into statements, planning and executing
//! each, and sending results to the terminal or to a file/object.

mod output;
mod render;

use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::ast::{ObjectType, Statement as SqlStatement};
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use futures::StreamExt;

pub use output::{Destination, OutputFormat, ResultWriter};

use crate::catalog::ProjectSchema;
use crate::error::{Error, Result};
use crate::session::{CATALOG, SCHEMA};

/// Where and how results go.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    pub format: OutputFormat,
    pub destination: Destination,
    /// For the table format on a terminal: rows shown before eliding.
    pub max_rows: Option<usize>,
}

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
pub async fn execute(
    ctx: &SessionContext,
    statement: Statement,
) -> Result<SendableRecordBatchStream> {
    refuse_dropping_project_tables(ctx, &statement)?;
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

async fn run_one(
    ctx: &SessionContext,
    statement: Statement,
    output: &OutputSpec,
    is_last: bool,
) -> Result<u64> {
    let spinner = crate::progress::spinner("running query");
    let stream = execute(ctx, statement).await;
    spinner.finish_and_clear();
    let stream = stream?;
    if stream.schema().fields().is_empty() {
        drain(stream).await?;
        return Ok(0);
    }
    let destination = match (&output.destination, is_last) {
        (Destination::Stdout, _) | (_, true) => output.destination.clone(),
        // An earlier statement of a script whose last result goes to a file.
        (_, false) => {
            drain(stream).await?;
            return Ok(0);
        }
    };
    let spec = OutputSpec {
        destination,
        ..output.clone()
    };
    let writer = ResultWriter::open(&spec, ctx).await?;
    writer.write_stream(stream).await
}

/// DataFusion reports a refused DROP of a project table as "doesn't exist",
/// which sends users looking in the wrong place.
fn refuse_dropping_project_tables(ctx: &SessionContext, statement: &Statement) -> Result<()> {
    let Statement::Statement(inner) = statement else {
        return Ok(());
    };
    let SqlStatement::Drop {
        object_type: ObjectType::Table,
        names,
        ..
    } = inner.as_ref()
    else {
        return Ok(());
    };
    let schema = ctx.catalog(CATALOG).and_then(|c| c.schema(SCHEMA));
    let Some(project) = schema
        .as_ref()
        .and_then(|s| s.downcast_ref::<ProjectSchema>())
    else {
        return Ok(());
    };
    for name in names {
        let table = name
            .0
            .last()
            .map(|part| part.to_string())
            .unwrap_or_default();
        if project.spec(&table).is_some() {
            return Err(Error::Usage(format!(
                "`{table}` is a table of the project (oneview.toml) and cannot be dropped; remove it from the file instead"
            )));
        }
    }
    Ok(())
}

async fn drain(mut stream: SendableRecordBatchStream) -> Result<()> {
    while let Some(batch) = stream.next().await {
        batch?;
    }
    Ok(())
}
