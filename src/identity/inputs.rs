//! What a run read, so that the next run can tell what changed: per identity
//! source, the files of every table its SQL reads, as the listing finds
//! them (path, size, time of the last change, entity tag), and one digest
//! of everything else a run's result depends on — the `[identity]`
//! settings, those tables' declarations, the saved model, the oneview
//! binary itself and the year (two-digit years of birth are read against
//! it). Kept in the state folder once a run is committed; a run killed
//! before that leaves the record of the last committed run, which the next
//! run is held against.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::records;
use crate::error::Result;
use crate::project::TableSpec;
use crate::project::identity::IdentityConfig;
use crate::storage::StateStore;

/// Why a run runs when only the sources' files changed since the last: the
/// one case a run may grow the last instead of resolving everything.
pub const FILES_CHANGED: &str = "source files changed";

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
    /// Per source, the files of the tables its SQL reads, in path order;
    /// `None` where it reads something whose files are not listed or calls
    /// a function whose result can change between runs (`now()`), which
    /// counts as changed on every run.
    pub sources: BTreeMap<String, Option<Vec<FileStamp>>>,
    /// When the files were listed (RFC 3339): a file changed just before
    /// may change again within the same tick of its clock, unseen.
    #[serde(default)]
    pub listed_at: String,
    /// Per source, the records the run read (filled in once it has).
    #[serde(default)]
    pub records: BTreeMap<String, u64>,
    /// Whether the run refused a link past `max_cluster_size` (a later run
    /// can then not grow it: refusals depend on the order of links).
    #[serde(default)]
    pub refused: bool,
    /// Per source, the tables its SQL reads (as listed, not kept).
    #[serde(skip)]
    pub tables: BTreeMap<String, Vec<String>>,
}

/// How close to the listing a file's last change makes it suspect: a
/// rewrite of the same size within one tick of a coarse clock (a second on
/// some file systems and HTTP servers) leaves the same stamp.
const RACY: chrono::Duration = chrono::Duration::seconds(2);

/// What a source's table holds against the last run's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRead {
    pub source: String,
    /// Its files now; `None` for a table whose files are not listed.
    pub files: Option<usize>,
    /// Files since the last run: new, rewritten in place, deleted; `None`
    /// when there is no last run to hold them against (or its settings differ).
    pub changes: Option<FileChanges>,
    /// Whether a file had changed just before the last run listed it, so
    /// that an unchanged stamp proves nothing (`RACY`).
    pub racy: bool,
    /// The records the last run read from the source, if it recorded them.
    pub records_before: Option<u64>,
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

/// The files each source reads now; `settings` is the digest of the run's
/// settings (`settings_digest`).
pub async fn list(
    ctx: &SessionContext,
    config: &IdentityConfig,
    tables: &[TableSpec],
    settings: String,
) -> Result<Inputs> {
    let state = ctx.state();
    let listed_at = chrono::Utc::now().to_rfc3339();
    let kinds = config.kinds();
    let mut sources = BTreeMap::new();
    let mut tables_of = BTreeMap::new();
    for (name, source) in &config.sources {
        let read = match ctx.sql(&records::source_sql(name, source, config, &kinds)).await {
            Ok(frame) => tables_read(frame.logical_plan())?,
            // Said by the run itself, with the key to blame.
            Err(_) => None,
        };
        if let Some(read) = &read {
            tables_of.insert(name.clone(), read.clone());
        }
        let mut files = Some(Vec::new());
        for table in read.iter().flatten() {
            let Some(spec) = tables.iter().find(|t| &t.name == table) else {
                files = None;
                break;
            };
            let listed = spec.files(&state).await?;
            if let Some(files) = &mut files {
                files.extend(listed.into_iter().map(|meta| FileStamp {
                    path: meta.location.to_string(),
                    size: meta.size,
                    modified: meta.last_modified.to_rfc3339(),
                    e_tag: meta.e_tag,
                }));
            }
        }
        sources.insert(name.clone(), read.and(files));
    }
    Ok(Inputs {
        run: String::new(),
        settings,
        sources,
        listed_at,
        records: BTreeMap::new(),
        refused: false,
        tables: tables_of,
    })
}

/// The tables a source's plan scans (its own, and any a subquery in an
/// expression reads), in name order; `None` if an expression calls a
/// function that is not immutable (`now()`, `random()`), whose result can
/// change with nothing else changed.
fn tables_read(plan: &LogicalPlan) -> Result<Option<Vec<String>>> {
    let mut tables = Vec::new();
    let mut fixed = true;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            tables.push(scan.table_name.table().to_string());
        }
        node.apply_expressions(|expr| {
            fixed &= !expr.exists(|e| {
                Ok(matches!(e, Expr::ScalarFunction(f) if f.func.signature().volatility != Volatility::Immutable))
            })?;
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(TreeNodeRecursion::Continue)
    })?;
    tables.sort();
    tables.dedup();
    Ok(fixed.then_some(tables))
}

/// The digest of what, besides the files, a run's result depends on: the
/// `[identity]` section, every table's declaration, the saved model file
/// (if any), the oneview binary (`binary`) and the year.
pub fn settings_digest(config: &IdentityConfig, tables: &[TableSpec], model: Option<&Path>, year: i32) -> String {
    let mut hash = Sha256::new();
    hash.update(binary());
    hash.update(year.to_le_bytes());
    // Debug text: every map in the section is ordered, so it is stable.
    hash.update(format!("{config:?}"));
    // Every table's declaration: a source's SQL may read others than its own.
    for spec in tables {
        hash.update(format!(
            "{}|{}|{:?}|{:?}|{}|{}",
            spec.name, spec.url, spec.format, spec.options, spec.has_header, spec.delimiter
        ));
    }
    match model.map(std::fs::read) {
        Some(Ok(bytes)) => hash.update(&bytes),
        Some(Err(_)) => hash.update("no model"),
        None => {}
    }
    format!("{:x}", hash.finalize())
}

/// The oneview binary that runs: its version, and its path, size and time
/// of the last change, so that a rebuild or an upgrade (which may match,
/// normalize or choose differently) counts as a change.
fn binary() -> String {
    let exe = std::env::current_exe().ok();
    let meta = exe.as_ref().and_then(|e| std::fs::metadata(e).ok());
    format!(
        "{}|{:?}|{:?}|{:?}",
        env!("CARGO_PKG_VERSION"),
        exe,
        meta.as_ref().map(std::fs::Metadata::len),
        meta.and_then(|m| m.modified().ok())
    )
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

/// Why a run now must run, in a few words; `None` when it would read
/// exactly what `last` read, with the same settings, and `last` is still
/// the committed run (`current`).
pub fn why_run(last: Option<&Inputs>, now: &Inputs, current: Option<&str>) -> Option<&'static str> {
    let Some(last) = last else {
        return Some("no earlier run recorded what it read");
    };
    if current != Some(last.run.as_str()) {
        Some("the committed run is not the one last recorded")
    } else if last.settings != now.settings {
        Some("the settings, the model or oneview changed")
    } else if now.sources.values().any(Option::is_none) {
        Some("a source reads what cannot be listed")
    } else if last.sources != now.sources {
        Some(FILES_CHANGED)
    } else if last.sources.keys().any(|source| changed_near(last, source)) {
        Some("files changed just before the last run listed them")
    } else {
        None
    }
}

/// Whether a file of `source` the last run read had changed so shortly
/// before it was listed that a rewrite of the same size could carry the
/// same stamp (or either time cannot be read).
pub fn changed_near(last: &Inputs, source: &str) -> bool {
    let time = |text: &str| chrono::DateTime::parse_from_rfc3339(text).ok();
    let Some(listed) = time(&last.listed_at) else {
        return true;
    };
    last.sources
        .get(source)
        .into_iter()
        .flatten()
        .flatten()
        .any(|f| time(&f.modified).is_none_or(|m| m >= listed - RACY))
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
                racy: before.is_some() && last.is_some_and(|l| changed_near(l, source)),
                records_before: last.and_then(|l| l.records.get(source).copied()),
            }
        })
        .collect()
}

/// The files new, rewritten and deleted between two listings in path order.
pub fn changes(before: &[FileStamp], now: &[FileStamp]) -> FileChanges {
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
            listed_at: "2026-12-06T01:00:00+00:00".into(),
            records: BTreeMap::from([("crm".to_string(), 7)]),
            refused: false,
            tables: BTreeMap::new(),
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
        assert!(why_run(Some(&last), &now, Some("r1")).is_none());
        assert!(why_run(None, &now, Some("r1")).is_some(), "no last run");
        assert!(
            why_run(Some(&last), &now, Some("r2")).is_some(),
            "another run is committed"
        );
        assert!(why_run(Some(&last), &now, None).is_some(), "the outputs are gone");
        assert!(
            why_run(Some(&last), &inputs("", "t", files), Some("r1")).is_some(),
            "settings"
        );
        let grown = inputs("", "s", Some(vec![stamp("a", 1), stamp("b", 1)]));
        assert!(why_run(Some(&last), &grown, Some("r1")).is_some(), "a new file");
        // A file changed within two seconds of the listing may have changed
        // again unseen (a clock that ticks by the second).
        let racy = Inputs {
            listed_at: "2026-12-06T00:00:01+00:00".into(),
            ..last.clone()
        };
        assert_eq!(
            why_run(Some(&racy), &now, Some("r1")),
            Some("files changed just before the last run listed them")
        );
        assert!(compare(Some(&racy), &now)[0].racy);
        assert!(!compare(Some(&last), &now)[0].racy);
        let view = inputs("", "s", None);
        assert!(
            why_run(Some(&inputs("r1", "s", None)), &view, Some("r1")).is_some(),
            "a view"
        );
        // What changed is said per source, against the last run's settings only.
        let read = compare(Some(&last), &grown);
        assert_eq!(read[0].files, Some(2));
        assert_eq!(read[0].records_before, Some(7));
        assert_eq!(read[0].changes.map(|c| c.new), Some(1));
        let read = compare(Some(&last), &inputs("", "t", Some(vec![stamp("a", 1)])));
        assert_eq!(read[0].changes, None);
    }

    /// A source reads the tables its plan scans, subqueries included; a
    /// function whose result can change between runs makes it unlistable.
    #[tokio::test]
    async fn the_tables_a_plan_reads_and_whether_it_is_fixed() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t AS VALUES (1, 'a')").await.unwrap();
        ctx.sql("CREATE TABLE u AS VALUES (1)").await.unwrap();
        let read = |sql: &'static str| {
            let ctx = ctx.clone();
            async move { tables_read(ctx.sql(sql).await.unwrap().logical_plan()).unwrap() }
        };
        assert_eq!(read("SELECT column2 FROM t").await, Some(vec!["t".to_string()]));
        assert_eq!(
            read("SELECT column2, (SELECT max(column1) FROM u) FROM t").await,
            Some(vec!["t".to_string(), "u".to_string()])
        );
        assert_eq!(read("SELECT upper(column2) FROM t").await, Some(vec!["t".to_string()]));
        assert_eq!(read("SELECT column2, random() FROM t").await, None);
        assert_eq!(read("SELECT column2 FROM t WHERE now() > column1").await, None);
    }
}
