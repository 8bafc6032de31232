//! Scoring: RFM segments and customer lifetime value (BG/NBD purchases with
//! Gamma-Gamma spend).

pub(crate) mod bgnbd;
mod fit;
pub(crate) mod gamma_gamma;
mod optimize;
mod params;
mod predict;
mod rfm;
pub(crate) mod special;
mod units;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

pub use rfm::RULES as RFM_RULES;

pub fn scalar_functions() -> Vec<ScalarUDF> {
    let mut functions = vec![rfm::udf()];
    functions.extend(predict::functions());
    functions
}

pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![fit::bgnbd_fit(), fit::gamma_gamma_fit()]
}
