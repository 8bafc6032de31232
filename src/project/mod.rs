//! A user's project: the directory holding `oneview.toml` and what it declares.
//!
//! Loading a project only reads and checks the configuration; it never touches
//! the data, so a project with a hundred tables opens instantly.

mod config;

use std::path::{Path, PathBuf};

pub use config::{
    FileFormatKind, OrdersConfig, OrdersUnit, ProjectConfig, ProjectSection, ReportConfig, ReportFormat, ServerConfig,
    TableConfig, UserConfig, WireTypes, parse_as_of, parse_horizon, parse_schedule,
};
pub(crate) use config::{is_plain_identifier, line_of};

use crate::error::{Error, Result};
use crate::segments::{SegmentDef, load_segments};

pub const CONFIG_FILE: &str = "oneview.toml";

#[derive(Debug, Clone)]
pub struct Project {
    /// Absolute path of the project directory.
    pub dir: PathBuf,
    pub config: ProjectConfig,
    /// `segments/*.sql`, in dependency order.
    pub segments: Vec<SegmentDef>,
}

impl Project {
    /// Reads `DIR/oneview.toml`.
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
        let config = config::parse(&text).map_err(|message| Error::config(&file, message))?;
        let mut table_names: std::collections::BTreeSet<String> = config.tables.keys().cloned().collect();
        if config.identity.is_some() {
            // A segment may not hide an identity table.
            table_names.extend(crate::identity::outputs::NAMES.iter().map(|n| n.to_string()));
        }
        let segments = load_segments(&dir, &table_names)?;
        check_reports(&config, &segments).map_err(|message| Error::config(&file, message))?;
        Ok(Project { dir, config, segments })
    }

    /// A project with no configuration file: only what the session registers.
    pub fn empty(dir: &Path) -> Project {
        Project {
            dir: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            config: ProjectConfig::default(),
            segments: Vec::new(),
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// The URL of a folder the project names with `key` (a path relative to
    /// the project, or a URL), with a trailing `/`.
    pub fn folder_url(&self, raw: &str, key: &str) -> Result<url::Url> {
        let raw = if raw.ends_with('/') {
            raw.to_string()
        } else {
            format!("{raw}/")
        };
        crate::storage::resolve_location(&raw, &self.dir)
            .map_err(|e| Error::config(self.config_file(), format!("key `{key}`: {e}")))
    }
}

/// A report's `segment` must name a segment of the project.
fn check_reports(config: &ProjectConfig, segments: &[SegmentDef]) -> std::result::Result<(), String> {
    for (name, report) in &config.reports {
        if let Some(segment) = &report.segment
            && !segments.iter().any(|s| &s.name == segment)
        {
            return Err(format!(
                "key `reports.{name}.segment` names `{segment}`, which is not a segment; expected the name of a file in segments/"
            ));
        }
    }
    Ok(())
}
