//! The schema of `oneview.toml`, parsed with serde. Unknown keys are errors:
//! a misspelt key silently ignored is a bug report waiting to happen.

use std::collections::BTreeMap;

use serde::Deserialize;

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
    pub identity: Option<crate::identity::IdentityConfig>,
    #[serde(default)]
    pub reports: BTreeMap<String, ReportConfig>,
}

/// `[orders]`: the transactions RFM and lifetime value are computed from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersConfig {
    /// The table holding one row per order.
    pub table: String,
    /// Column or SQL expression giving the customer key.
    pub customer: String,
    /// Column or SQL expression giving when the order was placed.
    #[serde(default = "default_ordered_at")]
    pub ordered_at: String,
    /// Column or SQL expression giving the order's value.
    pub amount: String,
    /// The date the scores are computed at (`2026-01-01` or an RFC 3339
    /// timestamp); orders after it are ignored. Default: now.
    pub as_of: Option<String>,
    /// The time unit of recency, T and the BG/NBD model (default week).
    #[serde(default)]
    pub unit: OrdersUnit,
    /// The horizon of expected purchases and CLV, with its unit (default `12 months`).
    pub horizon: Option<String>,
    /// Discount rate per period of the horizon's unit (default 0.01).
    pub discount_rate: Option<f64>,
    /// Key orders by their resolved customer when `[identity]` reads the
    /// orders table (default true).
    #[serde(default = "yes")]
    pub use_identity: bool,
}

fn default_ordered_at() -> String {
    "ordered_at".into()
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrdersUnit {
    Day,
    #[default]
    Week,
    Month,
}

impl OrdersUnit {
    pub fn name(self) -> &'static str {
        match self {
            OrdersUnit::Day => "day",
            OrdersUnit::Week => "week",
            OrdersUnit::Month => "month",
        }
    }

    /// Seconds per unit; a month is a twelfth of a Julian year, as in the udfs crate.
    pub fn seconds(self) -> f64 {
        match self {
            OrdersUnit::Day => 86_400.0,
            OrdersUnit::Week => 7.0 * 86_400.0,
            OrdersUnit::Month => 365.25 / 12.0 * 86_400.0,
        }
    }
}

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

/// `[server]`: how `oneview serve` listens, who may connect and what a query may use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:50051`).
    pub bind: Option<String>,
    /// SHA-256 (hex) of accepted bearer tokens; the tokens themselves are never stored.
    #[serde(default)]
    pub tokens_sha256: Vec<String>,
    /// Users for the Basic-auth handshake, with the SHA-256 (hex) of their password.
    #[serde(default)]
    pub users: BTreeMap<String, UserConfig>,
    /// Turns authentication off (only for a trusted loopback setup).
    #[serde(default)]
    pub allow_anonymous: bool,
    /// PEM certificate chain and private key; both set turns TLS on.
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// Memory each query may use before spilling, e.g. `2G` (default 1G).
    pub query_memory_limit: Option<String>,
    /// Seconds a query may run, streaming included (default 300).
    pub query_timeout_secs: Option<u64>,
    /// Queries running at once (default 8); others wait up to `queue_timeout_secs`.
    pub max_concurrent_queries: Option<usize>,
    /// Seconds a query waits for a free slot before RESOURCE_EXHAUSTED (default 30).
    pub queue_timeout_secs: Option<u64>,
    /// `classic` (Utf8/Binary: pyarrow and the JDBC driver) or `view` (Utf8View/BinaryView).
    pub wire_types: Option<WireTypes>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub password_sha256: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireTypes {
    #[default]
    Classic,
    View,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// A URL or a path relative to the project directory: a file, a prefix or
    /// a (hive-partitioned) folder.
    pub location: String,
    /// Defaults to the location's file extension, else Parquet.
    pub format: Option<FileFormatKind>,
    /// Object store options (`aws_region`, `endpoint`, …) for this location.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// CSV only: whether the first line names the columns (default true).
    pub has_header: Option<bool>,
    /// CSV only: the field separator, one character (default `,`).
    pub delimiter: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormatKind {
    Parquet,
    Csv,
    #[serde(alias = "ndjson", alias = "jsonl")]
    Json,
}

impl FileFormatKind {
    /// The format a file name's extension suggests, if any.
    pub fn from_extension(name: &str) -> Option<FileFormatKind> {
        let (_, ext) = name.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "parquet" | "parq" => Some(FileFormatKind::Parquet),
            "csv" | "tsv" => Some(FileFormatKind::Csv),
            "json" | "ndjson" | "jsonl" => Some(FileFormatKind::Json),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileFormatKind::Parquet => "parquet",
            FileFormatKind::Csv => "csv",
            FileFormatKind::Json => "ndjson",
        }
    }

    /// The extension files of a folder must carry to belong to the table.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormatKind::Parquet => ".parquet",
            FileFormatKind::Csv => ".csv",
            FileFormatKind::Json => ".json",
        }
    }
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

fn validate(config: &ProjectConfig) -> Result<(), String> {
    validate_server(&config.server)?;
    if let Some(orders) = &config.orders {
        validate_orders(orders, config)?;
    }
    for (name, report) in &config.reports {
        validate_report(name, report)?;
    }
    if let Some(identity) = &config.identity {
        let tables: Vec<&str> = config.tables.keys().map(String::as_str).collect();
        crate::identity::config::validate(identity, &tables)?;
        if let Some(name) = tables.iter().find(|t| crate::identity::outputs::NAMES.contains(t)) {
            return Err(format!(
                "table name `{name}` in [tables.{name}] is taken by an identity table oneview writes when [identity] is set; choose another name"
            ));
        }
    }
    for (name, table) in &config.tables {
        if !is_plain_identifier(name) {
            return Err(format!(
                "table name `{name}` in [tables.{name}] is not a plain SQL name; expected lower-case letters, digits and underscores, starting with a letter or underscore"
            ));
        }
        if crate::segments::RESERVED_NAMES.contains(&name.as_str()) {
            return Err(format!(
                "table name `{name}` in [tables.{name}] is taken by a view or table oneview provides; choose another name"
            ));
        }
        if table.location.trim().is_empty() {
            return Err(format!(
                "key `tables.{name}.location` is empty; expected a path or URL of the table's data"
            ));
        }
        if let Some(delimiter) = &table.delimiter
            && delimiter.len() != 1
        {
            return Err(format!(
                "key `tables.{name}.delimiter` is {delimiter:?}; expected a single ASCII character"
            ));
        }
        let csv_only = table.has_header.is_some() || table.delimiter.is_some();
        let format = table.format.or_else(|| FileFormatKind::from_extension(&table.location));
        if csv_only && format != Some(FileFormatKind::Csv) {
            return Err(format!(
                "keys `has_header` and `delimiter` in [tables.{name}] apply to CSV only; set `format = \"csv\"` or remove them"
            ));
        }
    }
    Ok(())
}

fn validate_server(server: &ServerConfig) -> Result<(), String> {
    let is_sha256 = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
    for (i, hash) in server.tokens_sha256.iter().enumerate() {
        if !is_sha256(hash) {
            return Err(format!(
                "key `server.tokens_sha256[{i}]` is not a SHA-256 digest; expected 64 hex digits (`oneview serve --hash SECRET` prints one)"
            ));
        }
    }
    for (name, user) in &server.users {
        if !is_sha256(&user.password_sha256) {
            return Err(format!(
                "key `server.users.{name}.password_sha256` is not a SHA-256 digest; expected 64 hex digits (`oneview serve --hash PASSWORD` prints one)"
            ));
        }
    }
    if server.tls_cert.is_some() != server.tls_key.is_some() {
        return Err(
            "keys `server.tls_cert` and `server.tls_key` go together; set both to turn TLS on, or neither".into(),
        );
    }
    if let Some(limit) = &server.query_memory_limit {
        crate::session::parse_size(limit).map_err(|e| format!("key `server.query_memory_limit`: {e}"))?;
    }
    if let Some(n) = server.max_concurrent_queries
        && !(1..=10_000).contains(&n)
    {
        return Err(format!(
            "key `server.max_concurrent_queries` is {n}; expected 1 to 10000"
        ));
    }
    if server.query_timeout_secs == Some(0) {
        return Err("key `server.query_timeout_secs` is 0; expected a number of seconds ≥ 1".into());
    }
    Ok(())
}

fn validate_orders(orders: &OrdersConfig, config: &ProjectConfig) -> Result<(), String> {
    if !config.tables.contains_key(&orders.table) {
        let known: Vec<&str> = config.tables.keys().map(String::as_str).collect();
        return Err(format!(
            "key `orders.table` names `{}`, which is not a table of the project; expected one of: {}",
            orders.table,
            if known.is_empty() {
                "(no tables declared)".to_string()
            } else {
                known.join(", ")
            }
        ));
    }
    for (key, value) in [
        ("customer", &orders.customer),
        ("ordered_at", &orders.ordered_at),
        ("amount", &orders.amount),
    ] {
        if value.trim().is_empty() {
            return Err(format!(
                "key `orders.{key}` is empty; expected a column name or SQL expression"
            ));
        }
    }
    if let Some(as_of) = &orders.as_of {
        parse_as_of(as_of).map_err(|e| format!("key `orders.as_of`: {e}"))?;
    }
    if let Some(horizon) = &orders.horizon {
        parse_horizon(horizon).map_err(|e| format!("key `orders.horizon`: {e}"))?;
    }
    if let Some(rate) = orders.discount_rate
        && !(0.0..1.0).contains(&rate)
    {
        return Err(format!(
            "key `orders.discount_rate` is {rate}; expected a rate per period from 0 to below 1, e.g. 0.01"
        ));
    }
    Ok(())
}

/// `2026-01-01` (midnight UTC) or an RFC 3339 timestamp.
pub fn parse_as_of(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let text = text.trim();
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("`{text}` is not a date; expected YYYY-MM-DD or an RFC 3339 timestamp"))
}

/// `12 months`, `52 weeks`, `1 year`: a count and a unit, as a number of
/// days (a month is a twelfth of a Julian year, as in the udfs crate).
pub fn parse_horizon(text: &str) -> Result<f64, String> {
    let bad = || format!("`{text}` is not a horizon; expected a number and a unit such as `12 months` or `52 weeks`");
    let mut parts = text.split_whitespace();
    let (Some(count), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let count: f64 = count.parse().map_err(|_| bad())?;
    if !(count > 0.0 && count.is_finite()) {
        return Err(bad());
    }
    let days = match unit.to_ascii_lowercase().trim_end_matches('s') {
        "day" => 1.0,
        "week" => 7.0,
        "month" => 365.25 / 12.0,
        "year" => 365.25,
        _ => return Err(bad()),
    };
    Ok(count * days)
}

fn validate_report(name: &str, report: &ReportConfig) -> Result<(), String> {
    if !is_plain_identifier(name) {
        return Err(format!(
            "report name `{name}` in [reports.{name}] is not a plain name; expected lower-case letters, digits and underscores"
        ));
    }
    match (&report.sql, &report.segment) {
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
    if let Some(placeholder) = unknown_placeholder(&report.output) {
        return Err(format!(
            "key `reports.{name}.output` has the placeholder `{{{placeholder}}}`; expected only {{date}}, {{timestamp}} and {{name}}"
        ));
    }
    if report.output.trim().is_empty() || report.output.ends_with('/') {
        return Err(format!(
            "key `reports.{name}.output` is `{}`; expected a file path or URL such as output/{{name}}/{{date}}.parquet",
            report.output
        ));
    }
    if report.format.is_none() && ReportFormat::from_extension(&report.output).is_none() {
        return Err(format!(
            "key `reports.{name}.output` has no known extension; set `format` to csv, parquet, json or ndjson"
        ));
    }
    if let Some(schedule) = &report.schedule {
        parse_schedule(schedule).map_err(|e| format!("key `reports.{name}.schedule`: {e}"))?;
    }
    Ok(())
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

impl ReportFormat {
    pub fn from_extension(target: &str) -> Option<ReportFormat> {
        let (_, ext) = target.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "csv" => Some(ReportFormat::Csv),
            "parquet" => Some(ReportFormat::Parquet),
            "json" => Some(ReportFormat::Json),
            "ndjson" | "jsonl" => Some(ReportFormat::Ndjson),
            _ => None,
        }
    }
}

pub(crate) fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
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

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn schedules_are_cron_expressions() {
        assert!(parse_schedule("0 6 * * MON").is_ok());
        assert!(parse_schedule("@daily").is_ok());
        let err = parse_schedule("every monday").unwrap_err();
        assert!(err.contains("five fields"), "{err}");
    }

    #[test]
    fn csv_options_need_csv() {
        let err = parse("[tables.a]\nlocation = \"a.parquet\"\nhas_header = false\n").unwrap_err();
        assert!(err.contains("CSV only"), "{err}");
    }
}
