//! Tables oneview keeps in the state location: `segment_membership` and
//! `report_runs`. Each is a folder of Parquet files read with a fixed schema,
//! so it can be queried (empty) before anything was written.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::Result as DfResult;
use url::Url;

use crate::reports::runs;
use crate::segments::membership;

pub(super) const NAMES: &[&str] = &[membership::TABLE, runs::TABLE];

pub(super) fn table(name: &str, state: &Url) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let (folder, schema): (&str, SchemaRef) = match name {
        membership::TABLE => (membership::FOLDER, membership::schema()),
        runs::TABLE => (runs::FOLDER, runs::schema()),
        _ => return Ok(None),
    };
    let url = state.join(folder).expect("state folders are valid URL paths");
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(ListingTableUrl::parse(url.as_str())?)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Some(Arc::new(ListingTable::try_new(config)?)))
}
