//! Criterion benchmarks of oneview's SQL functions, called through a
//! DataFusion session as users call them.
//!
//!     cargo bench --bench udfs
//!
//! String functions run over 1M messy values taken from the bundled sample
//! (its CRM emails, phones and names, repeated); the model fits over 1M
//! customers simulated from known BG/NBD and Gamma-Gamma parameters.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{Array, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};
use tokio::runtime::Runtime;

const ROWS: usize = 1_000_000;

/// The sample's CRM identifiers, repeated to ROWS rows in batches of 8192.
fn identifiers(rt: &Runtime) -> MemTable {
    let ctx = SessionContext::new();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/sample/crm_contacts/");
    let batches = rt.block_on(async {
        ctx.register_parquet("crm", sample, ParquetReadOptions::default()).await.unwrap();
        ctx.sql("SELECT arrow_cast(email, 'Utf8') e, arrow_cast(phone, 'Utf8') p, arrow_cast(first_name, 'Utf8') f, arrow_cast(last_name, 'Utf8') l FROM crm")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    });
    let column = |i: usize| -> Vec<Option<String>> {
        batches
            .iter()
            .flat_map(|b| {
                let a = b.column(i).as_any().downcast_ref::<StringArray>().unwrap();
                (0..a.len())
                    .map(|r| (!a.is_null(r)).then(|| a.value(r).to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let columns: Vec<Vec<Option<String>>> = (0..4).map(column).collect();
    let n = columns[0].len();
    let schema = Arc::new(Schema::new(
        ["email", "phone", "first_name", "last_name"]
            .map(|name| Field::new(name, DataType::Utf8, true))
            .to_vec(),
    ));
    let batches: Vec<RecordBatch> = (0..ROWS)
        .step_by(8192)
        .map(|start| {
            let end = (start + 8192).min(ROWS);
            let arrays = columns
                .iter()
                .map(|c| {
                    Arc::new(StringArray::from(
                        (start..end).map(|i| c[i % n].clone()).collect::<Vec<_>>(),
                    )) as _
                })
                .collect();
            RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap()
        })
        .collect();
    MemTable::try_new(schema, vec![batches]).unwrap()
}

fn string_functions(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let ctx = SessionContext::new();
    oneview_udfs::register_all(&ctx);
    ctx.register_table("people", Arc::new(identifiers(&rt))).unwrap();
    let mut group = c.benchmark_group("strings_1M_rows");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    for (name, sql) in [
        ("normalize_email", "SELECT count(normalize_email(email)) FROM people"),
        ("normalize_phone", "SELECT count(normalize_phone(phone)) FROM people"),
        (
            "jaro_winkler",
            "SELECT sum(jaro_winkler(first_name, last_name)) FROM people",
        ),
        (
            "damerau_levenshtein",
            "SELECT sum(damerau_levenshtein(first_name, last_name)) FROM people",
        ),
        ("soundex", "SELECT count(soundex(last_name)) FROM people"),
        (
            "double_metaphone",
            "SELECT count(double_metaphone(last_name)) FROM people",
        ),
        (
            "name_similarity",
            "SELECT sum(name_similarity(first_name || ' ' || last_name, last_name || ', ' || first_name)) FROM people",
        ),
        (
            "lower_trim (builtin, for scale)",
            "SELECT count(lower(trim(email))) FROM people",
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(async { ctx.sql(sql).await.unwrap().collect().await.unwrap() }))
        });
    }
    group.finish();
}

/// 1M customers from BG/NBD (r, α, a, b) = (2, 5, 0.4, 10) over 20–150
/// weeks, times rounded to days as the summary SQL produces them.
fn customers() -> MemTable {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let rates = Gamma::new(2.0, 1.0 / 5.0).unwrap();
    let dropouts = Beta::new(0.4, 10.0).unwrap();
    let spend_rates = Gamma::new(4.0, 1.0 / 22.5).unwrap();
    let (mut x, mut tx, mut t, mut m) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROWS {
        let days: f64 = rng.random_range(140..1050) as f64;
        let end = days / 7.0;
        let gap = Exp::new(rates.sample(&mut rng)).unwrap();
        let p: f64 = dropouts.sample(&mut rng);
        let (mut now, mut count, mut last) = (0.0, 0.0, 0.0);
        loop {
            now += gap.sample(&mut rng);
            if now > end {
                break;
            }
            count += 1.0;
            last = (now * 7.0).floor() / 7.0;
            if rng.random_bool(p) {
                break;
            }
        }
        let nu: f64 = spend_rates.sample(&mut rng);
        let spend = Gamma::new(6.0, 1.0 / nu).unwrap();
        let mean = if count > 0.0 {
            (0..count as usize).map(|_| spend.sample(&mut rng)).sum::<f64>() / count
        } else {
            0.0
        };
        x.push(count);
        tx.push(last);
        t.push(end);
        m.push((mean * 100.0).round() / 100.0);
    }
    let schema = Arc::new(Schema::new(
        ["frequency", "recency", "t", "monetary"]
            .map(|n| Field::new(n, DataType::Float64, false))
            .to_vec(),
    ));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        [x, tx, t, m]
            .into_iter()
            .map(|v| Arc::new(Float64Array::from(v)) as _)
            .collect(),
    )
    .unwrap();
    MemTable::try_new(schema, vec![vec![batch]]).unwrap()
}

fn model_fits(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let ctx = SessionContext::new();
    oneview_udfs::register_all(&ctx);
    ctx.register_table("customers", Arc::new(customers())).unwrap();
    let mut group = c.benchmark_group("fits_1M_customers");
    group.sample_size(10);
    for (name, sql) in [
        (
            "bgnbd_fit",
            "SELECT bgnbd_fit(frequency, recency, t, 'week') FROM customers",
        ),
        (
            "gamma_gamma_fit",
            "SELECT gamma_gamma_fit(frequency, monetary) FROM customers",
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(async { ctx.sql(sql).await.unwrap().collect().await.unwrap() }))
        });
    }
    group.finish();
}

criterion_group!(benches, string_functions, model_fits);
criterion_main!(benches);
