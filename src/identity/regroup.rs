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

    fn add(&mut self, home: Home) -> bool {
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
/// (`growth.regroup`, none: an empty part). `before` is what the committed
/// run knew of the values the new records carry; `split_values(c)`, the
/// values split by first name that customer `c` of the committed run holds.
pub fn part(
    growth: &Growth,
    new: &Records,
    before: &Before,
    mut split_values: impl FnMut(u64) -> Vec<SplitValue>,
) -> Part {
    let survivor: HashMap<u64, u64> = growth.merged.iter().copied().collect();
    let now = |c: u64| Home::Customer(*survivor.get(&c).unwrap_or(&c));
    let holders = NewHolders::of(new, growth);
    let mut part = Part::default();
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
