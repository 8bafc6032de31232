//! A user's project: the directory holding `oneview.toml` and what it declares.
//!
//! Loading a project only reads and checks the configuration; it never touches
//! the data, so a project with a hundred tables opens instantly.

mod config;

use std::path::{Path, PathBuf};

pub use config::{FileFormatKind, ProjectConfig, ProjectSection, ServerConfig, TableConfig, UserConfig, WireTypes};

use crate::error::{Error, Result};

pub const CONFIG_FILE: &str = "oneview.toml";

#[derive(Debug, Clone)]
pub struct Project {
    /// Absolute path of the project directory.
    pub dir: PathBuf,
    pub config: ProjectConfig,
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
        Ok(Project { dir, config })
    }

    /// A project with no configuration file: only what the session registers.
    pub fn empty(dir: &Path) -> Project {
        Project {
            dir: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            config: ProjectConfig::default(),
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }
}
