//! Reading `segments/*.sql`: the header comment, the one SELECT, and which
//! other segments it reads, so that cycles are reported before anything runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::resolve::resolve_table_references;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion::sql::sqlparser::dialect::GenericDialect;

use super::names;
use crate::error::{Error, Result};
use crate::util::{is_plain_identifier, line_of};

pub const SEGMENTS_DIR: &str = "segments";

#[derive(Debug, Clone)]
pub struct SegmentDef {
    pub name: String,
    pub file: PathBuf,
    pub sql: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    /// Segments this one reads, directly.
    pub depends_on: Vec<String>,
}

/// Reads every `segments/*.sql` of the project, in dependency order (a
/// segment comes after the segments it reads). Syntax errors, files that are
/// not one SELECT, clashing names and cycles are errors naming the file.
pub fn load_segments(project_dir: &Path, table_names: &BTreeSet<String>) -> Result<Vec<SegmentDef>> {
    let dir = project_dir.join(SEGMENTS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("cannot read {}", dir.display()), e)),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    let mut parsed = Vec::with_capacity(files.len());
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|e| Error::io(format!("cannot read {}", file.display()), e))?;
        parsed.push(parse_file(&file, &text)?);
    }
    let names: BTreeSet<String> = parsed.iter().map(|(def, _)| def.name.clone()).collect();
    let mut segments = Vec::with_capacity(parsed.len());
    for (mut def, references) in parsed {
        if table_names.contains(&def.name) || names::RESERVED.contains(&def.name.as_str()) {
            return Err(Error::segment(
                &def.file,
                None,
                format!(
                    "the segment name `{}` is already taken by a table or a built-in view; rename the file",
                    def.name
                ),
            ));
        }
        def.depends_on = references.into_iter().filter(|r| names.contains(r)).collect();
        segments.push(def);
    }
    order_by_dependencies(segments)
}

fn parse_file(file: &Path, text: &str) -> Result<(SegmentDef, BTreeSet<String>)> {
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !is_plain_identifier(&name) {
        return Err(Error::segment(
            file,
            None,
            format!(
                "`{name}` is not a plain SQL name; name segment files with lower-case letters, digits and underscores"
            ),
        ));
    }
    let mut statements = DFParserBuilder::new(text)
        .with_dialect(&GenericDialect {})
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| {
            let message = e.to_string();
            Error::segment(file, line_in_message(&message), describe_parse_error(&message))
        })?;
    let statement = match (statements.pop_front(), statements.is_empty()) {
        (Some(statement), true) => statement,
        (None, _) => return Err(Error::segment(file, None, "the file has no SELECT; expected one")),
        (Some(_), false) => {
            return Err(Error::segment(
                file,
                None,
                "the file has more than one statement; expected exactly one SELECT",
            ));
        }
    };
    if !matches!(&statement, Statement::Statement(inner) if matches!(inner.as_ref(), SqlStatement::Query(_))) {
        return Err(Error::segment(
            file,
            Some(first_code_line(text)),
            "the statement is not a SELECT; a segment is a query, not DDL or DML",
        ));
    }
    let (relations, _) = resolve_table_references(&statement, true)
        .map_err(|e| Error::segment(file, None, format!("cannot read the table references: {e}")))?;
    let references = relations.iter().map(|r| r.table().to_string()).collect();
    let (description, owner) = header(text);
    // Only the end is trimmed: planner line numbers must match the file's.
    let sql = text.trim_end().trim_end_matches(';').to_string();
    Ok((
        SegmentDef {
            name,
            file: file.to_path_buf(),
            sql,
            description,
            owner,
            depends_on: Vec::new(),
        },
        references,
    ))
}

/// The leading `--` comment: `description:` and `owner:` lines, or, without
/// keys, the first comment line as the description.
fn header(text: &str) -> (Option<String>, Option<String>) {
    let mut description = None;
    let mut owner = None;
    let mut first_plain = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix("--") else { break };
        let comment = comment.trim();
        let keyed = comment
            .split_once(':')
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()));
        match keyed {
            Some((key, value)) if key == "description" => description = Some(value.to_string()),
            Some((key, value)) if key == "owner" => owner = Some(value.to_string()),
            _ if first_plain.is_none() && !comment.is_empty() => first_plain = Some(comment.to_string()),
            _ => {}
        }
    }
    (description.or(first_plain), owner)
}

fn first_code_line(text: &str) -> usize {
    let offset = text
        .split_inclusive('\n')
        .take_while(|l| l.trim().is_empty() || l.trim().starts_with("--"))
        .map(str::len)
        .sum();
    line_of(text, offset)
}

/// sqlparser's messages end with "at Line: 3, Column: 7".
pub(crate) fn line_in_message(message: &str) -> Option<usize> {
    let rest = &message[message.rfind("Line: ")? + "Line: ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn describe_parse_error(message: &str) -> String {
    let text = message
        .trim_start_matches("SQL error: ")
        .trim_start_matches("ParserError(\"")
        .trim_end_matches("\")")
        .trim_start_matches("sql parser error: ");
    format!("SQL syntax error: {text}")
}

/// Topological order; a cycle is reported with its path.
fn order_by_dependencies(segments: Vec<SegmentDef>) -> Result<Vec<SegmentDef>> {
    let by_name: BTreeMap<&str, &SegmentDef> = segments.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut order: Vec<String> = Vec::with_capacity(segments.len());
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for start in by_name.keys() {
        let mut path: Vec<&str> = Vec::new();
        visit(start, &by_name, &mut done, &mut path, &mut order)?;
    }
    let mut segments: BTreeMap<String, SegmentDef> = segments.into_iter().map(|s| (s.name.clone(), s)).collect();
    Ok(order.into_iter().filter_map(|name| segments.remove(&name)).collect())
}

fn visit<'a>(
    name: &'a str,
    by_name: &BTreeMap<&'a str, &'a SegmentDef>,
    done: &mut BTreeSet<&'a str>,
    path: &mut Vec<&'a str>,
    order: &mut Vec<String>,
) -> Result<()> {
    if done.contains(name) {
        return Ok(());
    }
    if let Some(at) = path.iter().position(|n| *n == name) {
        let mut cycle: Vec<&str> = path[at..].to_vec();
        cycle.push(name);
        let first = by_name[cycle[0]];
        return Err(Error::segment(
            &first.file,
            None,
            format!(
                "segments read each other in a cycle: {}; a segment may only use segments that do not use it",
                cycle.join(" → ")
            ),
        ));
    }
    path.push(name);
    for dependency in &by_name[name].depends_on {
        visit(dependency, by_name, done, path, order)?;
    }
    path.pop();
    done.insert(name);
    order.push(name.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, sql: &str) {
        std::fs::create_dir_all(dir.join(SEGMENTS_DIR)).unwrap();
        std::fs::write(dir.join(SEGMENTS_DIR).join(name), sql).unwrap();
    }

    #[test]
    fn header_dependencies_and_order() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a_top.sql",
            "-- description: the best of the loyal\n-- owner: crm team\nSELECT customer_id FROM loyal WHERE x > 1;\n",
        );
        write(
            dir.path(),
            "loyal.sql",
            "-- Loyal customers\nSELECT customer_id FROM orders\n",
        );
        let segments = load_segments(dir.path(), &BTreeSet::from(["orders".to_string()])).unwrap();
        let names: Vec<&str> = segments.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["loyal", "a_top"]);
        assert_eq!(segments[1].description.as_deref(), Some("the best of the loyal"));
        assert_eq!(segments[1].owner.as_deref(), Some("crm team"));
        assert_eq!(segments[1].depends_on, ["loyal"]);
        assert_eq!(segments[0].description.as_deref(), Some("Loyal customers"));
        assert!(!segments[1].sql.ends_with(';'));
    }

    #[test]
    fn cycles_are_reported_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.sql", "SELECT customer_id FROM b");
        write(dir.path(), "b.sql", "SELECT customer_id FROM c");
        write(dir.path(), "c.sql", "SELECT customer_id FROM a");
        let err = load_segments(dir.path(), &BTreeSet::new()).unwrap_err().to_string();
        assert!(err.contains("a → b → c → a"), "{err}");
        assert!(err.contains("a.sql"), "{err}");
    }

    #[test]
    fn a_cte_named_like_a_segment_is_not_a_dependency() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a.sql",
            "WITH b AS (SELECT 1 AS customer_id) SELECT * FROM b",
        );
        write(dir.path(), "b.sql", "SELECT customer_id FROM a");
        let segments = load_segments(dir.path(), &BTreeSet::new()).unwrap();
        assert!(segments[0].depends_on.is_empty());
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "bad.sql",
            "-- x\nSELECT customer_id\nFROM orders\nWHERE a = = 1\n",
        );
        let err = load_segments(dir.path(), &BTreeSet::new()).unwrap_err().to_string();
        assert!(err.contains("bad.sql"), "{err}");
        assert!(err.contains("bad.sql:4: "), "{err}");
        assert!(err.contains("SQL syntax error"), "{err}");
    }

    #[test]
    fn not_a_select_and_two_statements_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ddl.sql", "DROP TABLE orders");
        let err = load_segments(dir.path(), &BTreeSet::new()).unwrap_err().to_string();
        assert!(err.contains("not a SELECT"), "{err}");
        std::fs::remove_file(dir.path().join("segments/ddl.sql")).unwrap();
        write(dir.path(), "two.sql", "SELECT 1; SELECT 2");
        let err = load_segments(dir.path(), &BTreeSet::new()).unwrap_err().to_string();
        assert!(err.contains("more than one statement"), "{err}");
    }

    #[test]
    fn names_may_not_shadow_tables() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "orders.sql", "SELECT 1 AS customer_id");
        let err = load_segments(dir.path(), &BTreeSet::from(["orders".to_string()]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("already taken"), "{err}");
    }
}
