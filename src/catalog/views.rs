//! Views as tables of the project schema (segments, and the views features
//! write from configuration), planned on first use: a view's schema is its
//! plan's, and planning opens the tables it reads, which is I/O the session
//! should not pay at startup.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use tokio::sync::OnceCell;

use crate::error::{Error, Result, root_external};
use crate::util::line_of;

/// The current state of the session views are planned in (None once the
/// session is gone). A handle rather than the session, which owns this schema.
#[derive(Clone)]
pub struct SessionHandle(pub Arc<dyn Fn() -> Option<SessionState> + Send + Sync>);

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionHandle")
    }
}

/// A view to register: its name, its SQL and where the SQL comes from.
#[derive(Debug, Clone)]
pub struct ViewDef {
    pub name: String,
    pub sql: String,
    pub origin: ViewOrigin,
}

/// Where a view's SQL comes from, so a planning error names what to fix.
#[derive(Debug, Clone)]
pub enum ViewOrigin {
    /// A file of SQL (a segment): errors name the file and, where found, the line.
    File(PathBuf),
    /// SQL oneview writes from the configuration file: errors name the file
    /// and say what to check there (e.g. which keys the view is written from).
    Config { file: PathBuf, check: String },
}

#[derive(Debug)]
pub(super) struct LazyView {
    sql: String,
    origin: ViewOrigin,
    opened: OnceCell<Arc<dyn TableProvider>>,
}

impl LazyView {
    pub(super) fn new(view: ViewDef) -> LazyView {
        LazyView {
            sql: view.sql,
            origin: view.origin,
            opened: OnceCell::new(),
        }
    }

    /// Plans the view once. Segments read each other through the catalog;
    /// cycles were refused when the project was loaded.
    pub(super) async fn open(&self, session: &SessionHandle) -> Result<Arc<dyn TableProvider>> {
        self.opened
            .get_or_try_init(|| async {
                let state = (session.0)()
                    .ok_or_else(|| Error::Query(DataFusionError::Internal("the session has ended".into())))?;
                let dialect = state.config().options().sql_parser.dialect;
                let plan = async {
                    let statement = state.sql_to_statement(&self.sql, &dialect)?;
                    state.statement_to_plan(statement).await
                }
                .await
                .map_err(|e| self.error(e))?;
                Ok(Arc::new(ViewTable::new(plan, Some(self.sql.clone()))) as Arc<dyn TableProvider>)
            })
            .await
            .cloned()
    }

    /// Names the file and, where it can be found, the line.
    fn error(&self, e: DataFusionError) -> Error {
        // oneview's own errors (a segment this one reads, a table that
        // cannot be opened, the built-in views) and failures to reach data
        // are not this file's fault: pass them on as they are.
        let planning = matches!(
            e.find_root(),
            DataFusionError::Plan(_) | DataFusionError::SchemaError(..) | DataFusionError::SQL(..)
        );
        if root_external::<Error>(&e).is_some() || !planning {
            return Error::Query(e);
        }
        let line = e
            .iter()
            .find_map(|e| e.diagnostic())
            .and_then(|d| d.span)
            .map(|span| span.start.line as usize)
            .filter(|line| *line > 0)
            .or_else(|| guess_line(&self.sql, &e.to_string()));
        let message = Error::Query(e).to_string();
        match &self.origin {
            ViewOrigin::File(file) => Error::segment(file, line, message),
            ViewOrigin::Config { file, check } => Error::config(file, format!("{check}: {message}")),
        }
    }
}

/// Without a span, the line of the first name the message quotes.
fn guess_line(sql: &str, message: &str) -> Option<usize> {
    let name = message
        .split_once("No field named ")
        .map(|(_, rest)| rest)
        .or_else(|| message.split_once("table '").map(|(_, rest)| rest))?;
    let name: String = name
        .trim_start_matches(['"', '`', '\''])
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    let name = name.trim_end_matches('.').rsplit('.').next()?.to_string();
    if name.is_empty() {
        return None;
    }
    sql.find(&name).map(|offset| line_of(sql, offset))
}
