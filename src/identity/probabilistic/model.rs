//! The Fellegi–Sunter model: for each comparison level, m (how often true
//! matches agree so) and u (how often non-matches do), and lambda, the
//! share of matches among blocked pairs. u comes from random pairs; m from
//! expectation-maximisation over the blocked pairs without labels, once
//! per blocking rule with that rule's own comparisons left out (they agree
//! by construction there), averaged over rules. Saved as JSON, so a model
//! can be reviewed, edited and reused.

use std::collections::BTreeMap;

use datafusion::common::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::compare::COMPARISONS;
use super::compare::{Pattern, SAME_CITY, compare, labels, level, level_count};
use super::profiles::{CITY, LAST, Profiles};
use crate::project::identity::LinkType;
use crate::util::parallel;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    /// Comparisons in the order of `COMPARISONS`; absent ones are not scored.
    pub comparisons: Vec<Comparison>,
    /// Prior probability that a blocked pair is a match.
    pub lambda: f64,
    /// Blocked pairs the model was trained on.
    pub trained_pairs: u64,
    /// Random pairs u was estimated from.
    pub sampled_pairs: u64,
    pub trained_at: String,
    /// The pairs the model was trained on (older models: the default).
    #[serde(default)]
    pub link_type: LinkType,
    /// How common each value was among the profiles the model was trained
    /// on, per comparison weighted by it (older models: none, and the
    /// weights come from the profiles of each run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub term_frequencies: Vec<TermFrequencies>,
}

/// The values of a comparison's field as the model saw them when trained.
/// Kept in the model (as Splink can be given term-frequency tables) so that
/// a pair agreeing on a value weighs the same in every run with the model,
/// whatever other records came since: otherwise each new record would move
/// the score of pairs it has no part in, and no run could add records
/// without scoring every pair again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermFrequencies {
    pub comparison: String,
    /// Profiles holding a value of the field.
    pub profiles: u64,
    /// Values held by one profile only, left out of `values`; a value
    /// the model never saw counts as one of these (it was that rare).
    pub once: u64,
    /// The values held by two profiles or more, and by how many.
    pub values: BTreeMap<String, u64>,
}

impl TermFrequencies {
    /// How many profiles held `value`: one for a value left out or unseen.
    fn count(&self, value: &str) -> u64 {
        self.values.get(value).copied().unwrap_or(1)
    }

    /// The sum of the squared shares of the values: the chance that two
    /// random profiles holding a value share it.
    fn same_value(&self) -> f64 {
        let present = (self.profiles as f64).max(1.0);
        let squares: f64 = self.values.values().map(|c| (*c as f64) * (*c as f64)).sum::<f64>() + self.once as f64;
        squares / (present * present)
    }
}

/// The profile field whose value comparison `f`'s term frequency weighs,
/// and the level it weighs: a place by its city, at the same-city level;
/// the others by their own value, when they agree exactly.
fn term_frequency_field(f: usize) -> (usize, usize) {
    if f == LOCATION {
        (CITY, usize::from(SAME_CITY))
    } else {
        (f, 1)
    }
}

/// The term frequencies of the comparisons in `tf_fields` (bits of
/// `names`' positions) over `profiles`, as a trained model keeps them.
pub fn term_frequencies(names: &[&str], profiles: &Profiles, tf_fields: u8) -> Vec<TermFrequencies> {
    (0..names.len().min(COMPARISONS))
        .filter(|f| tf_fields & (1 << f) != 0)
        .map(|f| {
            let (field, _) = term_frequency_field(f);
            let mut table = TermFrequencies {
                comparison: names[f].to_string(),
                profiles: 0,
                once: 0,
                values: BTreeMap::new(),
            };
            for (id, count) in profiles.counts[field].iter().enumerate().skip(1) {
                let count = u64::from(*count);
                table.profiles += count;
                match count {
                    0 => {}
                    1 => table.once += 1,
                    _ => {
                        table.values.insert(profiles.values[field][id].clone(), count);
                    }
                }
            }
            table
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub name: String,
    pub levels: Vec<Level>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Level {
    pub label: String,
    pub m: f64,
    pub u: f64,
    /// For `location`: u among pairs whose last names agree. Households
    /// share a surname and an address, so the two agreements are not
    /// independent among non-matches, and the product of their u would
    /// count a household as a near-certain match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u_if_last_name_agrees: Option<f64>,
}

impl Level {
    /// u of this level, given whether the pair's last names agree exactly.
    pub fn u_given(&self, last_name_agrees: bool) -> f64 {
        match (last_name_agrees, self.u_if_last_name_agrees) {
            (true, Some(u)) => u,
            _ => self.u,
        }
    }
}

/// The comparisons whose levels depend on one another (`compare::COMPARISONS` order).
pub const LAST_NAME: usize = 1;
pub const LOCATION: usize = 3;

/// Whether a pattern's last names agree exactly (first and last names
/// swapped count as agreeing, as they do for the last-name level).
pub fn last_name_agrees(pattern: Pattern) -> bool {
    level(pattern, LAST_NAME) == 1
}

/// Smallest probability a level may have: an unseen level is rare, not impossible.
const FLOOR: f64 = 1e-6;
const EM_ITERATIONS: usize = 100;
/// Pseudo-matches of the prior added to each EM step (a maximum a
/// posteriori estimate): a level no training pair reaches keeps a plausible
/// m instead of zero, and on real volumes the prior weighs nothing.
const PRIOR_WEIGHT: f64 = 20.0;
const EM_TOLERANCE: f64 = 1e-6;

/// m before training: matches mostly agree exactly, rarely not at all.
fn prior_m(field: usize) -> Vec<f64> {
    let n = level_count(field) - 1;
    let mut m: Vec<f64> = (0..n)
        .map(|i| if i == 0 { 0.8 } else { 0.2 / (n - 1) as f64 })
        .collect();
    m[n - 1] = m[n - 1].min(0.05);
    normalise(&mut m);
    m
}

fn normalise(p: &mut [f64]) {
    for x in p.iter_mut() {
        *x = x.max(FLOOR);
    }
    let total: f64 = p.iter().sum();
    for x in p.iter_mut() {
        *x /= total;
    }
}

/// Random pairs are drawn in this many jobs, each with its own seed, so the
/// sample does not depend on the number of cores.
const SAMPLE_JOBS: u64 = 16;

/// `n` pairs of profiles of different clusters, each drawn by `draw`
/// (None: try again), with their pattern over `active`, drawn in seeded jobs
/// so that the sample does not depend on the number of cores.
fn sample_pairs(
    profiles: &Profiles,
    active: u8,
    n: usize,
    seed: u64,
    draw: impl Fn(&mut ChaCha8Rng) -> Option<(u32, u32)> + Sync,
) -> Vec<(u32, u32, Pattern)> {
    let sampled = parallel::map(SAMPLE_JOBS as usize, |job| {
        let wanted = n / SAMPLE_JOBS as usize + usize::from(job < n % SAMPLE_JOBS as usize);
        let mut pairs = Vec::with_capacity(wanted);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(job as u64);
        let mut attempts = 0usize;
        while pairs.len() < wanted && attempts < wanted * 16 {
            attempts += 1;
            let Some((x, y)) = draw(&mut rng) else { continue };
            if profiles.root[x as usize] == profiles.root[y as usize] || !profiles.comparable(x, y) {
                continue;
            }
            pairs.push((x, y, compare(profiles, x, y, active)));
        }
        pairs
    });
    // Joined into one vector of the known size (collecting a flattened
    // iterator would grow it by copies).
    let mut pairs = Vec::with_capacity(sampled.iter().map(Vec::len).sum());
    for part in sampled {
        pairs.extend(part);
    }
    pairs
}

/// Level counts per comparison (null level included) of sampled pairs,
/// each counted with its weight.
fn count_levels(pairs: impl Iterator<Item = (Pattern, f64)>) -> Vec<Vec<f64>> {
    let mut counts: Vec<Vec<f64>> = (0..COMPARISONS).map(|f| vec![0.0; level_count(f)]).collect();
    for (pattern, weight) in pairs {
        for (f, c) in counts.iter_mut().enumerate() {
            c[level(pattern, f) as usize] += weight;
        }
    }
    counts
}

/// u from level counts: add-one smoothing over the non-null levels.
fn smoothed(counts: &[f64]) -> Vec<f64> {
    let mut u: Vec<f64> = counts[1..].iter().map(|x| x + 1.0).collect();
    normalise(&mut u);
    u
}

/// Uniform draws among the pairs a link type allows, without rejection
/// (two registries of 98 and 2 records allow 4% of all pairs): profiles
/// grouped by key and source, a pair of groups of one key drawn in
/// proportion to its allowed pairs, then a profile from each.
struct AllowedPairs {
    groups: Vec<Vec<u32>>,
    /// Group pairs (equal for pairs within one group) and cumulative counts.
    pairs: Vec<(usize, usize)>,
    cumulative: Vec<f64>,
}

impl AllowedPairs {
    /// Pairs of profiles with equal keys; `key` None leaves a profile out.
    fn new(profiles: &Profiles, key: impl Fn(u32) -> Option<u32>) -> Option<AllowedPairs> {
        let mut keyed: Vec<((u32, u32), u32)> = (0..profiles.len() as u32)
            .filter_map(|p| key(p).map(|k| ((k, profiles.source[p as usize]), p)))
            .collect();
        keyed.sort_unstable();
        let runs: Vec<&[((u32, u32), u32)]> = keyed.chunk_by(|a, b| a.0 == b.0).collect();
        let keys: Vec<u32> = runs.iter().map(|run| run[0].0.0).collect();
        let groups: Vec<Vec<u32>> = runs.iter().map(|run| run.iter().map(|(_, p)| *p).collect()).collect();
        let (mut pairs, mut cumulative, mut total) = (Vec::new(), Vec::new(), 0.0);
        for i in 0..groups.len() {
            for j in (i..groups.len()).take_while(|j| keys[*j] == keys[i]) {
                let (x, y) = (groups[i][0], groups[j][0]);
                if !profiles.comparable(x, y) {
                    continue;
                }
                let (ci, cj) = (groups[i].len() as f64, groups[j].len() as f64);
                let count = if i == j { ci * (ci - 1.0) / 2.0 } else { ci * cj };
                if count > 0.0 {
                    total += count;
                    pairs.push((i, j));
                    cumulative.push(total);
                }
            }
        }
        (total > 0.0).then_some(AllowedPairs {
            groups,
            pairs,
            cumulative,
        })
    }

    /// Every allowed pair.
    fn every(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::with_capacity(self.total() as usize);
        for &(i, j) in &self.pairs {
            let (gi, gj) = (&self.groups[i], &self.groups[j]);
            if i == j {
                for (k, &x) in gi.iter().enumerate() {
                    out.extend(gi[k + 1..].iter().map(|&y| (x, y)));
                }
            } else {
                for &x in gi {
                    out.extend(gj.iter().map(|&y| (x, y)));
                }
            }
        }
        out
    }

    /// How many pairs are allowed.
    fn total(&self) -> f64 {
        *self.cumulative.last().expect("some allowed pair")
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> Option<(u32, u32)> {
        let total = self.total();
        let at = rng.random_range(0.0..total);
        let (i, j) = self.pairs[self.cumulative.partition_point(|c| *c <= at).min(self.pairs.len() - 1)];
        let (gi, gj) = (&self.groups[i], &self.groups[j]);
        let (x, y) = (gi[rng.random_range(0..gi.len())], gj[rng.random_range(0..gj.len())]);
        (x != y).then_some((x, y))
    }
}

/// Every pair of `pairs` whose profiles are of different clusters and
/// comparable, with its pattern over `active`: where there are no more pairs
/// than would be drawn, all of them, which estimates better than draws
/// (that repeat some and miss others) and costs less.
fn every_pair(profiles: &Profiles, active: u8, pairs: Vec<(u32, u32)>) -> Vec<(u32, u32, Pattern)> {
    let kept: Vec<(u32, u32)> = pairs
        .into_iter()
        .filter(|&(x, y)| profiles.root[x as usize] != profiles.root[y as usize] && profiles.comparable(x, y))
        .collect();
    parallel::map_items(&kept, |&(x, y)| (x, y, compare(profiles, x, y, active)))
}

/// `n` random pairs of profiles of different clusters, among the pairs the
/// link type allows, with their pattern over `active`; every such pair
/// where there are no more than `n`.
pub fn random_pairs(profiles: &Profiles, active: u8, n: usize, seed: u64) -> Vec<(u32, u32, Pattern)> {
    let len = profiles.len();
    if (profiles.comparable_pairs(0..len as u32) as usize) <= n {
        let all = match profiles.link_type {
            LinkType::LinkAndDedupe => (0..len as u32)
                .flat_map(|x| (x + 1..len as u32).map(move |y| (x, y)))
                .collect(),
            _ => AllowedPairs::new(profiles, |_| Some(0)).map_or_else(Vec::new, |a| a.every()),
        };
        return every_pair(profiles, active, all);
    }
    if len < 2 {
        Vec::new()
    } else if profiles.link_type == LinkType::LinkAndDedupe {
        let draw = |rng: &mut ChaCha8Rng| {
            let (x, y) = (rng.random_range(0..len) as u32, rng.random_range(0..len) as u32);
            (x != y).then_some((x, y))
        };
        sample_pairs(profiles, active, n, seed, draw)
    } else if let Some(allowed) = AllowedPairs::new(profiles, |_| Some(0)) {
        sample_pairs(profiles, active, n, seed, |rng| allowed.draw(rng))
    } else {
        Vec::new()
    }
}

/// u per field and level from random `pairs`, each weighted by
/// `non_match`, the chance that it is not a match. Random pairs hold the
/// matches too, one in 1/lambda: on data dense with duplicates, counted as
/// non-matches, they make agreement look common among different people
/// (on a register where half the records are duplicates, a shared address
/// seemed to happen once in 1,300 random pairs when no two different
/// people share one).
pub fn u_of(pairs: &[(u32, u32, Pattern)], non_match: impl Fn(u32, u32, Pattern) -> f64 + Sync) -> Vec<Vec<f64>> {
    // Counted in parallel chunks (a million pairs, each scored), then summed.
    let chunk = pairs.len().div_ceil(SAMPLE_JOBS as usize).max(1);
    let parts = parallel::map(pairs.len().div_ceil(chunk), |job| {
        let part = &pairs[job * chunk..((job + 1) * chunk).min(pairs.len())];
        count_levels(part.iter().map(|&(x, y, p)| (p, non_match(x, y, p))))
    });
    let mut counts: Vec<Vec<f64>> = (0..COMPARISONS).map(|f| vec![0.0; level_count(f)]).collect();
    for part in parts {
        for (total, c) in counts.iter_mut().zip(part) {
            total.iter_mut().zip(c).for_each(|(t, x)| *t += x);
        }
    }
    counts.iter().map(|c| smoothed(c)).collect()
}

/// `n` random pairs of profiles (of different clusters) whose last names
/// are equal (every such pair where there are no more than `n`), with their
/// pattern over `active`: pairs drawn uniformly from all such pairs the link
/// type allows, in seeded jobs like `random_pairs`. Empty when no two
/// profiles share a last name.
pub fn same_last_pairs(profiles: &Profiles, active: u8, n: usize, seed: u64) -> Vec<(u32, u32, Pattern)> {
    let last_name = |p: u32| match profiles.fields[p as usize][LAST] {
        0 => None,
        id => Some(id),
    };
    let Some(allowed) = AllowedPairs::new(profiles, last_name) else {
        return Vec::new();
    };
    if allowed.total() <= n as f64 {
        return every_pair(profiles, active, allowed.every());
    }
    sample_pairs(profiles, active, n, seed, |rng| allowed.draw(rng))
}

/// Location's level counts (null level included) of `pairs`, each counted
/// with its weight.
pub fn location_levels(pairs: impl Iterator<Item = (Pattern, f64)>) -> Vec<f64> {
    count_levels(pairs).swap_remove(LOCATION)
}

/// Takes from `seen` (location's level counts of the same-surname pairs
/// whose person comparisons all differ) the duplicates expected among them:
/// `agreeing` holds the duplicates counted among the other judgeable pairs
/// (by match probability), and a duplicate's person comparisons all differ
/// with probability `all_differ`, so for each of those about
/// `all_differ / (1 - all_differ)` such duplicates were seen. What is left
/// counts as households only beyond the chance variation of that expected
/// number (two standard deviations of a Poisson count), so the correction
/// fires where the data shows households, not where duplicates happened to
/// come out one or two above their expectation.
pub fn less_duplicates(seen: &mut [f64], agreeing: &[f64], all_differ: f64) {
    if all_differ >= 1.0 {
        return;
    }
    let odds = all_differ / (1.0 - all_differ);
    for (count, duplicates) in seen.iter_mut().zip(agreeing) {
        let expected = duplicates * odds;
        *count = (*count - expected - 2.0 * expected.sqrt()).max(0.0);
    }
}

/// u of each location level among same-surname pairs of different people
/// (`same_last_pairs`, counted by location level in `seen`, null level
/// included): on data dense with duplicates many same-surname pairs are one
/// person, and counting them would make agreeing addresses look common
/// among non-matches, so the caller counts only those it takes for
/// different people. Smoothed towards `prior` (location's u among all
/// pairs), a pseudo-count of as many pairs as levels spread as the prior:
/// where few same-surname pairs of different people are seen, a surname
/// says little about the address, and an address no such pair shared is
/// not made common by a uniform pseudo-count. And no agreeing level is less
/// likely than among all pairs (before the levels are normalised to sum to
/// one): a shared surname never makes a shared place rarer, while the pairs
/// the caller can judge may lack a level altogether (those judged need a
/// date of birth, which guest orders without an address line do not have).
/// None when no pair is left with a location to compare.
pub fn location_u(seen: &[f64], prior: &[f64]) -> Option<Vec<f64>> {
    let total: f64 = seen[1..].iter().sum();
    let weight = prior.len() as f64;
    let disagreeing = prior.len() - 1;
    (total > 0.0).then(|| {
        let mut u: Vec<f64> = seen[1..]
            .iter()
            .zip(prior)
            .enumerate()
            .map(|(l, (c, p))| {
                let smoothed = (c + weight * p) / (total + weight);
                if l < disagreeing { smoothed.max(*p) } else { smoothed }
            })
            .collect();
        normalise(&mut u);
        u
    })
}

/// One EM run on the pattern counts of one blocking rule; `fixed` fields
/// are left out. Returns m per field (for the estimated fields) and lambda.
/// `u_same_last`, when given, is location's u for patterns whose last names
/// agree, as in scoring.
pub fn em(
    patterns: &HashMap<Pattern, u64>,
    u: &[Vec<f64>],
    u_same_last: Option<&Vec<f64>>,
    fields: u8,
    fixed: u8,
) -> (Vec<Option<Vec<f64>>>, f64) {
    let free: Vec<usize> = (0..COMPARISONS)
        .filter(|f| fields & (1 << f) != 0 && fixed & (1 << f) == 0)
        .collect();
    let mut m: Vec<Vec<f64>> = (0..COMPARISONS).map(prior_m).collect();
    let mut lambda = 0.1;
    // In pattern order: sums in the map's (per-process) order would make
    // retrained models differ in their last bits from run to run.
    let mut patterns: Vec<(Pattern, u64)> = patterns.iter().map(|(p, c)| (*p, *c)).collect();
    patterns.sort_unstable();
    let total: f64 = patterns.iter().map(|(_, c)| *c as f64).sum();
    if total == 0.0 || free.is_empty() {
        return ((0..COMPARISONS).map(|_| None).collect(), lambda);
    }
    for _ in 0..EM_ITERATIONS {
        let mut matched: Vec<Vec<f64>> = (0..COMPARISONS).map(|f| vec![0.0; level_count(f) - 1]).collect();
        let mut matches = 0.0;
        for &(pattern, count) in &patterns {
            let (mut pm, mut pu) = (lambda, 1.0 - lambda);
            let same_last = u_same_last.filter(|_| last_name_agrees(pattern));
            for &f in &free {
                let l = level(pattern, f) as usize;
                if l != 0 {
                    pm *= m[f][l - 1];
                    pu *= match same_last {
                        Some(cond) if f == LOCATION => cond[l - 1],
                        _ => u[f][l - 1],
                    };
                }
            }
            let p = pm / (pm + pu);
            let weight = p * count as f64;
            matches += weight;
            for &f in &free {
                let l = level(pattern, f) as usize;
                if l != 0 {
                    matched[f][l - 1] += weight;
                }
            }
        }
        let mut change: f64 = (matches / total - lambda).abs();
        lambda = (matches / total).clamp(FLOOR, 1.0 - FLOOR);
        for &f in &free {
            let prior = prior_m(f);
            let mut next: Vec<f64> = matched[f]
                .iter()
                .zip(&prior)
                .map(|(x, p)| x + PRIOR_WEIGHT * p)
                .collect();
            {
                normalise(&mut next);
                change = change.max(next.iter().zip(&m[f]).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max));
                m[f] = next;
            }
        }
        if change < EM_TOLERANCE {
            break;
        }
    }
    let out = (0..COMPARISONS)
        .map(|f| free.contains(&f).then(|| m[f].clone()))
        .collect();
    (out, lambda)
}

impl Model {
    /// m of the last level ("different") of comparison `name`; 1 where the
    /// model does not compare it.
    pub fn m_of_different(&self, name: &str) -> f64 {
        self.comparisons
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.levels.last())
            .map_or(1.0, |l| l.m)
    }

    /// Puts the estimates together: m averaged over the rules that estimated
    /// it (the prior where none did).
    #[allow(clippy::too_many_arguments)]
    pub fn assemble(
        names: &[&str],
        fields: u8,
        u: &[Vec<f64>],
        u_same_last: Option<&Vec<f64>>,
        runs: &[Vec<Option<Vec<f64>>>],
        lambda: f64,
        trained_pairs: u64,
        sampled_pairs: u64,
    ) -> Model {
        let mut comparisons = Vec::new();
        for (f, name) in names.iter().enumerate() {
            if fields & (1 << f) == 0 {
                continue;
            }
            let estimates: Vec<&Vec<f64>> = runs.iter().filter_map(|r| r[f].as_ref()).collect();
            let m: Vec<f64> = if estimates.is_empty() {
                prior_m(f)
            } else {
                (0..level_count(f) - 1)
                    .map(|l| estimates.iter().map(|e| e[l]).sum::<f64>() / estimates.len() as f64)
                    .collect()
            };
            comparisons.push(Comparison {
                name: name.to_string(),
                levels: labels(f)
                    .iter()
                    .zip(m.iter().zip(&u[f]))
                    .enumerate()
                    .map(|(l, (label, (m, u)))| Level {
                        label: label.to_string(),
                        m: *m,
                        u: *u,
                        u_if_last_name_agrees: (f == LOCATION).then(|| u_same_last.map(|cond| cond[l])).flatten(),
                    })
                    .collect(),
            });
        }
        Model {
            comparisons,
            lambda,
            trained_pairs,
            sampled_pairs,
            trained_at: chrono::Utc::now().to_rfc3339(),
            link_type: LinkType::default(),
            term_frequencies: Vec::new(),
        }
    }
}

/// Per value id of a field, its share of the profiles holding a value as
/// the model was trained (`values` are the field's texts by id; id 0 is
/// missing), and the sum of the squared shares then.
fn shares_as_trained(table: &TermFrequencies, values: &[String]) -> (Vec<f64>, f64) {
    let present = (table.profiles as f64).max(1.0);
    let shares = values
        .iter()
        .enumerate()
        .map(|(id, v)| if id == 0 { 0.0 } else { table.count(v) as f64 / present })
        .collect();
    (shares, table.same_value())
}

/// Per value id of a field, its share of the profiles holding a value
/// now (`counts` by id), and the sum of the squared shares: how a model
/// without term frequencies of its own weighs values.
fn shares_now(counts: &[u32]) -> (Vec<f64>, f64) {
    let present: f64 = counts[1..].iter().map(|c| *c as f64).sum();
    let shares: Vec<f64> = counts.iter().map(|c| *c as f64 / present.max(1.0)).collect();
    let same_value = shares[1..].iter().map(|s| s * s).sum();
    (shares, same_value)
}

/// A trained model laid out for scoring: log2 Bayes factors per field and level.
pub struct Scorer {
    prior: f64,
    /// Per field: None when not compared, else log2(m/u) per level (null excluded).
    weights: Vec<Option<Vec<f64>>>,
    /// Location's weights when the last names agree (`Level::u_if_last_name_agrees`).
    location_same_last: Option<Vec<f64>>,
    /// Per comparison with term-frequency adjustment, its weighted level.
    term_frequency: Vec<Option<TermFrequency>>,
}

/// A level weighted by how common the value the two profiles share is
/// (Splink's term-frequency adjustment): u is the value's share of the
/// profiles instead of the level's average.
struct TermFrequency {
    /// The level: exact for a name or date, `SAME_CITY` for the location.
    level: usize,
    /// The profile field holding the value.
    field: usize,
    /// log2 of the level's m.
    log_m: f64,
    /// The share of profiles holding each value id of `field`: u of the
    /// level for a pair sharing that value (for the location, times the
    /// chance that two places in one city are at the level).
    shares: Vec<f64>,
}

impl Scorer {
    pub fn new(model: &Model, names: &[&str], profiles: &Profiles, tf_fields: u8) -> Scorer {
        let mut weights: Vec<Option<Vec<f64>>> = vec![None; COMPARISONS];
        let mut location_same_last = None;
        let mut term_frequency: Vec<Option<TermFrequency>> = (0..COMPARISONS).map(|_| None).collect();
        for comparison in &model.comparisons {
            let Some(f) = names.iter().position(|n| *n == comparison.name) else {
                continue;
            };
            weights[f] = Some(
                comparison
                    .levels
                    .iter()
                    .map(|l| (l.m.max(FLOOR) / l.u.max(FLOOR)).log2())
                    .collect(),
            );
            if f == LOCATION && comparison.levels.iter().all(|l| l.u_if_last_name_agrees.is_some()) {
                location_same_last = Some(
                    comparison
                        .levels
                        .iter()
                        .map(|l| (l.m.max(FLOOR) / l.u_given(true).max(FLOOR)).log2())
                        .collect(),
                );
            }
            if tf_fields & (1 << f) != 0 {
                let (field, level) = term_frequency_field(f);
                let frozen = model.term_frequencies.iter().find(|t| t.comparison == comparison.name);
                let (mut shares, same_value) = match frozen {
                    Some(table) => shares_as_trained(table, &profiles.values[field]),
                    None => shares_now(&profiles.counts[field]),
                };
                if f == LOCATION {
                    // Two places in one city reach this level only where
                    // nothing closer agrees (another postcode, mostly): u
                    // of a city is its share times that chance, which is
                    // the level's u over the chance that two random
                    // profiles share a city (the sum of squared shares).
                    let scale = comparison.levels[level - 1].u / same_value.max(FLOOR);
                    shares.iter_mut().for_each(|s| *s *= scale);
                }
                term_frequency[f] = Some(TermFrequency {
                    level,
                    field,
                    log_m: comparison.levels[level - 1].m.max(FLOOR).log2(),
                    shares,
                });
            }
        }
        Scorer {
            prior: (model.lambda / (1.0 - model.lambda)).log2(),
            weights,
            location_same_last,
            term_frequency,
        }
    }

    /// The match probability of the pair `x`, `y` with `pattern`.
    pub fn probability(&self, profiles: &Profiles, x: u32, y: u32, pattern: Pattern) -> f64 {
        let mut weight = self.prior;
        for f in 0..COMPARISONS {
            let Some(general) = self.weights[f].as_ref() else {
                continue;
            };
            let mut w = general;
            if f == LOCATION
                && last_name_agrees(pattern)
                && let Some(same_last) = &self.location_same_last
            {
                w = same_last;
            }
            let l = level(pattern, f) as usize;
            if l == 0 {
                continue;
            }
            weight += match &self.term_frequency[f] {
                // Agreement on a value: as strong as the value is rare.
                // Names agreeing across (swapped) are two values of this
                // field: the commoner speaks. What a shared surname changes
                // (the household correction) is kept: the weights' difference.
                Some(tf) if tf.level == l => {
                    let share_of = |p: u32| tf.shares[profiles.fields[p as usize][tf.field] as usize];
                    let share = share_of(x).max(share_of(y));
                    tf.log_m - share.max(FLOOR).log2() + (w[l - 1] - general[l - 1])
                }
                _ => w[l - 1],
            };
        }
        1.0 / (1.0 + (-weight).exp2())
    }
}

#[cfg(test)]
mod tests {
    use super::super::compare::at_level;
    use super::*;

    /// u per field and level from `n` random pairs of profiles of different
    /// clusters, among the pairs the link type allows, all counted as non-matches.
    fn estimate_u(profiles: &Profiles, active: u8, n: usize, seed: u64) -> (Vec<Vec<f64>>, u64) {
        let pairs = random_pairs(profiles, active, n, seed);
        (u_of(&pairs, |_, _, _| 1.0), pairs.len() as u64)
    }

    /// u of each location level among random same-surname pairs, all counted,
    /// against location's u among all random pairs.
    fn estimate_location_u_same_last(profiles: &Profiles, n: usize, seed: u64) -> Option<Vec<f64>> {
        let (u, _) = estimate_u(profiles, 1 << LOCATION, n, seed);
        let pairs = same_last_pairs(profiles, 1 << LOCATION, n, seed);
        location_u(&location_levels(pairs.iter().map(|p| (p.2, 1.0))), &u[LOCATION])
    }

    /// Draws a level (1-based) from a distribution over the non-null levels.
    fn draw_level(rng: &mut ChaCha8Rng, p: &[f64]) -> u8 {
        let mut at: f64 = rng.random_range(0.0..1.0);
        for (i, q) in p.iter().enumerate() {
            if at < *q {
                return i as u8 + 1;
            }
            at -= q;
        }
        p.len() as u8
    }

    /// Two places in one city are weighted by the city's share of the
    /// profiles (scaled to the level's u): against 8 profiles in London and
    /// 2 in Little Snoring, the
    /// rare city's pair weighs log2(share of London / share of Little
    /// Snoring) = 2 bits more; without term frequencies both weigh the
    /// level's m/u; a shared surname still changes the weight by its u.
    #[test]
    fn a_rare_city_says_more_than_a_common_one() {
        use super::super::profiles::{FIELDS, POSTCODE, of_texts};
        let rows: Vec<[Option<&str>; FIELDS]> = (0..10)
            .map(|i| {
                let mut texts = [None; FIELDS];
                texts[CITY] = Some(if i < 8 { "london" } else { "little snoring" });
                texts[POSTCODE] = Some(
                    [
                        "1001", "2002", "3003", "4004", "5005", "6006", "7007", "8008", "9009", "0100",
                    ][i],
                );
                texts
            })
            .collect();
        let profiles = of_texts(&rows);
        let levels = labels(LOCATION)
            .iter()
            .map(|label| Level {
                label: label.to_string(),
                m: 0.1,
                u: 0.1,
                u_if_last_name_agrees: Some(0.4),
            })
            .collect();
        let model = Model {
            comparisons: vec![Comparison {
                name: "location".into(),
                levels,
            }],
            lambda: 0.5,
            trained_pairs: 0,
            sampled_pairs: 0,
            trained_at: String::new(),
            link_type: LinkType::LinkAndDedupe,
            term_frequencies: Vec::new(),
        };
        let pattern = at_level(LOCATION, SAME_CITY);
        assert_eq!(compare(&profiles, 0, 1, 1 << LOCATION), pattern);
        assert_eq!(compare(&profiles, 8, 9, 1 << LOCATION), pattern);
        let names = crate::project::identity::COMPARISONS;
        let bits = |p: f64| (p / (1.0 - p)).log2();
        let tf = Scorer::new(&model, names, &profiles, 1 << LOCATION);
        let (common, rare) = (
            bits(tf.probability(&profiles, 0, 1, pattern)),
            bits(tf.probability(&profiles, 8, 9, pattern)),
        );
        // u = the share times the chance that two places of one city are at
        // this level, the level's u over the chance they share a city:
        // 0.8 and 0.2, times 0.1 / (0.8² + 0.2²).
        let scale = 0.1 / 0.68;
        assert!((common - (0.1f64 / (0.8 * scale)).log2()).abs() < 1e-9, "{common}");
        assert!((rare - common - 2.0).abs() < 1e-9, "{common} {rare}");
        let plain = Scorer::new(&model, names, &profiles, 0);
        assert!(bits(plain.probability(&profiles, 0, 1, pattern)).abs() < 1e-9);
        assert!(bits(plain.probability(&profiles, 8, 9, pattern)).abs() < 1e-9);
        // A shared surname makes the place 4 times commoner among different
        // people: 2 bits less, with term frequencies too.
        let same_last = pattern | at_level(LAST_NAME, 1);
        let household = bits(tf.probability(&profiles, 8, 9, same_last));
        assert!((rare - household - 2.0).abs() < 1e-9, "{rare} {household}");
    }

    /// A model keeps the term frequencies of the profiles it was trained
    /// on: over those profiles it weighs every pair as counting them then
    /// would (last names, and cities at the same-city level), and once
    /// other profiles come, pairs they have no part in weigh what they did,
    /// while a model without them moves; a value it never saw counts as
    /// held by one profile.
    #[test]
    fn kept_term_frequencies_weigh_as_trained_whatever_comes_after() {
        use super::super::profiles::{FIELDS, POSTCODE, of_texts};
        let row = |last: &'static str, city: &'static str, postcode: &'static str| {
            let mut texts = [None; FIELDS];
            texts[LAST] = Some(last);
            texts[CITY] = Some(city);
            texts[POSTCODE] = Some(postcode);
            texts
        };
        let trained: Vec<[Option<&str>; FIELDS]> = vec![
            row("neal", "london", "1001"),
            row("neal", "london", "2002"),
            row("smith", "london", "3003"),
            row("smith", "leeds", "4004"),
            row("jones", "leeds", "5005"),
            row("okafor", "york", "6006"),
        ];
        let names = crate::project::identity::COMPARISONS;
        let fields = (1 << LAST_NAME) | (1 << LOCATION);
        let level_of = |label: &str| Level {
            label: label.to_string(),
            m: 0.3,
            u: 0.05,
            u_if_last_name_agrees: None,
        };
        let mut model = Model {
            comparisons: [LAST_NAME, LOCATION]
                .iter()
                .map(|&f| Comparison {
                    name: names[f].to_string(),
                    levels: labels(f).iter().map(|l| level_of(l)).collect(),
                })
                .collect(),
            lambda: 0.01,
            trained_pairs: 0,
            sampled_pairs: 0,
            trained_at: String::new(),
            link_type: LinkType::LinkAndDedupe,
            term_frequencies: Vec::new(),
        };
        let before = of_texts(&trained);
        let mut kept = model.clone();
        kept.term_frequencies = term_frequencies(names, &before, fields);
        let london = &kept.term_frequencies[1];
        assert_eq!(
            (london.comparison.as_str(), london.profiles, london.once),
            ("location", 6, 1)
        );
        assert_eq!(london.values.get("london"), Some(&3));
        assert_eq!(kept.term_frequencies[0].values.get("okafor"), None);

        let every_pair = |profiles: &Profiles, scorer: &Scorer| -> Vec<f64> {
            let n = trained.len() as u32;
            (0..n)
                .flat_map(|x| (x + 1..n).map(move |y| (x, y)))
                .map(|(x, y)| scorer.probability(profiles, x, y, compare(profiles, x, y, fields)))
                .collect()
        };
        let as_trained = every_pair(&before, &Scorer::new(&model, names, &before, fields));
        let kept_now = every_pair(&before, &Scorer::new(&kept, names, &before, fields));
        for (a, b) in as_trained.iter().zip(&kept_now) {
            assert!((a - b).abs() < 1e-12, "{a} {b}");
        }

        // More Neals, Londoners and a new city: the old pairs hold still.
        let mut grown = trained.clone();
        grown.extend([
            row("neal", "london", "7007"),
            row("neal", "london", "8008"),
            row("brown", "bath", "9009"),
            row("green", "bath", "9119"),
        ]);
        let after = of_texts(&grown);
        let kept_after = every_pair(&after, &Scorer::new(&kept, names, &after, fields));
        assert_eq!(kept_after, kept_now);
        let moved = every_pair(&after, &Scorer::new(&model, names, &after, fields));
        assert!(moved.iter().zip(&as_trained).any(|(a, b)| (a - b).abs() > 1e-6));

        // Bath was never seen: a pair there weighs as a city held by one
        // profile, as York was.
        let (bath, york) = (8u32, 5u32);
        let pattern = compare(&after, bath, bath + 1, fields);
        assert_eq!(level(pattern, LOCATION), SAME_CITY);
        let scorer = Scorer::new(&kept, names, &after, fields);
        let tf = scorer.term_frequency[LOCATION].as_ref().unwrap();
        let share_of = |p: u32| tf.shares[after.fields[p as usize][CITY] as usize];
        assert!((share_of(bath) - share_of(york)).abs() < 1e-15);
        model.term_frequencies = kept.term_frequencies.clone();
        let text = serde_json::to_string(&model).unwrap();
        let back: Model = serde_json::from_str(&text).unwrap();
        assert_eq!(back.term_frequencies, kept.term_frequencies);
    }

    /// EM, given u (which training estimates separately, from random
    /// pairs), recovers m and lambda from unlabelled pairs simulated from
    /// known parameters: every m within 0.01 and lambda within 0.002 from
    /// 400,000 pairs with 8% matches and a tenth of values missing.
    #[test]
    fn em_recovers_every_level_of_all_four_comparisons() {
        let m_true: Vec<Vec<f64>> = vec![
            vec![0.78, 0.04, 0.08, 0.02, 0.02, 0.02, 0.04],
            vec![0.73, 0.12, 0.02, 0.02, 0.04, 0.07],
            vec![0.83, 0.02, 0.05, 0.02, 0.03, 0.01, 0.04],
            vec![0.68, 0.03, 0.02, 0.02, 0.08, 0.03, 0.04, 0.03, 0.03, 0.04],
        ];
        let u: Vec<Vec<f64>> = vec![
            vec![0.010, 0.002, 0.004, 0.002, 0.003, 0.004, 0.975],
            vec![0.005, 0.003, 0.002, 0.002, 0.010, 0.978],
            vec![0.002, 0.0005, 0.002, 0.010, 0.030, 0.060, 0.8955],
            vec![0.001, 0.002, 0.002, 0.001, 0.004, 0.008, 0.012, 0.005, 0.200, 0.765],
        ];
        for (f, (m, u)) in m_true.iter().zip(&u).enumerate() {
            assert_eq!(m.len(), level_count(f) - 1, "comparison {f}");
            assert!((m.iter().sum::<f64>() - 1.0).abs() < 1e-9 && (u.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        let (lambda_true, pairs) = (0.08, 400_000);
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut patterns: HashMap<Pattern, u64> = HashMap::new();
        for _ in 0..pairs {
            let is_match = rng.random_range(0.0..1.0) < lambda_true;
            let mut pattern = 0;
            for f in 0..COMPARISONS {
                let missing = rng.random_range(0.0..1.0) < 0.1;
                let p = if is_match { &m_true[f] } else { &u[f] };
                let level = if missing { 0 } else { draw_level(&mut rng, p) };
                pattern |= at_level(f, level);
            }
            *patterns.entry(pattern).or_default() += 1;
        }
        let (m, lambda) = em(&patterns, &u, None, 0b1111, 0);
        assert!((lambda - lambda_true).abs() < 0.002, "lambda {lambda}");
        for f in 0..COMPARISONS {
            let m = m[f].as_ref().expect("every comparison is free");
            for (l, (got, want)) in m.iter().zip(&m_true[f]).enumerate() {
                assert!(
                    (got - want).abs() < 0.01,
                    "comparison {f} level {l}: m {got} against {want}"
                );
            }
        }
    }

    /// Same-surname pairs that are one person (duplicates at one address,
    /// some with another given name, some with another date of birth) are
    /// left out of the household estimate, and so are pairs that cannot be
    /// judged (no date of birth): what stays is the share of different
    /// people who share an address.
    #[test]
    fn duplicates_do_not_count_as_households() {
        use super::super::compare::differs_on_person;
        let (first, date) = (0, 2);
        let at = |first_level: u8, date_level: u8, location: u8| {
            at_level(first, first_level) | at_level(date, date_level) | at_level(LOCATION, location)
        };
        // Each comparison's last level is "different".
        let [first_differs, date_differs, elsewhere] = [first, date, LOCATION].map(|c| labels(c).len() as u8);
        let (d, f) = (date_differs, first_differs);
        // At one address (level 1): 60 duplicates with their given name, 40
        // with their date of birth, 30 without a date of birth, 5 households;
        // 895 different people elsewhere.
        let mut pairs: Vec<(u32, u32, Pattern)> = (0..60).map(|i| (i, i + 1, at(1, d, 1))).collect();
        pairs.extend((0..40).map(|i| (100 + i, 200 + i, at(f, 1, 1))));
        pairs.extend((0..30).map(|i| (300 + i, 400 + i, at(f, 0, 1))));
        pairs.extend((0..5).map(|i| (1000 + i, 2000 + i, at(f, d, 1))));
        pairs.extend((0..895).map(|i| (3000 + i, 4000 + i, at(f, d, elsewhere))));
        // Location's u among all pairs, which the estimate is drawn towards.
        let prior = [
            0.0001, 0.0001, 0.0001, 0.0001, 0.0007, 0.0040, 0.0049, 0.0001, 0.0001, 0.9898,
        ];
        assert_eq!(prior.len(), level_count(LOCATION) - 1);
        let counted = |keep: &dyn Fn(Pattern) -> bool| {
            let seen = location_levels(pairs.iter().filter(|p| keep(p.2)).map(|p| (p.2, 1.0)));
            location_u(&seen, &prior).unwrap()
        };
        let all = counted(&|_| true);
        let people = 1 << first | 1 << date | 1 << LOCATION;
        let without = counted(&|p| differs_on_person(p, people));
        // (count + 10 × prior) / (pairs + 10), one pair's weight per level; the
        // levels raised to the prior (below) take about 1% from the others.
        let near = |got: f64, want: f64| (got - want).abs() < 0.015 * want;
        assert!(near(all[0], (135.0 + 0.001) / 1040.0), "{all:?}");
        assert!(near(without[0], (5.0 + 0.001) / 910.0), "{without:?}");
        // Without dates of birth compared, the given name alone decides.
        let by_name = counted(&|p| differs_on_person(p, 1 << first | 1 << LOCATION));
        assert!(near(by_name[0], (75.0 + 0.001) / 980.0), "{by_name:?}");
        // A level no judged pair reached is as likely as among all pairs, not less.
        assert!(
            near(without[4], 0.0007) && near(without[5], 0.0040) && near(without[6], 0.0049),
            "{without:?}"
        );
    }

    /// Same-surname pairs simulated from known parameters: 20,000
    /// duplicates (80% at one address), whose given name and date of birth
    /// both differ in 1 in 50, and 50,000 pairs of different people, 400 of
    /// them households at one address. What is left at the shared address
    /// after the expected duplicates are taken is the households less the
    /// margin of two standard deviations of the expected count (about 320
    /// duplicates whose person comparisons both differ, so 2 × 17.9), within
    /// sampling error (a binomial's standard deviation of those 320 is 18).
    /// Without households, nothing is left.
    #[test]
    fn the_expected_duplicates_are_taken_from_the_household_count() {
        let (all_differ, at_address) = (0.02, 0.8);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Location counts, null level first: 1 the same address, the last different.
        let elsewhere = level_count(LOCATION) - 1;
        let (mut judged, mut agreeing) = (vec![0.0; elsewhere + 1], vec![0.0; elsewhere + 1]);
        for _ in 0..20_000 {
            let level = if rng.random::<f64>() < at_address { 1 } else { elsewhere };
            if rng.random::<f64>() < all_differ {
                judged[level] += 1.0;
            } else {
                agreeing[level] += 1.0; // scored as a match with certainty
            }
        }
        let duplicates_only = judged.clone();
        judged[1] += 400.0;
        judged[elsewhere] += 50_000.0 - 400.0;
        let before = judged[1];
        let margin = 2.0 * (agreeing[1] * all_differ / (1.0 - all_differ)).sqrt();
        less_duplicates(&mut judged, &agreeing, all_differ);
        assert!(before > 700.0, "{before}");
        assert!(
            (judged[1] - (400.0 - margin)).abs() < 3.0 * 18.0,
            "households left {}",
            judged[1]
        );
        // The duplicates alone (one draw of them) leave no household behind.
        let mut alone = duplicates_only;
        less_duplicates(&mut alone, &agreeing, all_differ);
        assert_eq!(alone[1], 0.0, "{alone:?}");
        // Never below zero: where duplicates explain everything, nothing is left.
        let mut none = vec![0.0, 2.0, 0.0, 10.0];
        less_duplicates(&mut none, &[0.0, 400.0, 0.0, 0.0], all_differ);
        assert_eq!(none[1], 0.0);
        assert_eq!(none[3], 10.0);
    }

    /// Households: profiles 2k and 2k+1 share a last name and a postcode.
    /// Among pairs of equal last names, a shared postcode is far more
    /// common than among random pairs, and the estimate says so.
    #[test]
    fn location_u_is_higher_among_pairs_of_equal_last_names() {
        use super::super::profiles::{FIELDS, POSTCODE};
        let n = 4000u32;
        let lasts = 40u32;
        let mut values: Vec<Vec<String>> = (0..FIELDS).map(|_| vec![String::new()]).collect();
        values[LAST].extend((0..lasts).map(|i| format!("surname{i}")));
        values[POSTCODE].extend((0..n / 2).map(|h| format!("{h:05}")));
        let fields: Vec<[u32; FIELDS]> = (0..n)
            .map(|i| {
                let household = i / 2;
                let mut f = [0u32; FIELDS];
                f[LAST] = 1 + household % lasts;
                f[POSTCODE] = 1 + household;
                f
            })
            .collect();
        let profiles = Profiles {
            root: (0..n).collect(),
            record: (0..n).collect(),
            second: (0..n).collect(),
            fields,
            values,
            counts: Vec::new(),
            nicknames: vec![None],
            sounds: [Vec::new(), Vec::new()],
            letters: [Vec::new(), Vec::new(), Vec::new()],
            source: vec![0; n as usize],
            link_type: LinkType::LinkAndDedupe,
        };
        let same_postcode = 3; // `same_postcode_no_address`, the null level left out
        let (u, _) = estimate_u(&profiles, 1 << LOCATION, 200_000, 1);
        let given = estimate_location_u_same_last(&profiles, 200_000, 1).unwrap();
        // Exactly: 2000 household pairs of 8.0M pairs overall, of 0.2M pairs
        // with one last name (40 names of 100 profiles).
        let (overall, same_last) = (2000.0 / 7_998_000.0, 2000.0 / (40.0 * 4950.0));
        assert!((u[LOCATION][same_postcode] - overall).abs() < 4.0 * overall, "{u:?}");
        assert!((given[same_postcode] - same_last).abs() < 0.15 * same_last, "{given:?}");
    }

    /// Under `link_only`, two registries of 980 and 20 profiles allow 4% of
    /// all pairs: u is still drawn from as many pairs as asked (or from all of
    /// them where there are fewer), every one across the registries, for the
    /// location given equal last names too.
    #[test]
    fn u_is_drawn_among_the_pairs_the_link_type_allows() {
        use super::super::profiles::{FIELDS, POSTCODE};
        let n = 1000u32;
        let mut values: Vec<Vec<String>> = (0..FIELDS).map(|_| vec![String::new()]).collect();
        values[LAST].extend((0..10).map(|i| format!("surname{i}")));
        values[POSTCODE].extend((0..n).map(|p| format!("{p:05}")));
        let profiles = Profiles {
            root: (0..n).collect(),
            record: (0..n).collect(),
            second: (0..n).collect(),
            fields: (0..n)
                .map(|i| {
                    let mut f = [0u32; FIELDS];
                    f[LAST] = 1 + i % 10;
                    f[POSTCODE] = 1 + i;
                    f
                })
                .collect(),
            values,
            counts: Vec::new(),
            nicknames: vec![None],
            sounds: [Vec::new(), Vec::new()],
            letters: [Vec::new(), Vec::new(), Vec::new()],
            source: (0..n).map(|i| u32::from(i >= 980)).collect(),
            link_type: LinkType::LinkOnly,
        };
        let (_, drawn) = estimate_u(&profiles, 1 << LOCATION, 10_000, 7);
        assert_eq!(drawn, 10_000);
        // Asked for more than the 19,600 pairs there are: each of them once.
        let (_, drawn) = estimate_u(&profiles, 1 << LOCATION, 50_000, 7);
        assert_eq!(drawn, 19_600);
        let allowed = AllowedPairs::new(&profiles, |_| Some(0)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..1000 {
            let (x, y) = allowed.draw(&mut rng).unwrap();
            assert_ne!(profiles.source[x as usize], profiles.source[y as usize]);
        }
        let same_last = AllowedPairs::new(&profiles, |p| Some(profiles.fields[p as usize][LAST])).unwrap();
        for _ in 0..1000 {
            let (x, y) = same_last.draw(&mut rng).unwrap();
            let (fx, fy) = (profiles.fields[x as usize], profiles.fields[y as usize]);
            assert_eq!(fx[LAST], fy[LAST]);
            assert_ne!(profiles.source[x as usize], profiles.source[y as usize]);
        }
        assert!(estimate_location_u_same_last(&profiles, 20_000, 7).is_some());
    }

    /// Patterns simulated from known m, u and lambda over two fields with
    /// three levels each: EM must recover m and lambda given u.
    #[test]
    fn em_recovers_known_parameters() {
        let m = [[0.85, 0.10, 0.05], [0.70, 0.20, 0.10]];
        let u = [[0.02, 0.08, 0.90], [0.05, 0.15, 0.80]];
        let lambda = 0.2;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut patterns: HashMap<Pattern, u64> = HashMap::new();
        let draw = |p: &[f64; 3], rng: &mut ChaCha8Rng| {
            let x: f64 = rng.random();
            if x < p[0] {
                1
            } else if x < p[0] + p[1] {
                2
            } else {
                3
            }
        };
        for _ in 0..200_000 {
            let is_match = rng.random::<f64>() < lambda;
            let (p0, p1) = if is_match { (&m[0], &m[1]) } else { (&u[0], &u[1]) };
            // Fields 0 and 2 (first_name has 5 levels; use the first three).
            let a = draw(p0, &mut rng);
            let b = draw(p1, &mut rng);
            *patterns.entry(at_level(0, a) | at_level(2, b)).or_default() += 1;
        }
        let mut u_full: Vec<Vec<f64>> = (0..COMPARISONS)
            .map(|f| vec![1.0 / (level_count(f) - 1) as f64; level_count(f) - 1])
            .collect();
        u_full[0] = vec![u[0][0], u[0][1], u[0][2], FLOOR, FLOOR, FLOOR];
        u_full[2] = vec![u[1][0], u[1][1], u[1][2], FLOOR];
        let fields = 0b101;
        let (estimates, fitted_lambda) = em(&patterns, &u_full, None, fields, 0);
        assert!((fitted_lambda - lambda).abs() < 0.02, "lambda {fitted_lambda}");
        let m0 = estimates[0].as_ref().unwrap();
        let m2 = estimates[2].as_ref().unwrap();
        for l in 0..3 {
            assert!((m0[l] - m[0][l]).abs() < 0.03, "m first_name {m0:?}");
            assert!((m2[l] - m[1][l]).abs() < 0.03, "m date {m2:?}");
        }
        assert!(estimates[1].is_none());
    }
}
