//! oneview's SQL functions: identity matching (normalization, similarity)
//! and customer scoring (RFM, lifetime value).
//!
//! Usable by any DataFusion `SessionContext` — the oneview CLI, its Flight SQL
//! server, Ballista executors — so this crate must never depend on the CLI.

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

/// Every scalar function of the crate, for registries other than a context.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    Vec::new()
}

/// Every aggregate function of the crate.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    Vec::new()
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
