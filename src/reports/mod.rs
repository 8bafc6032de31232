//! Reports: `[reports.NAME]` — a query or a segment written to a file or
//! object on demand (`oneview report run`) or on a cron schedule (`schedule`).
//! Every run is recorded in `report_runs`; outputs appear whole or not at all.

pub mod runs;
mod schedule;

use std::time::Instant;

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use url::Url;

pub use runs::RunRecord;
pub use schedule::{Scheduler, next_run};

use crate::error::{Error, Result};
use crate::exec::{Destination, OutputFormat, OutputSpec, run_sql};
use crate::project::{Project, ReportConfig, ReportFormat};
use crate::state::StateStore;
use crate::storage::resolve_location;

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

/// Runs one report: takes its lock (two runs of a report never overlap),
/// writes the output atomically and records the run, failed or not.
pub async fn run(ctx: &SessionContext, project: &Project, state: &StateStore, name: &str) -> Result<Outcome> {
    let reports = &project.config.reports;
    let report = reports
        .get(name)
        .ok_or_else(|| Error::unknown_name("report", name, reports.keys().map(String::as_str), "(none)"))?;
    let lock = state
        .lock(&format!("report-{name}"), &format!("report `{name}`"))
        .await?;
    let started = Utc::now();
    let clock = Instant::now();
    let target = render_output(&report.output, name, started);
    let result = async {
        let url = resolve_location(&target, &project.dir)
            .map_err(|e| Error::config(project.config_file(), format!("key `reports.{name}.output`: {e}")))?;
        let spec = OutputSpec {
            format: output_format(report),
            destination: Destination::Url(url.clone()),
            max_rows: None,
        };
        let rows = run_sql(ctx, &report_sql(report), &spec).await?;
        Ok::<_, Error>((rows, url))
    }
    .await;
    let finished = Utc::now();
    let record = RunRecord {
        name: name.to_string(),
        started,
        finished,
        rows: result.as_ref().ok().map(|(rows, _)| *rows),
        output: Some(match &result {
            Ok((_, url)) => url.to_string(),
            Err(_) => target.clone(),
        }),
        status: if result.is_ok() { "ok" } else { "failed" }.to_string(),
        error: result.as_ref().err().map(|e| e.to_string()),
    };
    let recorded = runs::record(state, &record).await;
    lock.release().await;
    let (rows, output) = result?;
    if let Err(e) = recorded {
        log::warn!("report `{name}` ran but its run could not be recorded in report_runs: {e}");
    }
    Ok(Outcome {
        rows,
        output,
        seconds: clock.elapsed().as_secs_f64(),
    })
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
