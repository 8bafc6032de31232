//! A user's project: the directory holding `oneview.toml`, what it declares
//! and its `segments/*.sql`.
//!
//! Each section of the file has a module of its own with its type and the
//! `validate` beside it; `file` reads the file and checks the sections in
//! turn; `names` lists the names oneview keeps for itself. Every location the
//! project names for itself (state, output) is resolved once, here, at load.
//!
//! Loading a project only reads and checks the configuration and the segment
//! files; it never touches the data, so a project with a hundred tables opens
//! instantly. The project knows nothing of sessions, the catalog or features.

mod file;
pub mod identity;
pub mod names;
mod orders;
mod reports;
mod segments;
mod server;
mod tables;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use url::Url;

pub use file::{ProjectConfig, ProjectSection};
pub use identity::IdentityConfig;
pub use orders::{OrdersConfig, OrdersUnit, parse_as_of, parse_horizon};
pub use reports::{ReportConfig, ReportFormat, parse_schedule};
pub use segments::{SEGMENTS_DIR, SegmentDef, load_segments};
pub use server::{ServerConfig, UserConfig, WireTypes};
pub use tables::{TableConfig, TableSpec};

use crate::error::{Error, Result};
use crate::storage::resolve_location;

pub const CONFIG_FILE: &str = "oneview.toml";

/// Where oneview keeps its own state unless `[project] state` says otherwise.
pub const DEFAULT_STATE: &str = "state/";
/// Where oneview writes what it produces unless `[project] output` says otherwise.
pub const DEFAULT_OUTPUT: &str = "output/";

#[derive(Debug, Clone)]
pub struct Project {
    /// Absolute path of the project directory.
    pub dir: PathBuf,
    pub config: ProjectConfig,
    /// `[tables.NAME]`, resolved, in name order.
    pub tables: Vec<TableSpec>,
    /// `segments/*.sql`, in dependency order.
    pub segments: Vec<SegmentDef>,
    /// The state folder (`[project] state`): membership history, report runs, locks.
    pub state: Url,
    /// The output folder (`[project] output`): the identity tables.
    pub output: Url,
}

impl Project {
    /// Reads `DIR/oneview.toml` and `DIR/segments/*.sql`.
    pub fn load(dir: &Path) -> Result<Project> {
        let dir = std::path::absolute(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        let file = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let hint = if dir.is_dir() {
                    "no oneview.toml here; create one with a [tables.NAME] section, or point -C at a project directory"
                } else {
                    "the project directory does not exist"
                };
                return Err(Error::config(file, hint));
            }
            Err(e) => return Err(Error::config(file, format!("cannot be read: {e}"))),
        };
        let config = file::parse(&text).map_err(|message| Error::config(&file, message))?;
        // A segment may not hide a table, nor an identity table with [identity].
        let mut taken: BTreeSet<String> = config.tables.keys().cloned().collect();
        if config.identity.is_some() {
            taken.extend(names::IDENTITY_TABLES.iter().map(|n| n.to_string()));
        }
        let segments = load_segments(&dir, &taken)?;
        let segment_names: Vec<&str> = segments.iter().map(|s| s.name.as_str()).collect();
        for (name, report) in &config.reports {
            report
                .check_segment(name, &segment_names)
                .map_err(|message| Error::config(&file, message))?;
        }
        Project::new(dir, config, segments)
    }

    /// A project with no configuration file: only what the session registers.
    pub fn empty(dir: &Path) -> Result<Project> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        Project::new(dir, ProjectConfig::default(), Vec::new())
    }

    /// Resolves the project's locations: the tables', then its own folders
    /// (the order a mistake in several of them is reported in).
    fn new(dir: PathBuf, config: ProjectConfig, segments: Vec<SegmentDef>) -> Result<Project> {
        let file = dir.join(CONFIG_FILE);
        let tables = TableSpec::resolve_all(&config.tables, &dir, &file)?;
        let folder = |raw: Option<&str>, default: &str, key: &str| folder_url(&dir, &file, raw.unwrap_or(default), key);
        let output = folder(config.project.output.as_deref(), DEFAULT_OUTPUT, "project.output")?;
        let state = folder(config.project.state.as_deref(), DEFAULT_STATE, "project.state")?;
        Ok(Project {
            dir,
            config,
            tables,
            segments,
            state,
            output,
        })
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }
}

/// The URL of a folder the project names with `key` (a path relative to the
/// project, or a URL), with a trailing `/`.
fn folder_url(dir: &Path, config_file: &Path, raw: &str, key: &str) -> Result<Url> {
    let raw = if raw.ends_with('/') {
        raw.to_string()
    } else {
        format!("{raw}/")
    };
    resolve_location(&raw, dir).map_err(|e| Error::config(config_file, format!("key `{key}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<Project> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), toml).unwrap();
        Project::load(dir.path())
    }

    #[test]
    fn locations_are_resolved_once_at_load() {
        let project =
            load("[project]\nstate = \"s3://bucket/state\"\n[tables.orders]\nlocation = \"orders.tsv\"\n").unwrap();
        assert_eq!(project.state.as_str(), "s3://bucket/state/");
        assert!(project.output.as_str().ends_with("/output/"), "{}", project.output);
        let orders = &project.tables[0];
        assert!(orders.url.as_str().ends_with("/orders.tsv"), "{}", orders.url);
        assert_eq!(
            (orders.format, orders.delimiter),
            (crate::storage::FileFormatKind::Csv, b'\t')
        );
    }

    #[test]
    fn a_bad_folder_names_its_key() {
        let err = load("[project]\noutput = \"ftp://host/out\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("key `project.output`") && err.contains("ftp://"), "{err}");
    }
}
