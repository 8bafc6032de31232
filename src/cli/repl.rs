//! The interactive SQL shell: line editing and history (rustyline),
//! statements spanning lines until `;`, and a few backslash commands.

use std::path::PathBuf;

use datafusion::prelude::SessionContext;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::error::{Error, Result};
use crate::exec::run_sql;
use crate::session::Session;
use crate::storage::OutputSpec;

const HELP: &str = "\
Statements end with `;` and may span lines.
  \\d          list tables
  \\d NAME     describe a table
  \\q          quit (also Ctrl-D)
  \\?          this help";

fn history_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".oneview_history"))
}

pub async fn run(session: &Session, ctx: SessionContext, output: OutputSpec) -> Result<()> {
    let mut editor = DefaultEditor::new().map_err(|e| Error::Usage(format!("cannot start the shell: {e}")))?;
    let history = history_file();
    if let Some(file) = &history {
        let _ = editor.load_history(file);
    }
    let name = session
        .project
        .config
        .project
        .name
        .clone()
        .or_else(|| {
            session
                .project
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "oneview".into());
    eprintln!(
        "oneview {} — project {name}; \\? for help, \\q to quit",
        env!("CARGO_PKG_VERSION")
    );
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() { "oneview> " } else { "     ...> " };
        match editor.readline(prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if pending.is_empty() && trimmed.starts_with('\\') {
                    let _ = editor.add_history_entry(trimmed);
                    if !backslash(trimmed, &ctx, &output).await {
                        break;
                    }
                    continue;
                }
                if trimmed.is_empty() && pending.is_empty() {
                    continue;
                }
                pending.push_str(&line);
                pending.push('\n');
                if trimmed.ends_with(';') {
                    let sql = std::mem::take(&mut pending);
                    let _ = editor.add_history_entry(sql.trim());
                    if let Err(e) = run_sql(&ctx, &sql, &output).await {
                        eprintln!("error: {e}");
                    }
                }
            }
            Err(ReadlineError::Interrupted) => pending.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Usage(format!("the shell stopped: {e}"))),
        }
    }
    if let Some(file) = &history {
        let _ = editor.save_history(file);
    }
    Ok(())
}

/// Runs a backslash command; false means quit.
async fn backslash(command: &str, ctx: &SessionContext, output: &OutputSpec) -> bool {
    let mut words = command.split_whitespace();
    let sql = match (words.next(), words.next()) {
        (Some("\\q"), _) => return false,
        (Some("\\?"), _) => {
            eprintln!("{HELP}");
            return true;
        }
        (Some("\\d"), None) => {
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
                .to_string()
        }
        // DESCRIBE opens only the table it names (information_schema.columns
        // would open every table of the project).
        (Some("\\d"), Some(table)) => format!("DESCRIBE \"{}\"", table.replace('"', "\"\"")),
        _ => {
            eprintln!("unknown command {command}; \\? lists the commands");
            return true;
        }
    };
    if let Err(e) = run_sql(ctx, &sql, output).await {
        eprintln!("error: {e}");
    }
    true
}
