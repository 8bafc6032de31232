//! Opening a configured table (a `TableSpec` the project resolved at load)
//! as a DataFusion `ListingTable`, with errors that say what is wrong with
//! its location, credentials or files.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use futures::TryStreamExt;
use object_store::ObjectMeta;

use crate::error::{Error, Result};
use crate::project::TableSpec;
use crate::storage::{FileFormatKind, build_store};

/// How the catalog reaches and opens a table the project declared.
impl TableSpec {
    /// Builds the object store a table's `options` describe (no I/O). Every
    /// table of a bucket has the same options, so any of them can register it.
    pub fn option_store(&self) -> Result<Option<Arc<dyn object_store::ObjectStore>>> {
        if self.options.is_empty() {
            return Ok(None);
        }
        build_store(&self.url, &self.options)
            .map(Some)
            .map_err(|e| Error::config(&self.config_file, format!("key `tables.{}.options`: {e}", self.name)))
    }

    pub fn is_collection(&self) -> bool {
        self.url.path().ends_with('/')
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::table(&self.name, format!("{message} (location `{}`)", self.location))
    }

    /// Lists the files and infers the schema (merging it across files).
    pub async fn open(&self, state: &SessionState) -> Result<Arc<dyn TableProvider>> {
        if self.url.scheme() == "file" {
            let path = self.url.to_file_path().unwrap_or_default();
            if !path.exists() {
                return Err(self.error(format!("{} does not exist", path.display())));
            }
        }
        let table_url = ListingTableUrl::parse(self.url.as_str()).map_err(|e| self.error(e))?;
        let options = ListingOptions::new(self.file_format(state)).with_file_extension(self.extension(&table_url));
        let mut config = ListingTableConfig::new(table_url.clone()).with_listing_options(options);
        if table_url.is_collection() {
            config = config
                .infer_partitions_from_path(state)
                .await
                .map_err(|e| self.describe(e))?;
        }
        let config = config.infer_schema(state).await.map_err(|e| self.describe(e))?;
        let table = ListingTable::try_new(config).map_err(|e| self.describe(e))?;
        Ok(Arc::new(table))
    }

    /// Some of the table's files (`paths`, as `files` lists them) read as a
    /// table of `schema`: the files a run has not read yet.
    pub fn open_files(
        &self,
        state: &SessionState,
        paths: &[String],
        schema: SchemaRef,
    ) -> Result<Arc<dyn TableProvider>> {
        let urls = paths
            .iter()
            .map(|path| ListingTableUrl::parse(path).map_err(|e| self.error(e)))
            .collect::<Result<Vec<_>>>()?;
        let options = ListingOptions::new(self.file_format(state));
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(schema);
        Ok(Arc::new(ListingTable::try_new(config).map_err(|e| self.describe(e))?))
    }

    fn file_format(&self, state: &SessionState) -> Arc<dyn FileFormat> {
        match self.format {
            FileFormatKind::Parquet => {
                Arc::new(ParquetFormat::default().with_options(state.table_options().parquet.clone()))
            }
            FileFormatKind::Csv => Arc::new(
                CsvFormat::default()
                    .with_has_header(self.has_header)
                    .with_delimiter(self.delimiter),
            ),
            FileFormatKind::Json => Arc::new(JsonFormat::default()),
        }
    }

    /// The extension of the files the table reads: a single file is taken
    /// whatever its extension; a folder keeps only the files of its format
    /// (so `_SUCCESS` markers and the like are ignored).
    fn extension(&self, table_url: &ListingTableUrl) -> &'static str {
        match self.format {
            _ if !table_url.is_collection() => "",
            FileFormatKind::Json => "",
            other => other.extension(),
        }
    }

    /// The files the table reads now, as its listing finds them (path,
    /// size, time of the last change, entity tag), sorted by path.
    pub async fn files(&self, state: &SessionState) -> Result<Vec<ObjectMeta>> {
        let table_url = ListingTableUrl::parse(self.url.as_str()).map_err(|e| self.error(e))?;
        let store = match self.option_store()? {
            Some(store) => store,
            None => state
                .runtime_env()
                .object_store(&table_url)
                .map_err(|e| self.describe(e))?,
        };
        let listed = table_url
            .list_all_files(state, store.as_ref(), self.extension(&table_url))
            .await
            .map_err(|e| self.describe(e))?;
        let mut files: Vec<ObjectMeta> = listed.try_collect().await.map_err(|e| self.describe(e))?;
        files.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(files)
    }

    /// One sentence on what went wrong, the library's own words after it.
    fn describe(&self, e: DataFusionError) -> Error {
        let root_is_parquet = matches!(e.find_root(), DataFusionError::ParquetError(_));
        let root_is_store = matches!(e.find_root(), DataFusionError::ObjectStore(_));
        let text = Error::Query(e).to_string();
        let storage = || format!("{}://{}", self.url.scheme(), self.url.authority());
        // The S3 client reports most failures as generic errors carrying the
        // HTTP status and the server's error code; those codes are stable.
        let denied = [
            "403 Forbidden",
            "AccessDenied",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "Invalid signature",
        ];
        let unreachable = [
            "error sending request",
            "Connection refused",
            "dns error",
            "connection error",
        ];
        let summary = if text.contains("Fail to merge schema") || text.contains("Unable to merge") {
            "its files have clashing schemas".to_string()
        } else if text.contains("No files found") {
            return self.error(format!("no {} files found", self.format.name()));
        } else if denied.iter().any(|d| text.contains(d)) {
            format!(
                "access to {} was denied; check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or the table's options)",
                storage()
            )
        } else if text.contains("NoSuchBucket") {
            format!("the bucket of {} does not exist", storage())
        } else if unreachable.iter().any(|d| text.contains(d)) {
            format!(
                "cannot connect to the storage endpoint for {}; check AWS_ENDPOINT_URL (or the table's `endpoint` option) and the network",
                storage()
            )
        } else if root_is_parquet {
            "a file is not valid Parquet".to_string()
        } else if root_is_store {
            format!("cannot read from {}", storage())
        } else {
            return self.error(text);
        };
        Error::table(&self.name, format!("{summary} (location `{}`)\n{text}", self.location))
    }
}
