//! Reading function arguments and building results, once for all functions:
//! strings of any Arrow string type, numbers as f64, scalars kept scalar.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, Int64Builder, LargeStringArray, StringArray, StringBuilder,
    StringViewArray,
};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ColumnarValue;

/// The kind of value an argument position takes; drives type coercion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// Any string type (Utf8, LargeUtf8, Utf8View) is taken as it is.
    Text,
    /// Any numeric type, read as f64.
    Number,
    /// A struct of fitted parameters (from one of the `*_fit` aggregates).
    Params,
}

/// Coerces argument types for `name`: numbers to Float64, strings as they
/// are, NULL literals to the expected kind; anything else is a plan error
/// that names the function, the position and what was expected.
pub fn coerce(name: &str, spec: &[Arg], required: usize, types: &[DataType]) -> Result<Vec<DataType>> {
    if types.len() < required || types.len() > spec.len() {
        let expected = if required == spec.len() {
            format!("{required}")
        } else {
            format!("{required} to {}", spec.len())
        };
        return plan_err!("{name} takes {expected} arguments, got {}", types.len());
    }
    types
        .iter()
        .zip(spec)
        .enumerate()
        .map(|(i, (t, kind))| {
            let position = i + 1;
            match (kind, t) {
                (Arg::Text, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => Ok(t.clone()),
                (Arg::Text, DataType::Null) => Ok(DataType::Utf8),
                (Arg::Text, DataType::Dictionary(_, v)) if v.is_string() => Ok(DataType::Utf8),
                (Arg::Number, DataType::Null) => Ok(DataType::Float64),
                (Arg::Number, t) if t.is_numeric() => Ok(DataType::Float64),
                (Arg::Params, DataType::Struct(_)) => Ok(t.clone()),
                (Arg::Params, DataType::Null) => Ok(DataType::Null),
                (kind, t) => {
                    let expected = match kind {
                        Arg::Text => "text",
                        Arg::Number => "a number",
                        Arg::Params => "the struct returned by a *_fit aggregate",
                    };
                    plan_err!("{name}: argument {position} must be {expected}, got {t}")
                }
            }
        })
        .collect()
}

/// A string argument: a column of any string type, or a single value.
pub enum Strings<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
    Scalar(Option<&'a str>),
}

impl<'a> Strings<'a> {
    pub fn new(name: &str, value: &'a ColumnarValue) -> Result<Strings<'a>> {
        Ok(match value {
            ColumnarValue::Array(a) => match a.data_type() {
                DataType::Utf8 => Strings::Utf8(a.as_string::<i32>()),
                DataType::LargeUtf8 => Strings::Large(a.as_string::<i64>()),
                DataType::Utf8View => Strings::View(a.as_string_view()),
                DataType::Null => Strings::Scalar(None),
                other => return exec_err!("{name}: expected text, got {other}"),
            },
            ColumnarValue::Scalar(s) => match s {
                ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
                    Strings::Scalar(v.as_deref())
                }
                ScalarValue::Null => Strings::Scalar(None),
                other => return exec_err!("{name}: expected text, got {}", other.data_type()),
            },
        })
    }

    /// The value at `row` (a scalar answers for every row).
    #[inline]
    pub fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            Strings::Utf8(a) => a.is_valid(row).then(|| a.value(row)),
            Strings::Large(a) => a.is_valid(row).then(|| a.value(row)),
            Strings::View(a) => a.is_valid(row).then(|| a.value(row)),
            Strings::Scalar(v) => *v,
        }
    }
}

/// A numeric argument, already coerced to Float64.
pub enum Numbers<'a> {
    Array(&'a Float64Array),
    Scalar(Option<f64>),
}

impl<'a> Numbers<'a> {
    pub fn new(name: &str, value: &'a ColumnarValue) -> Result<Numbers<'a>> {
        Ok(match value {
            ColumnarValue::Array(a) => match a.data_type() {
                DataType::Float64 => Numbers::Array(a.as_primitive::<Float64Type>()),
                DataType::Null => Numbers::Scalar(None),
                other => return exec_err!("{name}: expected a number, got {other}"),
            },
            ColumnarValue::Scalar(ScalarValue::Float64(v)) => Numbers::Scalar(*v),
            ColumnarValue::Scalar(ScalarValue::Null) => Numbers::Scalar(None),
            ColumnarValue::Scalar(other) => match other.cast_to(&DataType::Float64)? {
                ScalarValue::Float64(v) => Numbers::Scalar(v),
                _ => return exec_err!("{name}: expected a number"),
            },
        })
    }

    #[inline]
    pub fn get(&self, row: usize) -> Option<f64> {
        match self {
            Numbers::Array(a) => a.is_valid(row).then(|| a.value(row)),
            Numbers::Scalar(v) => *v,
        }
    }
}

/// True when every argument is a scalar: the result is then a scalar too,
/// computed once rather than expanded to the batch's length.
pub fn all_scalar(args: &[ColumnarValue]) -> bool {
    args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)))
}

/// Rows to compute: one for all-scalar arguments, else the batch length.
pub fn rows(args: &[ColumnarValue], number_rows: usize) -> usize {
    if all_scalar(args) { 1 } else { number_rows }
}

/// Builds a text result. `f(row, out)` writes the value into the reused
/// buffer `out` and returns false for NULL, so no row allocates.
pub fn text_result(
    args: &[ColumnarValue],
    number_rows: usize,
    mut f: impl FnMut(usize, &mut String) -> bool,
) -> ColumnarValue {
    let n = rows(args, number_rows);
    let mut buffer = String::with_capacity(64);
    if all_scalar(args) {
        buffer.clear();
        let value = f(0, &mut buffer).then(|| buffer.clone());
        return ColumnarValue::Scalar(ScalarValue::Utf8(value));
    }
    let mut builder = StringBuilder::with_capacity(n, n * 16);
    for row in 0..n {
        buffer.clear();
        if f(row, &mut buffer) {
            builder.append_value(&buffer);
        } else {
            builder.append_null();
        }
    }
    ColumnarValue::Array(Arc::new(builder.finish()) as ArrayRef)
}

/// Builds a Float64 result from `f(row)`.
pub fn float_result(
    args: &[ColumnarValue],
    number_rows: usize,
    mut f: impl FnMut(usize) -> Result<Option<f64>>,
) -> Result<ColumnarValue> {
    if all_scalar(args) {
        return Ok(ColumnarValue::Scalar(ScalarValue::Float64(f(0)?)));
    }
    let mut builder = Float64Builder::with_capacity(number_rows);
    for row in 0..number_rows {
        builder.append_option(f(row)?);
    }
    Ok(ColumnarValue::Array(Arc::new(builder.finish())))
}

/// Builds an Int64 result from `f(row)`.
pub fn int_result(
    args: &[ColumnarValue],
    number_rows: usize,
    mut f: impl FnMut(usize) -> Option<i64>,
) -> ColumnarValue {
    if all_scalar(args) {
        return ColumnarValue::Scalar(ScalarValue::Int64(f(0)));
    }
    let mut builder = Int64Builder::with_capacity(number_rows);
    for row in 0..number_rows {
        builder.append_option(f(row));
    }
    ColumnarValue::Array(Arc::new(builder.finish()))
}
