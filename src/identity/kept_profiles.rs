//! The profiles a run's model compared and the weak links it refused, kept
//! in the identity state with the customers they belong to (`_profiles`,
//! `_refused`). A growing run with attribute matching looks there for the
//! old profiles a new one shares a block with, and for the refusals that
//! tie the customers it links again to others.
//!
//! A row of `_profiles` is one profile: a distinct combination of field
//! values within a cluster of identifier links, as the model compares
//! them. Two clusters of one customer holding the same values are two
//! rows, as they are two profiles to blocking.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder, UInt64Array, UInt64Builder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::common::HashSet;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use url::Url;

use super::ids::Clusters;
use super::probabilistic::index::{Kept, KeptProfile};
use super::probabilistic::profiles::{self, ADDRESS, CITY, DOB, FIELDS, FIRST, LAST, POSTCODE, REGION};
use super::records::Records;
use super::state::StateFile;
use crate::error::{Error, Result};
use crate::project::identity::BLOCKING_KEYS;

/// The state table of the profiles.
pub const PROFILES: &str = "_profiles";

/// The state table of the weak links refused (`max_weak_join`): which
/// two customers' clusters each would have joined. Refusals depend on the
/// order of links, so a growing run links again the customers on both
/// sides of one it reaches.
pub const REFUSED: &str = "_refused";

/// The profile fields a row keeps; the others (the names in either order,
/// and their sounds) follow from these.
pub const KEPT: [usize; 7] = [FIRST, LAST, DOB, POSTCODE, ADDRESS, CITY, REGION];

/// Rows a batch of the table holds.
const BATCH_ROWS: usize = 64 * 1024;

pub fn schema() -> SchemaRef {
    let mut fields = vec![Field::new("customer_id", DataType::UInt64, false)];
    fields.extend(KEPT.iter().map(|&f| Field::new(BLOCKING_KEYS[f], DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}

/// The rows of the `kept` profiles, each with its customer (`clusters`)
/// and the values its record (of `records`) gives.
pub fn batches<'a>(
    kept: &'a Kept,
    records: &'a Records,
    clusters: &'a Clusters,
) -> impl Iterator<Item = Result<RecordBatch>> + 'a {
    kept.records.chunks(BATCH_ROWS).map(move |chunk| {
        let mut customer = UInt64Builder::with_capacity(chunk.len());
        let mut columns: Vec<StringBuilder> = KEPT.iter().map(|_| StringBuilder::new()).collect();
        for &r in chunk {
            let (source, row) = records.locate(r);
            let texts = profiles::texts(source, row, kept.this_year);
            customer.append_value(clusters.ids[clusters.cluster_of[r as usize] as usize]);
            for (column, f) in columns.iter_mut().zip(KEPT) {
                column.append_option(texts[f].as_deref());
            }
        }
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(customer.finish())];
        arrays.extend(columns.iter_mut().map(|c| Arc::new(c.finish()) as ArrayRef));
        Ok(RecordBatch::try_new(schema(), arrays)?)
    })
}

pub fn refused_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_a", DataType::UInt64, false),
        Field::new("customer_b", DataType::UInt64, false),
    ]))
}

/// The weak links refused, as the customers of their ends (`clusters`).
pub fn refused(kept: &Kept, clusters: &Clusters) -> Result<RecordBatch> {
    let customer = |r: u32| clusters.ids[clusters.cluster_of[r as usize] as usize];
    let (a, b): (Vec<u64>, Vec<u64>) = kept.refused.iter().map(|&(a, b)| (customer(a), customer(b))).unzip();
    Ok(RecordBatch::try_new(
        refused_schema(),
        vec![Arc::new(UInt64Array::from(a)), Arc::new(UInt64Array::from(b))],
    )?)
}

/// The profiles and refusals of a chain of runs that hold now.
pub struct Current {
    pub profiles: Vec<KeptProfile>,
    pub refused: Vec<(u64, u64)>,
}

impl Current {
    /// Bytes held, with the profiles made from them to block (about as
    /// many again: each text interned once, a word a field a profile).
    pub fn memory_size(&self) -> usize {
        let texts: usize = self
            .profiles
            .iter()
            .flat_map(|(_, t)| t.iter().flatten())
            .map(String::capacity)
            .sum();
        let rows = self.profiles.capacity() * size_of::<KeptProfile>();
        2 * (texts + rows) + self.refused.capacity() * size_of::<(u64, u64)>()
    }
}

/// The rows of the chain's files (`profiles` and `refused`, one of each per
/// run, newest first) that hold now. A run that grew another writes the
/// rows of the customers it linked again, and a row with no value for
/// each of the customers it replaced (its tombstone): a customer's rows are
/// those of the newest file naming it, and a refusal holds until a later
/// run names either of its customers.
pub async fn read(ctx: &SessionContext, profiles: &[Url], refused: &[Url]) -> Result<Current> {
    let mut named: HashSet<u64> = HashSet::new();
    let mut current = Current {
        profiles: Vec::new(),
        refused: Vec::new(),
    };
    for (profile_file, refused_file) in profiles.iter().zip(refused) {
        let mut here: HashSet<u64> = HashSet::new();
        for batch in read_file(ctx, profile_file).await? {
            let wrong = || wrong_table(PROFILES);
            let customer = batch.column(0).as_primitive_opt::<UInt64Type>().ok_or_else(wrong)?;
            let texts = (1..batch.num_columns())
                .map(|c| batch.column(c).as_string_opt::<i32>().ok_or_else(wrong))
                .collect::<Result<Vec<_>>>()?;
            for row in 0..batch.num_rows() {
                let c = customer.value(row);
                here.insert(c);
                if named.contains(&c) {
                    continue;
                }
                let mut fields: [Option<String>; FIELDS] = Default::default();
                for (column, &f) in texts.iter().zip(&KEPT) {
                    fields[f] = column.is_valid(row).then(|| column.value(row).to_string());
                }
                if fields.iter().any(Option::is_some) {
                    current.profiles.push((c, fields));
                }
            }
        }
        for batch in read_file(ctx, refused_file).await? {
            let wrong = || wrong_table(REFUSED);
            let a = batch.column(0).as_primitive_opt::<UInt64Type>().ok_or_else(wrong)?;
            let b = batch.column(1).as_primitive_opt::<UInt64Type>().ok_or_else(wrong)?;
            for row in 0..batch.num_rows() {
                let (a, b) = (a.value(row), b.value(row));
                if !named.contains(&a) && !named.contains(&b) {
                    current.refused.push((a, b));
                }
            }
        }
        named.extend(here);
    }
    Ok(current)
}

fn wrong_table(name: &str) -> Error {
    Error::Usage(format!(
        "the identity state's `{name}` table has unexpected columns; run `oneview resolve --full`"
    ))
}

async fn read_file(ctx: &SessionContext, url: &Url) -> Result<Vec<RecordBatch>> {
    let file = StateFile::open(&ctx.runtime_env(), url).await?;
    let stream = file.builder().await?.build()?;
    Ok(stream.try_collect().await?)
}

/// Rows saying the customers `replaced` hold none of their earlier
/// profiles or refusals (`read`).
pub fn tombstones(replaced: impl IntoIterator<Item = u64>) -> Result<RecordBatch> {
    let customers: Vec<u64> = replaced.into_iter().collect();
    let n = customers.len();
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(customers))];
    arrays.extend(
        KEPT.iter()
            .map(|_| datafusion::arrow::array::new_null_array(&DataType::Utf8, n)),
    );
    Ok(RecordBatch::try_new(schema(), arrays)?)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray, StringArray};
    use datafusion::arrow::datatypes::UInt64Type;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::identity::budget::Budget;
    use crate::identity::graph;
    use crate::identity::records;
    use crate::identity::words::Words;
    use crate::project::identity::{IdentityConfig, LinkType};

    const CONFIG: &str = r#"
[sources.crm]
table = "crm"
record_id = "id"
identifiers = { email = "email" }
attributes = { first_name = "first", last_name = "last", city = "city" }
[probabilistic]
"#;

    /// A row per profile: one per distinct combination of values within a
    /// cluster of identifier links, under the cluster's customer; two
    /// clusters holding one combination are two rows, and a record with no
    /// value to compare makes none.
    #[tokio::test]
    async fn a_row_per_profile_under_its_customer() {
        let rows = [
            ("c1", Some("a@x.org"), Some("kelly"), Some("neal"), Some("london")),
            ("c2", Some("a@x.org"), Some("kelly"), Some("neal"), Some("london")),
            ("c3", Some("b@x.org"), Some("kelly"), Some("neal"), Some("london")),
            ("c4", Some("b@x.org"), Some("kelly"), Some("neal"), Some("leeds")),
            ("c5", Some("c@x.org"), None, None, None),
        ];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0)))];
        for c in 0..4 {
            let values = rows.iter().map(|r| [r.1, r.2, r.3, r.4][c]);
            columns.push(Arc::new(values.collect::<StringArray>()));
        }
        let names = ["id", "email", "first", "last", "city"];
        let source_schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(*n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(Arc::clone(&source_schema), columns).unwrap();
        let ctx = SessionContext::new();
        oneview_udfs::register_all(&ctx);
        let table = MemTable::try_new(source_schema, vec![vec![batch]]).unwrap();
        ctx.register_table("crm", Arc::new(table)).unwrap();
        let config: IdentityConfig = toml::from_str(CONFIG).unwrap();
        let mut budget = Budget::new(&ctx);
        let records = records::read(&ctx, &config, std::path::Path::new("oneview.toml"), &mut budget)
            .await
            .unwrap();
        let mut graph = graph::link(&records, &config, &mut budget).unwrap();
        let profiles = profiles::build(&records, &mut graph, LinkType::LinkAndDedupe);
        let kept = Kept::of(&profiles, vec![(0, 2)]);
        // Customer 100 + the cluster's root record.
        let roots: Vec<u32> = (0..records.len).map(|r| graph.find(r)).collect();
        let clusters = Clusters {
            cluster_of: Words::held(roots.clone()),
            ids: (0..records.len).map(|r| 100 + u64::from(r)).collect(),
            names: Vec::new(),
            changes: Vec::new(),
            new_ids: 0,
            unchanged: 0,
            gone: 0,
        };
        let customer_of = |id: &str| {
            let (source, _) = records.locate(0);
            let row = (0..source.len).find(|&row| source.record_id(row) == id).unwrap();
            100 + u64::from(roots[row])
        };
        let mut got: Vec<(u64, Vec<Option<String>>)> = Vec::new();
        for batch in batches(&kept, &records, &clusters) {
            let batch = batch.unwrap();
            assert_eq!(batch.schema(), schema());
            for row in 0..batch.num_rows() {
                let texts = (1..batch.num_columns())
                    .map(|c| {
                        let column = batch.column(c).as_string::<i32>();
                        column.is_valid(row).then(|| column.value(row).to_string())
                    })
                    .collect();
                got.push((batch.column(0).as_primitive::<UInt64Type>().value(row), texts));
            }
        }
        got.sort();
        let profile = |first: &str, last: &str, city: &str| {
            let mut texts: Vec<Option<String>> = vec![None; KEPT.len()];
            texts[0] = Some(first.to_string());
            texts[1] = Some(last.to_string());
            texts[5] = Some(city.to_string());
            texts
        };
        let mut expected = vec![
            (customer_of("c1"), profile("kelly", "neal", "london")),
            (customer_of("c3"), profile("kelly", "neal", "london")),
            (customer_of("c3"), profile("kelly", "neal", "leeds")),
        ];
        expected.sort();
        assert_eq!(got, expected);
        assert_ne!(customer_of("c1"), customer_of("c3"));
        assert_eq!(customer_of("c1"), customer_of("c2"));

        let refused = refused(&kept, &clusters).unwrap();
        let column = |c: usize| refused.column(c).as_primitive::<UInt64Type>().value(0);
        assert_eq!(
            (column(0), column(1)),
            (100 + u64::from(roots[0]), 100 + u64::from(roots[2]))
        );
    }
}
