//! The customers a growing run links again: where new records change what
//! the committed run's records did on a value (`grow::Regroup`: a guard now
//! stops it, or the first names of its records divide them otherwise), the
//! customers holding it may split, which placing new records cannot do.
//! Their records, old and new, are linked again as a full run would link
//! them (`graph::link_again`), and the customers they make replace them.
//!
//! Which customers (`part`): those holding a regrouped value — for a value
//! a guard now stops, the one customer it held together; for a value split
//! by first name, every customer holding it, new ones too, since who is
//! the same person depends on all its records' names. Then, until nothing
//! is added, every customer holding a value split by first name that a
//! customer of the part holds, for the same reason. Every other value the
//! part's records hold is held by the part alone (a linked value's records
//! are one customer), so its guards count the same over the part as over
//! all records; a value a guard stopped over all records is told to the
//! linking (`stopped`), which would not see enough of its records here.

use std::collections::BTreeSet;

use datafusion::common::{HashMap, HashSet};

use super::graph::ValueStatus;
use super::grow::{Before, Growth, Home};
use super::records::Records;

/// The customers to link again: the committed run's (by their ids once the
/// growth's joins are made) and the growth's new ones.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Part {
    pub old: BTreeSet<u64>,
    pub new: BTreeSet<u32>,
}

impl Part {
    /// Whether a record placed at `home` is linked again.
    pub fn holds(&self, home: Home) -> bool {
        match home {
            Home::Customer(c) => self.old.contains(&c),
            Home::New(n) => self.new.contains(&n),
        }
    }

    fn homes(&self) -> impl Iterator<Item = Home> + '_ {
        let old = self.old.iter().map(|&c| Home::Customer(c));
        old.chain(self.new.iter().map(|&n| Home::New(n)))
    }

    pub fn add(&mut self, home: Home) -> bool {
        match home {
            Home::Customer(c) => self.old.insert(c),
            Home::New(n) => self.new.insert(n),
        }
    }
}

/// A value split by first name that a customer of the committed run
/// holds: its kind, the value, and the committed run's customers holding
/// it (their ids before the growth's joins).
pub type SplitValue = (String, String, Vec<u64>);

/// The customers to link again for the growth's regrouped values
/// (`growth.regroup`) and those of `start` (none: an empty part). `before`
/// is what the committed run knew of the values the new records carry;
/// `split_values(c)`, the values split by first name that customer `c` of
/// the committed run holds.
pub fn part(
    growth: &Growth,
    new: &Records,
    before: &Before,
    start: &Part,
    mut split_values: impl FnMut(u64) -> Vec<SplitValue>,
) -> Part {
    let survivor: HashMap<u64, u64> = growth.merged.iter().copied().collect();
    let now = |c: u64| Home::Customer(*survivor.get(&c).unwrap_or(&c));
    let holders = NewHolders::of(new, growth);
    let mut part = start.clone();
    for regroup in &growth.regroup {
        let kind = new.kinds[regroup.kind].as_str();
        let Some(known) = before.values.get(&(kind, regroup.value.as_str())) else {
            continue;
        };
        part.add(now(known.customer));
        if known.status == ValueStatus::Split || !known.people.is_empty() {
            for (c, _) in &known.people {
                part.add(now(*c));
            }
        }
        // A value split by first name now (or changing who is who) sorts
        // its new records by name too; a stopped one links none of them.
        let stopped = growth
            .values
            .iter()
            .any(|((k, v), known)| k == kind && *v == regroup.value && known.status == ValueStatus::Stopped);
        if !stopped {
            for home in holders.homes(kind, &regroup.value) {
                part.add(home);
            }
        }
    }
    // Closed over values split by first name: all their holders, or none.
    let mut done: BTreeSet<Home> = BTreeSet::new();
    loop {
        let todo: Vec<Home> = part.homes().filter(|h| !done.contains(h)).collect();
        if todo.is_empty() {
            return part;
        }
        for home in todo {
            done.insert(home);
            let mut split: Vec<(String, String)> = holders.split_values(home);
            if let Home::Customer(c) = home {
                for (kind, value, customers) in split_values(c) {
                    for holder in customers {
                        part.add(now(holder));
                    }
                    split.push((kind, value));
                }
            }
            for (kind, value) in split {
                if let Some(known) = before.values.get(&(kind.as_str(), value.as_str())) {
                    for (c, _) in &known.people {
                        part.add(now(*c));
                    }
                }
                for home in holders.homes(&kind, &value) {
                    part.add(home);
                }
            }
        }
    }
}

/// Where the new records holding each value went, by kind and value; and
/// the values split by first name the new records placed in each
/// customer hold.
struct NewHolders<'a> {
    new: &'a Records,
    homes: HashMap<(usize, &'a str), Vec<Home>>,
    split: HashMap<Home, Vec<(String, String)>>,
}

impl<'a> NewHolders<'a> {
    fn of(new: &'a Records, growth: &Growth) -> NewHolders<'a> {
        let split_now: HashSet<(&str, &str)> = growth
            .values
            .iter()
            .filter(|(_, known)| known.status == ValueStatus::Split)
            .map(|((kind, value), _)| (kind.as_str(), value.as_str()))
            .collect();
        let mut homes: HashMap<(usize, &'a str), Vec<Home>> = HashMap::new();
        let mut split: HashMap<Home, Vec<(String, String)>> = HashMap::new();
        for source in &new.sources {
            for (k, column) in source.identifiers.iter().enumerate() {
                let Some(column) = column else { continue };
                let kind = new.kinds[k].as_str();
                for row in 0..source.len {
                    if let Some(value) = column.get(row) {
                        let home = growth.homes[(source.offset + row as u32) as usize];
                        homes.entry((k, value)).or_default().push(home);
                        if split_now.contains(&(kind, value)) {
                            split
                                .entry(home)
                                .or_default()
                                .push((kind.to_string(), value.to_string()));
                        }
                    }
                }
            }
        }
        NewHolders { new, homes, split }
    }

    /// The homes of the new records holding value `value` of `kind`.
    fn homes(&self, kind: &str, value: &str) -> Vec<Home> {
        let found = self.new.kind_index(kind).and_then(|k| self.homes.get(&(k, value)));
        found.cloned().unwrap_or_default()
    }

    /// The values split by first name that the new records placed at
    /// `home` hold.
    fn split_values(&self, home: Home) -> Vec<(String, String)> {
        self.split.get(&home).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use datafusion::common::HashMap;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::identity::grow::tests::{
        CONFIG, Row, borrowed, crm, increment, known, outcome, partition, record_key, regrouped, resolve,
        resolve_again, rows,
    };
    use crate::identity::grow::{Outcome, grow};
    use crate::project::identity::IdentityConfig;

    /// What growing a run of `old` by `new` did: the customers it joined
    /// and the customers it linked again (`regroup::Part`).
    #[derive(Debug, PartialEq, Eq)]
    struct Placed {
        merged: usize,
        regrouped: usize,
    }

    /// Grows a run of `old` by `new`, links again the customers the growth
    /// regroups, and checks the partition against a full run of both; what
    /// it did, or `Err`: why `grow` declined.
    async fn placed_as_full(config: &IdentityConfig, old: &[Row], new: &[Row]) -> Result<Placed, String> {
        let (old_records, mut old_graph) = resolve(config, old).await;
        let all_values = known(&old_records, &mut old_graph, config);
        let values = borrowed(&all_values);
        let (new_records, _) = resolve(config, new).await;
        let before = Before {
            values: &values,
            refused: !old_graph.guards.max_cluster_size.is_empty(),
        };
        let growth = match grow(&new_records, config, &before).unwrap() {
            Outcome::Grown(growth) => growth,
            Outcome::Resolve(why) => return Err(why),
        };
        // An old record's customer, or the one it was joined to.
        let joined: HashMap<u64, u64> = growth.merged.iter().copied().collect();
        let now = |c: u64| *joined.get(&c).unwrap_or(&c);
        let mut home: HashMap<(String, String), String> = HashMap::new();
        for r in 0..old_records.len {
            let c = u64::from(old_graph.find(r));
            home.insert(record_key(&old_records, r), format!("c{}", now(c)));
        }
        for r in 0..new_records.len {
            let place = match growth.homes[r as usize] {
                Home::Customer(c) => format!("c{c}"),
                Home::New(n) => format!("n{n}"),
            };
            home.insert(record_key(&new_records, r), place);
        }
        // The customers regrouped: their records, old and new, linked again.
        let split_values = |c: u64| -> Vec<SplitValue> {
            all_values
                .iter()
                .filter(|(_, known)| known.status == ValueStatus::Split && known.people.iter().any(|(p, _)| *p == c))
                .map(|((kind, value), known)| {
                    (
                        kind.clone(),
                        value.clone(),
                        known.people.iter().map(|(p, _)| *p).collect(),
                    )
                })
                .collect()
        };
        let part = part(&growth, &new_records, &before, &Part::default(), split_values);
        let regrouped = part.old.len() + part.new.len();
        if regrouped > 0 {
            let in_part = |place: &String| match place.split_at(1) {
                ("c", c) => part.old.contains(&c.parse().unwrap()),
                (_, n) => part.new.contains(&n.parse().unwrap()),
            };
            let rows: Vec<Row> = old
                .iter()
                .chain(new)
                .filter(|row| in_part(&home[&(row.0.to_string(), row.1.clone())]))
                .cloned()
                .collect();
            // What the run knows now of each value: the growth's, else the committed run's.
            let stopped = |kind: &str, value: &str| {
                let key = (kind.to_string(), value.to_string());
                let grown = growth.values.iter().find(|(k, _)| *k == key).map(|(_, known)| known);
                grown
                    .or_else(|| all_values.get(&key))
                    .is_some_and(|known| known.status == ValueStatus::Stopped)
            };
            let (part_records, mut part_graph) = resolve_again(config, &rows, &stopped).await;
            for r in 0..part_records.len {
                let root = part_graph.find(r);
                home.insert(record_key(&part_records, r), format!("p{root}"));
            }
        }
        let all: Vec<Row> = old.iter().chain(new).cloned().collect();
        let (all_records, mut all_graph) = resolve(config, &all).await;
        let full = partition(&all_records, |r| all_graph.find(r).to_string());
        let incremental = partition(&all_records, |r| home[&record_key(&all_records, r)].clone());
        assert_eq!(incremental, full, "old {old:?}, new {new:?}");
        Ok(Placed {
            merged: growth.merged.len(),
            regrouped,
        })
    }

    /// Random old and new records: whenever `grow` places the new records,
    /// the partition is the one a full run over all records makes; and it
    /// places them often, joining customers at times, and declines for the
    /// reasons it gives.
    #[tokio::test]
    async fn grown_runs_partition_as_full_runs_do() {
        let config: IdentityConfig = toml::from_str(CONFIG).unwrap();
        let (mut grown, mut joining, mut regrouping) = (0, 0, 0);
        let mut declined = BTreeMap::<String, u32>::new();
        for seed in 0..60u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let old = rows(&mut rng, 60, "o");
            let new = increment(&mut rng, &old, 1 + seed as usize % 10);
            match placed_as_full(&config, &old, &new).await {
                Ok(placed) => {
                    grown += 1;
                    joining += usize::from(placed.merged > 0);
                    regrouping += usize::from(placed.regrouped > 0);
                }
                Err(why) => {
                    *declined
                        .entry(why.split(' ').take(4).collect::<Vec<_>>().join(" "))
                        .or_default() += 1
                }
            }
        }
        eprintln!(
            "placed {grown} of 60 increments, {joining} joining customers, {regrouping} linking customers again (declined: {declined:?})"
        );
        assert!(grown >= 50, "placed only {grown} of 60 (declined: {declined:?})");
        assert!(joining >= 3, "only {joining} increments joined customers");
        assert!(regrouping >= 8, "only {regrouping} increments linked customers again");
    }

    /// The customers a value newly past its guard, or newly divided by
    /// first names, held together are linked again as a full run links them.
    #[tokio::test]
    async fn customers_linked_again_are_what_a_full_run_makes() {
        let config: IdentityConfig = toml::from_str(CONFIG).unwrap();
        let phone = Some("+12025550123");
        let four: Vec<Row> = (0..4)
            .map(|i| crm(&format!("o{i}"), Some(&format!("u{i}")), None, phone, "ann"))
            .collect();
        // A fifth record on a phone of four (max_records = 4): the four split.
        let fifth = [crm("n", None, None, phone, "ann")];
        assert!(regrouped(outcome(&four, &fifth).await).contains("past its guard"));
        let placed = placed_as_full(&config, &four, &fifth).await.unwrap();
        assert_eq!(placed.regrouped, 1, "the one customer the phone held together");
        // A second user id on an email (max_distinct user_id = 1), and
        // another person's first name on it.
        let pair = [
            crm("o1", Some("u1"), Some("k@x.org"), None, "kelly"),
            crm("o2", None, Some("k@x.org"), Some("+12025550100"), "kelly"),
        ];
        let other = [crm("n", Some("u2"), Some("k@x.org"), None, "kelly")];
        assert_eq!(placed_as_full(&config, &pair, &other).await.unwrap().regrouped, 1);
        let james = [crm("n", None, Some("k@x.org"), None, "james")];
        assert_eq!(
            placed_as_full(&config, &pair, &james).await.unwrap().regrouped,
            2,
            "Kelly's and James's"
        );
    }

    /// A value shared by people of different first names takes new records
    /// by name: into a person's customer (a nickname or an initial of
    /// theirs too), or as a new person; a name that would take an old
    /// initial's person from it has its holders linked again.
    #[tokio::test]
    async fn a_value_split_by_first_name_takes_new_records_by_name() {
        let config: IdentityConfig = toml::from_str(CONFIG).unwrap();
        let e = Some("fam@x.org");
        let old = [
            crm("o1", None, e, None, "kelly"),
            crm("o2", None, e, None, "kelly"),
            crm("o3", None, e, None, "james"),
            crm("o4", None, e, None, "k"),
            crm("o5", None, e, None, "jim"),
        ];
        let new = [
            crm("n1", None, e, None, "kelly"),
            crm("n2", None, e, None, "jim"),
            crm("n3", None, e, None, "ann"),
            crm("n4", None, e, None, "ann"),
            crm("n5", None, e, None, "j"),
        ];
        let placed = placed_as_full(&config, &old, &new).await;
        assert_eq!(
            placed,
            Ok(Placed {
                merged: 0,
                regrouped: 0
            })
        );
        // Karl takes the initial `k` from Kelly: who is who is worked out
        // again over every record holding the email.
        let karl = [crm("n1", None, e, None, "karl")];
        let why = regrouped(outcome(&old, &karl).await);
        assert!(why.contains("changes who shares"), "{why}");
        let placed = placed_as_full(&config, &old, &karl).await.unwrap();
        assert_eq!(placed.regrouped, 3, "Kelly's, James's customers and Karl's");
        // One old record, then another name: the value is split from here on.
        let one = [crm("o1", None, e, None, "kelly")];
        placed_as_full(
            &config,
            &one,
            &[crm("n1", None, e, None, "james"), crm("n2", None, e, None, "jim")],
        )
        .await
        .unwrap();
    }
}
