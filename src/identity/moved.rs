//! Records a growing run linked again (`regroup`): their rows of
//! `identity_links` and `identity_edges` are written again in the run's
//! files, so their rows in the chain's earlier files are no longer current.
//! A run's moved records (`identity/moved/RUN`, JSON: each record's source,
//! record id and the run that last wrote it, carried from run to run along
//! the chain like the remap) tell the tables' scans which rows of an
//! earlier file to leave out: a record's rows are read from the file of
//! the run that last wrote it alone. An edge joins two records of one
//! customer, so an edge is moved with its first record.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, HashMap, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExec;

use crate::error::{Error, Result};
use crate::storage::StateStore;

/// The folder of the moved records, a file per run that has some.
pub const MOVED: &str = "identity/moved/";

/// Per record (source, record id) moved, the run that last wrote its rows.
pub type Moved = HashMap<(String, String), String>;

/// The moved records of `run` (none: no growing run since the last full
/// one linked customers again). A file oneview did not write is refused.
pub async fn read(store: &StateStore, run: &str) -> Result<Moved> {
    let file = format!("{MOVED}{run}");
    let Some(bytes) = store.get(&file).await? else {
        return Ok(Moved::new());
    };
    let rows: Vec<(String, String, String)> = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Usage(format!(
            "{file} is not a list of moved records ({e}); run `oneview resolve --full`"
        ))
    })?;
    Ok(rows.into_iter().map(|(s, id, run)| ((s, id), run)).collect())
}

/// Writes the moved records of `run` (before it is committed), if any.
pub async fn write(store: &StateStore, run: &str, moved: &Moved) -> Result<()> {
    if moved.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<(&str, &str, &str)> = moved
        .iter()
        .map(|((s, id), run)| (s.as_str(), id.as_str(), run.as_str()))
        .collect();
    rows.sort_unstable();
    let bytes = serde_json::to_vec(&rows).map_err(|e| Error::Usage(format!("the moved records: {e}")))?;
    store.put(&format!("{MOVED}{run}"), bytes.into()).await
}

/// `plan`, a scan of run `run`'s file of the links (record columns
/// `source`, `record_id`) or edges (`source_a`, `record_id_a`), without
/// the rows of records a later run wrote again.
pub fn current_rows(
    plan: Arc<dyn ExecutionPlan>,
    moved: Arc<Moved>,
    run: &str,
    (source, record_id): (&str, &str),
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let schema = plan.schema();
    let udf = Arc::new(ScalarUDF::new_from_impl(CurrentUdf {
        moved,
        run: run.to_string(),
        signature: Signature::any(2, Volatility::Immutable),
    }));
    let args = vec![
        Arc::new(Column::new(source, schema.index_of(source)?)) as _,
        Arc::new(Column::new(record_id, schema.index_of(record_id)?)) as _,
    ];
    let predicate = ScalarFunctionExpr::try_new(udf, args, &schema, Arc::new(ConfigOptions::default()))?;
    Ok(Arc::new(FilterExec::try_new(Arc::new(predicate), plan)?))
}

/// Whether a record's row in run `run`'s file is current: no later run
/// wrote it again.
#[derive(Debug)]
struct CurrentUdf {
    moved: Arc<Moved>,
    run: String,
    signature: Signature,
}

impl PartialEq for CurrentUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.moved, &other.moved) && self.run == other.run
    }
}

impl Eq for CurrentUdf {}

impl std::hash::Hash for CurrentUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.moved).hash(state);
        self.run.hash(state);
    }
}

impl ScalarUDFImpl for CurrentUdf {
    fn name(&self) -> &str {
        "oneview_record_current"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let [sources, ids] = [&args.args[0], &args.args[1]].map(|a| a.to_array(rows));
        let (sources, ids) = (cast(&sources?, &DataType::Utf8)?, cast(&ids?, &DataType::Utf8)?);
        let (sources, ids) = match (sources.as_string_opt::<i32>(), ids.as_string_opt::<i32>()) {
            (Some(s), Some(i)) => (s.clone(), i.clone()),
            _ => return Err(DataFusionError::Internal("record columns are not text".into())),
        };
        let mut key = (String::new(), String::new());
        let current: BooleanArray = (0..rows)
            .map(|i| {
                if sources.is_null(i) || ids.is_null(i) {
                    return Some(true);
                }
                key.0.clear();
                key.0.push_str(sources.value(i));
                key.1.clear();
                key.1.push_str(ids.value(i));
                Some(
                    self.moved
                        .get(&key)
                        .is_none_or(|last| last.as_str() <= self.run.as_str()),
                )
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(current)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Moved records written and read back are the same; none written, none
    /// read; a file oneview did not write is refused, naming it.
    #[tokio::test]
    async fn moved_records_read_back_and_a_file_not_written_by_oneview_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = datafusion::prelude::SessionContext::new();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let store = StateStore::at(url, &ctx.runtime_env()).unwrap();
        assert!(read(&store, "r1").await.unwrap().is_empty());
        let moved: Moved = [(("crm", "c\t1"), "r1"), (("web", "e2"), "r0")]
            .into_iter()
            .map(|((s, id), run)| ((s.to_string(), id.to_string()), run.to_string()))
            .collect();
        write(&store, "r1", &moved).await.unwrap();
        assert_eq!(read(&store, "r1").await.unwrap(), moved);
        store.put(&format!("{MOVED}r2"), "crm c1 r1\n".into()).await.unwrap();
        let err = read(&store, "r2").await.unwrap_err().to_string();
        assert!(
            err.contains("identity/moved/r2 is not a list of moved records"),
            "{err}"
        );
    }
}
