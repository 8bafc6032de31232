//! `[reports.NAME]`: a query or a segment written to a file or object on
//! demand or on a cron schedule, with its validation.

use serde::Deserialize;

use crate::storage::Extension;
use crate::util::is_plain_identifier;

/// `[reports.NAME]`: a query or segment written to a file on demand or on a schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// The query whose result is the report (or `segment`).
    pub sql: Option<String>,
    /// A segment whose members are the report (or `sql`).
    pub segment: Option<String>,
    /// Output path or URL; `{date}`, `{timestamp}` and `{name}` are filled in per run.
    pub output: String,
    /// csv, parquet, json or ndjson; defaults to the output's extension.
    pub format: Option<ReportFormat>,
    /// A cron expression (UTC), e.g. `0 6 * * MON`, for the scheduler.
    pub schedule: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Csv,
    Parquet,
    Json,
    #[serde(alias = "jsonl")]
    Ndjson,
}

impl ReportFormat {
    /// The format an output's extension names, if a report can write it.
    pub fn from_extension(target: &str) -> Option<ReportFormat> {
        match Extension::of(target)? {
            Extension::Csv => Some(ReportFormat::Csv),
            Extension::Parquet => Some(ReportFormat::Parquet),
            Extension::Json => Some(ReportFormat::Json),
            Extension::Ndjson => Some(ReportFormat::Ndjson),
            Extension::Tsv | Extension::Text => None,
        }
    }
}

impl ReportConfig {
    /// Checks one report's keys; one sentence naming the key.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        if !is_plain_identifier(name) {
            return Err(format!(
                "report name `{name}` in [reports.{name}] is not a plain name; expected lower-case letters, digits and underscores"
            ));
        }
        match (&self.sql, &self.segment) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "keys `reports.{name}.sql` and `reports.{name}.segment` are both set; expected exactly one"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "[reports.{name}] has neither `sql` nor `segment`; expected one of them"
                ));
            }
            _ => {}
        }
        if let Some(placeholder) = unknown_placeholder(&self.output) {
            return Err(format!(
                "key `reports.{name}.output` has the placeholder `{{{placeholder}}}`; expected only {{date}}, {{timestamp}} and {{name}}"
            ));
        }
        if self.output.trim().is_empty() || self.output.ends_with('/') {
            return Err(format!(
                "key `reports.{name}.output` is `{}`; expected a file path or URL such as output/{{name}}/{{date}}.parquet",
                self.output
            ));
        }
        if self.format.is_none() && ReportFormat::from_extension(&self.output).is_none() {
            return Err(format!(
                "key `reports.{name}.output` has no known extension; set `format` to csv, parquet, json or ndjson"
            ));
        }
        if let Some(schedule) = &self.schedule {
            parse_schedule(schedule).map_err(|e| format!("key `reports.{name}.schedule`: {e}"))?;
        }
        Ok(())
    }

    /// A report's `segment` must name a segment of the project.
    pub fn check_segment(&self, name: &str, segments: &[&str]) -> Result<(), String> {
        if let Some(segment) = &self.segment
            && !segments.contains(&segment.as_str())
        {
            return Err(format!(
                "key `reports.{name}.segment` names `{segment}`, which is not a segment; expected the name of a file in segments/"
            ));
        }
        Ok(())
    }
}

/// The first `{…}` in a template that is not one oneview fills in.
fn unknown_placeholder(template: &str) -> Option<&str> {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}')?;
        let name = &after[..end];
        if !matches!(name, "date" | "timestamp" | "name") {
            return Some(name);
        }
        rest = &after[end + 1..];
    }
    None
}

/// A five-field cron expression (minute hour day-of-month month day-of-week) or an alias such as `@daily`.
pub fn parse_schedule(text: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::new()
        .parse(text.trim())
        .map_err(|e| format!("`{text}` is not a cron expression ({e}); expected five fields such as `0 6 * * MON`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_cron_expressions() {
        assert!(parse_schedule("0 6 * * MON").is_ok());
        assert!(parse_schedule("@daily").is_ok());
        let err = parse_schedule("every monday").unwrap_err();
        assert!(err.contains("five fields"), "{err}");
    }
}
