//! Customers a growing run joins (`grow`'s `merged`): each absorbed
//! customer's rows of the state and the surviving customer's are read
//! whole and put together under the survivor (a value both held weighs
//! what its records together weigh), so that its golden record is chosen
//! again among all its values; the absorbed customers' rows are gone. Their
//! merges are logged as a full run logs them: with the rules of the new
//! records' links to the joined customers' records.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use datafusion::common::HashSet;
use datafusion::prelude::SessionContext;
use url::Url;

use super::graph::ValueStatus;
use super::grow::{End, Growth, Home};
use super::grown_golden::{CustomerRows, value_key};
use super::ids::{Change, IdChange};
use super::state::{self, Row};
use crate::error::Result;

/// The rows of the joined customers, put together: per surviving
/// customer, every row of it and of those it absorbed (none changed yet);
/// and each absorbed customer's rows, which are gone (customer, column,
/// value).
pub struct Joined {
    pub rows: BTreeMap<u64, CustomerRows>,
    pub gone: Vec<(u64, String, String)>,
}

/// Per surviving customer, those it absorbed (`merged`: absorbed, survivor).
pub fn by_survivor(merged: &[(u64, u64)]) -> BTreeMap<u64, Vec<u64>> {
    let mut out: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for &(absorbed, survivor) in merged {
        out.entry(survivor).or_default().push(absorbed);
    }
    out
}

/// Reads every row of the joined customers from the state's `files`
/// (newest first) and puts them together.
pub async fn read(ctx: &SessionContext, files: &[Url], merged: &[(u64, u64)]) -> Result<Joined> {
    let wanted: HashSet<u64> = merged.iter().flat_map(|&(a, s)| [a, s]).collect();
    let rows = state::read_rows(ctx, files, |c, _| wanted.contains(&c)).await?;
    Ok(put_together(rows, merged))
}

/// The rows of joined customers under their survivors: the survivor's own
/// first (its rows name the records holding its values), then each
/// absorbed customer's, a value met again adding its records' weight and
/// what its guards count.
fn put_together(mut rows: Vec<Row>, merged: &[(u64, u64)]) -> Joined {
    let survivor_of: BTreeMap<u64, u64> = merged.iter().copied().collect();
    rows.sort_by(|a, b| (a.customer, &a.column, &a.value).cmp(&(b.customer, &b.column, &b.value)));
    let mut out: BTreeMap<u64, CustomerRows> = BTreeMap::new();
    let mut gone = Vec::new();
    for mut row in rows {
        let survivor = match survivor_of.get(&row.customer) {
            Some(&survivor) => {
                gone.push((row.customer, row.column.clone(), row.value.clone()));
                survivor
            }
            None => row.customer,
        };
        row.customer = survivor;
        let key: Box<str> = value_key(&row.column, &row.value).into();
        match out.entry(survivor).or_default().entry(key) {
            Entry::Occupied(into) => add_row(into.into_mut(), row),
            Entry::Vacant(slot) => {
                slot.insert(row);
            }
        }
    }
    Joined { rows: out, gone }
}

/// Adds another customer's row of the same value to `into`: its records'
/// weight, the first names and other values its records carry, and what
/// the value does as `state::known` reads it from several rows (a row
/// still linked may be the value's one record before it stopped).
fn add_row(into: &mut Row, row: Row) {
    into.stats.add(row.stats);
    into.record = into.record.take().or(row.record);
    for (list, more) in [(&mut into.others, row.others), (&mut into.names, row.names)] {
        list.extend(more);
        list.sort_unstable();
        list.dedup();
    }
    into.status = match (into.status, row.status) {
        (Some(a), Some(b)) => Some(if state::rank(b) > state::rank(a) { b } else { a }),
        (a, b) => a.or(b),
    };
    // A value that links no one counts nothing.
    if matches!(into.status, Some(ValueStatus::Stopped | ValueStatus::Blocked)) {
        into.others.clear();
        into.names.clear();
    }
}

/// The merges of `growth` as the merge log holds them: each absorbed
/// customer merged into its survivor, with the rules (identifier kinds)
/// of the new records' links to old customers' records in the survivor,
/// in the order the links were made, as a full run gives them.
pub fn merges(growth: &Growth, kinds: &[String]) -> Vec<IdChange> {
    let mut rules: BTreeMap<u64, Vec<usize>> = growth.merged.iter().map(|&(_, s)| (s, Vec::new())).collect();
    for link in &growth.links {
        let (End::Value { .. }, Home::Customer(survivor)) = (&link.to, growth.homes[link.record as usize]) else {
            continue;
        };
        if let Some(here) = rules.get_mut(&survivor)
            && !here.contains(&link.kind)
        {
            here.push(link.kind);
        }
    }
    let names = |survivor: u64| rules[&survivor].iter().map(|&k| kinds[k].clone()).collect();
    growth
        .merged
        .iter()
        .map(|&(old, new)| IdChange {
            old,
            new,
            change: Change::Merged,
            rules: names(new),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::state::Stats;

    fn row(customer: u64, column: &str, value: &str, records: u64, updated: i64) -> Row {
        Row {
            customer,
            column: column.into(),
            value: value.into(),
            stats: Stats {
                records,
                ..Stats::of(updated, 1)
            },
            status: None,
            others: Vec::new(),
            names: Vec::new(),
            record: None,
            changed: false,
        }
    }

    /// Customers 4 and 9 join 2 (the oldest id): every row of the three is
    /// 2's, a value they share weighs what its records together weigh and
    /// counts every first name its records carry, the survivor's record
    /// stays the one named; the absorbed customers' rows are gone. A
    /// customer not joined is left alone.
    #[test]
    fn joined_customers_rows_are_put_together_under_the_survivor() {
        let mut phone_2 = row(2, "phone", "+1555", 2, 10);
        phone_2.status = Some(ValueStatus::Split);
        phone_2.names = vec!["ann".into()];
        phone_2.record = Some(("crm".into(), "c1".into()));
        let mut phone_9 = row(9, "phone", "+1555", 3, 30);
        phone_9.status = Some(ValueStatus::Split);
        phone_9.names = vec!["bob".into(), "ann".into()];
        phone_9.record = Some(("crm".into(), "c9".into()));
        let rows = vec![
            phone_9,
            row(4, "city", "Leeds", 1, 5),
            row(2, "city", "Leeds", 2, 20),
            row(9, "city", "York", 1, 1),
            phone_2,
            row(7, "city", "Hull", 1, 1),
        ];
        let joined = put_together(rows, &[(4, 2), (9, 2)]);
        assert_eq!(joined.rows.keys().copied().collect::<Vec<_>>(), [2, 7]);
        let two = &joined.rows[&2];
        assert_eq!(two.len(), 3, "{two:?}");
        assert!(two.values().all(|r| r.customer == 2 && !r.changed));
        let leeds = &two[value_key("city", "Leeds").as_str()];
        assert_eq!((leeds.stats.records, leeds.stats.updated), (3, 20));
        let phone = &two[value_key("phone", "+1555").as_str()];
        assert_eq!((phone.stats.records, phone.stats.updated), (5, 30));
        assert_eq!(phone.names, ["ann", "bob"]);
        assert_eq!(phone.status, Some(ValueStatus::Split));
        assert_eq!(phone.record, Some(("crm".into(), "c1".into())));
        assert_eq!(two[value_key("city", "York").as_str()].stats.records, 1);
        let mut gone = joined.gone.clone();
        gone.sort();
        assert_eq!(
            gone,
            [
                (4, "city".into(), "Leeds".into()),
                (9, "city".into(), "York".into()),
                (9, "phone".into(), "+1555".into()),
            ]
        );
        assert_eq!(joined.rows[&7].len(), 1);

        // A row still linked (a value's one record before it stopped)
        // and one stopped: the value is stopped, and counts nothing.
        let mut linked = row(2, "email", "k@x.org", 1, 10);
        linked.status = Some(ValueStatus::Linked);
        linked.others = vec!["user_id=u1".into()];
        linked.names = vec!["kelly".into()];
        let mut stopped = row(4, "email", "k@x.org", 1, 20);
        stopped.status = Some(ValueStatus::Stopped);
        let joined = put_together(vec![linked.clone(), stopped], &[(4, 2)]);
        let email = &joined.rows[&2][value_key("email", "k@x.org").as_str()];
        assert_eq!(email.status, Some(ValueStatus::Stopped));
        assert!(email.others.is_empty() && email.names.is_empty(), "{email:?}");
        // Linked and split: split, with both customers' names.
        let mut split = row(4, "email", "k@x.org", 2, 20);
        split.status = Some(ValueStatus::Split);
        split.names = vec!["james".into()];
        let joined = put_together(vec![linked, split], &[(4, 2)]);
        let email = &joined.rows[&2][value_key("email", "k@x.org").as_str()];
        assert_eq!(email.status, Some(ValueStatus::Split));
        assert_eq!(email.names, ["james", "kelly"]);
        assert_eq!(
            by_survivor(&[(4, 2), (9, 2), (12, 5)]),
            BTreeMap::from([(2, vec![4, 9]), (5, vec![12])])
        );
    }
}
