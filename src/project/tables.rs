//! `[tables.NAME]`: where a table's files are and how they are read, with
//! the validation of its keys.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::names;
use crate::storage::FileFormatKind;
use crate::util::is_plain_identifier;

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

impl TableConfig {
    /// Checks one table's name and keys; one sentence naming the key.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        if !is_plain_identifier(name) {
            return Err(format!(
                "table name `{name}` in [tables.{name}] is not a plain SQL name; expected lower-case letters, digits and underscores, starting with a letter or underscore"
            ));
        }
        if names::RESERVED.contains(&name) {
            return Err(format!(
                "table name `{name}` in [tables.{name}] is taken by a view or table oneview provides; choose another name"
            ));
        }
        if self.location.trim().is_empty() {
            return Err(format!(
                "key `tables.{name}.location` is empty; expected a path or URL of the table's data"
            ));
        }
        if let Some(delimiter) = &self.delimiter
            && delimiter.len() != 1
        {
            return Err(format!(
                "key `tables.{name}.delimiter` is {delimiter:?}; expected a single ASCII character"
            ));
        }
        let csv_only = self.has_header.is_some() || self.delimiter.is_some();
        let format = self.format.or_else(|| FileFormatKind::from_extension(&self.location));
        if csv_only && format != Some(FileFormatKind::Csv) {
            return Err(format!(
                "keys `has_header` and `delimiter` in [tables.{name}] apply to CSV only; set `format = \"csv\"` or remove them"
            ));
        }
        Ok(())
    }
}
