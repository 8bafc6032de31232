//! Which old customers new records reach through the model: the old
//! profiles (kept in the identity state) a new record's profile shares a
//! block with under the rules the last run used, scored by the saved model
//! at the threshold or above. With the term frequencies kept in the model,
//! no other old pair's score moves: a growing run links these customers
//! again, with those the new records reach on identifiers, closed over
//! values split by first name and refused weak links.

use std::collections::BTreeSet;

use datafusion::common::HashSet;

use super::compare;
use super::index::KeptProfile;
use super::model::{Model, Scorer};
use super::profiles::{self, FIELDS, Profiles};
use super::{Decisions, blocks, decide, term_frequency_fields};
use crate::project::identity::{COMPARISONS, ProbabilisticConfig};

/// What the new profiles reach.
pub struct Reach {
    /// Blocking's decisions over the old profiles: the last run's.
    pub decisions: Decisions,
    /// The old customers holding a profile that a new one matches.
    pub customers: BTreeSet<u64>,
}

/// Each row its own cluster (so that no two rows are one profile, as two
/// clusters of one customer holding the same values are two profiles).
/// Under `link_and_dedupe` (the only link type a run grows under) every
/// pair of a block is compared, whatever its sources.
pub fn profiles_of<'a>(rows: impl Iterator<Item = &'a [Option<String>; FIELDS]>) -> Profiles {
    profiles::of_rows(rows.cloned())
}

/// The old customers the profiles `new` reach among the `old` ones, by
/// the model at `threshold`, blocked as the last run blocked.
pub fn reached(
    old: &[KeptProfile],
    new: &[[Option<String>; FIELDS]],
    p: &ProbabilisticConfig,
    model: &Model,
    threshold: f64,
) -> Reach {
    let decisions = decide(&profiles_of(old.iter().map(|(_, t)| t)), p);
    let all = profiles_of(old.iter().map(|(_, t)| t).chain(new));
    let is_new = |x: u32| x as usize >= old.len();
    let mut pairs: HashSet<(u32, u32)> = HashSet::new();
    for rule in &decisions.rules {
        for block in blocks(&all, rule) {
            let (fresh, known): (Vec<u32>, Vec<u32>) = block.iter().partition(|&&x| is_new(x));
            for &x in &fresh {
                pairs.extend(known.iter().map(|&y| (x, y)));
            }
        }
    }
    let scorer = Scorer::new(model, COMPARISONS, &all, term_frequency_fields(p));
    let customers = pairs
        .into_iter()
        .filter(|&(x, y)| {
            let pattern = compare::compare(&all, x, y, decisions.fields);
            scorer.probability(&all, x, y, pattern) >= threshold
        })
        .map(|(_, y)| old[y as usize].0)
        .collect();
    Reach { decisions, customers }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::super::compare::level_count;
    use super::super::model::Model;
    use super::super::profiles::{CITY, DOB, FIRST, LAST, POSTCODE};
    use super::*;

    /// A model that weighs exact agreement heavily and the rest little.
    fn a_model(fields: u8) -> Model {
        let u: Vec<Vec<f64>> = (0..COMPARISONS.len())
            .map(|f| {
                let n = level_count(f) - 1;
                let mut u = vec![0.02; n];
                u[n - 1] = 1.0 - 0.02 * (n - 1) as f64;
                u
            })
            .collect();
        let mut model = Model::assemble(COMPARISONS, fields, &u, None, &[], 0.05, 1, 1);
        model.term_frequencies = Vec::new();
        model
    }

    fn row(rng: &mut StdRng) -> [Option<String>; FIELDS] {
        let mut pick = |pool: &[&str], p: f64| {
            rng.random_bool(p)
                .then(|| pool[rng.random_range(0..pool.len())].to_string())
        };
        let mut texts: [Option<String>; FIELDS] = Default::default();
        texts[FIRST] = pick(&["kelly", "james", "ann", "bill", "jim", "olu", "mary", "sian"], 0.9);
        texts[LAST] = pick(&["neal", "smith", "jones", "okafor", "nash", "bell"], 0.9);
        texts[DOB] = pick(&["19800101", "19800110", "19751231", "19620704", "19990909"], 0.6);
        texts[POSTCODE] = pick(&["n1 9gu", "ls1 4ap", "e2 8ah", "m1 1aa"], 0.5);
        texts[CITY] = pick(&["london", "leeds", "york"], 0.5);
        texts
    }

    /// The customers reached are those of every old profile that shares
    /// all the keys of a rule the last run used with a new one, and that
    /// the model scores at the threshold or above with it: checked against
    /// every pair of a new and an old profile, on random profiles.
    #[test]
    fn new_profiles_reach_the_customers_a_pair_of_each_rule_scores_above_the_threshold() {
        let p: ProbabilisticConfig = toml::from_str("").unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut reached_some = 0;
        for round in 0..20 {
            let old: Vec<KeptProfile> = (0..60).map(|_| (rng.random_range(0..25u64), row(&mut rng))).collect();
            let new: Vec<[Option<String>; FIELDS]> = (0..6).map(|_| row(&mut rng)).collect();
            let model = a_model(0b1111);
            let threshold = 0.9;
            let reach = reached(&old, &new, &p, &model, threshold);
            assert_eq!(reach.decisions, decide(&profiles_of(old.iter().map(|(_, t)| t)), &p));

            let all = profiles_of(old.iter().map(|(_, t)| t).chain(&new));
            let scorer = Scorer::new(&model, COMPARISONS, &all, term_frequency_fields(&p));
            let mut expected = BTreeSet::new();
            for x in old.len()..old.len() + new.len() {
                for (y, (customer, _)) in old.iter().enumerate() {
                    let (x, y) = (x as u32, y as u32);
                    let shares = |rule: &Vec<usize>| {
                        rule.iter()
                            .all(|&f| all.fields[x as usize][f] != 0 && all.same(f, x, y))
                    };
                    if !reach.decisions.rules.iter().any(shares) {
                        continue;
                    }
                    let pattern = compare::compare(&all, x, y, reach.decisions.fields);
                    if scorer.probability(&all, x, y, pattern) >= threshold {
                        expected.insert(*customer);
                    }
                }
            }
            assert_eq!(reach.customers, expected, "round {round}");
            reached_some += usize::from(!expected.is_empty() && expected.len() < 25);
        }
        assert!(
            reached_some >= 10,
            "{reached_some} rounds reached some customers but not all"
        );
    }
}
