//! Reading `oneview.toml`: the file's sections, parsed with serde and checked
//! section by section, with errors that name the key and the line. Unknown
//! keys are errors: a misspelt key silently ignored is a bug report waiting
//! to happen.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::identity::IdentityConfig;
use super::names;
use super::orders::OrdersConfig;
use super::reports::ReportConfig;
use super::server::ServerConfig;
use super::tables::TableConfig;
use crate::util::line_of;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    #[serde(default)]
    pub project: ProjectSection,
    #[serde(default)]
    pub tables: BTreeMap<String, TableConfig>,
    #[serde(default)]
    pub server: ServerConfig,
    pub orders: Option<OrdersConfig>,
    pub identity: Option<IdentityConfig>,
    #[serde(default)]
    pub reports: BTreeMap<String, ReportConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSection {
    /// A display name; defaults to the directory name.
    pub name: Option<String>,
    /// Where oneview writes what it produces (identity tables, snapshots).
    pub output: Option<String>,
    /// Where oneview keeps its own state: segment membership history, report
    /// runs, locks (default `state/`).
    pub state: Option<String>,
}

/// Parses and checks the configuration; the error is one sentence naming the
/// key (and line) and what was expected.
pub fn parse(text: &str) -> Result<ProjectConfig, String> {
    let deserializer = toml::de::Deserializer::parse(text).map_err(|e| describe_toml(text, &e))?;
    let config: ProjectConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().to_string();
        let line = inner.span().map(|s| line_of(text, s.start));
        describe_key_error(&path, &message, line)
    })?;
    validate(&config)?;
    Ok(config)
}

/// Each section checks itself; the order decides which of several mistakes
/// is reported first.
fn validate(config: &ProjectConfig) -> Result<(), String> {
    let tables: Vec<&str> = config.tables.keys().map(String::as_str).collect();
    config.server.validate()?;
    if let Some(orders) = &config.orders {
        orders.validate(&tables)?;
    }
    for (name, report) in &config.reports {
        report.validate(name)?;
    }
    if let Some(identity) = &config.identity {
        identity.validate(&tables)?;
        if let Some(name) = tables.iter().find(|t| names::IDENTITY_TABLES.contains(t)) {
            return Err(format!(
                "table name `{name}` in [tables.{name}] is taken by an identity table oneview writes when [identity] is set; choose another name"
            ));
        }
    }
    for (name, table) in &config.tables {
        table.validate(name)?;
    }
    Ok(())
}

fn describe_toml(text: &str, e: &toml::de::Error) -> String {
    let line = e.span().map(|s| line_of(text, s.start));
    let message = e.message().trim_end();
    match line {
        Some(line) => format!("line {line}: invalid TOML: {message}"),
        None => format!("invalid TOML: {message}"),
    }
}

fn describe_key_error(path: &str, message: &str, line: Option<usize>) -> String {
    let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
    // serde says "unknown field `x`, expected one of ..."; users think in keys.
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (field, expected) = rest.split_once(", ").unwrap_or((rest, ""));
        let field = field.trim_matches('`');
        // The path already ends with the unknown key.
        let key = if path == "." || path.is_empty() { field } else { path };
        let expected = expected.replace("expected one of", "expected one of the keys");
        return format!("{at}unknown key `{key}`; {expected}");
    }
    if message.starts_with("missing field ") {
        let field = message.trim_start_matches("missing field ").trim_matches('`');
        let key = if path == "." || path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        return format!("{at}missing key `{key}`");
    }
    if path == "." || path.is_empty() {
        format!("{at}{message}")
    } else {
        format!("{at}key `{path}`: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::orders::OrdersUnit;

    #[test]
    fn reads_tables_and_options() {
        let config = parse(
            r#"
            [tables.orders]
            location = "s3://bucket/orders/"
            options = { aws_region = "garage" }

            [tables.crm]
            location = "crm.csv"
            delimiter = ";"
            "#,
        )
        .unwrap();
        assert_eq!(config.tables["orders"].options["aws_region"], "garage");
        assert_eq!(config.tables["crm"].delimiter.as_deref(), Some(";"));
    }

    #[test]
    fn unknown_key_is_named_with_its_path_and_line() {
        let err = parse("[tables.orders]\nlocaton = \"x\"\n").unwrap_err();
        assert!(err.contains("unknown key `tables.orders.locaton`"), "{err}");
        assert!(err.contains("location"), "{err}");
        assert!(err.starts_with("line "), "{err}");
    }

    #[test]
    fn missing_location_is_named() {
        let err = parse("[tables.orders]\nformat = \"csv\"\n").unwrap_err();
        assert!(err.contains("missing key `tables.orders.location`"), "{err}");
    }

    #[test]
    fn wrong_format_value_names_the_key() {
        let err = parse("[tables.orders]\nlocation = \"x\"\nformat = \"xlsx\"\n").unwrap_err();
        assert!(err.contains("tables.orders.format"), "{err}");
        assert!(err.contains("parquet"), "{err}");
    }

    #[test]
    fn table_names_must_be_plain_sql_names() {
        let err = parse("[tables.Orders]\nlocation = \"x\"\n").unwrap_err();
        assert!(err.contains("`Orders`"), "{err}");
    }

    #[test]
    fn broken_toml_names_the_line() {
        let err = parse("[tables.orders\nlocation = 1\n").unwrap_err();
        assert!(err.starts_with("line 1: invalid TOML"), "{err}");
    }

    #[test]
    fn orders_are_checked() {
        let base = "[tables.orders]\nlocation = \"o.parquet\"\n[orders]\ncustomer = \"c\"\namount = \"a\"\n";
        let ok = parse(&format!(
            "{base}table = \"orders\"\nas_of = \"2026-01-01\"\nunit = \"month\"\n"
        ))
        .unwrap();
        let orders = ok.orders.unwrap();
        assert_eq!(orders.ordered_at, "ordered_at");
        assert_eq!(orders.unit, OrdersUnit::Month);
        let err = parse(&format!("{base}table = \"sales\"\n")).unwrap_err();
        assert!(
            err.contains("`sales`, which is not a table") && err.contains("orders"),
            "{err}"
        );
        let err = parse(&format!("{base}table = \"orders\"\nas_of = \"01/02/2026\"\n")).unwrap_err();
        assert!(err.contains("orders.as_of") && err.contains("YYYY-MM-DD"), "{err}");
        let err = parse(&format!("{base}table = \"orders\"\nunit = \"fortnight\"\n")).unwrap_err();
        assert!(err.contains("orders.unit"), "{err}");
        let err = parse(&format!("{base}table = \"orders\"\nhorizon = \"twelve months\"\n")).unwrap_err();
        assert!(err.contains("orders.horizon"), "{err}");
    }

    #[test]
    fn csv_options_need_csv() {
        let err = parse("[tables.a]\nlocation = \"a.parquet\"\nhas_header = false\n").unwrap_err();
        assert!(err.contains("CSV only"), "{err}");
    }
}
