//! `bgnbd_fit(frequency, recency, t [, unit])` and
//! `gamma_gamma_fit(frequency, monetary)`: aggregates that collect customers
//! (collapsing equal rows into weights) and fit by maximum likelihood when
//! evaluated. They return a struct of parameters that the prediction
//! functions take.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListArray, StringArray, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Signature, Volatility};

use super::params::{bgnbd_fields, gamma_gamma_fields};
use super::units::Unit;
use super::{bgnbd, gamma_gamma};
use crate::args::{Arg, coerce};
use crate::function::{SCORING, doc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Model {
    BgNbd,
    GammaGamma,
}

struct Fit {
    model: Model,
    signature: Signature,
    doc: Documentation,
}

impl fmt::Debug for Fit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fit({:?})", self.model)
    }
}

impl PartialEq for Fit {
    fn eq(&self, other: &Self) -> bool {
        self.model == other.model
    }
}
impl Eq for Fit {}
impl Hash for Fit {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.model.hash(state);
    }
}

pub fn bgnbd_fit() -> AggregateUDF {
    AggregateUDF::new_from_impl(Fit {
        model: Model::BgNbd,
        signature: Signature::user_defined(Volatility::Immutable),
        doc: doc(
            SCORING,
            "Fits the BG/NBD model (Fader, Hardie & Lee 2005) by maximum likelihood (L-BFGS on \
             log-parameters, analytic gradients). Returns {r, alpha, a, b, log_likelihood, \
             converged, n, unit}. Rows with a NULL input are skipped; a negative or fractional \
             frequency, a negative time or a recency beyond t is an error. Returns NULL when no \
             customer has a repeat purchase (the model is not identified) or there are no rows.",
            "bgnbd_fit(frequency, recency, t [, unit])",
            &[
                (
                    "frequency",
                    "Repeat purchases (purchase days after the first), a whole number ≥ 0.",
                ),
                (
                    "recency",
                    "Age at the last purchase: time from the first to the last purchase (0 without repeats).",
                ),
                (
                    "t",
                    "Age at the end of the period: time from the first purchase to the as-of date.",
                ),
                (
                    "unit",
                    "Optional: the unit recency and t are in ('day', 'week', 'month', 'year'); clv() requires it.",
                ),
            ],
            "SELECT bgnbd_fit(frequency, recency, t, 'week') FROM customer_summary",
        ),
    })
}

pub fn gamma_gamma_fit() -> AggregateUDF {
    AggregateUDF::new_from_impl(Fit {
        model: Model::GammaGamma,
        signature: Signature::user_defined(Volatility::Immutable),
        doc: doc(
            SCORING,
            "Fits the Gamma-Gamma spend model (Fader & Hardie 2013) by maximum likelihood over \
             customers with repeat purchases (frequency > 0 and monetary > 0; other rows are \
             skipped). Returns {p, q, v, log_likelihood, converged, n}; NULL without such customers.",
            "gamma_gamma_fit(frequency, monetary)",
            &[
                ("frequency", "Repeat purchases, a whole number ≥ 0."),
                ("monetary", "Mean value of the repeat purchases."),
            ],
            "SELECT gamma_gamma_fit(frequency, monetary) FROM customer_summary",
        ),
    })
}

impl AggregateUDFImpl for Fit {
    fn name(&self) -> &str {
        match self.model {
            Model::BgNbd => "bgnbd_fit",
            Model::GammaGamma => "gamma_gamma_fit",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match self.model {
            Model::BgNbd => coerce(
                self.name(),
                &[Arg::Number, Arg::Number, Arg::Number, Arg::Text],
                3,
                arg_types,
            ),
            Model::GammaGamma => coerce(self.name(), &[Arg::Number, Arg::Number], 2, arg_types),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(self.fields()))
    }

    fn is_nullable(&self) -> bool {
        true
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(match self.model {
            Model::BgNbd => Box::new(BgNbdAccumulator::default()),
            Model::GammaGamma => Box::new(GammaGammaAccumulator::default()),
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: &str| {
            Arc::new(Field::new(
                format!("{}[{name}]", args.name),
                DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
                true,
            ))
        };
        Ok(match self.model {
            Model::BgNbd => vec![
                list("x"),
                list("tx"),
                list("t"),
                list("w"),
                Arc::new(Field::new(format!("{}[unit]", args.name), DataType::Utf8, true)),
            ],
            Model::GammaGamma => vec![list("x"), list("m"), list("w")],
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

impl Fit {
    fn fields(&self) -> Fields {
        match self.model {
            Model::BgNbd => bgnbd_fields(),
            Model::GammaGamma => gamma_gamma_fields(),
        }
    }
}

fn float_column(values: &ArrayRef) -> Result<Float64Array> {
    Ok(cast(values, &DataType::Float64)?.as_primitive::<Float64Type>().clone())
}

fn check_frequency(function: &str, x: f64) -> Result<()> {
    if !(x >= 0.0 && x.is_finite() && x.fract() == 0.0) {
        return exec_err!("{function}: frequency must be a whole number of repeat purchases ≥ 0, got {x}");
    }
    Ok(())
}

/// One list of f64 as a scalar, built straight from the vector.
fn list_scalar(values: Vec<f64>) -> ScalarValue {
    let values = Float64Array::from(values);
    let offsets = OffsetBuffer::from_lengths([values.len()]);
    let field = Arc::new(Field::new_list_field(DataType::Float64, true));
    ScalarValue::List(Arc::new(ListArray::new(field, offsets, Arc::new(values), None)))
}

/// The rows of a list column of a merged state, flattened.
fn list_values(array: &ArrayRef) -> Result<Vec<Vec<f64>>> {
    let lists: &ListArray = array.as_list();
    let mut out = Vec::with_capacity(lists.len());
    for i in 0..lists.len() {
        if lists.is_null(i) {
            out.push(Vec::new());
            continue;
        }
        let values = float_column(&lists.value(i))?;
        out.push(values.iter().map(|v| v.unwrap_or(0.0)).collect());
    }
    Ok(out)
}

fn struct_scalar(fields: Fields, columns: Vec<ArrayRef>) -> Result<ScalarValue> {
    Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
        fields, columns, None,
    )?)))
}

#[derive(Debug, Default)]
struct BgNbdAccumulator {
    observations: bgnbd::Observations,
    unit: Option<String>,
}

impl BgNbdAccumulator {
    fn set_unit(&mut self, unit: &str) -> Result<()> {
        let parsed = Unit::parse("bgnbd_fit", unit)?.name().to_string();
        match &self.unit {
            Some(existing) if *existing != parsed => {
                exec_err!("bgnbd_fit: the unit changes between rows ('{existing}' and '{parsed}'); use one unit")
            }
            _ => {
                self.unit = Some(parsed);
                Ok(())
            }
        }
    }
}

impl Accumulator for BgNbdAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (x, tx, t) = (
            float_column(&values[0])?,
            float_column(&values[1])?,
            float_column(&values[2])?,
        );
        if let Some(units) = values.get(3) {
            let units = cast(units, &DataType::Utf8)?;
            let units: &StringArray = units.as_string();
            // A literal unit arrives as a whole column: it is read again
            // only where the text changes.
            let mut previous: Option<&str> = None;
            for unit in units.iter().flatten() {
                if previous != Some(unit) {
                    self.set_unit(unit)?;
                    previous = Some(unit);
                }
            }
        }
        for i in 0..x.len() {
            if x.is_null(i) || tx.is_null(i) || t.is_null(i) {
                continue;
            }
            let (x, tx, t) = (x.value(i), tx.value(i), t.value(i));
            check_frequency("bgnbd_fit", x)?;
            if !(tx >= 0.0 && t >= 0.0 && tx.is_finite() && t.is_finite()) {
                return exec_err!("bgnbd_fit: recency and t must be ≥ 0, got recency {tx} and t {t}");
            }
            if tx > t * (1.0 + 1e-9) {
                return exec_err!(
                    "bgnbd_fit: recency {tx} is greater than t {t}; recency is the age at the last purchase, t the age at the end of the period"
                );
            }
            self.observations.add(x, tx, t, 1.0);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let fields = bgnbd_fields();
        let Some(fit) = bgnbd::fit(&self.observations) else {
            return ScalarValue::try_from(&DataType::Struct(fields));
        };
        let p = fit.params;
        let f = |v: f64| Arc::new(Float64Array::from(vec![v])) as ArrayRef;
        struct_scalar(
            fields,
            vec![
                f(p.r),
                f(p.alpha),
                f(p.a),
                f(p.b),
                f(fit.log_likelihood),
                Arc::new(BooleanArray::from(vec![fit.converged])),
                Arc::new(Int64Array::from(vec![fit.customers.round() as i64])),
                Arc::new(StringArray::from(vec![self.unit.clone()])),
            ],
        )
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.observations.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (mut x, mut tx, mut t, mut w) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (a, b, c, d) in self.observations.rows() {
            x.push(a);
            tx.push(b);
            t.push(c);
            w.push(d);
        }
        Ok(vec![
            list_scalar(x),
            list_scalar(tx),
            list_scalar(t),
            list_scalar(w),
            ScalarValue::Utf8(self.unit.clone()),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (x, tx, t, w) = (
            list_values(&states[0])?,
            list_values(&states[1])?,
            list_values(&states[2])?,
            list_values(&states[3])?,
        );
        let units = cast(&states[4], &DataType::Utf8)?;
        for unit in units.as_string::<i32>().iter().flatten() {
            self.set_unit(unit)?;
        }
        let mut other = bgnbd::Observations::default();
        for row in 0..x.len() {
            for k in 0..x[row].len() {
                other.add(x[row][k], tx[row][k], t[row][k], w[row][k]);
            }
        }
        self.observations.merge(&other);
        Ok(())
    }
}

#[derive(Debug, Default)]
struct GammaGammaAccumulator {
    observations: gamma_gamma::Observations,
}

impl Accumulator for GammaGammaAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (x, m) = (float_column(&values[0])?, float_column(&values[1])?);
        for i in 0..x.len() {
            if x.is_null(i) || m.is_null(i) {
                continue;
            }
            let (x, m) = (x.value(i), m.value(i));
            check_frequency("gamma_gamma_fit", x)?;
            if !(m >= 0.0 && m.is_finite()) {
                return exec_err!("gamma_gamma_fit: monetary must be ≥ 0, got {m}");
            }
            if x > 0.0 && m > 0.0 {
                self.observations.add(x, m, 1.0);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let fields = gamma_gamma_fields();
        let Some(fit) = gamma_gamma::fit(&self.observations) else {
            return ScalarValue::try_from(&DataType::Struct(fields));
        };
        let p = fit.params;
        let f = |v: f64| Arc::new(Float64Array::from(vec![v])) as ArrayRef;
        struct_scalar(
            fields,
            vec![
                f(p.p),
                f(p.q),
                f(p.v),
                f(fit.log_likelihood),
                Arc::new(BooleanArray::from(vec![fit.converged])),
                Arc::new(Int64Array::from(vec![fit.customers.round() as i64])),
            ],
        )
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.observations.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (mut x, mut m, mut w) = (Vec::new(), Vec::new(), Vec::new());
        for (a, b, c) in self.observations.rows() {
            x.push(a);
            m.push(b);
            w.push(c);
        }
        Ok(vec![list_scalar(x), list_scalar(m), list_scalar(w)])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (x, m, w) = (
            list_values(&states[0])?,
            list_values(&states[1])?,
            list_values(&states[2])?,
        );
        let mut other = gamma_gamma::Observations::default();
        for row in 0..x.len() {
            for k in 0..x[row].len() {
                other.add(x[row][k], m[row][k], w[row][k]);
            }
        }
        self.observations.merge(&other);
        Ok(())
    }
}
