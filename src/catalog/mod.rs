//! The project's tables as a DataFusion schema.
//!
//! Configured tables are opened on first use (listing files and reading the
//! schema is I/O), so startup costs nothing per table. Beside them live the
//! views and the system tables the session registers (`register_view`,
//! `register_system`) and the tables users create at run time. The catalog
//! knows no feature: what a view or system table means is its owner's.

mod parquet;
mod spec;
mod views;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionConfig;
use tokio::sync::OnceCell;

pub use parquet::{parquet_files, parquet_table};
pub use views::{SessionHandle, ViewDef, ViewOrigin};

use views::LazyView;

use crate::error::{Error, Result};
use crate::project::{Project, TableSpec};

/// The catalog and schema every session's tables are registered in.
pub const CATALOG: &str = "oneview";
pub const SCHEMA: &str = "public";

/// The schema holding a project's tables.
#[derive(Debug)]
pub struct ProjectSchema {
    configured: BTreeMap<String, LazyTable>,
    registered: RwLock<HashMap<String, Arc<dyn TableProvider>>>,
    /// Views features and segments define, planned on first use.
    views: BTreeMap<String, LazyView>,
    /// Tables oneview writes itself, as their owners made them.
    system: BTreeMap<String, Arc<dyn TableProvider>>,
    /// The session that plans views; set once it exists.
    session: std::sync::OnceLock<SessionHandle>,
    runtime: Arc<RuntimeEnv>,
    config: SessionConfig,
}

#[derive(Debug)]
struct LazyTable {
    spec: TableSpec,
    opened: OnceCell<Arc<dyn TableProvider>>,
}

impl ProjectSchema {
    /// Checks every configured table's location and options; opens nothing.
    pub fn new(project: &Project, runtime: Arc<RuntimeEnv>, config: SessionConfig) -> Result<Self> {
        let specs = project.tables.clone();
        // Stores from `options` are registered now, so that an output to the
        // same bucket (`-o s3://…`) uses them even if the table is never read.
        for spec in &specs {
            if let Some(store) = spec.option_store()? {
                runtime.register_object_store(&spec.url, store);
            }
        }
        let configured = specs
            .into_iter()
            .map(|spec| {
                let lazy = LazyTable {
                    spec,
                    opened: OnceCell::new(),
                };
                (lazy.spec.name.clone(), lazy)
            })
            .collect();
        Ok(Self {
            configured,
            registered: RwLock::new(HashMap::new()),
            views: BTreeMap::new(),
            system: BTreeMap::new(),
            session: std::sync::OnceLock::new(),
            runtime,
            config,
        })
    }

    /// Adds a view, planned in the attached session when first read. Its
    /// name must not be taken (the project refuses tables and segments that
    /// take a name oneview provides, so a clash is oneview's own mistake).
    pub fn register_view(&mut self, view: ViewDef) -> Result<()> {
        let name = view.name.clone();
        self.check_free(&name)?;
        self.views.insert(name, LazyView::new(view));
        Ok(())
    }

    /// Adds a table oneview writes itself; its owner decides how it is read.
    pub fn register_system(&mut self, name: &str, table: Arc<dyn TableProvider>) -> Result<()> {
        self.check_free(name)?;
        self.system.insert(name.to_string(), table);
        Ok(())
    }

    fn check_free(&self, name: &str) -> Result<()> {
        if self.configured.contains_key(name) || self.views.contains_key(name) || self.system.contains_key(name) {
            return Err(Error::Usage(format!(
                "`{name}` is registered twice in the project's schema"
            )));
        }
        Ok(())
    }

    /// Gives the schema the session its views are planned in.
    pub fn attach(&self, session: SessionHandle) {
        let _ = self.session.set(session);
    }

    /// Whether `name` is a segment or built-in view of the project.
    pub fn is_view(&self, name: &str) -> bool {
        self.views.contains_key(name)
    }

    pub fn specs(&self) -> impl Iterator<Item = &TableSpec> {
        self.configured.values().map(|t| &t.spec)
    }

    pub fn spec(&self, name: &str) -> Option<&TableSpec> {
        self.configured.get(name).map(|t| &t.spec)
    }

    /// Opens a configured table (once), reporting failures as oneview errors.
    pub async fn open(&self, name: &str) -> Result<Arc<dyn TableProvider>> {
        let lazy = self
            .configured
            .get(name)
            .ok_or_else(|| Error::Usage(format!("no table named `{name}` in the project")))?;
        lazy.opened
            .get_or_try_init(|| async {
                let state = SessionStateBuilder::new()
                    .with_config(self.config.clone())
                    .with_runtime_env(Arc::clone(&self.runtime))
                    .with_default_features()
                    .build();
                lazy.spec.open(&state).await
            })
            .await
            .cloned()
    }
}

#[async_trait]
impl SchemaProvider for ProjectSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.configured.keys().cloned().collect();
        names.extend(self.registered.read().expect("schema lock").keys().cloned());
        names.extend(self.views.keys().cloned());
        names.extend(self.system.keys().cloned());
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.registered.read().expect("schema lock").get(name) {
            return Ok(Some(Arc::clone(table)));
        }
        if self.configured.contains_key(name) {
            return self.open(name).await.map(Some).map_err(DataFusionError::from);
        }
        if let Some(view) = self.views.get(name) {
            let session = self
                .session
                .get()
                .ok_or_else(|| DataFusionError::Internal("views are read before the session is attached".into()))?;
            return view.open(session).await.map(Some).map_err(DataFusionError::from);
        }
        Ok(self.system.get(name).cloned())
    }

    async fn table_type(&self, name: &str) -> DfResult<Option<TableType>> {
        // Answer without opening a configured table: listing tables is I/O.
        if let Some(table) = self.registered.read().expect("schema lock").get(name) {
            return Ok(Some(table.table_type()));
        }
        if self.views.contains_key(name) {
            return Ok(Some(TableType::View));
        }
        if self.system.contains_key(name) {
            return Ok(Some(TableType::Base));
        }
        Ok(self.configured.contains_key(name).then_some(TableType::Base))
    }

    fn register_table(&self, name: String, table: Arc<dyn TableProvider>) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.views.contains_key(&name) || self.system.contains_key(&name) {
            return Err(DataFusionError::Plan(format!(
                "`{name}` is a segment or built-in view of the project; choose another name"
            )));
        }
        if self.configured.contains_key(&name) {
            return Err(DataFusionError::Plan(format!(
                "`{name}` is a table of the project (oneview.toml); choose another name"
            )));
        }
        Ok(self.registered.write().expect("schema lock").insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.configured.contains_key(name) {
            return Err(DataFusionError::Plan(format!(
                "`{name}` is a table of the project (oneview.toml) and cannot be dropped; remove it from the file instead"
            )));
        }
        Ok(self.registered.write().expect("schema lock").remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.configured.contains_key(name)
            || self.views.contains_key(name)
            || self.system.contains_key(name)
            || self.registered.read().expect("schema lock").contains_key(name)
    }
}
