//! One run of a report: its output rendered and written atomically, the run
//! recorded in `report_runs`, failed or not.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use url::Url;

use super::runs::{self, RunRecord};
use crate::error::{Error, Result};
use crate::exec::run_sql;
use crate::project::{CONFIG_FILE, ReportConfig, ReportFormat};
use crate::storage::{Destination, OutputFormat, OutputSpec, StateStore, resolve_location};

/// What a successful run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub rows: u64,
    pub output: Url,
    pub seconds: f64,
}

/// Fills `{date}`, `{timestamp}` and `{name}` in an output template.
pub fn render_output(template: &str, name: &str, at: DateTime<Utc>) -> String {
    template
        .replace("{date}", &at.format("%Y-%m-%d").to_string())
        .replace("{timestamp}", &at.format("%Y%m%dT%H%M%SZ").to_string())
        .replace("{name}", name)
}

fn output_format(report: &ReportConfig) -> OutputFormat {
    match report.format.or_else(|| ReportFormat::from_extension(&report.output)) {
        Some(ReportFormat::Csv) => OutputFormat::Csv,
        Some(ReportFormat::Json) => OutputFormat::Json,
        Some(ReportFormat::Ndjson) => OutputFormat::Ndjson,
        // Validated with the configuration: a format or a known extension.
        Some(ReportFormat::Parquet) | None => OutputFormat::Parquet,
    }
}

fn report_sql(report: &ReportConfig) -> String {
    match (&report.sql, &report.segment) {
        (Some(sql), _) => sql.clone(),
        (None, Some(segment)) => format!("SELECT * FROM \"{segment}\""),
        (None, None) => unreachable!("validated: a report has sql or segment"),
    }
}

/// The report `name` of the project's `reports`, or an error listing them.
pub fn find<'a>(reports: &'a BTreeMap<String, ReportConfig>, name: &str) -> Result<&'a ReportConfig> {
    reports
        .get(name)
        .ok_or_else(|| Error::unknown_name("report", name, reports.keys().map(String::as_str), "(none)"))
}

/// Runs one report: takes its lock (two runs of a report never overlap),
/// writes the output atomically and records the run, failed or not. A
/// relative output is below `project_dir`.
pub async fn run(
    ctx: &SessionContext,
    state: &StateStore,
    name: &str,
    report: &ReportConfig,
    project_dir: &Path,
) -> Result<Outcome> {
    state
        .with_lock(&format!("report-{name}"), &format!("report `{name}`"), || async {
            let started = Utc::now();
            let clock = Instant::now();
            let target = render_output(&report.output, name, started);
            let result = write(ctx, name, report, &target, project_dir).await;
            let record = RunRecord {
                name: name.to_string(),
                started,
                finished: Utc::now(),
                rows: result.as_ref().ok().map(|(rows, _)| *rows),
                output: Some(match &result {
                    Ok((_, url)) => url.to_string(),
                    Err(_) => target.clone(),
                }),
                status: if result.is_ok() { "ok" } else { "failed" }.to_string(),
                error: result.as_ref().err().map(|e| e.to_string()),
            };
            let recorded = runs::record(state, &record).await;
            let (rows, output) = result?;
            if let Err(e) = recorded {
                log::warn!("report `{name}` ran but its run could not be recorded in report_runs: {e}");
            }
            Ok(Outcome {
                rows,
                output,
                seconds: clock.elapsed().as_secs_f64(),
            })
        })
        .await
}

/// Writes the report's result to `target` (its output, filled in).
async fn write(
    ctx: &SessionContext,
    name: &str,
    report: &ReportConfig,
    target: &str,
    project_dir: &Path,
) -> Result<(u64, Url)> {
    let url = resolve_location(target, project_dir).map_err(|e| {
        Error::config(
            project_dir.join(CONFIG_FILE),
            format!("key `reports.{name}.output`: {e}"),
        )
    })?;
    let spec = OutputSpec {
        format: output_format(report),
        destination: Destination::Url(url.clone()),
        max_rows: None,
    };
    let rows = run_sql(ctx, &report_sql(report), &spec).await?;
    Ok((rows, url))
}

/// The one-line summary of a run, for logs and for `report run`.
pub fn summary(name: &str, result: &Result<Outcome>) -> String {
    match result {
        Ok(outcome) => format!(
            "report {name}: ok, {} rows written to {} in {:.2} s",
            outcome.rows, outcome.output, outcome.seconds
        ),
        Err(e) => format!("report {name}: failed: {}", e.to_string().lines().next().unwrap_or("")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T06:05:04Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            render_output("s3://b/{name}/{date}/{timestamp}.csv", "weekly", at),
            "s3://b/weekly/2026-11-23/20261123T060504Z.csv"
        );
    }
}
