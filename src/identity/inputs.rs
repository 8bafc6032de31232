//! What a run read, so that the next run can tell what changed: per identity
//! source, the files of its table as the listing finds them (path, size,
//! time of the last change, entity tag), and one digest of everything else
//! a run's result depends on — the `[identity]` settings, the source tables'
//! locations and formats, the saved model, oneview's version and the year
//! (two-digit years of birth are read against it). Kept in the state folder
//! once a run is committed; a run killed before that leaves the previous
//! record, so the next run reads everything again.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::project::TableSpec;
use crate::project::identity::IdentityConfig;
use crate::storage::StateStore;

/// Where the inputs of the last committed run are kept in the state folder.
const INPUTS: &str = "identity/inputs.json";

/// One file a source's table read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub path: String,
    pub size: u64,
    /// The time of the last change, as the store gives it (RFC 3339).
    pub modified: String,
    /// The store's entity tag, where it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
}

/// The inputs of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// The run they made (empty until it is committed).
    pub run: String,
    /// The digest of the settings, model and version (`settings_digest`).
    pub settings: String,
    /// Per source, the files of its table, in path order; `None` where the
    /// table is not one the project lists files for (a view), which counts
    /// as changed on every run.
    pub sources: BTreeMap<String, Option<Vec<FileStamp>>>,
}

/// What a source's table holds against the last run's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRead {
    pub source: String,
    /// Its files now; `None` for a table whose files are not listed.
    pub files: Option<usize>,
    /// Files since the last run: new, rewritten in place, deleted; `None`
    /// when there is no last run to hold them against (or its settings differ).
    pub changes: Option<FileChanges>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileChanges {
    pub new: usize,
    pub changed: usize,
    pub deleted: usize,
}

impl FileChanges {
    pub fn any(&self) -> bool {
        self.new + self.changed + self.deleted > 0
    }
}

/// The files each source's table reads now; `settings` is the digest of
/// the run's settings (`settings_digest`).
pub async fn list(
    ctx: &SessionContext,
    config: &IdentityConfig,
    tables: &[TableSpec],
    settings: String,
) -> Result<Inputs> {
    let state = ctx.state();
    let mut sources = BTreeMap::new();
    for (name, source) in &config.sources {
        let files = match tables.iter().find(|t| t.name == source.table(name)) {
            Some(spec) => Some(
                spec.files(&state)
                    .await?
                    .into_iter()
                    .map(|meta| FileStamp {
                        path: meta.location.to_string(),
                        size: meta.size,
                        modified: meta.last_modified.to_rfc3339(),
                        e_tag: meta.e_tag,
                    })
                    .collect(),
            ),
            None => None,
        };
        sources.insert(name.clone(), files);
    }
    Ok(Inputs {
        run: String::new(),
        settings,
        sources,
    })
}

/// The digest of what, besides the files, a run's result depends on: the
/// `[identity]` section, each source table's declaration, the saved model
/// file (if any), oneview's version and the year.
pub fn settings_digest(config: &IdentityConfig, tables: &[TableSpec], model: Option<&Path>, year: i32) -> String {
    let mut hash = Sha256::new();
    hash.update(env!("CARGO_PKG_VERSION"));
    hash.update(year.to_le_bytes());
    // Debug text: every map in the section is ordered, so it is stable.
    hash.update(format!("{config:?}"));
    for (name, source) in &config.sources {
        if let Some(spec) = tables.iter().find(|t| t.name == source.table(name)) {
            hash.update(format!(
                "{}|{:?}|{:?}|{}|{}",
                spec.url, spec.format, spec.options, spec.has_header, spec.delimiter
            ));
        }
    }
    match model.map(std::fs::read) {
        Some(Ok(bytes)) => hash.update(&bytes),
        Some(Err(_)) => hash.update("no model"),
        None => {}
    }
    format!("{:x}", hash.finalize())
}

/// The inputs of the last committed run; `None` if there is none or it
/// cannot be read (then everything counts as changed).
pub async fn last(state: &StateStore) -> Result<Option<Inputs>> {
    Ok(state
        .get(INPUTS)
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Keeps the inputs of the run just committed.
pub async fn keep(state: &StateStore, inputs: &Inputs) -> Result<()> {
    let text = serde_json::to_vec_pretty(inputs).expect("inputs serialize");
    state.put(INPUTS, text.into()).await
}

/// Whether a run now would read exactly what `last` read, with the same
/// settings, and `last` is still the committed run (`current`).
pub fn unchanged(last: Option<&Inputs>, now: &Inputs, current: Option<&str>) -> bool {
    let Some(last) = last else {
        return false;
    };
    current == Some(last.run.as_str())
        && last.settings == now.settings
        && last.sources == now.sources
        && now.sources.values().all(Option::is_some)
}

/// Per source, its files now and how they changed since `last`.
pub fn compare(last: Option<&Inputs>, now: &Inputs) -> Vec<SourceRead> {
    now.sources
        .iter()
        .map(|(source, files)| {
            let before = last
                .filter(|l| l.settings == now.settings)
                .and_then(|l| l.sources.get(source))
                .and_then(Option::as_ref);
            SourceRead {
                source: source.clone(),
                files: files.as_ref().map(Vec::len),
                changes: match (before, files) {
                    (Some(before), Some(files)) => Some(changes(before, files)),
                    _ => None,
                },
            }
        })
        .collect()
}

/// The files new, rewritten and deleted between two listings in path order.
fn changes(before: &[FileStamp], now: &[FileStamp]) -> FileChanges {
    let by_path: BTreeMap<&str, &FileStamp> = before.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut changes = FileChanges::default();
    for file in now {
        match by_path.get(file.path.as_str()) {
            None => changes.new += 1,
            Some(old) if *old != file => changes.changed += 1,
            Some(_) => {}
        }
    }
    let kept = now.iter().filter(|f| by_path.contains_key(f.path.as_str())).count();
    changes.deleted = before.len() - kept;
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(path: &str, size: u64) -> FileStamp {
        FileStamp {
            path: path.into(),
            size,
            modified: "2026-12-06T00:00:00+00:00".into(),
            e_tag: None,
        }
    }

    fn inputs(run: &str, settings: &str, files: Option<Vec<FileStamp>>) -> Inputs {
        Inputs {
            run: run.into(),
            settings: settings.into(),
            sources: BTreeMap::from([("crm".to_string(), files)]),
        }
    }

    #[test]
    fn new_rewritten_and_deleted_files_are_told_apart() {
        let before = [stamp("a", 1), stamp("b", 2), stamp("c", 3)];
        let now = [stamp("a", 1), stamp("b", 5), stamp("d", 4), stamp("e", 4)];
        assert_eq!(
            changes(&before, &now),
            FileChanges {
                new: 2,
                changed: 1,
                deleted: 1
            }
        );
        assert!(!changes(&before, &before).any());
    }

    #[test]
    fn a_run_is_unchanged_only_with_the_same_files_settings_and_run() {
        let files = Some(vec![stamp("a", 1)]);
        let last = inputs("r1", "s", files.clone());
        let now = inputs("", "s", files.clone());
        assert!(unchanged(Some(&last), &now, Some("r1")));
        assert!(!unchanged(None, &now, Some("r1")), "no last run");
        assert!(!unchanged(Some(&last), &now, Some("r2")), "another run is committed");
        assert!(!unchanged(Some(&last), &now, None), "the outputs are gone");
        assert!(!unchanged(Some(&last), &inputs("", "t", files), Some("r1")), "settings");
        let grown = inputs("", "s", Some(vec![stamp("a", 1), stamp("b", 1)]));
        assert!(!unchanged(Some(&last), &grown, Some("r1")), "a new file");
        let view = inputs("", "s", None);
        assert!(!unchanged(Some(&inputs("r1", "s", None)), &view, Some("r1")), "a view");
        // What changed is said per source, against the last run's settings only.
        let read = compare(Some(&last), &grown);
        assert_eq!(read[0].files, Some(2));
        assert_eq!(read[0].changes.map(|c| c.new), Some(1));
        let read = compare(Some(&last), &inputs("", "t", Some(vec![stamp("a", 1)])));
        assert_eq!(read[0].changes, None);
    }
}
