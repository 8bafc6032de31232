//! Tables oneview writes itself: `segment_membership` and `report_runs` in
//! the state location, and, when `[identity]` is set, the identity tables in
//! the output location. Each is read with a fixed schema, so it can be
//! queried (empty) before anything was written: the state tables as folders
//! of Parquet files, the identity tables as the files of the committed run.

use std::sync::Arc;

use async_trait::async_trait;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use url::Url;

use crate::error::Result;
use crate::identity::{golden, outputs};
use crate::project::Project;
use crate::reports::runs;
use crate::segments::membership;
use crate::state::StateStore;

#[derive(Debug)]
pub(super) struct SystemTables {
    state: Url,
    /// The output location and the golden record's schema, with `[identity]`.
    identity: Option<(Url, SchemaRef)>,
}

const STATE_TABLES: &[&str] = &[membership::TABLE, runs::TABLE];

impl SystemTables {
    pub(super) fn new(project: &Project) -> Result<SystemTables> {
        let identity = match &project.config.identity {
            Some(config) => Some((outputs::output_url(project)?, golden::schema(config))),
            None => None,
        };
        Ok(SystemTables {
            state: crate::state::state_url(project)?,
            identity,
        })
    }

    pub(super) fn names(&self) -> Vec<&'static str> {
        let mut names = STATE_TABLES.to_vec();
        if self.identity.is_some() {
            names.extend(outputs::NAMES);
        }
        names
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.names().contains(&name)
    }

    pub(super) fn table(&self, name: &str, runtime: &RuntimeEnv) -> Result<Option<Arc<dyn TableProvider>>> {
        let (url, schema): (Url, SchemaRef) = match (name, &self.identity) {
            (membership::TABLE, _) => (self.folder(membership::FOLDER), membership::schema()),
            (runs::TABLE, _) => (self.folder(runs::FOLDER), runs::schema()),
            (name, Some((output, customers))) if outputs::NAMES.contains(&name) => {
                let name = outputs::NAMES
                    .iter()
                    .copied()
                    .find(|n| *n == name)
                    .expect("a listed name");
                let schema = match name {
                    outputs::LINKS => outputs::links_schema(),
                    outputs::EDGES => outputs::edges_schema(),
                    outputs::MERGES => outputs::merges_schema(),
                    _ => Arc::clone(customers),
                };
                return Ok(Some(Arc::new(IdentityTable {
                    store: StateStore::at(output.clone(), runtime)?,
                    output: output.clone(),
                    name,
                    schema,
                })));
            }
            _ => return Ok(None),
        };
        Ok(Some(listing(&url, schema)?))
    }

    fn folder(&self, folder: &str) -> Url {
        self.state.join(folder).expect("state folders are valid URL paths")
    }
}

/// Parquet files below `url` (a folder or one file), with a fixed schema.
fn listing(url: &Url, schema: SchemaRef) -> DfResult<Arc<dyn TableProvider>> {
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(ListingTableUrl::parse(url.as_str())?)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// An identity table: the file of the committed run, looked up when a plan
/// is scanned, not when it is made, so a view planned once (a segment, a
/// report in the server) reads each new run.
#[derive(Debug)]
struct IdentityTable {
    store: StateStore,
    output: Url,
    name: &'static str,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for IdentityTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let url = outputs::location(&self.store, &self.output, self.name)
            .await
            .map_err(DataFusionError::from)?;
        listing(&url, Arc::clone(&self.schema))?
            .scan(state, projection, filters, limit)
            .await
    }
}
