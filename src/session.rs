//! A DataFusion session wired for a project: the one place that puts the
//! features' tables, views and functions into a session. Everything a query
//! can name comes from here: the project's tables (the catalog), oneview's
//! SQL functions (the udfs crate), the system tables and views each feature
//! exports, the object store registry and the memory limit.

use std::sync::Arc;

use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::catalog::{CATALOG, ProjectSchema, SCHEMA, SessionHandle};
use crate::error::{Error, Result};
use crate::project::Project;
use crate::storage::{StateStore, StoreRegistry};
use crate::{identity, reports, scoring, segments};

#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Cap on the memory of query operators; beyond it they spill to disk.
    pub memory_limit: Option<usize>,
}

pub struct Session {
    pub ctx: SessionContext,
    pub schema: Arc<ProjectSchema>,
    pub project: Project,
}

impl Session {
    pub fn open(project: Project, options: &SessionOptions) -> Result<Session> {
        let runtime = runtime(options)?;
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_create_default_catalog_and_schema(true)
            .with_information_schema(true);
        // Spans let planning errors in segment files name their line.
        config.options_mut().sql_parser.collect_spans = true;
        let ctx = SessionContext::new_with_config_rt(config.clone(), Arc::clone(&runtime));
        oneview_udfs::register_all(&ctx);
        let mut schema = ProjectSchema::new(&project, runtime, config)?;
        register_features(&mut schema, &project)?;
        let schema = Arc::new(schema);
        ctx.catalog(CATALOG)
            .expect("the default catalog exists")
            .register_schema(SCHEMA, Arc::clone(&schema) as _)
            .map_err(Error::Query)?;
        let state = ctx.state_weak_ref();
        schema.attach(SessionHandle(Arc::new(move || {
            state.upgrade().map(|s| s.read().clone())
        })));
        Ok(Session { ctx, schema, project })
    }

    /// The project's state folder, through this session's object stores.
    pub fn state_store(&self) -> Result<StateStore> {
        StateStore::at(self.project.state.clone(), &self.ctx.runtime_env())
    }

    /// The scheduler of the project's scheduled reports on this session;
    /// None when no report has a schedule (the state folder is then not opened).
    pub fn scheduler(&self) -> Result<Option<reports::Scheduler>> {
        let project = &self.project;
        reports::Scheduler::new(self.ctx.clone(), &project.config.reports, project.dir.clone(), || {
            self.state_store()
        })
    }
}

fn runtime(options: &SessionOptions) -> Result<Arc<RuntimeEnv>> {
    // No list-files cache: DataFusion keeps listings forever by default, so
    // a long-running server would never see new files in a table's folder,
    // nor the report runs and snapshots oneview writes itself.
    let caches = CacheManagerConfig::default().with_list_files_cache_limit(0);
    let mut runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(StoreRegistry::new()))
        .with_cache_manager(caches);
    if let Some(limit) = options.memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    runtime.build_arc().map_err(Error::Query)
}

/// Every feature's tables and views: the membership history and report
/// runs always; the identity tables with `[identity]`; `rfm` and `clv` with
/// `[orders]`; one view per segment.
fn register_features(schema: &mut ProjectSchema, project: &Project) -> Result<()> {
    let config = &project.config;
    schema.register_system(
        segments::membership::TABLE,
        segments::membership::table(&project.state)?,
    )?;
    schema.register_system(reports::runs::TABLE, reports::runs::table(&project.state)?)?;
    if let Some(identity) = &config.identity {
        for (name, table) in identity::tables(&project.output, identity) {
            schema.register_system(name, table)?;
        }
    }
    if let Some(orders) = &config.orders {
        for view in scoring::views(orders, config.identity.as_ref(), &project.config_file()) {
            schema.register_view(view)?;
        }
    }
    for view in segments::views(&project.segments) {
        schema.register_view(view)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::Utc;
    use datafusion::arrow::array::Int64Array;
    use datafusion::catalog::SchemaProvider;

    use super::*;
    use crate::project::names;
    use crate::reports::{RunRecord, runs};

    fn project(toml: &str) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("oneview.toml"), toml).unwrap();
        let project = Project::load(dir.path()).unwrap();
        (dir, project)
    }

    /// The names a project may not take are exactly the names the features
    /// register: a feature that adds a table must add its name to the list.
    #[test]
    fn every_name_oneview_registers_is_reserved() {
        let (_dir, project) = project(
            r#"
            [tables.orders]
            location = "orders.parquet"
            [orders]
            table = "orders"
            customer = "c"
            amount = "a"
            [identity.sources.orders]
            record_id = "id"
            identifiers = { email = "email" }
            "#,
        );
        let session = Session::open(project, &SessionOptions::default()).unwrap();
        let registered: BTreeSet<String> = session
            .schema
            .table_names()
            .into_iter()
            .filter(|name| name != "orders")
            .collect();
        let reserved: BTreeSet<String> = names::provided(true).map(String::from).collect();
        assert_eq!(registered, reserved);
    }

    async fn count(session: &Session) -> i64 {
        let batches = session
            .ctx
            .sql("SELECT count(*) FROM report_runs WHERE status = 'ok'")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    }

    #[tokio::test]
    async fn a_long_session_sees_runs_recorded_after_it_started() {
        let (_dir, project) = project("");
        let session = Session::open(project, &SessionOptions::default()).unwrap();
        let state = session.state_store().unwrap();
        assert_eq!(count(&session).await, 0);
        for (i, expected) in [1, 2].into_iter().enumerate() {
            let started = Utc::now() + chrono::Duration::seconds(i as i64);
            let run = RunRecord {
                name: "r".into(),
                started,
                finished: started,
                rows: Some(3),
                output: None,
                status: "ok".into(),
                error: None,
            };
            runs::record(&state, &run).await.unwrap();
            // The same session (as in `oneview serve`) lists the folder again.
            assert_eq!(count(&session).await, expected);
        }
        let latest = runs::latest(&state).await.unwrap();
        assert_eq!(latest["r"].rows, Some(3));
    }
}
