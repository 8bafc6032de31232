//! Probabilistic links (Fellegi–Sunter) over the records' attributes, after
//! the deterministic links: attribute profiles are blocked by OR-ed rules,
//! compared level by level, scored by a model trained without labels, and
//! pairs at or above the threshold are linked — strongest first, with a
//! guard against chains of weak links joining large clusters.

pub mod compare;
pub mod index;
pub mod model;
pub mod profiles;
pub mod reach;

use datafusion::common::HashMap;
use std::path::{Path, PathBuf};

use compare::{Pattern, describe};
use model::{Model, Scorer, em};
use profiles::Profiles;

use super::budget::Budget;
use super::edges::Edge;
use super::graph::Graph;
use super::records::Records;
use crate::error::{Error, Result};
use crate::project::identity::{
    BLOCKING_KEYS, BlockingRule, COMPARISONS, IdentityConfig, LinkType, ProbabilisticConfig,
};
use crate::util::parallel;

pub const DEFAULT_THRESHOLD: f64 = 0.9;
pub const DEFAULT_MAX_PAIRS: u64 = 20_000_000;
pub const DEFAULT_SAMPLE_PAIRS: usize = 1_000_000;
pub const DEFAULT_MODEL: &str = "identity_model.json";
pub const DEFAULT_STRONG_LINK: f64 = 0.99;
pub const DEFAULT_MAX_WEAK_JOIN: usize = 20;
const SEED: u64 = 0x005e_ed1d;
/// Blocks reported per rule.
const LARGEST_BLOCKS: usize = 3;

/// What one blocking rule produced.
#[derive(Debug, Clone)]
pub struct BlockingReport {
    pub rule: String,
    /// Pairs the rule's blocks hold (before removing pairs already linked).
    pub pairs: u64,
    /// The largest blocks: their key and size in profiles.
    pub largest: Vec<(String, u64)>,
    /// Refused: the rule would make more than `max_pairs` pairs.
    pub refused: bool,
    /// Refused, and narrower default rules used in its place.
    pub replaced: bool,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub profiles: u64,
    pub blocking: Vec<BlockingReport>,
    pub scored_pairs: u64,
    pub model_file: PathBuf,
    /// Trained in this run (else read from `model_file`).
    pub trained: bool,
    /// Trained and not saved (trained on nothing): the run used a model
    /// no later run reads.
    pub unsaved: bool,
    pub lambda: f64,
    pub threshold: f64,
    pub links: u64,
    pub refused_weak: u64,
    pub refused_size: u64,
}

pub fn model_path(dir: &Path, p: &ProbabilisticConfig) -> PathBuf {
    dir.join(p.model.as_deref().unwrap_or(DEFAULT_MODEL))
}

fn bit(field: usize) -> u8 {
    1 << field
}

fn comparison(name: &str) -> usize {
    COMPARISONS
        .iter()
        .position(|c| *c == name)
        .expect("validated comparison")
}

fn key(name: &str) -> usize {
    BLOCKING_KEYS
        .iter()
        .position(|c| *c == name)
        .expect("validated blocking key")
}

/// The comparisons a blocking key feeds, as bits: names and date
/// themselves; postcode, address, city and region the location; the names
/// (or their sounds) in either order both names.
fn comparisons_of_key(key: usize) -> u8 {
    match key {
        0..=2 => bit(key),
        profiles::NAMES | profiles::NAME_SOUNDS => bit(0) | bit(1),
        _ => bit(3),
    }
}

/// The blocks of one rule: profiles sorted by their key, in runs.
fn blocks(profiles: &Profiles, rule: &[usize]) -> Vec<Vec<u32>> {
    let mut keyed: Vec<(Vec<u32>, u32)> = (0..profiles.len() as u32)
        .filter_map(|p| {
            let key: Vec<u32> = rule.iter().map(|f| profiles.fields[p as usize][*f]).collect();
            (!key.contains(&0)).then_some((key, p))
        })
        .collect();
    keyed.sort_unstable();
    keyed
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|run| run.len() > 1)
        .map(|run| run.iter().map(|(_, p)| *p).collect())
        .collect()
}

fn pair(x: u32, y: u32) -> u64 {
    let (a, b) = if x < y { (x, y) } else { (y, x) };
    (u64::from(a) << 32) | u64::from(b)
}

/// A candidate pair of profiles, packed in a `u64`.
const PAIR_BYTES: usize = size_of::<u64>();
const PAIRS: &str = "the candidate pairs of the attribute model";

fn unpair(p: u64) -> (u32, u32) {
    ((p >> 32) as u32, p as u32)
}

pub fn link(
    records: &Records,
    graph: &mut Graph,
    config: &IdentityConfig,
    p: &ProbabilisticConfig,
    dir: &Path,
    (train, keep): (bool, bool),
    budget: &mut Budget,
) -> Result<(Outcome, Option<index::Kept>)> {
    let Candidates {
        profiles,
        fields,
        blocked,
        pairs: candidates,
    } = candidates(records, graph, config, p, budget)?;
    let model_file = model_path(dir, p);
    let trained = train || !model_file.exists();
    let model = if trained {
        train_and_save(&profiles, fields, p, &blocked.rule_pairs, &candidates, &model_file)?
    } else {
        load_for(&model_file, &profiles)?
    };

    let threshold = p.threshold.unwrap_or(DEFAULT_THRESHOLD);
    let accepted = accepted_pairs(&profiles, &model, p, &candidates, threshold);
    let linked = add_links(records, graph, config, p, &profiles, accepted);
    budget.set(PAIRS, 0)?;
    let refused_weak = linked.refused.len() as u64;
    // Kept for the identity state only where a later run may grow this one.
    let kept = keep.then(|| index::Kept::of(&profiles, linked.refused));
    let outcome = Outcome {
        profiles: profiles.len() as u64,
        blocking: blocked.reports,
        scored_pairs: candidates.all.len() as u64,
        model_file,
        trained,
        unsaved: trained && !(model.trained_pairs > 0 && model.sampled_pairs > 0),
        lambda: model.lambda,
        threshold,
        links: linked.links,
        refused_weak,
        refused_size: linked.refused_size,
    };
    Ok((outcome, kept))
}

/// What the model linked among the customers a growing run links again.
pub struct PartLinked {
    pub links: u64,
    /// Links refused past the maximum cluster size (whose outcome depends
    /// on the order of all links: the growing run leaves them to a full run).
    pub refused_size: u64,
    pub kept: index::Kept,
}

/// Links the records of the customers a growing run links again (already
/// linked on identifiers, `graph`) on their attributes, as a full run
/// would: blocked with the full run's `decisions` (a rule is refused by
/// the pairs of all profiles, not of these), scored by the saved `model`
/// (its term frequencies kept), at or above the threshold strongest first,
/// with the weak-join and size guards. Nothing is trained.
pub fn link_part(
    records: &Records,
    graph: &mut Graph,
    config: &IdentityConfig,
    p: &ProbabilisticConfig,
    (model, decisions): (&Model, &Decisions),
    budget: &mut Budget,
) -> Result<PartLinked> {
    let profiles = profiles::build(records, graph, config.link_type());
    let refuse = |fields: &[usize], _| !decisions.rules.iter().any(|r| r == fields);
    let blocked = blocking(&profiles, &p.blocking_rules(), &refuse, budget)?;
    let candidates = compare_candidates(&profiles, &blocked.rule_pairs, decisions.fields, budget)?;
    let threshold = p.threshold.unwrap_or(DEFAULT_THRESHOLD);
    let accepted = accepted_pairs(&profiles, model, p, &candidates, threshold);
    let linked = add_links(records, graph, config, p, &profiles, accepted);
    budget.set(PAIRS, 0)?;
    Ok(PartLinked {
        links: linked.links,
        refused_size: linked.refused_size,
        kept: index::Kept::of(&profiles, linked.refused),
    })
}

/// The saved model a growing run scores with, or why it cannot: it must
/// keep the term frequencies of every comparison weighted by them (else
/// each run weighs values by its own profiles, and old pairs' scores move).
pub fn model_to_grow(dir: &Path, p: &ProbabilisticConfig) -> Result<std::result::Result<Model, String>> {
    let file = model_path(dir, p);
    if !file.exists() {
        return Ok(Err("no model is saved yet".into()));
    }
    let model = load(&file)?;
    if model.link_type != LinkType::LinkAndDedupe {
        return Ok(Err(format!(
            "{} was trained with link_type = \"{}\"",
            file.display(),
            model.link_type.name()
        )));
    }
    let tf = term_frequency_fields(p);
    let missing: Vec<&str> = (0..COMPARISONS.len())
        .filter(|f| tf & bit(*f) != 0)
        .map(|f| COMPARISONS[f])
        .filter(|name| model.comparisons.iter().any(|c| c.name == *name))
        .filter(|name| !model.term_frequencies.iter().any(|t| t.comparison == *name))
        .collect();
    if !missing.is_empty() {
        return Ok(Err(format!(
            "{} keeps no term frequencies of {} (it was saved by an earlier version; `oneview resolve --train` saves them)",
            file.display(),
            missing.join(", ")
        )));
    }
    Ok(Ok(model))
}

/// What is compared: the profiles, the comparisons made (as bits), what
/// blocking produced and the candidate pairs with their patterns.
struct Candidates {
    profiles: Profiles,
    fields: u8,
    blocked: Blocked,
    pairs: Compared,
}

/// The profiles of the records' clusters, blocked and compared.
fn candidates(
    records: &Records,
    graph: &mut Graph,
    config: &IdentityConfig,
    p: &ProbabilisticConfig,
    budget: &mut Budget,
) -> Result<Candidates> {
    let profiles = profiles::build(records, graph, config.link_type());
    let fields = compared_fields(&profiles, p);
    let max_pairs = p.max_pairs.unwrap_or(DEFAULT_MAX_PAIRS);
    let blocked = blocking(&profiles, &p.blocking_rules(), &|_, pairs| pairs > max_pairs, budget)?;
    let pairs = compare_candidates(&profiles, &blocked.rule_pairs, fields, budget)?;
    Ok(Candidates {
        profiles,
        fields,
        blocked,
        pairs,
    })
}

/// The candidate pairs as the saved model scores them, for `resolve --evaluate`.
pub struct Scored {
    pub profiles: Profiles,
    /// The comparisons made, as bits (`compare::compare`'s `active`).
    pub fields: u8,
    /// Per candidate pair: its two profiles, pattern and match probability.
    pub pairs: Vec<(u32, u32, Pattern, f64)>,
    pub threshold: f64,
}

/// Blocks, compares and scores the records' profiles with the saved model,
/// linking nothing: what a run at `threshold` decides, pair by pair. None
/// when no model is saved (no run has trained one on blocked pairs).
pub fn score_saved(
    records: &Records,
    graph: &mut Graph,
    config: &IdentityConfig,
    p: &ProbabilisticConfig,
    dir: &Path,
    budget: &mut Budget,
) -> Result<Option<Scored>> {
    let model_file = model_path(dir, p);
    if !model_file.exists() {
        return Ok(None);
    }
    let Candidates {
        profiles,
        fields,
        pairs: candidates,
        ..
    } = candidates(records, graph, config, p, budget)?;
    let model = load_for(&model_file, &profiles)?;
    let scorer = Scorer::new(&model, COMPARISONS, &profiles, term_frequency_fields(p));
    let pairs = candidates
        .all
        .iter()
        .zip(&candidates.patterns)
        .map(|(&pr, &pattern)| {
            let (x, y) = unpair(pr);
            (x, y, pattern, scorer.probability(&profiles, x, y, pattern))
        })
        .collect();
    budget.set(PAIRS, 0)?;
    Ok(Some(Scored {
        profiles,
        fields,
        pairs,
        threshold: p.threshold.unwrap_or(DEFAULT_THRESHOLD),
    }))
}

/// The comparisons to make, as bits: those configured (all when none are)
/// that a blocking key present in some profile feeds.
fn compared_fields(profiles: &Profiles, p: &ProbabilisticConfig) -> u8 {
    let mut fields = 0u8;
    for (c, name) in COMPARISONS.iter().enumerate() {
        let wanted = p.compare.as_ref().is_none_or(|list| list.iter().any(|n| n == name));
        let fed = (0..BLOCKING_KEYS.len()).any(|k| comparisons_of_key(k) & bit(c) != 0 && profiles.has(k));
        if wanted && fed {
            fields |= bit(c);
        }
    }
    fields
}

/// What blocking produced.
struct Blocked {
    /// One per rule, in the configured order.
    reports: Vec<BlockingReport>,
    /// Per rule not refused: the comparisons its keys fix (as bits), and
    /// its pairs, sorted.
    rule_pairs: Vec<(u8, Vec<u64>)>,
}

/// Blocking: each rule's pairs of profiles of different clusters. A rule
/// `refuse` refuses (by its key fields and pairs) is reported, and left
/// out; its narrower fallbacks (of a default rule) are tried in its place.
/// A default rule over a key no profile has is left out (a configured one
/// is reported with no pairs).
fn blocking(
    profiles: &Profiles,
    rules: &[BlockingRule],
    refuse: &dyn Fn(&[usize], u64) -> bool,
    budget: &mut Budget,
) -> Result<Blocked> {
    let mut reports = Vec::new();
    let mut rule_pairs: Vec<(u8, Vec<u64>)> = Vec::new();
    for_each_rule(profiles, rules, refuse, |rule_fields, blocks, report| {
        let (pairs, refused) = (report.pairs, report.refused);
        reports.push(report);
        if !refused {
            let list = pairs_of_rule(profiles, blocks, pairs, &rule_pairs, budget)?;
            let fixed = rule_fields.iter().fold(0u8, |acc, k| acc | comparisons_of_key(*k));
            rule_pairs.push((fixed, list));
        }
        Ok(())
    })?;
    Ok(Blocked { reports, rule_pairs })
}

/// Calls `f` on each rule blocking tries, in order, with its key fields,
/// its blocks and its report (refused where `refuse` says so); a refused
/// default rule's fallbacks are tried next.
fn for_each_rule(
    profiles: &Profiles,
    rules: &[BlockingRule],
    refuse: &dyn Fn(&[usize], u64) -> bool,
    mut f: impl FnMut(&[usize], &[Vec<u32>], BlockingReport) -> Result<()>,
) -> Result<()> {
    let present = |keys: &[String]| keys.iter().all(|n| profiles.has(key(n)));
    // Rules still to block, next last; a refused rule's fallbacks go next.
    let mut pending: Vec<BlockingRule> = rules.iter().rev().cloned().collect();
    while let Some(BlockingRule {
        keys: rule,
        fallbacks,
        default,
    }) = pending.pop()
    {
        if default && !present(&rule) {
            continue;
        }
        let rule_fields: Vec<usize> = rule.iter().map(|n| key(n)).collect();
        let blocks = blocks(profiles, &rule_fields);
        let mut report = report_rule(profiles, &rule, &rule_fields, &blocks);
        report.refused = refuse(&rule_fields, report.pairs);
        // Said only where a narrower rule is there to take its place.
        report.replaced = report.refused && fallbacks.iter().any(|f| present(f));
        if report.refused {
            pending.extend(fallbacks.into_iter().rev().map(|keys| BlockingRule {
                keys,
                fallbacks: Vec::new(),
                default,
            }));
        }
        f(&rule_fields, &blocks, report)?;
    }
    Ok(())
}

/// What blocking decides over a run's profiles, which every pair a run
/// scores depends on: the rules used (their key fields, a refused rule's
/// fallbacks in its place) and the comparisons made (as bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decisions {
    pub rules: Vec<Vec<usize>>,
    pub fields: u8,
}

/// Blocking's decisions over `profiles`, as a run over them makes them.
pub fn decide(profiles: &Profiles, p: &ProbabilisticConfig) -> Decisions {
    let max_pairs = p.max_pairs.unwrap_or(DEFAULT_MAX_PAIRS);
    let mut rules = Vec::new();
    for_each_rule(
        profiles,
        &p.blocking_rules(),
        &|_, pairs| pairs > max_pairs,
        |fields, _, report| {
            if !report.refused {
                rules.push(fields.to_vec());
            }
            Ok(())
        },
    )
    .expect("deciding fails nothing");
    Decisions {
        rules,
        fields: compared_fields(profiles, p),
    }
}

/// A rule's report: the comparable pairs its blocks hold and its largest
/// blocks (whether it is refused is for the caller to say).
fn report_rule(profiles: &Profiles, rule: &[String], rule_fields: &[usize], blocks: &[Vec<u32>]) -> BlockingReport {
    let pairs: u64 = blocks
        .iter()
        .map(|b| profiles.comparable_pairs(b.iter().copied()))
        .sum();
    let mut sizes: Vec<&Vec<u32>> = blocks.iter().collect();
    sizes.sort_by_key(|b| std::cmp::Reverse(b.len()));
    let largest = sizes
        .iter()
        .take(LARGEST_BLOCKS)
        .map(|b| {
            let key: Vec<&str> = rule_fields
                .iter()
                .map(|f| profiles.text(*f, b[0]).unwrap_or_default())
                .collect();
            (key.join("|"), b.len() as u64)
        })
        .collect();
    BlockingReport {
        rule: rule.join("+"),
        pairs,
        largest,
        refused: false,
        replaced: false,
    }
}

/// The comparable pairs of a rule's `blocks` whose profiles are of
/// different clusters, sorted; `pairs` is how many the blocks hold, and
/// `earlier` the pairs of the rules before, still held.
fn pairs_of_rule(
    profiles: &Profiles,
    blocks: &[Vec<u32>],
    pairs: u64,
    earlier: &[(u8, Vec<u64>)],
    budget: &mut Budget,
) -> Result<Vec<u64>> {
    // Claimed before the pairs are made (`max_pairs` is the user's, and
    // a rule's pairs can be far more than the records); the vector is
    // sized once, so what is claimed is what it takes.
    let held: usize = earlier.iter().map(|(_, l)| l.capacity() * PAIR_BYTES).sum();
    let capacity = usize::try_from(pairs).unwrap_or(usize::MAX);
    budget.set(PAIRS, capacity.saturating_mul(PAIR_BYTES).saturating_add(held))?;
    let mut list = Vec::with_capacity(capacity);
    for block in blocks {
        profiles.for_each_comparable_pair(block, |x, y| {
            if profiles.root[x as usize] != profiles.root[y as usize] {
                list.push(pair(x, y));
            }
        });
    }
    // Pairs within one cluster were left out: give their room back.
    list.shrink_to_fit();
    list.sort_unstable();
    Ok(list)
}

/// The pairs to score.
struct Compared {
    /// The union of the rules' pairs, sorted.
    all: Vec<u64>,
    /// The comparison pattern of each pair of `all`, in its order.
    patterns: Vec<Pattern>,
}

/// The union of the rules' pairs and a comparison pattern for each.
fn compare_candidates(
    profiles: &Profiles,
    rule_pairs: &[(u8, Vec<u64>)],
    fields: u8,
    budget: &mut Budget,
) -> Result<Compared> {
    let listed: usize = rule_pairs.iter().map(|(_, l)| l.len()).sum();
    budget.set(PAIRS, listed * (2 * PAIR_BYTES + size_of::<Pattern>()))?;
    let mut all: Vec<u64> = Vec::with_capacity(listed);
    all.extend(rule_pairs.iter().flat_map(|(_, l)| l.iter().copied()));
    all.sort_unstable();
    all.dedup();
    let patterns: Vec<Pattern> = parallel::map_items(&all, |&pr| {
        let (x, y) = unpair(pr);
        compare::compare(profiles, x, y, fields)
    });
    Ok(Compared { all, patterns })
}

/// Trains the model on the candidates and saves it to `file`.
fn train_and_save(
    profiles: &Profiles,
    fields: u8,
    p: &ProbabilisticConfig,
    rule_pairs: &[(u8, Vec<u64>)],
    candidates: &Compared,
    file: &Path,
) -> Result<Model> {
    let model = train_model(profiles, fields, p, rule_pairs, candidates);
    // A model trained on nothing (no blocked pairs, no profiles to
    // sample) would be reused by every later run; it is not saved.
    if model.trained_pairs > 0 && model.sampled_pairs > 0 {
        save(&model, file)?;
        // Linked with as later runs read it: a number read back from JSON
        // can differ from the one written in its last digit.
        return load(file);
    }
    Ok(model)
}

/// The model saved in `file`, refused when trained with another link type
/// than the profiles': it was trained on other pairs than these.
fn load_for(file: &Path, profiles: &Profiles) -> Result<Model> {
    let model = load(file)?;
    if model.link_type != profiles.link_type {
        return Err(Error::config(
            file,
            format!(
                "was trained with link_type = \"{}\", but [identity] link_type is \"{}\"; run `oneview resolve --train` to train it on the pairs the link type allows",
                model.link_type.name(),
                profiles.link_type.name()
            ),
        ));
    }
    Ok(model)
}

/// The candidates the model scores at `threshold` or above, with their
/// probability and pattern, strongest first.
fn accepted_pairs(
    profiles: &Profiles,
    model: &Model,
    p: &ProbabilisticConfig,
    candidates: &Compared,
    threshold: f64,
) -> Vec<(f64, u64, Pattern)> {
    let scorer = Scorer::new(model, COMPARISONS, profiles, term_frequency_fields(p));
    let mut accepted: Vec<(f64, u64, Pattern)> = candidates
        .all
        .iter()
        .zip(&candidates.patterns)
        .filter_map(|(&pr, &pattern)| {
            let (x, y) = unpair(pr);
            let probability = scorer.probability(profiles, x, y, pattern);
            (probability >= threshold).then_some((probability, pr, pattern))
        })
        .collect();
    // Strongest first, then in pair order, so the result never depends on timing.
    accepted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    accepted
}

/// The links made, and those refused.
struct Linked {
    links: u64,
    /// Weak links between two clusters both larger than `max_weak_join`:
    /// the records they would have linked.
    refused: Vec<(u32, u32)>,
    /// Links that would make a cluster larger than the maximum size.
    refused_size: u64,
}

/// Links the `accepted` pairs in their order, as edges of the graph's last
/// rule, refusing a weak link (below `strong_link`) between two clusters
/// both larger than `max_weak_join`, and a union past the maximum cluster
/// size. Each edge's value is its pattern's description, added once.
fn add_links(
    records: &Records,
    graph: &mut Graph,
    config: &IdentityConfig,
    p: &ProbabilisticConfig,
    profiles: &Profiles,
    accepted: Vec<(f64, u64, Pattern)>,
) -> Linked {
    let strong = p.strong_link.unwrap_or(DEFAULT_STRONG_LINK);
    let max_weak_join = p.max_weak_join.unwrap_or(DEFAULT_MAX_WEAK_JOIN) as u32;
    let max_cluster = config.max_cluster_size();
    let rule = (graph.rules.len() - 1) as u16;
    let mut descriptions: HashMap<Pattern, u32> = HashMap::new();
    let (mut links, mut refused, mut refused_size) = (0u64, Vec::new(), 0u64);
    for (probability, pr, pattern) in accepted {
        let (x, y) = unpair(pr);
        let (a, b) = profiles.link_ends(x, y, |r| records.source_of(r));
        let (ra, rb) = (graph.find(a), graph.find(b));
        if ra != rb {
            let (sa, sb) = (graph.size_of(ra), graph.size_of(rb));
            if probability < strong && sa > max_weak_join && sb > max_weak_join {
                refused.push((a, b));
                continue;
            }
            if !graph.union(a, b, max_cluster) {
                refused_size += 1;
                continue;
            }
        }
        let next = graph.descriptions.len() as u32;
        let value = *descriptions.entry(pattern).or_insert_with(|| {
            graph.descriptions.push(describe(pattern, COMPARISONS));
            next
        });
        graph.edges.push(Edge {
            a,
            b,
            rule,
            value,
            probability: probability as f32,
        });
        links += 1;
    }
    Linked {
        links,
        refused,
        refused_size,
    }
}

/// Rounds of re-estimating u from the random pairs the model takes for
/// non-matches, after the first fit. The estimate settles within two on
/// duplicate-dense data; on sparse data the first round changes little.
const U_ROUNDS: usize = 2;

/// Trains the model without labels: u from random pairs (and, with last
/// names and location both compared, location's u among same-surname pairs
/// that are not duplicates), m by EM on each rule's pairs, and lambda over
/// all comparable pairs; then u again from the random pairs, each counted
/// by the chance the model gives it of not being a match, and m and lambda
/// refitted with it.
fn train_model(
    profiles: &Profiles,
    fields: u8,
    p: &ProbabilisticConfig,
    rule_pairs: &[(u8, Vec<u64>)],
    candidates: &Compared,
) -> Model {
    let samples = p.sample_pairs.unwrap_or(DEFAULT_SAMPLE_PAIRS);
    let random = model::random_pairs(profiles, fields, samples, SEED);
    let sampled = random.len() as u64;
    let households = household_pairs(profiles, fields, samples);
    let tf = term_frequency_fields(p);
    let fit = |u: &[Vec<f64>], previous: Option<(&Model, &Scorer)>| {
        // The household correction, drawn towards this u where few pairs speak.
        let household = households.as_ref().and_then(|h| {
            let seen = h.different_people(profiles, previous);
            model::location_u(&seen, &u[model::LOCATION])
        });
        let runs = em_per_rule(fields, rule_pairs, candidates, u, household.as_ref());
        let provisional = Model::assemble(
            COMPARISONS,
            fields,
            u,
            household.as_ref(),
            &runs,
            0.5,
            candidates.all.len() as u64,
            sampled,
        );
        let lambda = overall_lambda(profiles, &provisional, candidates);
        Model {
            lambda,
            link_type: profiles.link_type,
            ..provisional
        }
    };
    let mut model = fit(&model::u_of(&random, |_, _, _| 1.0), None);
    for _ in 0..U_ROUNDS {
        // Lambda is the chance that two random profiles match, so the
        // model's probability of a random pair is its posterior as it is.
        let scorer = Scorer::new(&model, COMPARISONS, profiles, tf);
        let u = model::u_of(&random, |x, y, pattern| {
            1.0 - scorer.probability(profiles, x, y, pattern)
        });
        model = fit(&u, Some((&model, &scorer)));
    }
    // Kept as trained: later runs weigh a value as these profiles did.
    model.term_frequencies = model::term_frequencies(COMPARISONS, profiles, tf);
    model
}

/// The same-surname pairs location's u among non-duplicates (the household
/// correction) is estimated from.
struct Households {
    pairs: Vec<(u32, u32, Pattern)>,
    /// The comparisons the pairs were compared on.
    read: u8,
}

impl Households {
    /// Location's level counts among the pairs taken for different people:
    /// those whose given name and date of birth both differ, less the
    /// duplicates expected among them by the `previous` model (and its
    /// scorer). A duplicate's given name and date of birth can both change,
    /// so some of those pairs are one person; counted as a household, each
    /// such pair would make a shared address look common among different
    /// people, on data where none share one, and the correction would feed
    /// on itself. The expected number at each level: the duplicates among
    /// the same-surname pairs whose given name or date of birth does not
    /// differ (the model's probabilities, which these agreements make
    /// clear), times the odds that both differ in a duplicate (the model's m
    /// of "different" for each; `model::less_duplicates`).
    fn different_people(&self, profiles: &Profiles, previous: Option<(&Model, &Scorer)>) -> Vec<f64> {
        let judged = self.pairs.iter().filter(|p| compare::differs_on_person(p.2, self.read));
        let mut seen = model::location_levels(judged.map(|p| (p.2, 1.0)));
        let Some((previous, scorer)) = previous else {
            return seen;
        };
        let both_differ = compare::PERSON
            .iter()
            .filter(|c| self.read & bit(**c) != 0)
            .map(|c| previous.m_of_different(COMPARISONS[*c]))
            .product::<f64>();
        // The pairs were compared without their (equal) last names.
        let same_last = compare::at_level(model::LAST_NAME, 1);
        let agreeing = self
            .pairs
            .iter()
            .filter(|p| compare::judgeable_on_person(p.2, self.read) && !compare::differs_on_person(p.2, self.read))
            .map(|&(x, y, pattern)| (pattern, scorer.probability(profiles, x, y, pattern | same_last)));
        model::less_duplicates(&mut seen, &model::location_levels(agreeing), both_differ);
        seen
    }
}

/// The household pairs; None unless last names and location are both compared.
fn household_pairs(profiles: &Profiles, fields: u8, samples: usize) -> Option<Households> {
    let both = bit(model::LAST_NAME) | bit(model::LOCATION);
    if fields & both != both {
        return None;
    }
    // Same-surname pairs at one address are households or duplicates.
    // Counted, duplicates make a shared address look common among different
    // people on data dense with them; so only the pairs whose given name and
    // date of birth both differ are counted (`compare::differs_on_person`),
    // which a household member's do and a duplicate's rarely. Judged by the
    // model's own weights instead, households a first model took for one
    // person would be left out too, and the estimate would feed on itself.
    // Compared on what the judgement and the estimate read, no more.
    let read = fields & (bit(comparison("first_name")) | bit(comparison("date_of_birth")) | bit(model::LOCATION));
    Some(Households {
        pairs: model::same_last_pairs(profiles, read, samples, SEED),
        read,
    })
}

/// The comparisons whose exact agreement is weighted by the value's frequency.
fn term_frequency_fields(p: &ProbabilisticConfig) -> u8 {
    match &p.term_frequency {
        Some(names) => names.iter().fold(0u8, |acc, n| acc | bit(comparison(n))),
        None => bit(comparison("first_name")) | bit(comparison("last_name")) | bit(comparison("location")),
    }
}

/// m by EM on each rule's pairs (one run per rule, in order), counted by
/// comparison pattern.
fn em_per_rule(
    fields: u8,
    rule_pairs: &[(u8, Vec<u64>)],
    candidates: &Compared,
    u: &[Vec<f64>],
    u_same_last: Option<&Vec<f64>>,
) -> Vec<Vec<Option<Vec<f64>>>> {
    let pattern_of = |pr: &u64| {
        candidates.patterns[candidates
            .all
            .binary_search(pr)
            .expect("every rule pair is in the union")]
    };
    let mut runs = Vec::new();
    for (fixed, list) in rule_pairs {
        // Two free comparisons at least: with fewer, matches and non-matches
        // cannot be told apart and EM would fit noise.
        let free = fields & !fixed;
        let mut counts: HashMap<Pattern, u64> = HashMap::new();
        for pr in list {
            let pattern = pattern_of(pr);
            let compared = (0..COMPARISONS.len())
                .filter(|c| free & bit(*c) != 0 && compare::level(pattern, *c) != compare::NULL)
                .count();
            if compared >= 2 {
                *counts.entry(pattern).or_default() += 1;
            }
        }
        let (m, lambda) = em(&counts, u, u_same_last, fields, *fixed);
        for (c, levels) in m.iter().enumerate() {
            if let Some(levels) = levels {
                log::debug!(
                    "EM on a blocking rule (lambda {lambda:.4}): m of `{}` = {levels:.4?}",
                    COMPARISONS[c]
                );
            }
        }
        runs.push(m);
    }
    runs
}

/// The model's lambda, its m and u held fixed.
fn overall_lambda(profiles: &Profiles, provisional: &Model, candidates: &Compared) -> f64 {
    let mut counts: HashMap<Pattern, u64> = HashMap::new();
    for pattern in &candidates.patterns {
        *counts.entry(*pattern).or_default() += 1;
    }
    // Lambda is the chance that two random profiles (of different clusters)
    // match: the expected matches among the blocked pairs, over all pairs.
    // Scoring then counts every comparison's evidence, the blocked ones too.
    let blocked_share = fit_lambda(provisional, &counts);
    let all_pairs = (profiles.comparable_pairs(0..profiles.len() as u32) as f64).max(1.0);
    (blocked_share * candidates.all.len() as f64 / all_pairs).clamp(1e-12, 0.5)
}

/// The share of matches among blocked pairs, m and u held fixed.
fn fit_lambda(model: &Model, counts: &HashMap<Pattern, u64>) -> f64 {
    let total: f64 = counts.values().map(|c| *c as f64).sum();
    if total == 0.0 {
        return 0.5;
    }
    let ratio = |pattern: Pattern| -> f64 {
        let mut r = 1.0;
        for c in &model.comparisons {
            let f = comparison(&c.name);
            let l = compare::level(pattern, f) as usize;
            if l != 0 {
                let level = &c.levels[l - 1];
                r *= level.m / level.u_given(model::last_name_agrees(pattern)).max(1e-12);
            }
        }
        r
    };
    // In pattern order, so that the sums are the same on every run.
    let mut ratios: Vec<(Pattern, f64, f64)> = counts.iter().map(|(p, c)| (*p, ratio(*p), *c as f64)).collect();
    ratios.sort_unstable_by_key(|r| r.0);
    let mut lambda: f64 = 0.1;
    for _ in 0..200 {
        let odds = lambda / (1.0 - lambda);
        let matches: f64 = ratios.iter().map(|(_, r, c)| c * odds * r / (1.0 + odds * r)).sum();
        let next = (matches / total).clamp(1e-6, 1.0 - 1e-6);
        if (next - lambda).abs() < 1e-9 {
            return next;
        }
        lambda = next;
    }
    lambda
}

fn save(model: &Model, file: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(model).expect("a model serializes");
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut staged = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(file.display().to_string(), e))?;
    std::io::Write::write_all(&mut staged, text.as_bytes()).map_err(|e| Error::io(file.display().to_string(), e))?;
    staged
        .persist(file)
        .map_err(|e| Error::io(file.display().to_string(), e.error))?;
    Ok(())
}

fn load(file: &Path) -> Result<Model> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file.display().to_string(), e))?;
    let model: Model = serde_json::from_str(&text).map_err(|e| {
        Error::config(
            file,
            format!("is not a oneview identity model ({e}); fix it, or delete it (or run `oneview resolve --train`) to train a new one"),
        )
    })?;
    for c in &model.comparisons {
        let Some(f) = COMPARISONS.iter().position(|n| *n == c.name) else {
            return Err(Error::config(
                file,
                format!(
                    "comparison `{}` is unknown; expected one of: {}",
                    c.name,
                    COMPARISONS.join(", ")
                ),
            ));
        };
        let levels = compare::labels(f);
        if !c.levels.iter().map(|l| l.label.as_str()).eq(levels.iter().copied()) {
            return Err(Error::config(
                file,
                format!(
                    "comparison `{}` has the levels {}; expected {}: the comparison changed since the model was trained, so run `oneview resolve --train`",
                    c.name,
                    c.levels.iter().map(|l| l.label.as_str()).collect::<Vec<_>>().join(", "),
                    levels.join(", ")
                ),
            ));
        }
        for l in &c.levels {
            let conditional = l.u_if_last_name_agrees.is_none_or(|u| u > 0.0 && u <= 1.0);
            if !(l.m > 0.0 && l.m <= 1.0 && l.u > 0.0 && l.u <= 1.0 && conditional) {
                return Err(Error::config(
                    file,
                    format!("comparison `{}` level `{}` has m or u outside (0, 1]", c.name, l.label),
                ));
            }
        }
        let conditional = c.levels.iter().filter(|l| l.u_if_last_name_agrees.is_some()).count();
        if conditional != 0 && (conditional != c.levels.len() || f != model::LOCATION) {
            return Err(Error::config(
                file,
                format!(
                    "comparison `{}` gives u_if_last_name_agrees on some levels only; expected it on every level of `location` or on none",
                    c.name
                ),
            ));
        }
    }
    for t in &model.term_frequencies {
        let largest = t.values.values().max().copied().unwrap_or(0);
        if !COMPARISONS.contains(&t.comparison.as_str()) || t.profiles < largest {
            return Err(Error::config(
                file,
                format!(
                    "the term frequencies of `{}` are not those of a known comparison, with `profiles` at least each value's count; fix them, or run `oneview resolve --train`",
                    t.comparison
                ),
            ));
        }
    }
    if !(model.lambda > 0.0 && model.lambda < 1.0) {
        return Err(Error::config(file, "lambda is not between 0 and 1"));
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocking keys name profile fields by position: the two lists must
    /// stay in one order.
    #[test]
    fn blocking_keys_are_the_profile_fields_in_order() {
        assert_eq!(BLOCKING_KEYS.len(), profiles::FIELDS);
        for (name, field) in [
            ("first_name", profiles::FIRST),
            ("last_name", profiles::LAST),
            ("date_of_birth", profiles::DOB),
            ("postcode", profiles::POSTCODE),
            ("address", profiles::ADDRESS),
            ("city", profiles::CITY),
            ("names", profiles::NAMES),
            ("region", profiles::REGION),
            ("name_sounds", profiles::NAME_SOUNDS),
        ] {
            assert_eq!(key(name), field, "{name}");
        }
    }
}
