//! Some records of the sources read back by their record ids (the records
//! of the customers a growing run links again, `regroup`), read as a full
//! run reads every record: each source's table is seen through a filter on
//! its record id, in a session of its own, so the same query normalizes
//! the same values and the records come in the order a full run reads them.
//! The sources are scanned whole, but only the wanted records are kept and
//! normalized: a few hundred of the 1.2M web events at 100,000 people are
//! found in a fifth of a second.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::SessionContext;

use super::budget::Budget;
use super::records::{self, Records};
use crate::error::Result;
use crate::project::identity::IdentityConfig;

/// The records of each source (by name) whose record id is in `ids`, or
/// `None` when two sources read one table (a filter on the table would
/// give each source the other's records too).
pub async fn read(
    ctx: &SessionContext,
    config: &IdentityConfig,
    config_file: &Path,
    ids: &BTreeMap<String, BTreeSet<String>>,
    budget: &mut Budget,
) -> Result<Option<Records>> {
    let session = SessionContext::new_with_config_rt(ctx.copied_config(), ctx.runtime_env());
    oneview_udfs::register_all(&session);
    let mut tables = BTreeSet::new();
    for (name, source) in &config.sources {
        let table = source.table(name);
        if !tables.insert(table) {
            return Ok(None);
        }
        let frame = ctx.table(table).await?;
        // The record id as the source's query reads it (`records::source_sql`).
        let id = frame.parse_sql_expr(&format!("nullif(trim(CAST(({}) AS VARCHAR)), '')", source.record_id))?;
        let wanted: Vec<Expr> = ids.get(name).into_iter().flatten().map(|id| lit(id.as_str())).collect();
        let filter = if wanted.is_empty() {
            lit(false)
        } else {
            id.in_list(wanted, false)
        };
        session.register_table(table, frame.filter(filter)?.into_view())?;
    }
    Ok(Some(records::read(&session, config, config_file, budget).await?))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
    use datafusion::datasource::MemTable;

    use super::*;

    const CONFIG: &str = r#"
[sources.crm]
record_id = "id"
identifiers = { email = "email" }
attributes = { first_name = "name" }
[sources.shop]
table = "orders"
record_id = "order_no"
identifiers = { email = "mail" }
"#;

    fn table(columns: &[(&str, Vec<&str>)]) -> Arc<MemTable> {
        let batch = RecordBatch::try_from_iter(
            columns
                .iter()
                .map(|(name, values)| (*name, Arc::new(StringArray::from(values.clone())) as ArrayRef)),
        )
        .unwrap();
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap())
    }

    /// Each source's records: (source, record id, email, first name).
    fn listed(records: &Records) -> Vec<(String, String, Option<String>, Option<String>)> {
        let email = records.kind_index("email").unwrap();
        records
            .sources
            .iter()
            .flat_map(|s| {
                (0..s.len).map(move |row| {
                    let value = s.identifiers[email]
                        .as_ref()
                        .and_then(|c| c.get(row))
                        .map(str::to_string);
                    (
                        s.name.clone(),
                        s.record_id(row).to_string(),
                        value,
                        s.first_name(row).map(str::to_string),
                    )
                })
            })
            .collect()
    }

    /// The records asked for, and only those, as a full read has them and
    /// in its order; a source asked for none reads none.
    #[tokio::test]
    async fn records_read_back_are_those_of_a_full_read() {
        let config: IdentityConfig = toml::from_str(CONFIG).unwrap();
        let ctx = SessionContext::new();
        oneview_udfs::register_all(&ctx);
        let crm = table(&[
            ("id", vec!["c1", " c2 ", "c3", "c4"]),
            ("email", vec!["A@x.org", "b@x.org", "c@x.org", "d@x.org"]),
            ("name", vec!["Ann", "Bob", "Cy", "Di"]),
        ]);
        ctx.register_table("crm", crm).unwrap();
        let orders = table(&[("order_no", vec!["o1", "o2"]), ("mail", vec!["a@x.org", "e@x.org"])]);
        ctx.register_table("orders", orders).unwrap();
        let path = Path::new("oneview.toml");
        let mut budget = Budget::new(&ctx);
        let all = listed(&records::read(&ctx, &config, path, &mut budget).await.unwrap());
        let ids: BTreeMap<String, BTreeSet<String>> =
            BTreeMap::from([("crm".into(), ["c4", "c2"].map(String::from).into())]);
        let back = read(&ctx, &config, path, &ids, &mut budget).await.unwrap().unwrap();
        let expected: Vec<_> = all
            .iter()
            .filter(|r| r.0 == "crm" && (r.1 == "c2" || r.1 == "c4"))
            .cloned()
            .collect();
        assert_eq!(listed(&back), expected);
        assert_eq!(
            expected[0].2.as_deref(),
            Some("b@x.org"),
            "normalized as a full read does"
        );
        // Two sources over one table are refused, not mixed.
        let shared = format!("{CONFIG}[sources.more]\ntable = \"orders\"\nrecord_id = \"order_no\"\n");
        let shared: IdentityConfig = toml::from_str(&shared).unwrap();
        assert!(read(&ctx, &shared, path, &ids, &mut budget).await.unwrap().is_none());
    }
}
