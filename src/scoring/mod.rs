//! Scoring: the built-in views `rfm` and `clv`, written from `[orders]`
//! as SQL over the udfs crate's scoring functions.
//!
//! Both start from the same per-customer order rows; `clv` fits BG/NBD and
//! Gamma-Gamma on the whole customer base each time it is read (the fit is
//! an aggregate), so the scores always match the data. When `[identity]`
//! resolves the orders table, an order's customer is the one it resolved to
//! (read from `identity_links` by name, through the catalog).

use std::path::Path;

use crate::catalog::{ViewDef, ViewOrigin};
use crate::project::identity::{IdentityConfig, SourceConfig};
use crate::project::names::{CLV, IDENTITY_LINKS as LINKS, RFM};
use crate::project::{OrdersConfig, parse_as_of, parse_horizon};

/// The built-in views of `[orders]`; `config_file` is named when one cannot
/// be planned.
pub fn views(orders: &OrdersConfig, identity: Option<&IdentityConfig>, config_file: &Path) -> Vec<ViewDef> {
    let keyed = |as_of: &str| keyed_orders(orders, orders_source(orders, identity), as_of);
    [(RFM, rfm_sql(orders, &keyed)), (CLV, clv_sql(orders, &keyed))]
        .into_iter()
        .map(|(name, sql)| ViewDef {
            name: name.to_string(),
            sql,
            origin: ViewOrigin::Config {
                file: config_file.to_path_buf(),
                check: format!(
                    "the built-in view `{name}` written from [orders] cannot be planned; check `orders.customer`, `orders.ordered_at` and `orders.amount`"
                ),
            },
        })
        .collect()
}

/// The first `[identity]` source that reads the orders table, by name,
/// unless `[orders] use_identity = false`.
fn orders_source<'a>(
    orders: &OrdersConfig,
    identity: Option<&'a IdentityConfig>,
) -> Option<(&'a str, &'a SourceConfig)> {
    if !orders.use_identity {
        return None;
    }
    identity?
        .sources
        .iter()
        .find(|(name, source)| source.table.as_deref().unwrap_or(name) == orders.table)
        .map(|(name, source)| (name.as_str(), source))
}

fn as_of_literal(orders: &OrdersConfig) -> String {
    match orders.as_of.as_deref().map(parse_as_of) {
        Some(Ok(t)) => format!("TIMESTAMP '{}'", t.format("%Y-%m-%dT%H:%M:%S")),
        // Validated with the configuration; `now()` is the documented default.
        _ => "CAST(now() AS TIMESTAMP)".to_string(),
    }
}

/// One row per order with a customer, up to the as-of date.
///
/// With an identity source over the orders, an order's customer is, in
/// order: the customer it was resolved to; for an order newer than the last
/// resolution, the one customer the earlier orders of its configured key
/// were resolved to; else its configured key. Orders without a key that
/// resolution linked to nothing (junk guest orders) are left out, as they
/// are without identity.
fn keyed_orders(orders: &OrdersConfig, source: Option<(&str, &SourceConfig)>, as_of: &str) -> String {
    // Each configured expression stands on its own lines, so that a `--`
    // comment in it ends there; the table name is quoted (it may be a keyword).
    let wrap = |expr: &str| format!("(\n{expr}\n)");
    let select = |record_id: &str| {
        format!(
            "SELECT CAST({customer} AS VARCHAR) AS customer_id, CAST({ordered_at} AS TIMESTAMP) AS ordered_at,
                    CAST({amount} AS DOUBLE) AS amount{record_id}
             FROM \"{table}\"
             WHERE CAST({ordered_at} AS TIMESTAMP) <= {as_of}",
            customer = wrap(&orders.customer),
            ordered_at = wrap(&orders.ordered_at),
            amount = wrap(&orders.amount),
            table = orders.table,
        )
    };
    let Some((name, source)) = source else {
        return format!("SELECT * FROM ({}) WHERE customer_id IS NOT NULL", select(""));
    };
    // The record id as resolution reads it (text, trimmed).
    let record_id = format!(", trim(CAST({} AS VARCHAR)) AS record_id", wrap(&source.record_id));
    format!(
        "WITH linked AS (
           SELECT k.customer_id AS key, l.customer_id AS resolved, l.rule, k.ordered_at, k.amount
           FROM ({orders}) k
           LEFT JOIN {LINKS} l ON l.source = '{name}' AND l.record_id = k.record_id
           WHERE k.customer_id IS NOT NULL OR l.rule IS NOT NULL
         ),
         by_key AS (
           SELECT *, min(resolved) OVER (PARTITION BY key) AS first_of_key,
                     max(resolved) OVER (PARTITION BY key) AS last_of_key
           FROM linked
         )
         SELECT coalesce(resolved,
                         CASE WHEN key IS NOT NULL AND first_of_key = last_of_key THEN first_of_key END,
                         key) AS customer_id,
                ordered_at, amount
         FROM by_key",
        orders = select(&record_id),
        name = name.replace('\'', "''"),
    )
}

fn rfm_sql(orders: &OrdersConfig, keyed: &dyn Fn(&str) -> String) -> String {
    let as_of = as_of_literal(orders);
    let keyed = keyed(&as_of);
    // Ties are broken by customer_id so that scores do not change between runs.
    format!(
        "WITH o AS ({keyed}),
         c AS (
           SELECT customer_id, max(ordered_at) AS last_order_at, count(*) AS frequency, sum(amount) AS monetary
           FROM o GROUP BY customer_id
         ),
         scored AS (
           SELECT customer_id, last_order_at,
                  (date_part('epoch', {as_of}) - date_part('epoch', last_order_at)) / 86400.0 AS recency_days,
                  frequency, monetary,
                  ntile(5) OVER (ORDER BY last_order_at, customer_id) AS r,
                  ntile(5) OVER (ORDER BY frequency, customer_id) AS f,
                  ntile(5) OVER (ORDER BY monetary, customer_id) AS m
           FROM c
         )
         SELECT customer_id, last_order_at, recency_days, frequency, monetary, r, f, m,
                rfm_segment(r, f, m) AS segment
         FROM scored"
    )
}

fn clv_sql(orders: &OrdersConfig, keyed: &dyn Fn(&str) -> String) -> String {
    let as_of = as_of_literal(orders);
    let keyed = keyed(&as_of);
    let unit = orders.unit;
    let seconds = unit.seconds();
    let horizon = orders.horizon.clone().unwrap_or_else(|| "12 months".to_string());
    // Validated with the configuration; the fallback is the default, 12 months.
    let horizon_days = parse_horizon(&horizon).unwrap_or(365.25);
    let horizon_in_unit = horizon_days * 86_400.0 / seconds;
    let rate = orders.discount_rate.unwrap_or(0.01);
    let unit_name = unit.name();
    // The standard summary: same-day orders merged, frequency = repeat days,
    // recency and T from the first purchase, monetary = mean repeat spend.
    format!(
        "WITH o AS ({keyed}),
         days AS (
           SELECT customer_id, date_trunc('day', ordered_at) AS day, sum(amount) AS amount
           FROM o GROUP BY customer_id, date_trunc('day', ordered_at)
         ),
         ranked AS (SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY day) AS purchase FROM days),
         summary AS (
           SELECT customer_id, CAST(count(*) - 1 AS DOUBLE) AS frequency,
                  (date_part('epoch', max(day)) - date_part('epoch', min(day))) / {seconds} AS recency,
                  (date_part('epoch', {as_of}) - date_part('epoch', min(day))) / {seconds} AS t,
                  coalesce(sum(CASE WHEN purchase > 1 THEN amount END) / nullif(count(*) - 1, 0), 0) AS monetary
           FROM ranked GROUP BY customer_id
         ),
         models AS (
           SELECT bgnbd_fit(frequency, recency, t, '{unit_name}') AS bg, gamma_gamma_fit(frequency, monetary) AS gg
           FROM summary
         )
         SELECT s.customer_id, s.frequency, s.recency, s.t, s.monetary,
                bgnbd_p_alive(m.bg, s.frequency, s.recency, s.t) AS p_alive,
                bgnbd_expected_purchases(m.bg, {horizon_in_unit}, s.frequency, s.recency, s.t) AS expected_purchases,
                gamma_gamma_expected_spend(m.gg, s.frequency, s.monetary) AS expected_spend,
                clv(m.bg, m.gg, s.frequency, s.recency, s.t, s.monetary, '{horizon}', {rate}) AS clv
         FROM summary s CROSS JOIN models m"
    )
}
