//! `oneview resolve --evaluate TABLE`, the attribute model's part: the
//! candidate pairs scored again by the saved model and held against the
//! truth, so a user sees what the threshold costs and why pairs were missed
//! or wrongly linked. Per threshold of a sweep the records are clustered as
//! a run would (the identifier links, then every pair at or above it, the
//! weak-join and size guards aside) and scored pairwise over the records the
//! truth names; blocking recall is the same at threshold 0, every candidate
//! linked. Pairs are told apart by their comparison levels, the words the
//! `value` of a probabilistic edge uses.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

use super::budget::Budget;
use super::evaluate::{entity_column, f1, pairs, quote, ratio};
use super::probabilistic::compare::{compare, describe};
use super::probabilistic::{Scored, score_saved};
use super::records::Records;
use super::{Locations, graph, records};
use crate::error::Result;
use crate::project::identity::{COMPARISONS, IdentityConfig};

/// The thresholds tried for the best one, besides the configured threshold.
const SWEEP: &[f64] = &[
    0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999,
];
/// Groups of comparison levels listed for missed and wrong pairs.
const GROUPS: usize = 5;

/// Pairwise precision, recall and F1 of one clustering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Pairs of one set of comparison levels: how many, and their lowest and
/// highest match probability.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelGroup {
    pub levels: String,
    pub pairs: u64,
    pub lowest: f64,
    pub highest: f64,
}

/// Pairs of one kind: how many, and the largest groups of them by levels.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouped {
    pub pairs: u64,
    pub largest: Vec<LevelGroup>,
}

#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub threshold: f64,
    pub at_threshold: Scores,
    /// The threshold of the sweep with the highest F1 (the configured one
    /// on a tie), and its scores.
    pub best_threshold: f64,
    pub best: Scores,
    /// Recall with every candidate pair linked: the share of true pairs that
    /// blocking and the identifiers can reach at all.
    pub blocking_recall: f64,
    /// Pairs of profiles of one true entity that no blocking rule generated.
    pub unblocked: Grouped,
    /// Candidate pairs of one true entity below the threshold.
    pub missed: Grouped,
    /// Candidate pairs of different true entities at or above it.
    pub wrong: Grouped,
}

/// The model's diagnosis against the truth `table`; None without
/// `[identity.probabilistic]` or a saved model.
pub async fn diagnose(
    ctx: &SessionContext,
    config: &IdentityConfig,
    at: Locations<'_>,
    table: &str,
) -> Result<Option<Diagnosis>> {
    let Some(p) = &config.probabilistic else {
        return Ok(None);
    };
    let mut budget = Budget::new(ctx);
    let records = records::read(ctx, config, at.config_file, &mut budget).await?;
    budget.set_records(records.len);
    let mut graph = graph::link(&records, config, &mut budget)?;
    let Some(scored) = score_saved(&records, &mut graph, config, p, at.dir, &mut budget)? else {
        return Ok(None);
    };
    let entity = entities(ctx, table, &records).await?;
    let clusters: Vec<u32> = (0..records.len).map(|r| graph.find(r)).collect();
    Ok(Some(judge(&scored, &clusters, &entity)))
}

/// Each record's true entity (numbered), None where the truth has no row.
async fn entities(ctx: &SessionContext, table: &str, records: &Records) -> Result<Vec<Option<u32>>> {
    let column = entity_column(ctx, table).await?;
    let sql = format!(
        "SELECT CAST(source AS VARCHAR), CAST(record_id AS VARCHAR), CAST({} AS VARCHAR) FROM {}",
        quote(&column),
        quote(table)
    );
    let mut truth: HashMap<String, HashMap<String, u32>> = HashMap::new();
    let mut numbers: HashMap<String, u32> = HashMap::new();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let columns: Vec<_> = (0..3)
            .map(|i| cast(batch.column(i), &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()?;
        let [s, r, e] = [0, 1, 2].map(|i| columns[i].as_string::<i32>());
        for i in 0..batch.num_rows() {
            if s.is_null(i) || r.is_null(i) || e.is_null(i) {
                continue;
            }
            let next = numbers.len() as u32;
            let number = *numbers.entry(e.value(i).to_string()).or_insert(next);
            truth
                .entry(s.value(i).to_string())
                .or_default()
                .insert(r.value(i).to_string(), number);
        }
    }
    let mut entity = vec![None; records.len as usize];
    for source in &records.sources {
        let Some(ids) = truth.get(&source.name) else { continue };
        for i in 0..source.len {
            entity[source.offset as usize + i] = ids.get(source.record_id(i)).copied();
        }
    }
    Ok(entity)
}

/// The diagnosis of scored pairs, given each record's identifier cluster
/// (`clusters`) and true entity.
pub fn judge(scored: &Scored, clusters: &[u32], entity: &[Option<u32>]) -> Diagnosis {
    let threshold = scored.threshold;
    let mut order: Vec<&(u32, u32, _, f64)> = scored.pairs.iter().collect();
    order.sort_by(|a, b| b.3.total_cmp(&a.3));
    let mut thresholds: Vec<f64> = SWEEP.iter().copied().chain([threshold, 0.0]).collect();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    // One union-find, pairs joined strongest first, scored at each threshold on the way down.
    let mut clustering = Clustering::new(clusters);
    let mut next = 0;
    let mut at: Vec<(f64, Scores)> = Vec::new();
    for &t in &thresholds {
        while next < order.len() && order[next].3 >= t {
            let (x, y) = (order[next].0, order[next].1);
            clustering.union(scored.profiles.record[x as usize], scored.profiles.record[y as usize]);
            next += 1;
        }
        at.push((t, clustering.scores(entity)));
    }
    let blocking_recall = at.last().map_or(1.0, |(_, s)| s.recall);
    let at_threshold = at.iter().find(|(t, _)| *t == threshold).expect("swept").1;
    let (best_threshold, best) =
        at.iter()
            .filter(|(t, _)| *t > 0.0)
            .fold(
                (threshold, at_threshold),
                |best, &(t, s)| if s.f1 > best.1.f1 { (t, s) } else { best },
            );
    let of = |x: u32| entity[scored.profiles.record[x as usize] as usize];
    let (mut missed, mut wrong) = (Groups::default(), Groups::default());
    for &(x, y, pattern, probability) in &scored.pairs {
        let (Some(a), Some(b)) = (of(x), of(y)) else { continue };
        if a == b && probability < threshold {
            missed.add(pattern, probability);
        } else if a != b && probability >= threshold {
            wrong.add(pattern, probability);
        }
    }
    Diagnosis {
        threshold,
        at_threshold,
        best_threshold,
        best,
        blocking_recall,
        unblocked: unblocked(scored, &of),
        missed: missed.largest(),
        wrong: wrong.largest(),
    }
}

/// Pairs of comparable profiles of one true entity, of different identifier
/// clusters, that are no candidate pair: what blocking missed.
fn unblocked(scored: &Scored, of: &dyn Fn(u32) -> Option<u32>) -> Grouped {
    let profiles = &scored.profiles;
    let mut candidates: Vec<(u32, u32)> = scored.pairs.iter().map(|p| (p.0.min(p.1), p.0.max(p.1))).collect();
    candidates.sort_unstable();
    let mut by_entity: Vec<(u32, u32)> = (0..profiles.len() as u32)
        .filter_map(|x| of(x).map(|e| (e, x)))
        .collect();
    by_entity.sort_unstable();
    let mut groups = Groups::default();
    for run in by_entity.chunk_by(|a, b| a.0 == b.0) {
        for (i, &(_, x)) in run.iter().enumerate() {
            for &(_, y) in &run[i + 1..] {
                let (a, b) = (x.min(y), x.max(y));
                if profiles.root[a as usize] != profiles.root[b as usize]
                    && profiles.comparable(a, b)
                    && candidates.binary_search(&(a, b)).is_err()
                {
                    groups.add(compare(profiles, a, b, scored.fields), f64::NAN);
                }
            }
        }
    }
    groups.largest()
}

/// Pairs counted by their comparison levels.
#[derive(Default)]
struct Groups(HashMap<u32, LevelGroup>);

impl Groups {
    fn add(&mut self, pattern: u32, probability: f64) {
        let group = self.0.entry(pattern).or_insert_with(|| LevelGroup {
            levels: describe(pattern, COMPARISONS),
            pairs: 0,
            lowest: probability,
            highest: probability,
        });
        group.pairs += 1;
        group.lowest = group.lowest.min(probability);
        group.highest = group.highest.max(probability);
    }

    /// All pairs counted, and the groups of most pairs (at most `GROUPS`)
    /// in a stable order.
    fn largest(self) -> Grouped {
        let mut groups: Vec<LevelGroup> = self.0.into_values().collect();
        let pairs = groups.iter().map(|g| g.pairs).sum();
        groups.sort_by(|a, b| b.pairs.cmp(&a.pairs).then(a.levels.cmp(&b.levels)));
        groups.truncate(GROUPS);
        Grouped { pairs, largest: groups }
    }
}

/// Records clustered by union-find, starting from their identifier clusters.
struct Clustering {
    parent: Vec<u32>,
}

impl Clustering {
    fn new(clusters: &[u32]) -> Self {
        Clustering {
            parent: clusters.to_vec(),
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let up = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = up;
            x = up;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb) as usize] = ra.min(rb);
        }
    }

    /// Pairwise scores over the records with a true entity.
    fn scores(&mut self, entity: &[Option<u32>]) -> Scores {
        let mut cells: HashMap<(u32, u32), u64> = HashMap::new();
        let (mut clusters, mut entities): (HashMap<u32, u64>, HashMap<u32, u64>) = Default::default();
        for (r, e) in entity.iter().enumerate() {
            let Some(e) = e else { continue };
            let c = self.find(r as u32);
            *cells.entry((c, *e)).or_default() += 1;
            *clusters.entry(c).or_default() += 1;
            *entities.entry(*e).or_default() += 1;
        }
        let total = |counts: &mut dyn Iterator<Item = u64>| counts.map(pairs).sum::<u64>();
        let correct = total(&mut cells.into_values());
        let predicted = total(&mut clusters.into_values());
        let truth = total(&mut entities.into_values());
        let (precision, recall) = (ratio(correct, predicted), ratio(correct, truth));
        let f1 = f1(precision, recall);
        Scores { precision, recall, f1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four records of two people (0, 1 | 2, 3), no identifier links:
    /// clustering follows the pairs at each threshold.
    #[test]
    fn clustering_scores_pairs_over_the_records_the_truth_names() {
        let entity = [Some(0), Some(0), Some(1), Some(1), None];
        let mut c = Clustering::new(&[0, 1, 2, 3, 4]);
        assert_eq!(c.scores(&entity).recall, 0.0);
        c.union(0, 1);
        let s = c.scores(&entity);
        assert_eq!((s.precision, s.recall), (1.0, 0.5));
        c.union(1, 2);
        // Clusters {0,1,2}, {3}: 3 predicted pairs, 1 correct, 2 true.
        let s = c.scores(&entity);
        assert!((s.precision - 1.0 / 3.0).abs() < 1e-12 && (s.recall - 0.5).abs() < 1e-12);
        c.union(3, 4);
        assert_eq!(
            c.scores(&entity).recall,
            0.5,
            "a record without truth counts for nothing"
        );
    }
}
