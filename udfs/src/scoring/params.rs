//! The fitted-parameter structs: their Arrow types, and reading them back
//! when they are passed to the prediction functions (as a literal, a scalar
//! subquery or a joined column).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::ColumnarValue;

use super::bgnbd::BgNbd;
use super::gamma_gamma::GammaGamma;
use super::units::Unit;

pub fn bgnbd_fields() -> Fields {
    Fields::from(vec![
        Field::new("r", DataType::Float64, false),
        Field::new("alpha", DataType::Float64, false),
        Field::new("a", DataType::Float64, false),
        Field::new("b", DataType::Float64, false),
        Field::new("log_likelihood", DataType::Float64, false),
        Field::new("converged", DataType::Boolean, false),
        Field::new("n", DataType::Int64, false),
        Field::new("unit", DataType::Utf8, true),
    ])
}

pub fn gamma_gamma_fields() -> Fields {
    Fields::from(vec![
        Field::new("p", DataType::Float64, false),
        Field::new("q", DataType::Float64, false),
        Field::new("v", DataType::Float64, false),
        Field::new("log_likelihood", DataType::Float64, false),
        Field::new("converged", DataType::Boolean, false),
        Field::new("n", DataType::Int64, false),
    ])
}

/// A params argument: a struct column or scalar, with the named numeric
/// fields extracted once.
pub struct ParamsArg {
    values: Vec<Float64Array>,
    unit: Option<Arc<dyn Array>>,
    structs: StructArray,
    scalar: bool,
}

impl ParamsArg {
    pub fn new(function: &str, value: &ColumnarValue, names: &[&str], fit: &str) -> Result<ParamsArg> {
        let (array, scalar) = match value {
            ColumnarValue::Array(a) => (Arc::clone(a), false),
            ColumnarValue::Scalar(ScalarValue::Struct(s)) => (Arc::clone(s) as Arc<dyn Array>, true),
            ColumnarValue::Scalar(s) if s.is_null() => {
                return Ok(ParamsArg {
                    values: Vec::new(),
                    unit: None,
                    structs: StructArray::new_null(Fields::empty(), 1),
                    scalar: true,
                });
            }
            ColumnarValue::Scalar(other) => {
                return exec_err!(
                    "{function}: expected the struct returned by {fit}, got {}",
                    other.data_type()
                );
            }
        };
        let Some(structs) = array.as_struct_opt().cloned() else {
            return exec_err!(
                "{function}: expected the struct returned by {fit}, got {}",
                array.data_type()
            );
        };
        let mut values = Vec::with_capacity(names.len());
        for name in names {
            let Some(column) = structs.column_by_name(name) else {
                return exec_err!(
                    "{function}: the parameters have no field `{name}`; pass the struct returned by {fit}"
                );
            };
            values.push(cast(column, &DataType::Float64)?.as_primitive().clone());
        }
        let unit = structs
            .column_by_name("unit")
            .map(|c| cast(c, &DataType::Utf8))
            .transpose()?;
        Ok(ParamsArg {
            values,
            unit,
            structs,
            scalar,
        })
    }

    fn index(&self, row: usize) -> usize {
        if self.scalar { 0 } else { row }
    }

    /// The parameter values at `row`, None where the struct is NULL.
    pub fn get<const N: usize>(&self, row: usize) -> Option<[f64; N]> {
        let i = self.index(row);
        if self.values.len() != N || self.structs.is_null(i) || self.values.iter().any(|v| v.is_null(i)) {
            return None;
        }
        Some(std::array::from_fn(|k| self.values[k].value(i)))
    }

    /// The time unit the model was fitted in, if it was given.
    pub fn unit(&self, function: &str, row: usize) -> Result<Option<Unit>> {
        let i = self.index(row);
        match &self.unit {
            Some(units) if units.is_valid(i) => Unit::parse(function, units.as_string::<i32>().value(i)).map(Some),
            _ => Ok(None),
        }
    }
}

pub fn bgnbd_from(values: [f64; 4]) -> BgNbd {
    BgNbd {
        r: values[0],
        alpha: values[1],
        a: values[2],
        b: values[3],
    }
}

pub fn gamma_gamma_from(values: [f64; 3]) -> GammaGamma {
    GammaGamma {
        p: values[0],
        q: values[1],
        v: values[2],
    }
}
