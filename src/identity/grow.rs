//! Growing the committed run by new records instead of resolving every
//! record again. What the run kept of each identifier value (`Known`: what
//! it did, its customer, how many records hold it, and what its guards
//! count) is looked up for the values the new records carry; each new
//! record then joins the customer its linking values belong to, or a new
//! customer of new records alone. New records holding values of several
//! customers join them (`Growth::merged`): the oldest id survives, as in a
//! full run, and the caller folds the joined customers into one.
//!
//! That is the partition a full run would make only while nothing the new
//! records touch behaves differently with them: a linked value must stay
//! linked (a new record can push it over `max_records` or `max_distinct`,
//! or bring a first name that splits it), no cluster may pass
//! `max_cluster_size` (refusals depend on the order of links), and no
//! links may come from attributes (the model weighs each profile against
//! all others). Where one of these may happen, `grow` answers why, and the
//! run resolves everything. Stopped and blocked values need no care: a
//! guard counts records and distinct values, which new records only add
//! to; nor do joined customers: a value links or not by its own records,
//! whichever customers hold them.

use std::collections::BTreeMap;

use datafusion::common::HashMap;

use super::graph::{Blocker, ValueStatus, full_first_name, people_of};
use super::records::Records;
use crate::error::Result;
use crate::project::identity::{IdentityConfig, LinkType};

/// What the committed run knows of one identifier value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub status: ValueStatus,
    /// The customer whose records hold it (for a linked value, the only one).
    pub customer: u64,
    /// The records holding it.
    pub records: u64,
    /// For a linked value of a kind with `max_distinct` guards: per guarded
    /// kind, the distinct (unblocked) values of that kind its records carry.
    pub others: BTreeMap<String, Vec<String>>,
    /// For a linked value of a `split_by_first_name` kind: the distinct
    /// first names of its records (initials too).
    pub names: Vec<String>,
    /// For a value that linked only within each first name: per customer
    /// holding it, the distinct first names of its records there.
    pub people: Vec<(u64, Vec<String>)>,
}

/// What the committed run knows that new records are linked against.
pub struct Before<'a> {
    /// The values the new records carry, by (kind, value); a value missing
    /// here is new.
    pub values: &'a HashMap<(&'a str, &'a str), Known>,
    /// Whether the run refused a link past `max_cluster_size`.
    pub refused: bool,
}

/// Where a new record belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Home {
    Customer(u64),
    /// A new customer, numbered among the new ones from 0.
    New(u32),
}

/// The other end of a new record's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// A new record.
    Record(u32),
    /// A record of the committed run's customer `customer` holding `value`
    /// of the link's kind.
    Value { value: String, customer: u64 },
}

/// A link a new record makes, on identifier kind `kind` (`Records::kinds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub record: u32,
    pub kind: usize,
    pub to: End,
}

/// A value on which new records change what the committed run's records
/// did: a guard now stops it, or the first names of its records now divide
/// them otherwise. New records do not link on it here; the customers
/// holding it are linked again (`regroup`), as a full run would link them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regroup {
    /// The value's kind (`Records::kinds`).
    pub kind: usize,
    pub value: String,
    pub why: String,
}

/// The new records placed.
#[derive(Debug)]
pub struct Growth {
    /// Per new record (`Records` numbering), its customer.
    pub homes: Vec<Home>,
    pub new_customers: u32,
    pub links: Vec<Link>,
    /// Every value the new records carry, as the run would now know it.
    pub values: Vec<((String, String), Known)>,
    /// The committed run's customers the new records joined to others:
    /// each absorbed customer and the one it joined (the oldest id of
    /// those joined), in order.
    pub merged: Vec<(u64, u64)>,
    /// The values whose customers are to be linked again.
    pub regroup: Vec<Regroup>,
}

/// Either the new records' places, or why they cannot be placed without
/// resolving everything.
#[derive(Debug)]
pub enum Outcome {
    Grown(Growth),
    Resolve(String),
}

/// Links the new records (`new`, read from the new files only) into the
/// committed run (`before`), or says why a full run is needed.
pub fn grow(new: &Records, config: &IdentityConfig, before: &Before) -> Result<Outcome> {
    if let Some(why) = cannot_grow(config) {
        return Ok(Outcome::Resolve(why));
    }
    if before.refused {
        return Ok(Outcome::Resolve(
            "the committed run refused links past max_cluster_size, whose outcome depends on the order of links".into(),
        ));
    }
    let blockers = new
        .kinds
        .iter()
        .map(|kind| Blocker::new(config, kind))
        .collect::<Result<Vec<_>>>()?;
    let mut placing = Placing::new(new.len as usize);
    let mut values = Vec::new();
    for k in 0..new.kinds.len() {
        link_kind(new, config, before, (k, &blockers), &mut placing, &mut values);
    }
    placing.settle(config.max_cluster_size(), values)
}

/// Why no run of a project with this `[identity]` can be grown, if none can
/// (the project's runs then keep no state to grow from).
pub fn cannot_grow(config: &IdentityConfig) -> Option<String> {
    if config.incremental == Some(false) {
        return Some("incremental = false in [identity]".into());
    }
    if config.link_type() != LinkType::LinkAndDedupe {
        return Some(format!("link_type = \"{}\" links by source", config.link_type().name()));
    }
    None
}

/// The new records' union-find, with each component's customer of the
/// committed run, if any; and the committed run's customers the new
/// records join (a union-find of their own, whose root is the oldest id).
struct Placing {
    parent: Vec<u32>,
    customer: Vec<Option<u64>>,
    links: Vec<Link>,
    joined: HashMap<u64, u64>,
    regroup: Vec<Regroup>,
}

impl Placing {
    fn new(records: usize) -> Placing {
        Placing {
            parent: (0..records as u32).collect(),
            customer: vec![None; records],
            links: Vec::new(),
            joined: HashMap::new(),
            regroup: Vec::new(),
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// The customer `c` is part of now: the oldest of those joined with it.
    fn customer_now(&self, mut c: u64) -> u64 {
        while let Some(&up) = self.joined.get(&c) {
            c = up;
        }
        c
    }

    /// Joins two customers of the committed run: the older id survives,
    /// as ids do when a full run merges customers.
    fn join_customers(&mut self, a: u64, b: u64) -> u64 {
        let (a, b) = (self.customer_now(a), self.customer_now(b));
        if a != b {
            self.joined.insert(a.max(b), a.min(b));
        }
        a.min(b)
    }

    /// Joins two new records' components (and their customers, if both
    /// have one).
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let (keep, gone) = (ra.min(rb), ra.max(rb));
        let customer = match (self.customer[keep as usize], self.customer[gone as usize]) {
            (Some(x), Some(y)) => Some(self.join_customers(x, y)),
            (x, y) => x.or(y),
        };
        self.parent[gone as usize] = keep;
        self.customer[keep as usize] = customer;
    }

    /// Notes that the customers holding value `value` of kind `k` are to
    /// be linked again, and why.
    fn regroup(&mut self, kind: usize, value: &str, why: String) {
        self.regroup.push(Regroup {
            kind,
            value: value.to_string(),
            why,
        });
    }

    /// Places a new record in `customer` of the committed run (joining it
    /// with the customer its component is in already, if another).
    fn join(&mut self, r: u32, customer: u64) {
        let root = self.find(r);
        let now = match self.customer[root as usize] {
            Some(c) => self.join_customers(c, customer),
            None => customer,
        };
        self.customer[root as usize] = Some(now);
    }

    /// Each record's home, once every kind is linked; an answer to resolve
    /// when new records alone would make a customer past `max_cluster_size`
    /// (an old customer's records are counted by the caller, who reads them).
    fn settle(mut self, max_cluster: usize, values: Vec<((String, String), Known, u32)>) -> Result<Outcome> {
        let n = self.parent.len();
        let mut size: HashMap<u32, u64> = HashMap::new();
        for r in 0..n as u32 {
            *size.entry(self.find(r)).or_default() += 1;
        }
        let mut numbered: HashMap<u32, u32> = HashMap::new();
        let mut homes = Vec::with_capacity(n);
        for r in 0..n as u32 {
            let root = self.find(r);
            let home = match self.customer[root as usize] {
                Some(c) => Home::Customer(self.customer_now(c)),
                None => {
                    if size[&root] > max_cluster as u64 {
                        return Ok(Outcome::Resolve(format!(
                            "{} new records would form one customer, past max_cluster_size ({max_cluster})",
                            size[&root]
                        )));
                    }
                    let next = numbered.len() as u32;
                    Home::New(*numbered.entry(root).or_insert(next))
                }
            };
            homes.push(home);
        }
        // A value's customer: that of its first new record, if an old one.
        let values = values
            .into_iter()
            .map(|(key, mut known, first)| {
                if let Home::Customer(c) = homes[first as usize] {
                    known.customer = c;
                }
                (key, known)
            })
            .collect();
        let mut merged: Vec<(u64, u64)> = self.joined.keys().map(|&c| (c, self.customer_now(c))).collect();
        merged.sort_unstable();
        Ok(Outcome::Grown(Growth {
            homes,
            new_customers: numbered.len() as u32,
            links: self.links,
            values,
            merged,
            regroup: self.regroup,
        }))
    }
}

/// The new records of one kind, grouped by value: each value's records in
/// record order, values in value order.
fn groups(new: &Records, k: usize) -> BTreeMap<&str, Vec<u32>> {
    let mut groups: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for source in &new.sources {
        let Some(column) = &source.identifiers[k] else {
            continue;
        };
        for row in 0..source.len {
            if let Some(value) = column.get(row) {
                groups.entry(value).or_default().push(source.offset + row as u32);
            }
        }
    }
    groups
}

/// The value of kind `k` record `r` carries, unless it is missing or blocked.
fn value_of<'r>(new: &'r Records, blockers: &[Blocker], k: usize, r: u32) -> Option<&'r str> {
    let (source, row) = new.locate(r);
    let value = source.identifiers[k].as_ref()?.get(row)?;
    (!blockers[k].blocks(value)).then_some(value)
}

/// Links the new records on kind `k` (`blockers`: every kind's), value by
/// value, keeping in `values` what each value is now, and in `placing` the
/// values whose customers are to be linked again.
fn link_kind(
    new: &Records,
    config: &IdentityConfig,
    before: &Before,
    (k, blockers): (usize, &[Blocker]),
    placing: &mut Placing,
    values: &mut Vec<((String, String), Known, u32)>,
) {
    let kind = new.kinds[k].as_str();
    let settings = config.identifier(kind);
    let limits: Vec<(usize, &String, usize)> = settings
        .max_distinct
        .iter()
        .filter_map(|(other, n)| new.kind_index(other).map(|o| (o, other, *n)))
        .collect();
    for (value, group) in groups(new, k) {
        let before_value = before.values.get(&(kind, value));
        let key = (kind.to_string(), value.to_string());
        let mut known = before_value.cloned().unwrap_or(Known {
            status: ValueStatus::Linked,
            customer: 0,
            records: 0,
            others: BTreeMap::new(),
            names: Vec::new(),
            people: Vec::new(),
        });
        let held_before = known.records;
        known.records += group.len() as u64;
        if blockers[k].blocks(value) {
            known.status = ValueStatus::Blocked;
        }
        match known.status {
            ValueStatus::Blocked | ValueStatus::Stopped => {
                values.push((key, known, group[0]));
                continue;
            }
            ValueStatus::Split | ValueStatus::Linked => {}
        }
        // The guards, over the value's records before and now.
        let mut stopped = settings.max_records.is_some_and(|max| known.records > max as u64);
        for &(o, other, max) in &limits {
            let seen = known.others.entry(other.clone()).or_default();
            seen.extend(
                group
                    .iter()
                    .filter_map(|&r| value_of(new, blockers, o, r))
                    .map(str::to_string),
            );
            seen.sort_unstable();
            seen.dedup();
            stopped |= seen.len() > max;
        }
        if stopped {
            // A value that linked nothing yet may stop: the links it would
            // have made were never made.
            if held_before >= 2 {
                placing.regroup(k, &key.1, format!("new records push a `{kind}` value past its guard"));
            }
            known.status = ValueStatus::Stopped;
            known.others.clear();
            values.push((key, known, group[0]));
            continue;
        }
        let names_before = known.names.clone();
        if settings.split_by_first_name && known.status == ValueStatus::Linked {
            known.names.extend(
                group
                    .iter()
                    .filter_map(|&r| {
                        let (source, row) = new.locate(r);
                        source.first_name(row)
                    })
                    .map(str::to_string),
            );
            known.names.sort_unstable();
            known.names.dedup();
            let names: Vec<&str> = known
                .names
                .iter()
                .map(String::as_str)
                .filter(|n| full_first_name(n))
                .collect();
            if names.len() >= 2 && people_of(&names).1.len() >= 2 {
                // Its records now link by first name: a value that linked
                // nothing yet (one record, or none) is split from here on.
                if held_before >= 2 {
                    placing.regroup(
                        k,
                        &key.1,
                        format!("new records give a `{kind}` value records of different first names"),
                    );
                    known.status = ValueStatus::Split;
                    values.push((key, known, group[0]));
                    continue;
                }
                known.status = ValueStatus::Split;
                known.names.clear();
                if held_before == 1 {
                    known.people = vec![(known.customer, names_before)];
                }
            }
        }
        if known.status == ValueStatus::Split {
            let people = match split_people(new, &known, &group) {
                Ok(people) => people,
                Err(()) => {
                    let why = format!("new records bring a first name that changes who shares a `{kind}` value");
                    placing.regroup(k, &key.1, why);
                    values.push((key, known, group[0]));
                    continue;
                }
            };
            for (records, customer) in people {
                link_records(placing, k, &key.1, customer, &records);
            }
            values.push((key, known, group[0]));
            continue;
        }
        let customer = before_value
            .filter(|known| known.records > 0)
            .map(|known| known.customer);
        link_records(placing, k, &key.1, customer, &group);
        values.push((key, known, group[0]));
    }
}

/// A person's new records, and the customer of the committed run that
/// person's records are in (`None`: a person only new records hold).
type Person = (Vec<u32>, Option<u64>);

/// The new records of a value that links only within each first name, by
/// person: each person's records and the customer of the committed run
/// that person's records are in (`None`: a person only new records hold).
/// Records without a first name, or with an initial several people's names
/// start with, link nothing on the value, as in a full run. `Err` when a
/// new name changes who the old records are: it joins two people, or takes
/// an old initial's person from it.
fn split_people(new: &Records, known: &Known, group: &[u32]) -> std::result::Result<Vec<Person>, ()> {
    let mut old_names: Vec<&str> = known
        .people
        .iter()
        .flat_map(|(_, n)| n.iter().map(String::as_str))
        .collect();
    old_names.sort_unstable();
    old_names.dedup();
    let old_full: Vec<&str> = old_names.iter().copied().filter(|n| full_first_name(n)).collect();
    let name_of = |r: u32| {
        let (source, row) = new.locate(r);
        source.first_name(row)
    };
    let mut all_full: Vec<&str> = old_full.clone();
    all_full.extend(group.iter().filter_map(|&r| name_of(r)).filter(|n| full_first_name(n)));
    all_full.sort_unstable();
    all_full.dedup();
    let (person_before, _) = people_of(&old_full);
    let (person, _) = people_of(&all_full);
    let now = |name: &str| person[all_full.binary_search(&name).expect("a listed name")];
    // Old names keep their people: two are one person now iff they were.
    for i in 0..old_full.len() {
        for j in i + 1..old_full.len() {
            if (person_before[i] == person_before[j]) != (now(old_full[i]) == now(old_full[j])) {
                return Err(());
            }
        }
    }
    // An initial stands for the one person whose names start with it.
    let initial = |names: &[&str], person_of: &dyn Fn(&str) -> usize, i: &str| {
        let mut found = names.iter().filter(|n| n.starts_with(i)).map(|n| person_of(n));
        let first = found.next()?;
        found.all(|p| p == first).then_some(first)
    };
    let before = |name: &str| person_before[old_full.binary_search(&name).expect("a listed name")];
    for i in old_names.iter().filter(|n| !full_first_name(n)) {
        let then = initial(&old_full, &before, i).map(|p| {
            let name = old_full[person_before.iter().position(|q| *q == p).expect("a person has a name")];
            now(name)
        });
        if then != initial(&all_full, &now, i) {
            return Err(());
        }
    }
    // The customer of each person with an old name.
    let mut customer_of: BTreeMap<usize, u64> = BTreeMap::new();
    for (customer, names) in &known.people {
        for name in names.iter().filter(|n| full_first_name(n)) {
            customer_of.insert(now(name), *customer);
        }
    }
    let mut people: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for &r in group {
        let Some(name) = name_of(r) else {
            continue;
        };
        let p = if full_first_name(name) {
            Some(now(name))
        } else {
            initial(&all_full, &now, name)
        };
        if let Some(p) = p {
            people.entry(p).or_default().push(r);
        }
    }
    Ok(people
        .into_iter()
        .map(|(p, records)| (records, customer_of.get(&p).copied()))
        .collect())
}

/// Links new records sharing a value (of a value split by first name, one
/// person's): to the committed run's customer holding it, or to each other.
fn link_records(placing: &mut Placing, k: usize, value: &str, customer: Option<u64>, records: &[u32]) {
    match customer {
        Some(customer) => {
            for &r in records {
                placing.join(r, customer);
                placing.links.push(Link {
                    record: r,
                    kind: k,
                    to: End::Value {
                        value: value.to_string(),
                        customer,
                    },
                });
            }
        }
        None => {
            for &r in &records[1..] {
                placing.union(records[0], r);
                placing.links.push(Link {
                    record: r,
                    kind: k,
                    to: End::Record(records[0]),
                });
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;
    use rand::Rng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::identity::budget::Budget;
    use crate::identity::graph::{self, Graph};
    use crate::identity::records;

    pub(crate) const CONFIG: &str = r#"
[identifiers.email]
max_distinct = { user_id = 1 }
split_by_first_name = true
[identifiers.phone]
max_records = 4
[sources.crm]
table = "crm"
record_id = "id"
identifiers = { user_id = "user_id", email = "email", phone = "phone" }
attributes = { first_name = "first_name" }
[sources.web]
table = "web"
record_id = "id"
identifiers = { anonymous_id = "anon", user_id = "user_id" }
"#;

    /// Rows of the two sources: (table, id, user_id, email, phone,
    /// first_name, anon), values drawn from small pools so that they meet.
    pub(crate) type Row = (&'static str, String, [Option<String>; 5]);

    pub(crate) fn rows(rng: &mut StdRng, n: usize, tag: &str) -> Vec<Row> {
        let names = NAMES;
        let mut pick = |pool: u32, p: f64, prefix: &str| {
            rng.random_bool(p)
                .then(|| format!("{prefix}{}", rng.random_range(0..pool)))
        };
        let mut out = Vec::new();
        for i in 0..n {
            let user = pick(40, 0.3, "u");
            let email = pick(10, 0.6, "").map(|e| format!("p{e}@x.org"));
            let phone = pick(12, 0.4, "").map(|p| format!("+1202555{:04}", p.parse::<u32>().unwrap()));
            let anon = pick(50, 0.9, "a");
            let name = Some(names[(i * 7 + tag.len()) % names.len()].to_string());
            if i % 2 == 0 {
                out.push(("crm", format!("{tag}{i}"), [user, email, phone, name, None]));
            } else {
                out.push(("web", format!("{tag}{i}"), [user, None, None, None, anon]));
            }
        }
        out
    }

    /// First names that agree (nicknames, initials) and that do not.
    pub(crate) const NAMES: [&str; 8] = ["kelly", "k", "james", "jim", "ann", "william", "bill", "w"];

    /// New records as an increment brings them: half copies of old records
    /// under new ids (a returning customer's order), some of them with
    /// another first name, half drawn afresh.
    pub(crate) fn increment(rng: &mut StdRng, old: &[Row], n: usize) -> Vec<Row> {
        let mut fresh = rows(rng, n, "n");
        for (i, row) in fresh.iter_mut().enumerate() {
            if rng.random_bool(0.5) {
                let copy = &old[rng.random_range(0..old.len())];
                *row = (copy.0, format!("n{i}"), copy.2.clone());
                if row.0 == "crm" && rng.random_bool(0.3) {
                    row.2[3] = Some(NAMES[rng.random_range(0..NAMES.len())].to_string());
                }
            }
        }
        fresh
    }

    /// A session with the two sources holding `rows`.
    pub(crate) fn session(rows: &[Row]) -> SessionContext {
        let ctx = SessionContext::new();
        oneview_udfs::register_all(&ctx);
        let names = ["id", "user_id", "email", "phone", "first_name", "anon"];
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(*n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        for table in ["crm", "web"] {
            let mine: Vec<&Row> = rows.iter().filter(|r| r.0 == table).collect();
            let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(mine.iter().map(|r| &r.1)))];
            for c in 0..5 {
                columns.push(Arc::new(mine.iter().map(|r| r.2[c].clone()).collect::<StringArray>()));
            }
            let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
            let table_provider = MemTable::try_new(Arc::clone(&schema), vec![vec![batch]]).unwrap();
            ctx.register_table(table, Arc::new(table_provider)).unwrap();
        }
        ctx
    }

    /// The records of `rows`, linked: each record's (source, id) and the
    /// record number of its cluster's root.
    pub(crate) async fn resolve(config: &IdentityConfig, rows: &[Row]) -> (Records, Graph) {
        resolve_again(config, rows, &|_, _| false).await
    }

    /// `resolve`, values of `stopped` linking nothing (`graph::link_again`).
    pub(crate) async fn resolve_again(
        config: &IdentityConfig,
        rows: &[Row],
        stopped: &dyn Fn(&str, &str) -> bool,
    ) -> (Records, Graph) {
        let ctx = session(rows);
        let mut budget = Budget::new(&ctx);
        let records = records::read(&ctx, config, std::path::Path::new("oneview.toml"), &mut budget)
            .await
            .unwrap();
        let graph = graph::link_again(&records, config, &mut budget, stopped).unwrap();
        (records, graph)
    }

    pub(crate) fn record_key(records: &Records, r: u32) -> (String, String) {
        let (source, row) = records.locate(r);
        (source.name.clone(), source.record_id(row).to_string())
    }

    /// What the run knows of each value, worked out from its records and
    /// links (the customer: the cluster's root record number).
    pub(crate) fn known(
        records: &Records,
        graph: &mut Graph,
        config: &IdentityConfig,
    ) -> HashMap<(String, String), Known> {
        let mut out = HashMap::new();
        for (k, kind) in records.kinds.iter().enumerate() {
            let settings = config.identifier(kind);
            let mut postings: Vec<(u32, u32)> = Vec::new();
            for source in &records.sources {
                if let Some(column) = &source.identifiers[k] {
                    for row in 0..source.len {
                        if let Some(rank) = column.rank(row) {
                            postings.push((rank, source.offset + row as u32));
                        }
                    }
                }
            }
            postings.sort_unstable();
            for group in postings.chunk_by(|a, b| a.0 == b.0) {
                let rank = group[0].0;
                let status = ValueStatus::from_u8(graph.status[k][rank as usize]).unwrap();
                let mut others = BTreeMap::new();
                let mut names = Vec::new();
                let mut people = Vec::new();
                if status == ValueStatus::Linked || status == ValueStatus::Split {
                    for other in settings.max_distinct.keys() {
                        let Some(o) = records.kind_index(other) else { continue };
                        let mut seen: Vec<String> = group
                            .iter()
                            .filter_map(|&(_, r)| {
                                let (source, row) = records.locate(r);
                                let rank = source.identifiers[o].as_ref()?.rank(row)?;
                                (graph.status[o][rank as usize] != ValueStatus::Blocked as u8)
                                    .then(|| records.values[o].value(rank as usize).to_string())
                            })
                            .collect();
                        seen.sort_unstable();
                        seen.dedup();
                        others.insert(other.clone(), seen);
                    }
                    if settings.split_by_first_name {
                        let mut by_customer: BTreeMap<u64, Vec<String>> = BTreeMap::new();
                        for &(_, r) in group {
                            let (source, row) = records.locate(r);
                            let held = by_customer.entry(u64::from(graph.find(r))).or_default();
                            held.extend(source.first_name(row).map(str::to_string));
                        }
                        for held in by_customer.values_mut() {
                            held.sort_unstable();
                            held.dedup();
                        }
                        if status == ValueStatus::Split {
                            people = by_customer.into_iter().collect();
                        } else {
                            names = by_customer.into_values().flatten().collect();
                        }
                    }
                }
                let known = Known {
                    status,
                    customer: u64::from(graph.find(group[0].1)),
                    records: group.len() as u64,
                    others,
                    names,
                    people,
                };
                out.insert(
                    (kind.clone(), records.values[k].value(rank as usize).to_string()),
                    known,
                );
            }
        }
        out
    }

    /// The values as `Before` holds them: keyed by borrowed text.
    pub(crate) fn borrowed(values: &HashMap<(String, String), Known>) -> HashMap<(&str, &str), Known> {
        values
            .iter()
            .map(|((kind, value), known)| ((kind.as_str(), value.as_str()), known.clone()))
            .collect()
    }

    /// The partition of `records` as sets of (source, id), sorted.
    pub(crate) fn partition(records: &Records, mut cluster: impl FnMut(u32) -> String) -> Vec<Vec<(String, String)>> {
        let mut by: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for r in 0..records.len {
            by.entry(cluster(r)).or_default().push(record_key(records, r));
        }
        let mut parts: Vec<Vec<(String, String)>> = by.into_values().collect();
        for p in &mut parts {
            p.sort();
        }
        parts.sort();
        parts
    }

    pub(crate) fn crm(id: &str, user: Option<&str>, email: Option<&str>, phone: Option<&str>, name: &str) -> Row {
        let text = |v: Option<&str>| v.map(str::to_string);
        (
            "crm",
            id.to_string(),
            [text(user), text(email), text(phone), Some(name.to_string()), None],
        )
    }

    pub(crate) async fn outcome(old: &[Row], new: &[Row]) -> Outcome {
        let config: IdentityConfig = toml::from_str(CONFIG).unwrap();
        let (old_records, mut old_graph) = resolve(&config, old).await;
        let values = known(&old_records, &mut old_graph, &config);
        let values = borrowed(&values);
        let (new_records, _) = resolve(&config, new).await;
        let before = Before {
            values: &values,
            refused: false,
        };
        grow(&new_records, &config, &before).unwrap()
    }

    /// Why the growth links customers again (the first regrouped value's).
    pub(crate) fn regrouped(outcome: Outcome) -> String {
        match outcome {
            Outcome::Grown(g) => g.regroup.first().expect("a value regrouped").why.clone(),
            Outcome::Resolve(why) => panic!("declined: {why}"),
        }
    }

    /// Each way new records can change what old records did names the
    /// value to link again (`regroup`), and says which; joining customers
    /// is not one.
    #[tokio::test]
    async fn what_new_records_would_undo_is_named_to_link_again() {
        let phone = Some("+12025550123");
        let four: Vec<Row> = (0..4)
            .map(|i| crm(&format!("o{i}"), Some(&format!("u{i}")), None, phone, "ann"))
            .collect();
        // A fifth record on a phone of four (max_records = 4): the four split.
        let fifth = [crm("n", None, None, phone, "ann")];
        let why = regrouped(outcome(&four, &fifth).await);
        assert!(why.contains("`phone` value past its guard"), "{why}");
        // A second user id on an email (max_distinct user_id = 1).
        let pair = [
            crm("o1", Some("u1"), Some("k@x.org"), None, "kelly"),
            crm("o2", None, Some("k@x.org"), Some("+12025550100"), "kelly"),
        ];
        let other = [crm("n", Some("u2"), Some("k@x.org"), None, "kelly")];
        let why = regrouped(outcome(&pair, &other).await);
        assert!(why.contains("`email` value past its guard"), "{why}");
        // Another person's first name on an email that linked one person.
        let james = [crm("n", None, Some("k@x.org"), None, "james")];
        let why = regrouped(outcome(&pair, &james).await);
        assert!(why.contains("different first names"), "{why}");
        // A record carrying both customers' identifiers.
        let two = [
            crm("o1", Some("u1"), None, None, "kelly"),
            crm("o2", Some("u2"), None, phone, "kelly"),
        ];
        match outcome(&two, &[crm("n", Some("u1"), None, phone, "kelly")]).await {
            Outcome::Grown(g) => assert_eq!((g.merged.len(), g.regroup.len()), (1, 0), "{g:?}"),
            Outcome::Resolve(why) => panic!("a merge is grown: {why}"),
        }
        // A value that linked nothing (one record) may stop: nothing splits.
        let one = [crm("o1", Some("u1"), Some("k@x.org"), None, "kelly")];
        match outcome(&one, &[crm("n", Some("u2"), Some("k@x.org"), None, "kelly")]).await {
            Outcome::Grown(g) => assert_eq!((g.homes, g.regroup), (vec![Home::New(0)], vec![])),
            Outcome::Resolve(why) => panic!("{why}"),
        }
        // A nickname and an initial keep an email one person's.
        let william = [
            crm("o1", Some("u1"), Some("w@x.org"), None, "william"),
            crm("o2", Some("u1"), Some("w@x.org"), None, "william"),
        ];
        let new = [
            crm("n1", None, Some("w@x.org"), None, "bill"),
            crm("n2", None, Some("w@x.org"), None, "w"),
        ];
        match outcome(&william, &new).await {
            Outcome::Grown(g) => assert!(matches!(g.homes[..], [Home::Customer(c), Home::Customer(d)] if c == d)),
            Outcome::Resolve(why) => panic!("{why}"),
        }
    }
}
