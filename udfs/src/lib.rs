//! oneview's SQL functions: identity matching (normalization, similarity)
//! and customer scoring (RFM, lifetime value).
//!
//! Usable by any DataFusion `SessionContext` — the oneview CLI, its Flight SQL
//! server, Ballista executors — so this crate must never depend on the CLI.
//! Every function works on whole Arrow arrays, accepts Utf8, LargeUtf8 and
//! Utf8View, keeps scalar arguments scalar, and maps NULL to NULL.

mod args;
mod function;
pub mod normalize;
pub mod scoring;
pub mod similarity;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

/// Every scalar function of the crate, for registries other than a context.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    let mut functions = normalize::functions();
    functions.extend(similarity::functions());
    functions.extend(scoring::scalar_functions());
    functions
}

/// Every aggregate function of the crate.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    scoring::aggregate_functions()
}

/// Registers all of the crate's functions in `ctx`.
pub fn register_all(ctx: &SessionContext) {
    for udf in scalar_functions() {
        ctx.register_udf(udf);
    }
    for udaf in aggregate_functions() {
        ctx.register_udaf(udaf);
    }
}
