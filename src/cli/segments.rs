//! `oneview segments …`: list, show, count, materialize, diff, export.

use std::sync::Arc;

use chrono::Utc;
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::args::{ExportFormat, SegmentsCommand};
use crate::error::{Error, Result};
use crate::exec::{print_batch, run_sql, text_batch, write_batch};
use crate::project::SegmentDef;
use crate::segments::KEY_COLUMN;
use crate::segments::membership::{self, Diff};
use crate::session::Session;
use crate::storage::{Destination, OutputFormat, OutputSpec, resolve_output};
use crate::util::progress;

pub async fn run(session: &Session, command: SegmentsCommand) -> Result<()> {
    match command {
        SegmentsCommand::List { format } => list(session, format).await,
        SegmentsCommand::Show { name, limit } => show(session, &name, limit).await,
        SegmentsCommand::Count { name, format } => count(session, name.as_deref(), format).await,
        SegmentsCommand::Materialize { name } => materialize(session, name.as_deref()).await,
        SegmentsCommand::Diff { name, format } => diff(session, &name, format).await,
        SegmentsCommand::Export {
            name,
            to,
            format,
            changes,
        } => export(session, &name, &to, format, changes).await,
    }
}

fn segment<'a>(session: &'a Session, name: &str) -> Result<&'a SegmentDef> {
    let segments = &session.project.segments;
    segments.iter().find(|s| s.name == name).ok_or_else(|| {
        Error::unknown_name(
            "segment",
            name,
            segments.iter().map(|s| s.name.as_str()),
            "(none; add SELECT files to segments/)",
        )
    })
}

/// One segment, or every segment in dependency order.
fn selected<'a>(session: &'a Session, name: Option<&str>) -> Result<Vec<&'a SegmentDef>> {
    match name {
        Some(name) => Ok(vec![segment(session, name)?]),
        None if session.project.segments.is_empty() => Err(Error::Usage(
            "the project has no segments; add one SELECT per file to segments/".into(),
        )),
        None => Ok(session.project.segments.iter().collect()),
    }
}

async fn list(session: &Session, format: OutputFormat) -> Result<()> {
    let state = session.state_store()?;
    let segments = &session.project.segments;
    let mut snapshots = Vec::with_capacity(segments.len());
    for s in segments {
        let at = membership::last_snapshot(&state, &s.name).await?;
        snapshots.push(at.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()));
    }
    let relative = |s: &SegmentDef| {
        s.file
            .strip_prefix(&session.project.dir)
            .unwrap_or(&s.file)
            .display()
            .to_string()
    };
    let batch = text_batch(vec![
        ("name", segments.iter().map(|s| Some(s.name.clone())).collect()),
        ("description", segments.iter().map(|s| s.description.clone()).collect()),
        ("owner", segments.iter().map(|s| s.owner.clone()).collect()),
        (
            "depends_on",
            segments
                .iter()
                .map(|s| (!s.depends_on.is_empty()).then(|| s.depends_on.join(", ")))
                .collect(),
        ),
        ("file", segments.iter().map(|s| Some(relative(s))).collect()),
        ("last_snapshot", snapshots),
    ])?;
    print_batch(&session.ctx, batch, format).await.map(|_| ())
}

async fn show(session: &Session, name: &str, limit: usize) -> Result<()> {
    let def = segment(session, name)?;
    println!("segment {}", def.name);
    if let Some(description) = &def.description {
        println!("  description: {description}");
    }
    if let Some(owner) = &def.owner {
        println!("  owner:       {owner}");
    }
    if !def.depends_on.is_empty() {
        println!("  reads:       {}", def.depends_on.join(", "));
    }
    println!("  file:        {}\n", def.file.display());
    println!("{}\n", def.sql.trim());
    let output = OutputSpec {
        format: OutputFormat::Table,
        destination: Destination::Stdout,
        max_rows: Some(limit),
    };
    run_sql(
        &session.ctx,
        &format!("SELECT * FROM \"{name}\" LIMIT {limit}"),
        &output,
    )
    .await
    .map(|_| ())
}

/// Members: distinct customer ids when the segment has the key column,
/// else rows.
async fn count(session: &Session, name: Option<&str>, format: OutputFormat) -> Result<()> {
    let segments = selected(session, name)?;
    let mut counts = Vec::with_capacity(segments.len());
    let bar = progress::spinner("counting segments");
    for s in &segments {
        bar.set_message(format!("counting {}", s.name));
        let table = session.ctx.table(s.name.as_str()).await?;
        let has_key = table.schema().field_with_unqualified_name(KEY_COLUMN).is_ok();
        let expr = if has_key {
            format!("count(DISTINCT {KEY_COLUMN})")
        } else {
            "count(*)".to_string()
        };
        let batches = session
            .ctx
            .sql(&format!("SELECT {expr} FROM \"{}\"", s.name))
            .await?
            .collect()
            .await?;
        let n = batches
            .first()
            .and_then(|b| b.column(0).as_any().downcast_ref::<Int64Array>().map(|a| a.value(0)))
            .unwrap_or(0);
        counts.push(n);
    }
    bar.finish_and_clear();
    let schema = Arc::new(Schema::new(vec![
        Field::new("segment", DataType::Utf8, false),
        Field::new("members", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(segments.iter().map(|s| s.name.as_str()))),
            Arc::new(Int64Array::from(counts)),
        ],
    )?;
    print_batch(&session.ctx, batch, format).await.map(|_| ())
}

fn describe(name: &str, diff: &Diff) -> String {
    let since = if diff.had_snapshot {
        "since the last snapshot"
    } else {
        "(no snapshot before)"
    };
    format!(
        "{name}: {} members, {} entered, {} exited {since}",
        diff.members,
        diff.entered.len(),
        diff.exited.len()
    )
}

async fn materialize(session: &Session, name: Option<&str>) -> Result<()> {
    let segments = selected(session, name)?;
    let state = session.state_store()?;
    let now = Utc::now().timestamp_micros();
    for s in segments {
        let diff = membership::materialize(&session.ctx, &state, &s.name, &s.file, now).await?;
        println!("{}", describe(&s.name, &diff));
    }
    Ok(())
}

async fn diff(session: &Session, name: &str, format: OutputFormat) -> Result<()> {
    let def = segment(session, name)?;
    let state = session.state_store()?;
    let comparison = membership::compare(&session.ctx, &state, name, &def.file).await?;
    eprintln!("{}", describe(name, &comparison.diff));
    print_batch(&session.ctx, comparison.diff.to_batch(name)?, format)
        .await
        .map(|_| ())
}

async fn export(session: &Session, name: &str, to: &str, format: Option<ExportFormat>, changes: bool) -> Result<()> {
    let def = segment(session, name)?;
    let url = resolve_output(to).map_err(|e| Error::Usage(format!("--to {to}: {e}")))?;
    let format = match format {
        Some(ExportFormat::Csv) => OutputFormat::Csv,
        Some(ExportFormat::Parquet) => OutputFormat::Parquet,
        Some(ExportFormat::Json) => OutputFormat::Json,
        Some(ExportFormat::Ndjson) => OutputFormat::Ndjson,
        None => match OutputFormat::from_target(to) {
            Some(OutputFormat::Table) | None => {
                return Err(Error::Usage(format!(
                    "--to {to}: cannot tell the format from the name; add --format csv|parquet|json|ndjson"
                )));
            }
            Some(format) => format,
        },
    };
    let spec = OutputSpec {
        format,
        destination: Destination::Url(url.clone()),
        max_rows: None,
    };
    if !changes {
        let rows = run_sql(&session.ctx, &format!("SELECT * FROM \"{name}\""), &spec).await?;
        eprintln!("{name}: {rows} rows written to {url}");
        return Ok(());
    }
    // Changes: compare, write them, and only then record the snapshot, so
    // that a failed export is repeated in full by the next one.
    let state = session.state_store()?;
    let diff = membership::with_lock(&state, name, || async {
        let comparison = membership::compare(&session.ctx, &state, name, &def.file).await?;
        write_batch(&session.ctx, comparison.diff.to_batch(name)?, &spec).await?;
        membership::record(&state, name, &comparison, Utc::now().timestamp_micros()).await?;
        Ok(comparison.diff)
    })
    .await?;
    eprintln!("{}; changes written to {url}", describe(name, &diff));
    Ok(())
}
