//! Tables oneview writes itself: `segment_membership` and `report_runs` in
//! the state location, and, when `[identity]` is set, the identity tables in
//! the output location. Each is a folder of Parquet files read with a fixed
//! schema, so it can be queried (empty) before anything was written.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::runtime_env::RuntimeEnv;
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

    pub(super) async fn table(&self, name: &str, runtime: &RuntimeEnv) -> Result<Option<Arc<dyn TableProvider>>> {
        let (url, schema): (Url, SchemaRef) = match (name, &self.identity) {
            (membership::TABLE, _) => (self.folder(membership::FOLDER), membership::schema()),
            (runs::TABLE, _) => (self.folder(runs::FOLDER), runs::schema()),
            (name, Some((output, customers))) if outputs::NAMES.contains(&name) => {
                // The committed run's file: the four tables are read as one set.
                let store = StateStore::at(output.clone(), runtime)?;
                let schema = match name {
                    outputs::LINKS => outputs::links_schema(),
                    outputs::EDGES => outputs::edges_schema(),
                    outputs::MERGES => outputs::merges_schema(),
                    _ => Arc::clone(customers),
                };
                (outputs::location(&store, output, name).await?, schema)
            }
            _ => return Ok(None),
        };
        let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(ListingTableUrl::parse(url.as_str())?)
            .with_listing_options(options)
            .with_schema(schema);
        Ok(Some(Arc::new(ListingTable::try_new(config)?)))
    }

    fn folder(&self, folder: &str) -> Url {
        self.state.join(folder).expect("state folders are valid URL paths")
    }
}
