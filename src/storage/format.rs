//! File formats: what a file name's extension says, the formats tables are
//! read in, and the formats results are written in. Extensions are read in
//! one place, `Extension::of`; tables, outputs and reports each map the
//! answer to the formats they support.

use serde::Deserialize;

/// The kind of data file a name's extension names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    Parquet,
    Csv,
    /// Tab-separated: read as CSV with a tab delimiter, never written.
    Tsv,
    /// A JSON document (an array when oneview writes it).
    Json,
    /// One JSON object per line (`.ndjson`, `.jsonl`).
    Ndjson,
    /// Plain text: the aligned table people read.
    Text,
}

impl Extension {
    /// The extension of the last `.`-separated part of `name`, if oneview knows it.
    pub fn of(name: &str) -> Option<Extension> {
        let (_, ext) = name.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "parquet" | "parq" => Some(Extension::Parquet),
            "csv" => Some(Extension::Csv),
            "tsv" => Some(Extension::Tsv),
            "json" => Some(Extension::Json),
            "ndjson" | "jsonl" => Some(Extension::Ndjson),
            "txt" => Some(Extension::Text),
            _ => None,
        }
    }
}

/// The format a table's files are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormatKind {
    Parquet,
    Csv,
    #[serde(alias = "ndjson", alias = "jsonl")]
    Json,
}

impl FileFormatKind {
    /// The format a file name's extension suggests, if any (JSON tables are
    /// read line by line, whichever JSON extension they carry).
    pub fn from_extension(name: &str) -> Option<FileFormatKind> {
        match Extension::of(name)? {
            Extension::Parquet => Some(FileFormatKind::Parquet),
            Extension::Csv | Extension::Tsv => Some(FileFormatKind::Csv),
            Extension::Json | Extension::Ndjson => Some(FileFormatKind::Json),
            Extension::Text => None,
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

/// The format results are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Ndjson,
    Parquet,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 5] = [
        OutputFormat::Table,
        OutputFormat::Csv,
        OutputFormat::Json,
        OutputFormat::Ndjson,
        OutputFormat::Parquet,
    ];

    /// The format's name, as `--format` takes it.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Ndjson => "ndjson",
            OutputFormat::Parquet => "parquet",
        }
    }

    /// The format an output file name implies, if any.
    pub fn from_target(target: &str) -> Option<OutputFormat> {
        match Extension::of(target)? {
            Extension::Parquet => Some(OutputFormat::Parquet),
            Extension::Csv => Some(OutputFormat::Csv),
            Extension::Json => Some(OutputFormat::Json),
            Extension::Ndjson => Some(OutputFormat::Ndjson),
            Extension::Text => Some(OutputFormat::Table),
            Extension::Tsv => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_read_case_blind_from_the_last_dot() {
        assert_eq!(Extension::of("s3://b/x.y/part-0.PARQUET"), Some(Extension::Parquet));
        assert_eq!(Extension::of("events.jsonl"), Some(Extension::Ndjson));
        assert_eq!(Extension::of("orders"), None);
        assert_eq!(Extension::of("orders.xlsx"), None);
    }

    #[test]
    fn tables_and_outputs_map_extensions_to_their_own_formats() {
        assert_eq!(FileFormatKind::from_extension("a.tsv"), Some(FileFormatKind::Csv));
        assert_eq!(FileFormatKind::from_extension("a.json"), Some(FileFormatKind::Json));
        assert_eq!(FileFormatKind::from_extension("a.txt"), None);
        assert_eq!(OutputFormat::from_target("a.json"), Some(OutputFormat::Json));
        assert_eq!(OutputFormat::from_target("a.ndjson"), Some(OutputFormat::Ndjson));
        assert_eq!(OutputFormat::from_target("a.txt"), Some(OutputFormat::Table));
        assert_eq!(OutputFormat::from_target("a.tsv"), None);
    }

    /// One reading of extensions for tables, outputs and reports: `.parq` is
    /// Parquet everywhere, and a name without a dot has no extension.
    #[test]
    fn every_use_reads_an_extension_alike() {
        assert_eq!(OutputFormat::from_target("x.parq"), Some(OutputFormat::Parquet));
        assert_eq!(FileFormatKind::from_extension("x.parq"), Some(FileFormatKind::Parquet));
        assert_eq!(OutputFormat::from_target("parquet"), None);
        assert_eq!(FileFormatKind::from_extension("parquet"), None);
    }
}
