//! The customers growing runs joined since the last full run, as the
//! identity tables read them. A growing run that joins customers writes
//! `customers` whole without the absorbed ones, but their records' rows of
//! `identity_links` and `identity_edges` stay in the chain's older files,
//! which it does not rewrite: the run's remap (`identity/remaps/RUN`, a
//! line `old new` per absorbed id) names the customer each is part of now,
//! and the tables' scans put that in their `customer_id` column.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::physical_plan::projection::ProjectionExec;

use super::ids::{format_id, parse_id};
use crate::error::{Error, Result};
use crate::storage::StateStore;

/// The folder of the remaps, a file per run that has one.
pub const REMAPS: &str = "identity/remaps/";

/// The column the remap applies to.
const CUSTOMER_ID: &str = "customer_id";

/// Absorbed customer id → the customer it is part of now (ids as text).
pub type Remap = BTreeMap<String, String>;

/// The remap of `run` (empty if none: no growing run since the last full
/// one joined customers). A file oneview did not write is refused: read
/// otherwise, it would give records the wrong customers.
pub async fn read(store: &StateStore, run: &str) -> Result<Remap> {
    let file = format!("{REMAPS}{run}");
    let Some(bytes) = store.get(&file).await? else {
        return Ok(Remap::new());
    };
    let unlike = |line: usize| {
        Error::Usage(format!(
            "{file} line {line} is not two customer ids (`old new`); run `oneview resolve --full`"
        ))
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| unlike(1))?;
    let mut remap = Remap::new();
    for (i, line) in text.lines().enumerate() {
        let (old, new) = line.trim().split_once(' ').ok_or_else(|| unlike(i + 1))?;
        if parse_id(old).is_none() || parse_id(new).is_none() {
            return Err(unlike(i + 1));
        }
        remap.insert(old.to_string(), new.to_string());
    }
    Ok(remap)
}

/// Writes the remap of `run` (before it is committed), if it has one.
pub async fn write(store: &StateStore, run: &str, remap: &Remap) -> Result<()> {
    if remap.is_empty() {
        return Ok(());
    }
    let text: String = remap.iter().map(|(old, new)| format!("{old} {new}\n")).collect();
    store.put(&format!("{REMAPS}{run}"), text.into()).await
}

/// The remap after customers were joined (`merged`: absorbed, survivor):
/// ids absorbed earlier into a customer absorbed now name its survivor.
pub fn extend(remap: &mut Remap, merged: &[(u64, u64)]) {
    let now: BTreeMap<String, String> = merged
        .iter()
        .map(|&(old, new)| (format_id(old), format_id(new)))
        .collect();
    for target in remap.values_mut() {
        if let Some(survivor) = now.get(target) {
            *target = survivor.clone();
        }
    }
    remap.extend(now);
}

/// `plan` (a scan of an identity table) with its `customer_id` column, if
/// it has one, read through `remap`.
pub fn apply(plan: Arc<dyn ExecutionPlan>, remap: Arc<Remap>) -> DfResult<Arc<dyn ExecutionPlan>> {
    let schema = plan.schema();
    let Ok(at) = schema.index_of(CUSTOMER_ID) else {
        return Ok(plan);
    };
    let udf = Arc::new(ScalarUDF::new_from_impl(RemapUdf::new(remap)));
    let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(field.name(), i));
        let expr: Arc<dyn PhysicalExpr> = match i == at {
            true => Arc::new(ScalarFunctionExpr::try_new(
                Arc::clone(&udf),
                vec![column],
                &schema,
                Arc::new(ConfigOptions::default()),
            )?),
            false => column,
        };
        exprs.push((expr, field.name().clone()));
    }
    Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
}

/// The remap as a function of a customer id: the id it names now, or the
/// id itself.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RemapUdf {
    remap: Arc<Remap>,
    signature: Signature,
}

impl RemapUdf {
    fn new(remap: Arc<Remap>) -> RemapUdf {
        RemapUdf {
            remap,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }

    fn now<'a>(&'a self, id: &'a str) -> &'a str {
        self.remap.get(id).map_or(id, String::as_str)
    }
}

impl ScalarUDFImpl for RemapUdf {
    fn name(&self) -> &str {
        "oneview_customer_now"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    /// The column as it was (its name and nullability).
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::clone(&args.arg_fields[0]))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(id)) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                id.as_deref().map(|id| self.now(id).to_string()),
            ))),
            ColumnarValue::Array(ids) => {
                let ids = ids
                    .as_string_opt::<i32>()
                    .ok_or_else(|| DataFusionError::Internal("customer ids are not text".into()))?;
                // Most ids are not remapped: the column is kept unless one is.
                if !ids.iter().flatten().any(|id| self.remap.contains_key(id)) {
                    return Ok(ColumnarValue::Array(Arc::new(ids.clone()) as ArrayRef));
                }
                let now: StringArray = ids.iter().map(|id| id.map(|id| self.now(id))).collect();
                debug_assert_eq!(now.len(), ids.len());
                Ok(ColumnarValue::Array(Arc::new(now)))
            }
            other => Err(DataFusionError::Internal(format!(
                "customer ids of type {} cannot be remapped",
                other.data_type()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A remap written and read back is the same; a line that is not two
    /// customer ids is refused, naming the file and line.
    #[tokio::test]
    async fn a_remap_reads_back_and_a_line_not_written_by_oneview_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = datafusion::prelude::SessionContext::new();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let store = StateStore::at(url, &ctx.runtime_env()).unwrap();
        assert!(read(&store, "r1").await.unwrap().is_empty(), "no file: no remap");
        let mut remap = Remap::new();
        extend(&mut remap, &[(7, 3), (9, 3)]);
        write(&store, "r1", &remap).await.unwrap();
        assert_eq!(read(&store, "r1").await.unwrap(), remap);
        let text = format!("{} {}\ncus_x {}\n", format_id(7), format_id(3), format_id(3));
        store.put(&format!("{REMAPS}r2"), text.into()).await.unwrap();
        let err = read(&store, "r2").await.unwrap_err().to_string();
        assert!(
            err.contains("identity/remaps/r2 line 2 is not two customer ids"),
            "{err}"
        );
    }

    /// A customer absorbed into one that is absorbed later names the last
    /// survivor.
    #[test]
    fn a_remap_follows_joins_to_the_last_survivor() {
        let mut remap = Remap::new();
        extend(&mut remap, &[(7, 3), (9, 3)]);
        extend(&mut remap, &[(3, 1), (12, 5)]);
        let expect: Remap = [(7, 1), (9, 1), (3, 1), (12, 5)]
            .into_iter()
            .map(|(o, n)| (format_id(o), format_id(n)))
            .collect();
        assert_eq!(remap, expect);
    }
}
