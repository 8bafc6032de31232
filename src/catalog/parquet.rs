//! Tables of Parquet files oneview writes itself (membership history, report
//! runs, a run of the identity tables), read with a fixed schema so that
//! they can be queried, empty, before anything was written.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::Result as DfResult;
use url::Url;

/// The Parquet files below `url` (a folder or one file), with `schema`.
/// Files are listed when the table is scanned, not now: a table made once
/// sees the files written after it.
pub fn parquet_table(url: &Url, schema: SchemaRef) -> DfResult<Arc<dyn TableProvider>> {
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(ListingTableUrl::parse(url.as_str())?)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// Like `parquet_table`, over several locations read as one table.
pub fn parquet_files(urls: &[Url], schema: SchemaRef) -> DfResult<Arc<dyn TableProvider>> {
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let paths = urls
        .iter()
        .map(|url| ListingTableUrl::parse(url.as_str()))
        .collect::<DfResult<Vec<_>>>()?;
    let config = ListingTableConfig::new_with_multi_paths(paths)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}
