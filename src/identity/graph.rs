//! Deterministic linking: records that share a normalized identifier are
//! joined, kind by kind in priority order, into clusters (union-find), unless
//! a guard stops the value: a blocked value, a value carried with too many
//! distinct values of another kind, a value on too many records, or a link
//! that would make a cluster larger than allowed. Every guard that fires is
//! counted, and every link kept is an edge: the evidence `--explain` prints.

use std::collections::BTreeMap;
use std::ops::Range;

use regex::RegexSet;

use super::budget::Budget;
use super::edges::{Edge, EdgeLog};
use super::given_names::same_given_name;
use super::records::{MAX_RECORDS, Records};
use super::words::Words;
use crate::error::{Error, Result};
use crate::project::identity::{IdentifierConfig, IdentityConfig, LinkType};

/// The patterns of junk identifier values every project blocks unless told
/// otherwise (checked after normalization).
pub const DEFAULT_BLOCKED: &[&str] = &[
    // Nothing but zeros, dashes and punctuation.
    r"^[0\-\s.()+]*$",
    // Placeholders typed into a required field.
    r"(?i)^(null|none|nil|n/?a|unknown|undefined|test|x+|-+|\?+)$",
    // Placeholder emails: a placeholder local part, or an example domain.
    r"(?i)^(x+|n/?a|none|null|nil|no|noemail|nomail|no-?reply|test|asdf|abc|unknown|email)@",
    r"(?i)@(example\.(com|org|net)|test\.com)$",
    // One digit repeated, and 1234567890, as ten digits (or +1 and ten).
    r"^\+?1?(0{10}|1{10}|2{10}|3{10}|4{10}|5{10}|6{10}|7{10}|8{10}|9{10})$",
    r"^\+?1?1234567890$",
];

/// For phones only, the same placeholders under any country code: a form's
/// 123-456-7890 read as a UK number is +441234567890. (Other kinds keep
/// the narrower patterns: a 12-digit id may well start with 1111111111.)
pub const DEFAULT_BLOCKED_PHONES: &[&str] = &[
    r"^\+?[0-9]{0,3}(0{10}|1{10}|2{10}|3{10}|4{10}|5{10}|6{10}|7{10}|8{10}|9{10})$",
    r"^\+?[0-9]{0,3}1234567890$",
];

/// The rule name of links made by the Fellegi–Sunter model.
pub const PROBABILISTIC: &str = "probabilistic";

/// What a guard stopped, per identifier kind.
#[derive(Debug, Default, Clone)]
pub struct GuardCounts {
    /// Records whose value was blocked (distinct values in the second field).
    pub blocked: BTreeMap<String, (u64, u64)>,
    /// Values that did not link because their records carried too many
    /// distinct values of another kind: (kind, other kind) → values.
    pub max_distinct: BTreeMap<(String, String), u64>,
    /// Values that did not link because too many records carried them.
    pub max_records: BTreeMap<String, u64>,
    /// Links refused because the cluster would exceed the maximum size.
    pub max_cluster_size: BTreeMap<String, u64>,
    /// Values whose records carried clearly different first names, linked
    /// only within each name.
    pub split_by_first_name: BTreeMap<String, u64>,
}

impl GuardCounts {
    pub fn total(&self) -> u64 {
        self.blocked.values().map(|(records, _)| records).sum::<u64>()
            + self.max_distinct.values().sum::<u64>()
            + self.max_records.values().sum::<u64>()
            + self.max_cluster_size.values().sum::<u64>()
            + self.split_by_first_name.values().sum::<u64>()
    }
}

/// What a value of an identifier kind did in a run: linked its records
/// (or was the only record's), was stopped by a guard, linked only within
/// each first name, or was blocked. Kept with the run, so that new records
/// can be linked to it later (`grow`): a stopped value stays stopped as
/// records are added, a linked one may not stay linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueStatus {
    Linked = 0,
    Stopped = 1,
    Split = 2,
    Blocked = 3,
}

impl ValueStatus {
    pub fn from_u8(byte: u8) -> Option<ValueStatus> {
        [Self::Linked, Self::Stopped, Self::Split, Self::Blocked]
            .into_iter()
            .find(|s| *s as u8 == byte)
    }
}

/// A root's entry in `Graph::link`: this bit, and the cluster's size.
const ROOT: u32 = 1 << 31;

/// A record alone: the root of a cluster of one.
const ALONE: u32 = ROOT | 1;

const _: () = assert!(MAX_RECORDS < ROOT, "record numbers leave the root bit free");

/// The clusters of a run.
pub struct Graph {
    /// Union-find in one word per record: a record's parent, or for a
    /// root, `ROOT` and its cluster's size (4 bytes a record, not 8);
    /// spilled to a temporary file where `--memory-limit` has no room.
    link: Words,
    /// The links kept, in a temporary file (`edges`).
    pub edges: EdgeLog,
    /// Rule names: the identifier kinds in linking order, then `probabilistic`.
    pub rules: Vec<String>,
    /// The comparison levels of probabilistic links (their `Edge::value`).
    pub descriptions: Vec<String>,
    pub guards: GuardCounts,
    /// Per identifier kind (`Records::kinds` order), per value rank, what
    /// the value did (`ValueStatus` as a byte).
    pub status: Vec<Vec<u8>>,
}

impl Graph {
    /// A graph of `link.len()` records, each alone (`link` filled with
    /// `ALONE`).
    fn new(link: Words, kinds: &[String], edges: EdgeLog) -> Graph {
        debug_assert!(link.len() <= MAX_RECORDS as usize);
        debug_assert!(link.first().is_none_or(|&w| w == ALONE));
        let mut rules = kinds.to_vec();
        rules.push(PROBABILISTIC.to_string());
        Graph {
            link,
            edges,
            rules,
            descriptions: Vec::new(),
            guards: GuardCounts::default(),
            status: Vec::new(),
        }
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        loop {
            let parent = self.link[x as usize];
            if parent & ROOT != 0 {
                return x;
            }
            let grand = self.link[parent as usize];
            if grand & ROOT != 0 {
                return parent;
            }
            // Path halving.
            self.link[x as usize] = grand;
            x = grand;
        }
    }

    /// Bytes held by the union-find and the links' buffer.
    pub fn memory_size(&self) -> usize {
        self.link.memory_size() + self.edges.memory_size() + self.status.iter().map(Vec::capacity).sum::<usize>()
    }

    /// Frees the union-find once the clusters are numbered (`ids`); the
    /// links stay readable.
    pub fn release_clusters(&mut self) {
        self.link = Words::held(Vec::new());
    }

    /// The records the graph joins.
    pub fn records(&self) -> u32 {
        self.link.len() as u32
    }

    /// Records in the cluster of `x`.
    pub fn size_of(&mut self, x: u32) -> u32 {
        let root = self.find(x);
        self.link[root as usize] & !ROOT
    }

    /// Joins two clusters unless the result would exceed `max`; false if refused.
    pub fn union(&mut self, a: u32, b: u32, max: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return true;
        }
        let total = (self.link[ra as usize] & !ROOT) as usize + (self.link[rb as usize] & !ROOT) as usize;
        if total > max {
            return false;
        }
        // The smaller record number roots the cluster: roots do not depend on
        // the order links arrive in.
        let (keep, gone) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.link[gone as usize] = keep;
        self.link[keep as usize] = ROOT | total as u32;
        true
    }
}

impl Graph {
    /// Links each pair `(a, b)`, each link an edge of kind `k`.
    fn link_pairs(&mut self, pairs: impl Iterator<Item = (u32, u32)>, k: usize, kind: &str, max_cluster: usize) {
        for (a, b) in pairs {
            if self.union(a, b, max_cluster) {
                self.edges.push(Edge {
                    a,
                    b,
                    rule: k as u16,
                    value: 0,
                    probability: 1.0,
                });
            } else {
                *self.guards.max_cluster_size.entry(kind.to_string()).or_default() += 1;
            }
        }
    }

    /// Links the records of one value (in record order, so grouped by
    /// source) as the link type allows: all to the first; within each source
    /// only; or across sources only — each record to the first of another
    /// source, so every edge joins two sources, and a value that one source
    /// holds alone links nothing.
    fn link_value(
        &mut self,
        group: &[u32],
        records: &Records,
        link_type: LinkType,
        k: usize,
        kind: &str,
        max_cluster: usize,
    ) {
        let Some(&first) = group.first() else {
            return;
        };
        match link_type {
            LinkType::LinkAndDedupe => {
                self.link_pairs(group[1..].iter().map(|&r| (first, r)), k, kind, max_cluster);
            }
            LinkType::DedupeOnly => {
                for part in group.chunk_by(|a, b| records.source_of(*a) == records.source_of(*b)) {
                    self.link_pairs(part[1..].iter().map(|&r| (part[0], r)), k, kind, max_cluster);
                }
            }
            LinkType::LinkOnly => {
                let home = records.source_of(first);
                let Some(&other) = group.iter().find(|r| records.source_of(**r) != home) else {
                    return;
                };
                let pairs = group[1..].iter().map(|&r| {
                    let centre = if records.source_of(r) == home { other } else { first };
                    (centre, r)
                });
                self.link_pairs(pairs, k, kind, max_cluster);
            }
        }
    }
}

/// The records of one value by person, when their first names clearly
/// differ: records grouped by agreeing names (an initial joins the one name
/// it can stand for), records without a name or with an ambiguous initial
/// left out. `None` when the names agree.
fn split_by_first_name(group: &[(u32, u32)], records: &Records) -> Option<Vec<Vec<u32>>> {
    let name_of = |r: u32| {
        let (source, row) = records.locate(r);
        source.first_name(row)
    };
    let mut names: Vec<&str> = group
        .iter()
        .filter_map(|&(_, r)| name_of(r))
        .filter(|n| full_first_name(n))
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.len() < 2 {
        return None;
    }
    let (person, people) = people_of(&names);
    if people.len() < 2 {
        return None;
    }
    let mut split: Vec<Vec<u32>> = vec![Vec::new(); people.len()];
    let index = |p: usize| people.binary_search(&p).expect("a listed person");
    for &(_, r) in group {
        let Some(name) = name_of(r) else {
            continue;
        };
        let found = if full_first_name(name) {
            names.binary_search(&name).ok().map(|i| person[i])
        } else {
            // An initial: the one person whose names start with it.
            let mut candidates = names
                .iter()
                .zip(&person)
                .filter(|(n, _)| n.starts_with(name))
                .map(|(_, p)| *p);
            let first = candidates.next();
            first.filter(|p| candidates.all(|q| q == *p))
        };
        if let Some(p) = found {
            split[index(p)].push(r);
        }
    }
    Some(split)
}

/// Per name (sorted, distinct, two letters or more), the person it stands
/// for, and the people: names that agree, transitively (Bill ~ William ~
/// Willaim), share a person.
pub(super) fn people_of(names: &[&str]) -> (Vec<usize>, Vec<usize>) {
    let mut person: Vec<usize> = (0..names.len()).collect();
    for i in 0..names.len() {
        for j in i + 1..names.len() {
            if person[i] != person[j] && same_given_name(names[i], names[j]) {
                let (pi, pj) = (person[i], person[j]);
                for p in person.iter_mut().filter(|p| **p == pj) {
                    *p = pi;
                }
            }
        }
    }
    let mut people: Vec<usize> = person.clone();
    people.sort_unstable();
    people.dedup();
    (person, people)
}

/// Whether a first name counts for `split_by_first_name`: an initial does
/// not (it joins the one person whose names start with it).
pub(super) fn full_first_name(name: &str) -> bool {
    name.chars().nth(1).is_some()
}

/// The values of one identifier kind that never link.
pub(super) struct Blocker {
    patterns: RegexSet,
    listed: Vec<String>,
}

impl Blocker {
    pub(super) fn new(config: &IdentityConfig, kind: &str) -> Result<Blocker> {
        let mut patterns: Vec<String> = Vec::new();
        if config.default_blocked.unwrap_or(true) {
            patterns.extend(DEFAULT_BLOCKED.iter().map(|p| p.to_string()));
            if kind == "phone" {
                patterns.extend(DEFAULT_BLOCKED_PHONES.iter().map(|p| p.to_string()));
            }
        }
        patterns.extend(config.blocked_patterns.iter().cloned());
        patterns.extend(config.identifier(kind).blocked_patterns);
        let patterns =
            RegexSet::new(&patterns).map_err(|e| Error::Usage(format!("blocked patterns for `{kind}`: {e}")))?;
        Ok(Blocker {
            patterns,
            listed: config.identifier(kind).blocked,
        })
    }

    pub(super) fn blocks(&self, value: &str) -> bool {
        self.patterns.is_match(value) || self.listed.iter().any(|b| b == value)
    }
}

/// What linking on every kind shares: the records, per kind (in
/// `Records::kinds` order) which of its values are blocked (by rank), the
/// link type and the largest cluster allowed.
struct Linker<'a> {
    records: &'a Records,
    blocked: Vec<Vec<bool>>,
    /// Per kind and value rank, whether a guard stopped the value over
    /// records not linked here (`link_again`).
    stopped: Vec<Vec<bool>>,
    link_type: LinkType,
    max_cluster: usize,
}

/// One identifier kind as it links: its index in `Records::kinds`, its name
/// and its guards.
struct KindGuards<'k> {
    k: usize,
    kind: &'k String,
    settings: IdentifierConfig,
    /// Per `max_distinct` guard on a kind of the run: (that kind's index,
    /// most distinct values).
    limits: Vec<(usize, usize)>,
}

impl<'k> KindGuards<'k> {
    /// The kind's guards as configured; a `max_distinct` guard on a kind no
    /// source maps is left out.
    fn new(records: &Records, config: &IdentityConfig, k: usize, kind: &'k String) -> KindGuards<'k> {
        let settings = config.identifier(kind);
        let limits: Vec<(usize, usize)> = settings
            .max_distinct
            .iter()
            .filter_map(|(other, n)| records.kind_index(other).map(|o| (o, *n)))
            .collect();
        KindGuards {
            k,
            kind,
            settings,
            limits,
        }
    }
}

/// Links the records on every identifier kind.
pub fn link(records: &Records, config: &IdentityConfig, budget: &mut Budget) -> Result<Graph> {
    link_again(records, config, budget, &|_, _| false)
}

/// Links some records of a run again (the customers a growing run
/// regroups): as `link` does, but a value a guard stopped over all the
/// run's records (`stopped(kind, value)`) links nothing, though fewer of
/// its records are here. Every other value's guards count what they would
/// over all records, when all the records holding it are here.
pub fn link_again(
    records: &Records,
    config: &IdentityConfig,
    budget: &mut Budget,
    stopped: &dyn Fn(&str, &str) -> bool,
) -> Result<Graph> {
    let edges = EdgeLog::new(budget.disk());
    let what = "the union-find (a word a record)";
    // Held only with room for the links' buffer as full as it gets.
    let beside = (edges.memory_size(), EdgeLog::buffer_size());
    let link = budget.filled_words_beside("the links", beside, (records.len as usize, ALONE), what)?;
    let mut graph = Graph::new(link, &records.kinds, edges);
    budget.set("the links", graph.memory_size())?;
    let max_cluster = config.max_cluster_size();
    let link_type = config.link_type();
    // Each distinct value is held against the patterns once.
    let blocked = records
        .kinds
        .iter()
        .zip(&records.values)
        .map(|(kind, values)| {
            let blocker = Blocker::new(config, kind)?;
            Ok(values.iter().map(|v| blocker.blocks(v)).collect())
        })
        .collect::<Result<Vec<Vec<bool>>>>()?;
    let stopped = records
        .kinds
        .iter()
        .zip(&records.values)
        .map(|(kind, values)| values.iter().map(|v| stopped(kind, v)).collect())
        .collect();
    let linker = Linker {
        records,
        blocked,
        stopped,
        link_type,
        max_cluster,
    };
    for (k, kind) in records.kinds.iter().enumerate() {
        let guards = KindGuards::new(records, config, k, kind);
        linker.link_kind(&mut graph, &guards, budget)?;
    }
    Ok(graph)
}

impl<'a> Linker<'a> {
    /// The rank of the value of kind `k` a record carries, unless blocked.
    fn value_of(&self, k: usize, r: u32) -> Option<u32> {
        let (source, row) = self.records.locate(r);
        source.identifiers[k]
            .as_ref()?
            .rank(row)
            .filter(|rank| !self.blocked[k][*rank as usize])
    }

    /// Links the records on one kind: builds its postings, links each
    /// value's records, then frees the postings and counts the links grown
    /// against the budget. Where the limit has no room for all the kind's
    /// postings at once, they are built and linked in passes over ranges
    /// of values, in value order (each pass reads every record's value):
    /// the links are the same, made in the same order.
    fn link_kind(&self, graph: &mut Graph, guards: &KindGuards, budget: &mut Budget) -> Result<()> {
        let part = format!("the values of `{}` to link on", guards.kind);
        let mut done = KindDone {
            status: vec![ValueStatus::Linked as u8; self.records.values[guards.k].len()],
            blocked: (0, 0),
        };
        for (ranks, count) in self.passes(guards.k, &part, budget)? {
            // One range's postings at a time, grouped by value.
            budget.set(&part, count * size_of::<(u32, u32)>())?;
            let postings = self.postings(guards.k, &ranks, count, &mut done);
            self.link_values(graph, &postings, guards, &mut done);
        }
        budget.set(&part, 0)?;
        graph.status.push(done.status);
        if done.blocked.0 > 0 {
            graph.guards.blocked.insert(guards.kind.clone(), done.blocked);
        }
        budget.set("the links", graph.memory_size())?;
        Ok(())
    }

    /// Each (value rank, record) posting of kind `k`, in record order.
    fn each_posting(&self, k: usize, mut f: impl FnMut(u32, u32)) {
        for source in &self.records.sources {
            let Some(column) = &source.identifiers[k] else {
                continue;
            };
            for row in 0..source.len {
                if let Some(rank) = column.rank(row) {
                    f(rank, source.offset + row as u32);
                }
            }
        }
    }

    /// The ranges of kind `k`'s value ranks whose postings are built at
    /// once, each with how many it has at most: all of them where the
    /// limit has room (`part` holds them), else ranges whose postings fill
    /// the room left, from a count of the records of each bucket of
    /// consecutive values (a word a bucket, counted while it is held;
    /// blocked values have none).
    fn passes(&self, k: usize, part: &str, budget: &mut Budget) -> Result<Vec<(Range<u32>, usize)>> {
        let values = self.records.values[k].len();
        let count: usize = self
            .records
            .sources
            .iter()
            .filter_map(|s| s.identifiers[k].as_ref())
            .map(|c| c.present())
            .sum();
        if budget.has_room(part, count * size_of::<(u32, u32)>()) {
            return Ok(vec![(0..values as u32, count)]);
        }
        // Counted by buckets of consecutive ranks (at most `BUCKETS` of
        // them: a kind's values may be as many as its records).
        let shift = values.div_ceil(BUCKETS).next_power_of_two().trailing_zeros();
        let buckets = values.div_ceil(1 << shift);
        budget.set(part, buckets * size_of::<u32>())?;
        let mut per_bucket = vec![0u32; buckets];
        let blocked = &self.blocked[k];
        self.each_posting(k, |rank, _| {
            if !blocked[rank as usize] {
                per_bucket[(rank >> shift) as usize] += 1;
            }
        });
        let room = budget.room_for(part).unwrap_or(usize::MAX);
        // The counts are freed before the first pass's postings are built.
        let fits = room.saturating_sub(buckets * size_of::<u32>()).max(room / 2) / size_of::<(u32, u32)>();
        let ranges = value_ranges(&per_bucket, shift, values, fits.max(1));
        drop(per_bucket);
        budget.set(part, 0)?;
        log::info!(
            "{part}: {count} postings in {} passes of at most {} (--memory-limit has no room for them at once)",
            ranges.len(),
            fits
        );
        Ok(ranges)
    }

    /// The (value rank, record) postings of kind `k` whose rank is in
    /// `ranks` (`count` at most), sorted so that they are grouped by value,
    /// in value order. A blocked value's records are counted in `done`,
    /// not posted: they link nothing.
    fn postings(&self, k: usize, ranks: &Range<u32>, count: usize, done: &mut KindDone) -> Vec<(u32, u32)> {
        let mut postings: Vec<(u32, u32)> = Vec::with_capacity(count);
        let blocked = &self.blocked[k];
        self.each_posting(k, |rank, r| {
            if !ranks.contains(&rank) {
                return;
            }
            if !blocked[rank as usize] {
                postings.push((rank, r));
                return;
            }
            done.blocked.0 += 1;
            let status = &mut done.status[rank as usize];
            if *status != ValueStatus::Blocked as u8 {
                *status = ValueStatus::Blocked as u8;
                done.blocked.1 += 1;
            }
        });
        postings.sort_unstable();
        postings
    }

    /// Links the records of each value in `postings` unless a guard stops
    /// the value, and notes in `done` what each value did.
    fn link_values(&self, graph: &mut Graph, postings: &[(u32, u32)], guards: &KindGuards, done: &mut KindDone) {
        // Buffers reused from value to value.
        let mut seen: Vec<u32> = Vec::new();
        let mut members: Vec<u32> = Vec::new();
        let status = &mut done.status;
        for group in postings.chunk_by(|x, y| x.0 == y.0) {
            let rank = group[0].0 as usize;
            if self.stopped[guards.k][rank] {
                status[rank] = ValueStatus::Stopped as u8;
                continue;
            }
            if group.len() < 2 {
                continue;
            }
            if self.guard_stops(graph, group, guards, &mut seen) {
                status[rank] = ValueStatus::Stopped as u8;
                continue;
            }
            if self.link_group(graph, group, guards, &mut members) {
                status[rank] = ValueStatus::Split as u8;
            }
        }
    }

    /// Whether a guard stops the value `group` shares, counting the guard
    /// that fires: too many records carry the value, or they carry too many
    /// distinct values of another kind (`seen` is a buffer).
    fn guard_stops(&self, graph: &mut Graph, group: &[(u32, u32)], guards: &KindGuards, seen: &mut Vec<u32>) -> bool {
        let kind = guards.kind;
        if guards.settings.max_records.is_some_and(|max| group.len() > max) {
            *graph.guards.max_records.entry(kind.clone()).or_default() += 1;
            return true;
        }
        for &(other, max) in &guards.limits {
            seen.clear();
            seen.extend(group.iter().filter_map(|&(_, r)| self.value_of(other, r)));
            seen.sort_unstable();
            seen.dedup();
            if seen.len() > max {
                *graph
                    .guards
                    .max_distinct
                    .entry((kind.clone(), self.records.kinds[other].clone()))
                    .or_default() += 1;
                return true;
            }
        }
        false
    }

    /// Links the records of one value: all of them, or, when the kind splits
    /// by first name and their names clearly differ, each person's records
    /// apart, counting the split (`members` is a buffer). True if split.
    fn link_group(&self, graph: &mut Graph, group: &[(u32, u32)], guards: &KindGuards, members: &mut Vec<u32>) -> bool {
        let (k, kind) = (guards.k, guards.kind);
        let (records, link_type, max_cluster) = (self.records, self.link_type, self.max_cluster);
        let people = if guards.settings.split_by_first_name {
            split_by_first_name(group, records)
        } else {
            None
        };
        match people {
            None => {
                members.clear();
                members.extend(group.iter().map(|(_, r)| *r));
                graph.link_value(members, records, link_type, k, kind, max_cluster);
                false
            }
            Some(people) => {
                *graph.guards.split_by_first_name.entry(kind.clone()).or_default() += 1;
                for person in people {
                    graph.link_value(&person, records, link_type, k, kind, max_cluster);
                }
                true
            }
        }
    }
}

/// Buckets of consecutive values counted at most to size the passes over
/// a kind's values (`Linker::passes`): 256 KiB of counts.
const BUCKETS: usize = 1 << 16;

/// What linking one kind found over its passes: per value rank what the
/// value did (`ValueStatus` as a byte), and the records and values blocked.
struct KindDone {
    status: Vec<u8>,
    blocked: (u64, u64),
}

/// The ranges of `values` values whose postings fit `fits` at once, each
/// with its postings, from the counts of buckets of `1 << shift`
/// consecutive values (`per_bucket`; the last bucket may be short).
fn value_ranges(per_bucket: &[u32], shift: u32, values: usize, fits: usize) -> Vec<(Range<u32>, usize)> {
    ranges_within(per_bucket, fits)
        .into_iter()
        .map(|range| {
            let held = per_bucket[range.start as usize..range.end as usize]
                .iter()
                .map(|&n| n as usize)
                .sum();
            let end = ((range.end as usize) << shift).min(values) as u32;
            (range.start << shift..end, held)
        })
        .collect()
}

/// Consecutive ranges of the values whose counts (`per_value`) add up to
/// at most `fits` each, covering every value; a value counted past `fits`
/// is the only one with records in its range.
fn ranges_within(per_value: &[u32], fits: usize) -> Vec<Range<u32>> {
    let mut ranges = Vec::new();
    let (mut start, mut held) = (0usize, 0usize);
    for (v, &n) in per_value.iter().enumerate() {
        if held > 0 && held + n as usize > fits {
            ranges.push(start as u32..v as u32);
            (start, held) = (v, 0);
        }
        held += n as usize;
    }
    if start < per_value.len() || ranges.is_empty() {
        ranges.push(start as u32..per_value.len() as u32);
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_BLOCKED, DEFAULT_BLOCKED_PHONES, ranges_within, value_ranges};
    use regex::RegexSet;

    /// Passes over values cover every value once, in order, each holding
    /// at most what fits, but a value that holds more, alone (or with
    /// values of no records).
    #[test]
    fn passes_cover_the_values_within_what_fits() {
        let per_value = [3, 0, 2, 5, 1, 1, 9, 0];
        let ranges = ranges_within(&per_value, 5);
        assert_eq!(ranges, [0..3, 3..4, 4..6, 6..7, 7..8]);
        for fits in 1..20 {
            let ranges = ranges_within(&per_value, fits);
            assert_eq!(ranges.first().unwrap().start, 0);
            assert_eq!(ranges.last().unwrap().end as usize, per_value.len());
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            for range in &ranges {
                let values = &per_value[range.start as usize..range.end as usize];
                let (held, counted) = (values.iter().sum::<u32>(), values.iter().filter(|&&n| n > 0).count());
                assert!(
                    held as usize <= fits || counted == 1,
                    "{range:?} holds {held} of {fits}"
                );
            }
        }
        let (one, none) = (ranges_within(&per_value, 100), ranges_within(&[], 5));
        assert_eq!((one.len(), &one[0]), (1, &(0..8)));
        assert_eq!((none.len(), &none[0]), (1, &(0..0)));
    }

    /// Counted by buckets of four values (the last of two), the ranges are
    /// of whole buckets, cover every value once, end at the last value,
    /// and carry their buckets' postings.
    #[test]
    fn passes_counted_by_buckets_cover_the_values() {
        // Ten values in buckets of four: 0..4, 4..8, 8..10.
        let per_bucket = [5, 1, 4];
        let ranges = value_ranges(&per_bucket, 2, 10, 6);
        assert_eq!(ranges, [(0..8, 6), (8..10, 4)]);
        let one = value_ranges(&per_bucket, 2, 10, 100);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0], (0..10, 10));
        let each = value_ranges(&per_bucket, 2, 10, 1);
        assert_eq!(each, [(0..4, 5), (4..8, 1), (8..10, 4)]);
    }

    #[test]
    fn placeholder_phones_are_blocked_under_any_country_code() {
        let blocked = RegexSet::new(DEFAULT_BLOCKED.iter().chain(DEFAULT_BLOCKED_PHONES)).unwrap();
        for junk in [
            "+441234567890",
            "+11234567890",
            "1234567890",
            "+15555555555",
            "+440000000000",
            "null",
        ] {
            assert!(blocked.is_match(junk), "{junk} should be blocked");
        }
        for real in ["+447911123456", "+12025550143", "+4412345678901", "+44123456789"] {
            assert!(!blocked.is_match(real), "{real} should link");
        }
        // Other kinds keep the ten-digit patterns: a longer id links.
        let others = RegexSet::new(DEFAULT_BLOCKED).unwrap();
        assert!(others.is_match("1234567890"));
        assert!(!others.is_match("001234567890"));
        assert!(!others.is_match("20000000000"));
    }
}
