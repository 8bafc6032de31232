//! `[tables.NAME]`: where a table's files are and how they are read, with
//! the validation of its keys, and each table resolved (its URL, format and
//! CSV settings) once, when the project is loaded.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use super::names;
use crate::error::{Error, Result};
use crate::storage::{Extension, FileFormatKind, resolve_location};
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

/// One configured table, resolved: where its files are and how they are read.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    /// As written in `oneview.toml`.
    pub location: String,
    pub url: Url,
    pub format: FileFormatKind,
    pub options: BTreeMap<String, String>,
    pub has_header: bool,
    pub delimiter: u8,
    pub description: Option<String>,
    /// The configuration file, named by errors about the table.
    pub config_file: PathBuf,
}

impl TableSpec {
    /// Resolves every `[tables.NAME]` against the project directory `dir`,
    /// without any I/O; errors name `file`.
    pub fn resolve_all(tables: &BTreeMap<String, TableConfig>, dir: &Path, file: &Path) -> Result<Vec<TableSpec>> {
        let mut specs = Vec::with_capacity(tables.len());
        // Options configure a whole bucket's client: two tables on one bucket
        // with different options would silently use whichever opened first.
        let mut options_by_store: HashMap<String, (&str, &BTreeMap<String, String>)> = HashMap::new();
        for (name, table) in tables {
            let url = resolve_location(&table.location, dir)
                .map_err(|e| Error::config(file, format!("key `tables.{name}.location`: {e}")))?;
            let last_segment = url.path().rsplit('/').next().unwrap_or("");
            let format = table
                .format
                .or_else(|| FileFormatKind::from_extension(last_segment))
                .unwrap_or(FileFormatKind::Parquet);
            if !table.options.is_empty() || url.scheme() != "file" {
                let key = format!("{}://{}", url.scheme(), url.authority());
                if let Some((other, other_options)) = options_by_store.get(&key)
                    && *other_options != &table.options
                {
                    return Err(Error::config(
                        file,
                        format!(
                            "tables `{other}` and `{name}` share {key} but have different `options`; give both the same options"
                        ),
                    ));
                }
                options_by_store.insert(key, (name.as_str(), &table.options));
            }
            // A .tsv file is tab-separated unless told otherwise.
            let default_delimiter = if Extension::of(url.path()) == Some(Extension::Tsv) {
                b'\t'
            } else {
                b','
            };
            let delimiter = table
                .delimiter
                .as_deref()
                .map(|d| d.as_bytes()[0])
                .unwrap_or(default_delimiter);
            specs.push(TableSpec {
                name: name.clone(),
                location: table.location.clone(),
                url,
                format,
                options: table.options.clone(),
                has_header: table.has_header.unwrap_or(true),
                delimiter,
                description: table.description.clone(),
                config_file: file.to_path_buf(),
            });
        }
        Ok(specs)
    }
}
