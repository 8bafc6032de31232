//! The lifetime-value models through SQL, as a user calls them: customers
//! simulated from known BG/NBD and Gamma-Gamma parameters are fitted with
//! `bgnbd_fit` / `gamma_gamma_fit` and the parameters come back.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma, Poisson};

/// A context with the crate's functions and a table of customers split in
/// four partitions, so the aggregates go through partial states and merges.
async fn context(columns: &[(&str, Vec<f64>)]) -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
    oneview_udfs::register_all(&ctx);
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, _)| Field::new(*name, DataType::Float64, true))
            .collect::<Vec<_>>(),
    ));
    let n = columns[0].1.len();
    let chunk = n.div_ceil(4).max(1);
    let partitions = (0..n)
        .step_by(chunk)
        .map(|start| {
            let end = (start + chunk).min(n);
            let arrays = columns
                .iter()
                .map(|(_, values)| Arc::new(Float64Array::from(values[start..end].to_vec())) as _)
                .collect();
            vec![RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap()]
        })
        .collect();
    ctx.register_table("customers", Arc::new(MemTable::try_new(schema, partitions).unwrap()))
        .unwrap();
    ctx
}

/// The fields of the struct a fit returns, by name.
async fn fit(ctx: &SessionContext, sql: &str) -> Option<Vec<(String, f64)>> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let column = batches[0].column(0);
    let fields = column.as_struct();
    if fields.is_null(0) {
        return None;
    }
    let mut out = Vec::new();
    for (field, values) in fields.fields().iter().zip(fields.columns()) {
        let value = match values.data_type() {
            DataType::Float64 => values.as_primitive::<Float64Type>().value(0),
            DataType::Int64 => values
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0) as f64,
            DataType::Boolean => f64::from(u8::from(values.as_boolean().value(0))),
            _ => continue,
        };
        out.push((field.name().clone(), value));
    }
    Some(out)
}

fn get(fields: &[(String, f64)], name: &str) -> f64 {
    fields.iter().find(|(n, _)| n == name).unwrap().1
}

/// Customers of the BG/NBD process observed for T ~ U(20, 80) weeks each.
fn simulate_bgnbd(seed: u64, n: usize, r: f64, alpha: f64, a: f64, b: f64) -> Vec<(f64, f64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rates = Gamma::new(r, 1.0 / alpha).unwrap();
    let dropouts = Beta::new(a, b).unwrap();
    (0..n)
        .map(|_| {
            let t_end = rng.random_range(20.0..80.0);
            let lambda: f64 = rates.sample(&mut rng);
            let p: f64 = dropouts.sample(&mut rng);
            let gap = Exp::new(lambda).unwrap();
            let (mut t, mut x, mut tx) = (0.0, 0.0, 0.0);
            loop {
                t += gap.sample(&mut rng);
                if t > t_end {
                    break;
                }
                x += 1.0;
                tx = t;
                if rng.random_bool(p) {
                    break;
                }
            }
            (x, tx, t_end)
        })
        .collect()
}

async fn recover_bgnbd(seed: u64, truth: [f64; 4], tolerance: [f64; 4]) {
    let [r, alpha, a, b] = truth;
    let customers = simulate_bgnbd(seed, 60_000, r, alpha, a, b);
    let ctx = context(&[
        ("frequency", customers.iter().map(|c| c.0).collect()),
        ("recency", customers.iter().map(|c| c.1).collect()),
        ("t", customers.iter().map(|c| c.2).collect()),
    ])
    .await;
    let fitted = fit(&ctx, "SELECT bgnbd_fit(frequency, recency, t, 'week') FROM customers")
        .await
        .unwrap();
    assert_eq!(get(&fitted, "converged"), 1.0, "{fitted:?}");
    assert_eq!(get(&fitted, "n"), 60_000.0);
    for (k, (name, want)) in ["r", "alpha", "a", "b"].iter().zip(truth).enumerate() {
        let got = get(&fitted, name);
        let error = (got - want).abs() / want;
        assert!(
            error < tolerance[k],
            "{name}: fitted {got}, true {want}, relative error {error:.3} ≥ {}",
            tolerance[k]
        );
    }
}

#[tokio::test]
async fn bgnbd_recovers_cdnow_like_parameters() {
    // The CDNOW estimates of Fader, Hardie & Lee (2005): few repeat buyers.
    recover_bgnbd(1, [0.243, 4.414, 0.793, 2.426], [0.08, 0.12, 0.15, 0.2]).await;
}

#[tokio::test]
async fn bgnbd_recovers_frequent_buyer_parameters() {
    // The generator's defaults: frequent buyers, slow dropout.
    recover_bgnbd(2, [2.0, 5.0, 0.4, 10.0], [0.06, 0.08, 0.15, 0.2]).await;
}

#[tokio::test]
async fn gamma_gamma_recovers_its_parameters() {
    // The CDNOW estimates of Fader & Hardie (2013): p = 6.25, q = 3.74, γ = 15.44.
    let (p, q, v) = (6.25, 3.74, 15.44);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let rates = Gamma::new(q, 1.0 / v).unwrap();
    let counts = Poisson::new(3.0).unwrap();
    let (mut frequency, mut monetary) = (Vec::new(), Vec::new());
    for _ in 0..60_000 {
        let nu: f64 = rates.sample(&mut rng);
        let x = 1.0 + counts.sample(&mut rng);
        let spend = Gamma::new(p, 1.0 / nu).unwrap();
        let total: f64 = (0..x as usize).map(|_| spend.sample(&mut rng)).sum();
        frequency.push(x);
        monetary.push(total / x);
    }
    let ctx = context(&[("frequency", frequency), ("monetary", monetary)]).await;
    let fitted = fit(&ctx, "SELECT gamma_gamma_fit(frequency, monetary) FROM customers")
        .await
        .unwrap();
    assert_eq!(get(&fitted, "converged"), 1.0, "{fitted:?}");
    // p and v are strongly correlated in this model (both set the mean spend),
    // so they are known less precisely: at 60k customers their standard
    // errors are about 5%, four times smaller at 240k (checked).
    for (name, want, tolerance) in [("p", p, 0.2), ("q", q, 0.05), ("v", v, 0.2)] {
        let got = get(&fitted, name);
        let error = (got - want).abs() / want;
        assert!(
            error < tolerance,
            "{name}: fitted {got}, true {want}, relative error {error:.3}"
        );
    }
}

#[tokio::test]
async fn predictions_agree_with_closed_forms_through_sql() {
    let ctx = context(&[("frequency", vec![2.0]), ("recency", vec![30.43]), ("t", vec![38.86])]).await;
    let sql = "SELECT \
        bgnbd_expected_purchases(named_struct('r', 0.243, 'alpha', 4.414, 'a', 0.793, 'b', 2.426), 39, frequency, recency, t), \
        bgnbd_p_alive(named_struct('r', 0.243, 'alpha', 4.414, 'a', 0.793, 'b', 2.426), frequency, recency, t) \
        FROM customers";
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let expected = batches[0].column(0).as_primitive::<Float64Type>().value(0);
    let alive = batches[0].column(1).as_primitive::<Float64Type>().value(0);
    // Fader, Hardie & Lee's worked example: 1.226 purchases in 39 weeks.
    assert!((expected - 1.226).abs() < 0.0015, "{expected}");
    let odds = 0.793 / (2.426 + 1.0) * ((4.414f64 + 38.86) / (4.414 + 30.43)).powf(2.243);
    assert!((alive - 1.0 / (1.0 + odds)).abs() < 1e-12, "{alive}");
}

async fn error_of(columns: &[(&str, Vec<f64>)], sql: &str) -> String {
    let ctx = context(columns).await;
    match ctx.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(df) => match df.collect().await {
            Err(e) => e.to_string(),
            Ok(_) => String::from("no error"),
        },
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_error() {
    let fit = "SELECT bgnbd_fit(frequency, recency, t) FROM customers";
    let cases = [
        (
            vec![1.0, 2.0],
            vec![-1.0, 1.0],
            vec![5.0, 5.0],
            "recency and t must be ≥ 0",
        ),
        (
            vec![1.0, 2.0],
            vec![6.0, 1.0],
            vec![5.0, 5.0],
            "recency 6 is greater than t 5",
        ),
        (
            vec![1.5, 2.0],
            vec![1.0, 1.0],
            vec![5.0, 5.0],
            "frequency must be a whole number",
        ),
        (
            vec![-1.0, 2.0],
            vec![1.0, 1.0],
            vec![5.0, 5.0],
            "frequency must be a whole number",
        ),
    ];
    for (x, tx, t, message) in cases {
        let error = error_of(&[("frequency", x), ("recency", tx), ("t", t)], fit).await;
        assert!(error.contains(message), "expected {message:?} in {error:?}");
    }
    let unit = error_of(
        &[("frequency", vec![1.0]), ("recency", vec![1.0]), ("t", vec![2.0])],
        "SELECT bgnbd_fit(frequency, recency, t, 'fortnight') FROM customers",
    )
    .await;
    assert!(unit.contains("unknown time unit 'fortnight'"), "{unit}");
    let missing_unit = error_of(
        &[("frequency", vec![1.0, 0.0, 3.0]), ("recency", vec![1.0, 0.0, 4.0]), ("t", vec![5.0, 5.0, 6.0])],
        "SELECT clv(bgnbd_fit(frequency, recency, t), named_struct('p', 6.0, 'q', 4.0, 'v', 15.0), 1, 1, 5, 20, '12 months', 0.01) FROM customers",
    )
    .await;
    assert!(missing_unit.contains("do not say their time unit"), "{missing_unit}");
}

#[tokio::test]
async fn unidentifiable_input_is_a_documented_null() {
    // No rows at all, and only one-time buyers: NULL, not a panic or nonsense.
    let ctx = context(&[
        ("frequency", vec![0.0, 0.0, 0.0]),
        ("recency", vec![0.0; 3]),
        ("t", vec![5.0, 6.0, 7.0]),
    ])
    .await;
    assert!(
        fit(&ctx, "SELECT bgnbd_fit(frequency, recency, t) FROM customers")
            .await
            .is_none()
    );
    assert!(
        fit(
            &ctx,
            "SELECT bgnbd_fit(frequency, recency, t) FROM customers WHERE t > 100"
        )
        .await
        .is_none()
    );
    assert!(
        fit(&ctx, "SELECT gamma_gamma_fit(frequency, recency) FROM customers")
            .await
            .is_none()
    );
}
