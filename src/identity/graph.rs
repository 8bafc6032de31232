//! Deterministic linking: records that share a normalized identifier are
//! joined, kind by kind in priority order, into clusters (union-find), unless
//! a guard stops the value: a blocked value, a value carried with too many
//! distinct values of another kind, a value on too many records, or a link
//! that would make a cluster larger than allowed. Every guard that fires is
//! counted, and every link kept is an edge: the evidence `--explain` prints.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::Array;
use regex::RegexSet;

use super::config::IdentityConfig;
use super::records::{Records, value};
use crate::error::{Error, Result};

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
    // One digit repeated, and 123-456-7890, in any phone format.
    r"^\+?1?(0{10}|1{10}|2{10}|3{10}|4{10}|5{10}|6{10}|7{10}|8{10}|9{10})$",
    r"^\+?1?1234567890$",
];

/// The rule name of links made by the Fellegi–Sunter model.
pub const PROBABILISTIC: &str = "probabilistic";

/// A link between two records: its rule (an index into `Graph::rules`: an
/// identifier kind, or the probabilistic model), the interned value the
/// records share or the comparison that matched, and its match probability.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    pub a: u32,
    pub b: u32,
    pub rule: u16,
    pub value: u32,
    pub probability: f32,
}

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
}

impl GuardCounts {
    pub fn total(&self) -> u64 {
        self.blocked.values().map(|(records, _)| records).sum::<u64>()
            + self.max_distinct.values().sum::<u64>()
            + self.max_records.values().sum::<u64>()
            + self.max_cluster_size.values().sum::<u64>()
    }
}

/// The clusters of a run.
pub struct Graph {
    parent: Vec<u32>,
    size: Vec<u32>,
    pub edges: Vec<Edge>,
    /// Rule names: the identifier kinds in linking order, then `probabilistic`.
    pub rules: Vec<String>,
    /// Per rule, the interned values (`Edge::value` indexes them).
    pub values: Vec<Vec<String>>,
    pub guards: GuardCounts,
}

impl Graph {
    fn new(records: u32, kinds: &[String]) -> Graph {
        let mut rules = kinds.to_vec();
        rules.push(PROBABILISTIC.to_string());
        Graph {
            parent: (0..records).collect(),
            size: vec![1; records as usize],
            edges: Vec::new(),
            rules,
            values: Vec::new(),
            guards: GuardCounts::default(),
        }
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// The cluster root of every record.
    pub fn roots(&mut self) -> Vec<u32> {
        (0..self.parent.len() as u32).map(|r| self.find(r)).collect()
    }

    /// Records in the cluster of `x`.
    pub fn size_of(&mut self, x: u32) -> u32 {
        let root = self.find(x);
        self.size[root as usize]
    }

    /// Joins two clusters unless the result would exceed `max`; false if refused.
    pub fn union(&mut self, a: u32, b: u32, max: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return true;
        }
        let total = self.size[ra as usize] as usize + self.size[rb as usize] as usize;
        if total > max {
            return false;
        }
        // The smaller record number roots the cluster: roots do not depend on
        // the order links arrive in.
        let (keep, gone) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[gone as usize] = keep;
        self.size[keep as usize] = total as u32;
        true
    }
}

/// A value's postings: (record, value) pairs in record order.
struct Postings {
    by_record: Vec<(u32, u32)>,
}

impl Postings {
    fn value_of(&self, record: u32) -> Option<u32> {
        self.by_record
            .binary_search_by_key(&record, |&(r, _)| r)
            .ok()
            .map(|i| self.by_record[i].1)
    }
}

fn blocked_set(config: &IdentityConfig, kind: &str) -> Result<RegexSet> {
    let mut patterns: Vec<String> = Vec::new();
    if config.default_blocked.unwrap_or(true) {
        patterns.extend(DEFAULT_BLOCKED.iter().map(|p| p.to_string()));
    }
    patterns.extend(config.blocked_patterns.iter().cloned());
    patterns.extend(config.identifier(kind).blocked_patterns);
    RegexSet::new(&patterns).map_err(|e| Error::Usage(format!("blocked patterns for `{kind}`: {e}")))
}

/// Links the records on every identifier kind.
pub fn link(records: &Records, config: &IdentityConfig) -> Result<Graph> {
    let mut graph = Graph::new(records.len, &records.kinds);
    let max_cluster = config.max_cluster_size();

    // Intern every kind's values in record order, dropping blocked ones.
    let mut postings = Vec::with_capacity(records.kinds.len());
    for (k, kind) in records.kinds.iter().enumerate() {
        let patterns = blocked_set(config, kind)?;
        let listed: Vec<String> = config.identifier(kind).blocked;
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let mut names: Vec<String> = Vec::new();
        let mut blocked: Vec<bool> = Vec::new();
        let mut by_record = Vec::new();
        let (mut blocked_records, mut blocked_values) = (0u64, 0u64);
        for source in &records.sources {
            let column = &source.identifiers[k];
            if column.is_none() {
                continue;
            }
            for row in 0..source.record_id.len() {
                let Some(v) = value(column, row) else {
                    continue;
                };
                let id = *ids.entry(v).or_insert_with(|| {
                    let junk = patterns.is_match(v) || listed.iter().any(|b| b == v);
                    blocked.push(junk);
                    blocked_values += u64::from(junk);
                    names.push(v.to_string());
                    names.len() as u32 - 1
                });
                if blocked[id as usize] {
                    blocked_records += 1;
                } else {
                    by_record.push((source.offset + row as u32, id));
                }
            }
        }
        if blocked_records > 0 {
            graph
                .guards
                .blocked
                .insert(kind.clone(), (blocked_records, blocked_values));
        }
        graph.values.push(names);
        postings.push(Postings { by_record });
    }

    // The probabilistic rule's values: descriptions of its comparisons.
    graph.values.push(Vec::new());

    for (k, kind) in records.kinds.iter().enumerate() {
        let settings = config.identifier(kind);
        let limits: Vec<(usize, usize)> = settings
            .max_distinct
            .iter()
            .filter_map(|(other, n)| records.kind_index(other).map(|o| (o, *n)))
            .collect();
        let mut by_value = postings[k].by_record.clone();
        by_value.sort_unstable_by_key(|&(r, v)| (v, r));
        let mut seen: Vec<u32> = Vec::new();
        for group in by_value.chunk_by(|x, y| x.1 == y.1) {
            if group.len() < 2 {
                continue;
            }
            if settings.max_records.is_some_and(|max| group.len() > max) {
                *graph.guards.max_records.entry(kind.clone()).or_default() += 1;
                continue;
            }
            let mut stopped = false;
            for &(other, max) in &limits {
                seen.clear();
                seen.extend(group.iter().filter_map(|&(r, _)| postings[other].value_of(r)));
                seen.sort_unstable();
                seen.dedup();
                if seen.len() > max {
                    *graph
                        .guards
                        .max_distinct
                        .entry((kind.clone(), records.kinds[other].clone()))
                        .or_default() += 1;
                    stopped = true;
                    break;
                }
            }
            if stopped {
                continue;
            }
            let (first, value) = group[0];
            for &(r, _) in &group[1..] {
                if graph.union(first, r, max_cluster) {
                    graph.edges.push(Edge {
                        a: first,
                        b: r,
                        rule: k as u16,
                        value,
                        probability: 1.0,
                    });
                } else {
                    *graph.guards.max_cluster_size.entry(kind.clone()).or_default() += 1;
                }
            }
        }
    }
    Ok(graph)
}
