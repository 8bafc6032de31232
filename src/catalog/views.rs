//! Segments and the built-in views as tables of the project schema, planned
//! on first use: a view's schema is its plan's, and planning opens the
//! tables it reads, which is I/O the session should not pay at startup.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use tokio::sync::OnceCell;

use crate::error::{Error, Result};
use crate::project::Project;
use crate::segments::builtin_views;

/// The current state of the session views are planned in (None once the
/// session is gone). A handle rather than the session, which owns this schema.
#[derive(Clone)]
pub struct SessionHandle(pub Arc<dyn Fn() -> Option<SessionState> + Send + Sync>);

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionHandle")
    }
}

#[derive(Debug)]
pub(super) struct LazyView {
    sql: String,
    origin: Origin,
    opened: OnceCell<Arc<dyn TableProvider>>,
}

#[derive(Debug, Clone)]
enum Origin {
    Segment(PathBuf),
    /// A built-in view and the configuration file it comes from.
    Builtin(&'static str, PathBuf),
}

impl LazyView {
    pub(super) fn for_project(project: &Project) -> BTreeMap<String, LazyView> {
        let mut views = BTreeMap::new();
        if let Some(orders) = &project.config.orders {
            for (name, sql) in builtin_views(orders, &project.config) {
                views.insert(
                    name.to_string(),
                    LazyView::new(sql, Origin::Builtin(name, project.config_file())),
                );
            }
        }
        for segment in &project.segments {
            views.insert(
                segment.name.clone(),
                LazyView::new(segment.sql.clone(), Origin::Segment(segment.file.clone())),
            );
        }
        views
    }

    fn new(sql: String, origin: Origin) -> LazyView {
        LazyView {
            sql,
            origin,
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
        if crate::error::root_external::<Error>(&e).is_some() || !planning {
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
            Origin::Segment(file) => Error::segment(file, line, message),
            Origin::Builtin(name, file) => Error::config(
                file,
                format!(
                    "the built-in view `{name}` written from [orders] cannot be planned; check `orders.customer`, `orders.ordered_at` and `orders.amount`: {message}"
                ),
            ),
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
    sql.find(&name).map(|offset| crate::project::line_of(sql, offset))
}
