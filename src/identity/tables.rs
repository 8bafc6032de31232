//! The identity tables as sessions read them: `identity_links`,
//! `identity_edges`, `identity_merges` and `customers`, each the file of the
//! committed run below the output location (for a run that grew earlier
//! ones, the links and edges are the files of its chain of runs, their
//! customer ids read through the run's `remap`, and the customers the
//! current rows of its chain's files: `customer_chain`), with a fixed
//! schema so that it can be queried (empty) before the first resolution.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use url::Url;

use super::customer_chain::CustomerFiles;
use super::{golden, moved, outputs, remap};
use crate::catalog::parquet_files;
use crate::error::Result;
use crate::project::IdentityConfig;
use crate::storage::StateStore;

/// The four identity tables of the output location `output`, by name; they
/// share one set of run pins, so a query joining them reads one run.
pub fn tables(output: &Url, config: &IdentityConfig) -> Vec<(&'static str, Arc<dyn TableProvider>)> {
    let pins: Arc<RunPins> = Arc::default();
    outputs::NAMES
        .iter()
        .map(|&name| {
            let schema = match name {
                outputs::LINKS => outputs::links_schema(),
                outputs::EDGES => outputs::edges_schema(),
                outputs::MERGES => outputs::merges_schema(),
                _ => golden::schema(config),
            };
            let table = IdentityTable {
                output: output.clone(),
                name,
                schema,
                pins: Arc::clone(&pins),
                customers: Default::default(),
            };
            (name, Arc::new(table) as Arc<dyn TableProvider>)
        })
        .collect()
}

/// An identity table: the file of the committed run, looked up when a plan
/// is scanned, not when it is made, so a view planned once (a segment, a
/// report in the server) reads each new run.
#[derive(Debug)]
struct IdentityTable {
    output: Url,
    name: &'static str,
    schema: SchemaRef,
    pins: Arc<RunPins>,
    /// The last run whose customers were read, and their files.
    customers: tokio::sync::Mutex<Option<(String, Arc<CustomerFiles>)>>,
}

#[async_trait]
impl TableProvider for IdentityTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters reach the Parquet scan, which skips row groups by them (the
    /// links are written source by source); the plan still applies them.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let started = state.execution_props().query_execution_start_time;
        let store = StateStore::at(self.output.clone(), state.runtime_env()).map_err(DataFusionError::from)?;
        let run = self.pins.run(&store, started).await.map_err(DataFusionError::from)?;
        if let (Some(run), outputs::CUSTOMERS) = (run.as_deref(), self.name) {
            let files = self.customer_files(state, &store, run).await?;
            return files.scan(state, &self.schema, projection, filters, limit).await;
        }
        let urls = outputs::run_locations(&store, &self.output, self.name, run.as_deref())
            .await
            .map_err(DataFusionError::from)?;
        let (remap, moved) = match (run.as_deref(), self.name) {
            (Some(run), outputs::LINKS | outputs::EDGES) => (
                remap::read(&store, run).await.map_err(DataFusionError::from)?,
                moved::read(&store, run).await.map_err(DataFusionError::from)?,
            ),
            _ => (remap::Remap::new(), moved::Moved::new()),
        };
        if !moved.is_empty()
            && let Some(run) = run.as_deref()
        {
            let chain = outputs::chain(&store, run).await.map_err(DataFusionError::from)?;
            return self
                .scan_moved(state, (&urls, &chain), (remap, moved), projection, filters)
                .await;
        }
        let files = parquet_files(&urls, Arc::clone(&self.schema))?;
        if remap.is_empty() {
            return files.scan(state, projection, filters, limit).await;
        }
        let plan = files.scan(state, projection, &unmapped(filters), limit).await?;
        remap::apply(plan, Arc::new(remap))
    }
}

/// The filters but those on the customer id: the files' ids are not all
/// current, so a filter on them would skip what the remap names (they are
/// applied above the scan).
fn unmapped(filters: &[Expr]) -> Vec<Expr> {
    filters
        .iter()
        .filter(|f| !f.column_refs().iter().any(|c| c.name == "customer_id"))
        .cloned()
        .collect()
}

impl IdentityTable {
    /// A scan of the links or edges of a chain whose growing runs linked
    /// customers again: each file's rows but those of records a later run
    /// wrote again (`moved`), in one union, read through the remap.
    async fn scan_moved(
        &self,
        state: &dyn Session,
        (urls, chain): (&[Url], &[String]),
        (remap, moved): (remap::Remap, moved::Moved),
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let record = match self.name {
            outputs::LINKS => ("source", "record_id"),
            _ => ("source_a", "record_id_a"),
        };
        // The filter needs the record's columns, dropped again above it.
        let wanted: Vec<usize> = projection
            .cloned()
            .unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let mut read = wanted.clone();
        for column in [record.0, record.1] {
            let i = self.schema.index_of(column)?;
            if !read.contains(&i) {
                read.push(i);
            }
        }
        let filters = unmapped(filters);
        let moved = Arc::new(moved);
        let mut plans = Vec::with_capacity(urls.len());
        for (url, run) in urls.iter().zip(chain) {
            let files = parquet_files(std::slice::from_ref(url), Arc::clone(&self.schema))?;
            let plan = files.scan(state, Some(&read), &filters, None).await?;
            plans.push(moved::current_rows(plan, Arc::clone(&moved), run, record)?);
        }
        let union = datafusion::physical_plan::union::UnionExec::try_new(plans)?;
        // Back to the columns asked for, in their order.
        let kept: Vec<(Arc<dyn datafusion::physical_plan::PhysicalExpr>, String)> = wanted
            .iter()
            .map(|&i| {
                let name = self.schema.field(i).name();
                let at = union.schema().index_of(name)?;
                Ok((
                    Arc::new(datafusion::physical_expr::expressions::Column::new(name, at)) as _,
                    name.clone(),
                ))
            })
            .collect::<DfResult<_>>()?;
        let plan = Arc::new(datafusion::physical_plan::projection::ProjectionExec::try_new(
            kept, union,
        )?);
        remap::apply(plan, Arc::new(remap))
    }

    /// The files of run `run`'s customers, read once for each run (a
    /// growing run's are its chain's, each file's rows but those a later
    /// one holds again: `customer_chain`).
    async fn customer_files(&self, state: &dyn Session, store: &StateStore, run: &str) -> DfResult<Arc<CustomerFiles>> {
        let mut known = self.customers.lock().await;
        if let Some((r, files)) = known.as_ref()
            && r == run
        {
            return Ok(Arc::clone(files));
        }
        let read = async {
            let chain = outputs::chain(store, run).await?;
            let remap = remap::read(store, run).await?;
            CustomerFiles::read(state.runtime_env(), &self.output, &chain, &remap).await
        };
        let files = Arc::new(read.await.map_err(DataFusionError::from)?);
        *known = Some((run.to_string(), Arc::clone(&files)));
        Ok(files)
    }
}

/// The committed run each query reads, pinned by the query's start time:
/// every identity table one query scans (a join of links and customers)
/// comes from the same run, even when a resolution commits while the query
/// is being planned. A query's scans are planned within moments of each
/// other (concurrently, at times), so a pin is dropped once it is a minute
/// old; queries read `identity/current` side by side, each once.
#[derive(Debug, Default)]
struct RunPins(std::sync::Mutex<Vec<(DateTime<Utc>, Pin)>>);

/// One query's run, read from `identity/current` by its first scan.
type Pin = Arc<OnceCell<Option<String>>>;

impl RunPins {
    const LIFETIME: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

    async fn run(&self, store: &StateStore, started: Option<DateTime<Utc>>) -> Result<Option<String>> {
        let Some(started) = started else {
            return outputs::current_run(store).await;
        };
        let cell = {
            let mut pins = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let expired = Utc::now() - Self::LIFETIME;
            pins.retain(|(at, _)| *at >= expired);
            match pins.iter().find(|(at, _)| *at == started) {
                Some((_, cell)) => Arc::clone(cell),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    pins.push((started, Arc::clone(&cell)));
                    cell
                }
            }
        };
        cell.get_or_try_init(|| outputs::current_run(store)).await.cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::physical_plan::collect;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A links file of one row whose record id names its run.
    fn write_links(output: &Path, run: &str) {
        let folder = output.join("identity").join(outputs::LINKS);
        std::fs::create_dir_all(&folder).unwrap();
        let text = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
        let columns = vec![
            text("crm"),
            text(run),
            text("cus_1"),
            text("user_id"),
            Arc::new(Float64Array::from(vec![None])) as ArrayRef,
        ];
        let batch = RecordBatch::try_new(outputs::links_schema(), columns).unwrap();
        let file = std::fs::File::create(folder.join(format!("run-{run}.parquet"))).unwrap();
        let mut writer = ArrowWriter::try_new(file, outputs::links_schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    async fn read_run(table: &IdentityTable, state: &dyn Session) -> String {
        let plan = table.scan(state, None, &[], None).await.unwrap();
        let batches = collect(plan, state.task_ctx()).await.unwrap();
        batches[0].column(1).as_string::<i32>().value(0).to_string()
    }

    /// One query sees one run even when a commit lands between its scans;
    /// the next query sees the new run.
    #[tokio::test]
    async fn the_scans_of_one_query_read_one_run() {
        let dir = tempfile::tempdir().unwrap();
        write_links(dir.path(), "a");
        write_links(dir.path(), "b");
        let ctx = SessionContext::new();
        let output = Url::from_directory_path(dir.path()).unwrap();
        let store = StateStore::at(output.clone(), &ctx.runtime_env()).unwrap();
        let table = IdentityTable {
            output,
            name: outputs::LINKS,
            schema: outputs::links_schema(),
            pins: Arc::default(),
            customers: Default::default(),
        };
        store.put(outputs::CURRENT, "a".into()).await.unwrap();
        let query = ctx.state();
        assert_eq!(read_run(&table, &query).await, "a");
        store.put(outputs::CURRENT, "b".into()).await.unwrap();
        assert_eq!(read_run(&table, &query).await, "a", "the same query keeps its run");
        assert_eq!(
            read_run(&table, &ctx.state()).await,
            "b",
            "a new query reads the new run"
        );
    }
}
