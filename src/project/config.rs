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
    for (name, table) in &config.tables {
        if !is_plain_identifier(name) {
            return Err(format!(
                "table name `{name}` in [tables.{name}] is not a plain SQL name; expected lower-case letters, digits and underscores, starting with a letter or underscore"
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

fn line_of(text: &str, offset: usize) -> usize {
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
    fn csv_options_need_csv() {
        let err = parse("[tables.a]\nlocation = \"a.parquet\"\nhas_header = false\n").unwrap_err();
        assert!(err.contains("CSV only"), "{err}");
    }
}
