//! The `customers` table of a chain of runs. A run that grows the last one
//! writes to its file only the customers it folded again or made, marked
//! `changed` in the file's metadata, rather than copying every customer
//! (the copy and its encoding were a fifth of a growing run at 1M people).
//! A run's customers are then the rows of its chain's files from the last
//! one written whole: each file's rows but those of customers a later file
//! holds again or a later run joined into another (the run's remap).
//!
//! Queries read the changed files' rows besides the whole one's, so once
//! they would hold more than `CHANGED_SHARE` of the whole file's rows a
//! growing run writes the table whole again (`write_whole`): a query then
//! reads at most half as many rows again as there are customers.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, HashMap, HashSet, Result as DfResult, ScalarValue};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use futures::StreamExt;
use url::Url;

use super::outputs;
use super::remap::Remap;
use super::state::StateFile;
use crate::catalog::parquet_files;
use crate::error::{Error, Result};

/// The key of a file's metadata that marks it as holding only the
/// customers its run changed, and the mark.
const MARK: &str = "oneview.customers";
const CHANGED: &str = "changed";

/// The changed files' rows, as a share of the whole file's, past which a
/// growing run writes the table whole again.
const CHANGED_SHARE: f64 = 0.5;

/// How a file of only the changed customers is written: as every output
/// is, with the mark in its metadata.
pub fn changed_properties() -> WriterProperties {
    let mark = KeyValue::new(MARK.to_string(), CHANGED.to_string());
    crate::storage::parquet_properties()
        .into_builder()
        .set_key_value_metadata(Some(vec![mark]))
        .build()
}

/// Whether a growing run that changes `changed` customers writes the
/// table whole again (see `CHANGED_SHARE`).
pub fn write_whole(files: &CustomerFiles, changed: usize) -> bool {
    let changed_rows = files.files.iter().filter(|f| f.changed).map(|f| f.rows).sum::<usize>() + changed;
    let whole_rows = files.files.first().map_or(0, |f| f.rows);
    changed_rows as f64 > CHANGED_SHARE * whole_rows as f64
}

/// One file of a chain's customers: its rows, whether it holds only the
/// changed customers.
#[derive(Debug)]
struct File {
    url: Url,
    rows: usize,
    changed: bool,
}

/// The files a chain's customers are read from, oldest (the whole one)
/// first, and what tells whether a row of one of them is current.
#[derive(Debug)]
pub struct CustomerFiles {
    files: Vec<File>,
    superseded: Arc<Superseded>,
}

/// Per customer id held by a changed file, the newest file (index in
/// `CustomerFiles::files`) holding it; the ids joined into others.
#[derive(Debug, Default, PartialEq, Eq)]
struct Superseded {
    newest: HashMap<String, usize>,
    absorbed: HashSet<String>,
}

impl Superseded {
    /// Whether a row of file `file` for customer `id` is current.
    fn current(&self, file: usize, id: &str) -> bool {
        !self.absorbed.contains(id) && self.newest.get(id).is_none_or(|&newest| newest <= file)
    }
}

impl CustomerFiles {
    /// The files of the customers of a run of chain `chain` (its runs,
    /// oldest first) whose remap is `remap`: read back from the newest to
    /// the last written whole, with the ids the changed ones hold.
    pub async fn read(runtime: &RuntimeEnv, output: &Url, chain: &[String], remap: &Remap) -> Result<CustomerFiles> {
        let mut files = Vec::new();
        let mut ids: Vec<Vec<String>> = Vec::new();
        for run in chain.iter().rev() {
            let url = outputs::run_location(output, outputs::CUSTOMERS, Some(run));
            let (rows, changed_ids) = read_file(runtime, &url).await?;
            let changed = changed_ids.is_some();
            ids.push(changed_ids.unwrap_or_default());
            files.push(File { url, rows, changed });
            if !changed {
                break;
            }
        }
        if files.last().is_none_or(|f| f.changed) {
            return Err(Error::Usage(format!(
                "no file of the customers of run {} holds them all; run `oneview resolve --full`",
                chain.last().map_or("", String::as_str)
            )));
        }
        files.reverse();
        ids.reverse();
        let mut superseded = Superseded {
            newest: HashMap::new(),
            absorbed: remap.keys().cloned().collect(),
        };
        for (index, ids) in ids.into_iter().enumerate() {
            superseded.newest.extend(ids.into_iter().map(|id| (id, index)));
        }
        Ok(CustomerFiles {
            files,
            superseded: Arc::new(superseded),
        })
    }

    /// A scan of the current rows of the files: each file's scan, its
    /// superseded rows filtered out (but the newest's, all current), in
    /// one union.
    pub async fn scan(
        &self,
        state: &dyn Session,
        schema: &SchemaRef,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let newest = self.files.len() - 1;
        let mut plans = Vec::with_capacity(self.files.len());
        for (index, file) in self.files.iter().enumerate() {
            let table = parquet_files(std::slice::from_ref(&file.url), Arc::clone(schema))?;
            if index == newest {
                plans.push(table.scan(state, projection, filters, limit).await?);
                continue;
            }
            // The filter needs the id column, dropped again after it.
            let id = schema.index_of(CUSTOMER_ID)?;
            let mut wanted = projection
                .cloned()
                .unwrap_or_else(|| (0..schema.fields().len()).collect());
            let added = !wanted.contains(&id);
            if added {
                wanted.push(id);
            }
            let plan = table.scan(state, Some(&wanted), filters, None).await?;
            let at = plan.schema().index_of(CUSTOMER_ID)?;
            let udf = Arc::new(ScalarUDF::new_from_impl(CurrentUdf::new(
                Arc::clone(&self.superseded),
                index,
            )));
            let predicate = Arc::new(ScalarFunctionExpr::try_new(
                udf,
                vec![Arc::new(Column::new(CUSTOMER_ID, at))],
                &plan.schema(),
                Arc::new(ConfigOptions::default()),
            )?);
            let mut plan: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(predicate, plan)?);
            if added {
                let input = plan.schema();
                let kept: Vec<(Arc<dyn PhysicalExpr>, String)> = input
                    .fields()
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != at)
                    .map(|(i, f)| {
                        (
                            Arc::new(Column::new(f.name(), i)) as Arc<dyn PhysicalExpr>,
                            f.name().clone(),
                        )
                    })
                    .collect();
                plan = Arc::new(ProjectionExec::try_new(kept, plan)?);
            }
            plans.push(plan);
        }
        UnionExec::try_new(plans)
    }
}

const CUSTOMER_ID: &str = "customer_id";

/// A customers file's rows, and if it holds only changed customers, their
/// ids (read from its id column).
async fn read_file(runtime: &RuntimeEnv, url: &Url) -> Result<(usize, Option<Vec<String>>)> {
    let file = StateFile::open(runtime, url).await?;
    let builder = file.builder().await?;
    let metadata = builder.metadata().file_metadata();
    let rows = metadata.num_rows() as usize;
    let changed = metadata
        .key_value_metadata()
        .is_some_and(|kv| kv.iter().any(|k| k.key == MARK && k.value.as_deref() == Some(CHANGED)));
    if !changed {
        return Ok((rows, None));
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), [0]);
    let mut stream = builder.with_projection(mask).build()?;
    let mut ids = Vec::with_capacity(rows);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let column = datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        ids.extend(column.as_string::<i32>().iter().flatten().map(str::to_string));
    }
    Ok((rows, Some(ids)))
}

/// Whether a customer id's row of one file is current: the function the
/// filter of each superseded file's scan applies.
#[derive(Debug)]
struct CurrentUdf {
    superseded: Arc<Superseded>,
    file: usize,
    signature: Signature,
}

impl CurrentUdf {
    fn new(superseded: Arc<Superseded>, file: usize) -> CurrentUdf {
        CurrentUdf {
            superseded,
            file,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

impl PartialEq for CurrentUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.superseded, &other.superseded) && self.file == other.file
    }
}

impl Eq for CurrentUdf {}

impl std::hash::Hash for CurrentUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.superseded).hash(state);
        self.file.hash(state);
    }
}

impl ScalarUDFImpl for CurrentUdf {
    fn name(&self) -> &str {
        "oneview_customer_current"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let current = |id: Option<&str>| id.map(|id| self.superseded.current(self.file, id));
        match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(id)) => {
                Ok(ColumnarValue::Scalar(ScalarValue::Boolean(current(id.as_deref()))))
            }
            ColumnarValue::Array(ids) => {
                let ids = ids
                    .as_string_opt::<i32>()
                    .ok_or_else(|| DataFusionError::Internal("customer ids are not text".into()))?;
                let current: BooleanArray = ids.iter().map(current).collect();
                debug_assert_eq!(current.len(), ids.len());
                Ok(ColumnarValue::Array(Arc::new(current)))
            }
            other => Err(DataFusionError::Internal(format!(
                "customer ids of type {} cannot be looked up",
                other.data_type()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{Field, Int64Type, Schema};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::physical_plan::collect;
    use datafusion::prelude::SessionContext;

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(CUSTOMER_ID, DataType::Utf8, false),
            Field::new("records", DataType::Int64, false),
        ]))
    }

    /// Run `run`'s customers file: `rows` (id, records), marked as holding
    /// only the changed customers unless `whole`.
    fn write(output: &Url, run: &str, rows: &[(&str, i64)], whole: bool) {
        let path = outputs::run_location(output, outputs::CUSTOMERS, Some(run))
            .to_file_path()
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let ids: ArrayRef = Arc::new(rows.iter().map(|r| Some(r.0)).collect::<StringArray>());
        let records: ArrayRef = Arc::new(rows.iter().map(|r| r.1).collect::<Int64Array>());
        let batch = RecordBatch::try_new(schema(), vec![ids, records]).unwrap();
        let properties = (!whole).then(changed_properties);
        let mut writer = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema(), properties).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    /// The current rows of the chain's customers, as (id, records) sorted,
    /// or only their records (a projection without the ids).
    async fn current(files: &CustomerFiles, ctx: &SessionContext, projection: Option<&Vec<usize>>) -> Vec<String> {
        let plan = files
            .scan(&ctx.state(), &schema(), projection, &[], None)
            .await
            .unwrap();
        let mut rows = Vec::new();
        for batch in collect(plan, ctx.task_ctx()).await.unwrap() {
            let records = batch.column(batch.num_columns() - 1).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                let id = (batch.num_columns() == 2).then(|| batch.column(0).as_string::<i32>().value(i));
                rows.push(format!(
                    "{}{}",
                    id.map_or(String::new(), |id| format!("{id}:")),
                    records.value(i)
                ));
            }
        }
        rows.sort();
        rows
    }

    /// A chain of a whole file and two of changed customers reads each
    /// customer's newest row and none of a customer joined into another,
    /// with or without the id column; once the changed rows pass half the
    /// whole file's, the next run writes the table whole.
    #[tokio::test]
    async fn a_chain_reads_each_customer_s_newest_row_and_none_of_a_joined_one() {
        let dir = tempfile::tempdir().unwrap();
        let output = Url::from_directory_path(dir.path()).unwrap();
        let whole: Vec<(String, i64)> = (1..=8).filter(|&i| i != 5).map(|i| (format!("c{i}"), 1)).collect();
        let whole: Vec<(&str, i64)> = whole.iter().map(|(id, n)| (id.as_str(), *n)).collect();
        write(&output, "a", &whole, true);
        write(&output, "b", &[("c2", 2)], false);
        write(&output, "c", &[("c3", 5), ("c5", 1)], false);
        let remap: Remap = [("c1".to_string(), "c3".to_string())].into_iter().collect();
        let ctx = SessionContext::new();
        let chain: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let files = CustomerFiles::read(&ctx.runtime_env(), &output, &chain, &remap)
            .await
            .unwrap();
        let expect = ["c2:2", "c3:5", "c4:1", "c5:1", "c6:1", "c7:1", "c8:1"];
        assert_eq!(current(&files, &ctx, None).await, expect);
        let records = ["1", "1", "1", "1", "1", "2", "5"];
        assert_eq!(current(&files, &ctx, Some(&vec![1])).await, records);
        assert!(!write_whole(&files, 0), "3 changed rows beside 7 whole ones");
        assert!(
            write_whole(&files, 1),
            "4 changed rows beside 7 whole ones is past half"
        );

        // A whole file ends the chain's reading: the files before it are not read.
        write(&output, "d", &[("c2", 7), ("c3", 5), ("c4", 1), ("c5", 1)], true);
        let chain: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let files = CustomerFiles::read(&ctx.runtime_env(), &output, &chain, &remap)
            .await
            .unwrap();
        assert_eq!(current(&files, &ctx, None).await, ["c2:7", "c3:5", "c4:1", "c5:1"]);

        let err = CustomerFiles::read(&ctx.runtime_env(), &output, &chain[1..3], &remap)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no file of the customers of run c holds them all"),
            "{err}"
        );
    }

    /// A row is current in the newest file holding its customer, and in no
    /// file once its customer was joined into another.
    #[test]
    fn a_row_is_current_in_the_newest_file_holding_its_customer() {
        let superseded = Superseded {
            newest: [("a".to_string(), 1), ("b".to_string(), 2)].into_iter().collect(),
            absorbed: ["c".to_string()].into_iter().collect(),
        };
        assert!(superseded.current(0, "d"), "a customer no later file holds");
        assert!(!superseded.current(0, "a"));
        assert!(superseded.current(1, "a"));
        assert!(!superseded.current(1, "b"));
        assert!(superseded.current(2, "b"));
        assert!(!superseded.current(0, "c"), "a joined customer");
    }
}
