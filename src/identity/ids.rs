//! Stable customer ids. A cluster takes the id its records had in the
//! previous run: a growing cluster keeps its id; when clusters merge the
//! oldest id (the smallest number) survives and the others are logged as
//! merged into it; when a cluster splits, the part holding most of its
//! records keeps the id and the others get new ids, logged as split from it.
//! New ids are numbered in record order, so the same data gives the same ids.

use datafusion::common::HashMap;

use super::graph::Graph;
use super::records::Records;
use super::words::Words;
use crate::error::{Error, Result};

const PREFIX: &str = "cus_";

pub fn format_id(n: u64) -> String {
    format!("{PREFIX}{n:08}")
}

pub fn parse_id(text: &str) -> Option<u64> {
    text.strip_prefix(PREFIX)?.parse().ok().filter(|n| *n > 0)
}

/// What the previous run knew: each current record's previous id (0: none)
/// and the highest id ever given.
pub struct Previous {
    /// Per record, its previous id (0: none); ids are numbered from 1 and
    /// held in 32 bits (`add_links` refuses a larger one). Empty when no
    /// record had one (a first run): nothing to hold or place. Spilled to
    /// a temporary file where `--memory-limit` has no room for it.
    pub id_of: Words,
    records: u32,
    pub highest: u64,
    /// Per previous id, how many records it had (those since deleted too).
    pub records_of: IdCounts,
}

/// A count per customer id. Ids are numbered from 1 as customers appear, so
/// up to a bound (one a record, and a million) they index a vector: a
/// link's count is one write, not a hash probe (26M of them at 1M people,
/// seconds apart). Ids beyond it, which only a project that lost most of
/// its customers has, go to a map.
#[derive(Default)]
pub struct IdCounts {
    dense: Vec<u32>,
    sparse: HashMap<u64, u32>,
    limit: usize,
}

impl IdCounts {
    fn new(records: u32) -> IdCounts {
        IdCounts {
            limit: (records as usize).saturating_add(1 << 20),
            ..IdCounts::default()
        }
    }

    fn add(&mut self, id: u64) {
        match usize::try_from(id) {
            Ok(i) if i < self.limit => {
                if i >= self.dense.len() {
                    // Grown by half at least, never past the bound: `get`
                    // reads an id below the vector's length from it.
                    let grown = (i + 1).max(self.dense.len() * 3 / 2).min(self.limit);
                    self.dense.reserve_exact(grown - self.dense.len());
                    self.dense.resize(grown, 0);
                }
                self.dense[i] += 1;
            }
            _ => *self.sparse.entry(id).or_default() += 1,
        }
    }

    /// The count of `id` (0: none).
    pub fn get(&self, id: u64) -> u32 {
        match usize::try_from(id) {
            Ok(i) if i < self.dense.len() => self.dense[i],
            _ => self.sparse.get(&id).copied().unwrap_or(0),
        }
    }

    /// The ids with a count.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        let dense = (0..self.dense.len()).filter(|&i| self.dense[i] > 0).map(|i| i as u64);
        dense.chain(self.sparse.keys().copied())
    }

    fn memory_size(&self) -> usize {
        self.dense.capacity() * size_of::<u32>() + self.sparse.capacity() * size_of::<(u64, u32)>() * 2
    }
}

#[cfg(test)]
mod tests {
    use super::IdCounts;

    /// Ids below the bound are counted in the vector, those above in the
    /// map, and both read back alike.
    #[test]
    fn ids_are_counted_densely_up_to_the_bound_and_in_a_map_beyond() {
        let mut counts = IdCounts::new(10);
        let limit = counts.limit as u64;
        assert_eq!(limit, (1 << 20) + 10);
        // 700,000 and 700,001 grow the vector by half, to the bound: an id
        // just below it is still counted in the vector, one at it in the map.
        for id in [3, 3, 7, 700_000, 700_001, limit - 1, limit, limit, u64::from(u32::MAX)] {
            counts.add(id);
        }
        assert_eq!(counts.dense.len(), counts.limit);
        assert_eq!(
            [3, 7, 5, 700_001, limit - 1, limit, u64::from(u32::MAX)].map(|id| counts.get(id)),
            [2, 1, 0, 1, 1, 2, 1]
        );
        assert_eq!(counts.sparse.len(), 2);
        let mut ids: Vec<u64> = counts.ids().collect();
        ids.sort_unstable();
        assert_eq!(ids, [3, 7, 700_000, 700_001, limit - 1, limit, u64::from(u32::MAX)]);
    }
}

impl Previous {
    /// Bytes `assign` holds while it places the previous ids among
    /// `clusters` beside the records in cluster order (words of their own,
    /// `ClusterMembers`): about one cell (id, cluster, records) a cluster.
    pub fn places_size(&self, clusters: usize) -> usize {
        if self.id_of.is_empty() {
            return 0;
        }
        clusters * (size_of::<u32>() + size_of::<(u32, u32, u32)>())
    }

    /// A record's previous id (0: none).
    pub fn id(&self, r: usize) -> u32 {
        self.id_of.get(r).copied().unwrap_or(0)
    }

    pub fn none(records: u32) -> Previous {
        Previous {
            id_of: Words::held(Vec::new()),
            records,
            highest: 0,
            records_of: IdCounts::new(records),
        }
    }

    /// Bytes held, for the memory budget.
    pub fn memory_size(&self) -> usize {
        self.id_of.memory_size() + self.records_of.memory_size()
    }

    /// Matches a batch of previous links `(source, record_id, customer_id)`
    /// to current records. Called batch by batch, so the previous run's
    /// links are never all in memory at once.
    pub fn add_links<'a>(
        &mut self,
        records: &Records,
        links: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Result<()> {
        // Links come in record-id order within a source: the row after the
        // last match is tried before a binary search.
        let mut cursor: Option<(usize, usize)> = None;
        for (source, record_id, customer_id) in links {
            let id = parse_id(customer_id).ok_or_else(|| {
                Error::Usage(format!(
                    "identity_links holds customer id `{customer_id}`, which oneview did not make; expected ids like {}",
                    format_id(1)
                ))
            })?;
            let id32 = u32::try_from(id).map_err(|_| {
                Error::Usage(format!(
                    "identity_links holds customer id `{customer_id}`, beyond the {} customers oneview numbers",
                    u32::MAX
                ))
            })?;
            self.highest = self.highest.max(id);
            self.records_of.add(id);
            let s = match cursor {
                Some((s, _)) if records.sources[s].name == source => s,
                _ => match records.sources.iter().position(|x| x.name == source) {
                    Some(s) => s,
                    None => continue,
                },
            };
            let source = &records.sources[s];
            let next = cursor.filter(|(c, _)| *c == s).map_or(0, |(_, row)| row + 1);
            let row = if next < source.len && source.record_id(next) == record_id {
                Some(next)
            } else {
                source.row_of(record_id)
            };
            if let Some(row) = row {
                if self.id_of.is_empty() {
                    // Where the caller has not given it words already.
                    self.id_of = Words::held(vec![0; self.records as usize]);
                }
                self.id_of[records.sources[s].offset as usize + row] = id32;
                cursor = Some((s, row));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `old` joined `new`, which survives.
    Merged,
    /// `new` was split off `old`.
    Split,
}

#[derive(Debug, Clone)]
pub struct IdChange {
    pub old: u64,
    pub new: u64,
    pub change: Change,
    /// The rules of the links that joined the old customers (merges).
    pub rules: Vec<String>,
}

/// The clusters of a run with their ids.
pub struct Clusters {
    /// Per record, its cluster number (clusters numbered by first record).
    pub cluster_of: Words,
    /// Per cluster, its customer id, as a number and as text.
    pub ids: Vec<u64>,
    pub names: Vec<String>,
    pub changes: Vec<IdChange>,
    pub new_ids: u64,
    /// Customers whose records are exactly those one customer of the last
    /// run had (nothing added, nothing taken away); the others are touched.
    pub unchanged: u64,
    /// Customers of the last run none of whose records is in any customer now.
    pub gone: u64,
}

impl Clusters {
    /// Records per cluster.
    pub fn sizes(&self) -> Vec<u32> {
        let mut sizes = vec![0u32; self.ids.len()];
        for &c in self.cluster_of.iter() {
            sizes[c as usize] += 1;
        }
        sizes
    }

    /// Bytes held, for the memory budget.
    pub fn memory_size(&self) -> usize {
        self.cluster_of.memory_size()
            + self.ids.capacity() * size_of::<u64>()
            + self
                .names
                .iter()
                .map(|n| n.capacity() + size_of::<String>())
                .sum::<usize>()
    }
}

/// Gives each cluster (numbered by `number_clusters`) its customer id: the
/// previous ids of its records where it can, new ids otherwise, with the
/// merges and splits that made the difference. `members` are words a
/// record to group the records by cluster in (`ClusterMembers`) where
/// there are previous ids to place.
pub fn assign(
    graph: &Graph,
    (cluster_of, clusters): (Words, usize),
    previous: &Previous,
    members: Words,
) -> Result<Clusters> {
    let places = place_previous_ids(previous, &cluster_of, clusters, members);
    let Given {
        ids,
        mut changes,
        new_ids,
    } = give_ids(&places, previous.highest);
    describe_merges(graph, previous, &cluster_of, &ids, &mut changes)?;
    let (unchanged, gone) = count_unchanged(previous, &cluster_of, clusters);
    let names = ids.iter().map(|id| format_id(*id)).collect();
    Ok(Clusters {
        cluster_of,
        ids,
        names,
        changes,
        new_ids,
        unchanged,
        gone,
    })
}

/// The clusters whose records all had one previous id that had exactly
/// that many records (so none was added, moved away or deleted), and the
/// previous ids none of whose records is here any more.
fn count_unchanged(previous: &Previous, cluster_of: &[u32], clusters: usize) -> (u64, u64) {
    const MIXED: u64 = u64::MAX;
    // Per cluster: its records' one previous id (0 none yet, MIXED several
    // or a new record), and how many records it has.
    let mut one: Vec<(u64, u32)> = vec![(0, 0); clusters];
    for (id, &c) in previous.id_of.iter().zip(cluster_of) {
        let slot = &mut one[c as usize];
        slot.0 = match (slot.0, u64::from(*id)) {
            (_, 0) => MIXED,
            (0, id) => id,
            (held, id) if held == id => held,
            _ => MIXED,
        };
        slot.1 += 1;
    }
    let unchanged = one
        .iter()
        .filter(|(id, n)| *id != 0 && *id != MIXED && previous.records_of.get(*id) == *n)
        .count() as u64;
    // The records here per previous id, counted as the previous run's are.
    let mut here = IdCounts::new(previous.records);
    for &id in previous.id_of.iter().filter(|&&id| id != 0) {
        here.add(u64::from(id));
    }
    let gone = previous.records_of.ids().filter(|&id| here.get(id) == 0).count() as u64;
    (unchanged, gone)
}

/// Each record's cluster number, into `cluster_of` (a word a record),
/// clusters numbered by first record; returns the number of clusters. A
/// cluster's root is its smallest record (`Graph::union`), so it is
/// numbered before the cluster's other records.
pub fn number_clusters(graph: &mut Graph, cluster_of: &mut [u32]) -> usize {
    let records = graph.records();
    assert_eq!(cluster_of.len(), records as usize, "a cluster number a record");
    let mut clusters = 0u32;
    for r in 0..records {
        let root = graph.find(r);
        if root == r {
            cluster_of[r as usize] = clusters;
            clusters += 1;
        } else {
            cluster_of[r as usize] = cluster_of[root as usize];
        }
    }
    clusters as usize
}

/// Records grouped by cluster: cluster `c`'s records are
/// `members[starts[c]..starts[c + 1]]`, in record order.
pub struct ClusterMembers {
    starts: Vec<u32>,
    members: Words,
}

impl ClusterMembers {
    /// Groups the records by cluster (a counting sort keeps record order
    /// within) into `members`, a word a record: `cluster_of` gives each
    /// record's cluster of `clusters`.
    pub fn of(cluster_of: &[u32], clusters: usize, mut members: Words) -> Self {
        assert_eq!(members.len(), cluster_of.len(), "a member a record");
        let mut starts = vec![0u32; clusters + 1];
        for &c in cluster_of {
            starts[c as usize + 1] += 1;
        }
        for i in 0..clusters {
            starts[i + 1] += starts[i];
        }
        let mut fill = starts.clone();
        for (r, &c) in cluster_of.iter().enumerate() {
            members[fill[c as usize] as usize] = r as u32;
            fill[c as usize] += 1;
        }
        ClusterMembers { starts, members }
    }

    /// Cluster `c`'s records.
    pub fn of_cluster(&self, c: usize) -> &[u32] {
        &self.members[self.starts[c] as usize..self.starts[c + 1] as usize]
    }

    /// Bytes held.
    pub fn memory_size(&self) -> usize {
        self.starts.capacity() * size_of::<u32>() + self.members.memory_size()
    }
}

/// Per cluster, the previous ids found in it: those it holds most of the
/// records of (their home), and those it holds fewer of (strays).
struct Places {
    homes: Vec<Vec<u64>>,
    strays: Vec<Vec<u64>>,
}

/// Where each previous id's records are now: the cluster with most of
/// them is its home, the others hold strays.
fn place_previous_ids(previous: &Previous, cluster_of: &[u32], clusters: usize, members: Words) -> Places {
    if previous.id_of.is_empty() {
        return Places {
            homes: vec![Vec::new(); clusters],
            strays: vec![Vec::new(); clusters],
        };
    }
    // Per cluster its previous ids counted: cells (id, cluster, records),
    // about one a cluster, sorted by id, then cluster (`places_size`).
    let groups = ClusterMembers::of(cluster_of, clusters, members);
    let mut cells: Vec<(u32, u32, u32)> = Vec::new();
    let mut here: Vec<u32> = Vec::new();
    for c in 0..clusters {
        here.clear();
        here.extend(
            groups
                .of_cluster(c)
                .iter()
                .map(|&r| previous.id(r as usize))
                .filter(|id| *id != 0),
        );
        here.sort_unstable();
        cells.extend(
            here.chunk_by(|x, y| x == y)
                .map(|run| (run[0], c as u32, run.len() as u32)),
        );
    }
    drop(groups);
    cells.sort_unstable();
    let mut homes: Vec<Vec<u64>> = vec![Vec::new(); clusters];
    let mut strays: Vec<Vec<u64>> = vec![Vec::new(); clusters];
    for group in cells.chunk_by(|x, y| x.0 == y.0) {
        let id = u64::from(group[0].0);
        let cells: Vec<(u32, usize)> = group.iter().map(|&(_, c, n)| (c, n as usize)).collect();
        // Most records keep the id; a tie goes to the earlier cluster.
        let home = cells
            .iter()
            .max_by(|x, y| x.1.cmp(&y.1).then(y.0.cmp(&x.0)))
            .expect("a group has a cell")
            .0;
        for &(cluster, _) in &cells {
            if cluster == home {
                homes[cluster as usize].push(id);
            } else {
                strays[cluster as usize].push(id);
            }
        }
    }
    Places { homes, strays }
}

/// The ids given to the clusters, the merges and splits among them, and
/// how many ids are new.
struct Given {
    ids: Vec<u64>,
    changes: Vec<IdChange>,
    new_ids: u64,
}

/// Gives each cluster, in order, the oldest id at home in it, else the
/// next new id after `highest`; the other ids at home merged into it, the
/// strays split from theirs.
fn give_ids(places: &Places, highest: u64) -> Given {
    let Places { homes, strays } = places;
    let clusters = homes.len();
    let mut next = highest + 1;
    let mut ids = vec![0u64; clusters];
    let mut changes = Vec::new();
    for c in 0..clusters {
        let survivor = homes[c].iter().min().copied();
        ids[c] = survivor.unwrap_or_else(|| {
            next += 1;
            next - 1
        });
        for &old in homes[c].iter().filter(|id| Some(**id) != survivor) {
            changes.push(IdChange {
                old,
                new: ids[c],
                change: Change::Merged,
                rules: Vec::new(),
            });
        }
        for &old in &strays[c] {
            changes.push(IdChange {
                old,
                new: ids[c],
                change: Change::Split,
                rules: Vec::new(),
            });
        }
    }
    Given {
        ids,
        changes,
        new_ids: next - highest - 1,
    }
}

/// For each merge, the rules of the links between records of different
/// previous customers (or new records) in the surviving cluster.
fn describe_merges(
    graph: &Graph,
    previous: &Previous,
    cluster_of: &[u32],
    ids: &[u64],
    changes: &mut [IdChange],
) -> Result<()> {
    let mut merged: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, change) in changes.iter().enumerate() {
        if change.change == Change::Merged {
            merged.entry(change.new).or_default().push(i);
        }
    }
    if merged.is_empty() {
        return Ok(());
    }
    for edge in graph.edges.read(1 << 16)? {
        for edge in edge? {
            let (a, b) = (edge.a as usize, edge.b as usize);
            if previous.id(a) == previous.id(b) {
                continue;
            }
            let Some(indices) = merged.get(&ids[cluster_of[a] as usize]) else {
                continue;
            };
            let rule = &graph.rules[edge.rule as usize];
            for &i in indices {
                if !changes[i].rules.contains(rule) {
                    changes[i].rules.push(rule.clone());
                }
            }
        }
    }
    Ok(())
}
