//! The Gamma-Gamma model of spend (Fader & Hardie 2013, "The Gamma-Gamma
//! Model of Monetary Value"): each transaction's value is Gamma(p, ν), with
//! ν ~ Gamma(q, v) across customers. Fitted on customers with repeat
//! purchases, from x (repeat purchases) and m_x (their mean value).

use datafusion::common::HashMap;

use super::optimize::{Objective, minimize, sample_start};
use super::special::{digamma, ln_gamma};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

impl GammaGamma {
    /// E[M | x, m_x] (eq. 5): the expected value of a future transaction,
    /// shrinking the customer's own mean toward the population's. With x = 0
    /// it is the population mean p·v/(q−1). None when q ≤ 1 (no finite mean).
    pub fn expected_spend(&self, x: f64, m: f64) -> Option<f64> {
        let (p, q, v) = (self.p, self.q, self.v);
        if q <= 1.0 {
            return None;
        }
        let m = if x == 0.0 { 0.0 } else { m };
        Some(p * (v + x * m) / (p * x + q - 1.0))
    }

    pub fn log_likelihood(&self, x: f64, m: f64) -> f64 {
        let (p, q, v) = (self.p, self.q, self.v);
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q) + q * v.ln() + (p * x - 1.0) * m.ln() + p * x * x.ln()
            - (p * x + q) * (x * m + v).ln()
    }
}

/// Customers with equal (x, m_x) collapsed into one weighted row.
#[derive(Debug, Default, Clone)]
pub struct Observations {
    rows: HashMap<(u64, u64), f64>,
}

impl Observations {
    pub fn add(&mut self, x: f64, m: f64, weight: f64) {
        *self.rows.entry((x.to_bits(), m.to_bits())).or_insert(0.0) += weight;
    }

    pub fn merge(&mut self, other: &Observations) {
        for (key, w) in &other.rows {
            *self.rows.entry(*key).or_insert(0.0) += w;
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = (f64, f64, f64)> + '_ {
        self.rows
            .iter()
            .map(|(&(x, m), &w)| (f64::from_bits(x), f64::from_bits(m), w))
    }

    pub fn size(&self) -> usize {
        self.rows.capacity() * (2 * 8 + 8 + 8)
    }
}

pub struct Fit {
    pub params: GammaGamma,
    pub log_likelihood: f64,
    pub converged: bool,
    pub customers: f64,
}

struct Problem {
    xs: Vec<f64>,
    rows: Vec<(u32, f64, f64, f64)>, // x index, m (scaled), ln m + ln x constant part, weight
    total: f64,
}

impl Objective for Problem {
    /// Negative mean log-likelihood in θ = ln(p, q, v), with its gradient.
    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let e: Vec<f64> = theta.iter().map(|t| t.clamp(-30.0, 30.0).exp()).collect();
        let (p, q, v) = (e[0], e[1], e[2]);
        let per_x: Vec<(f64, f64, f64)> = self
            .xs
            .iter()
            .map(|&x| {
                let base = ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q) + q * v.ln();
                let dp = x * (digamma(p * x + q) - digamma(p * x));
                let dq = digamma(p * x + q) - digamma(q) + v.ln();
                (base, dp, dq)
            })
            .collect();
        let (mut ll, mut g_p, mut g_q, mut g_v) = (0.0, 0.0, 0.0, 0.0);
        for &(xi, m, ln_mx, w) in &self.rows {
            let x = self.xs[xi as usize];
            let (base, dp, dq) = per_x[xi as usize];
            let denom = x * m + v;
            let ln_denom = denom.ln();
            // (px − 1) ln m + px ln x, with ln_mx = ln m + ln x.
            ll += w * (base + p * x * ln_mx - m.ln() - (p * x + q) * ln_denom);
            g_p += w * (dp + x * (ln_mx - ln_denom));
            g_q += w * (dq - ln_denom);
            g_v += w * (q / v - (p * x + q) / denom);
        }
        let n = self.total;
        if !ll.is_finite() {
            return (f64::MAX / 4.0, vec![0.0; 3]);
        }
        (-ll / n, vec![-g_p * p / n, -g_q * q / n, -g_v * v / n])
    }
}

/// Maximum-likelihood fit over customers with x > 0 and m_x > 0; None
/// without such customers.
/// The start of the full fit: a fit on a sample, if large.
fn warm_start(problem: &Problem) -> Vec<f64> {
    sample_start(
        &problem.rows,
        3,
        |(x, m, l, w), k| (x, m, l, w * k),
        |rows| {
            let total = rows.iter().map(|r| r.3).sum();
            Some(Problem {
                xs: problem.xs.clone(),
                rows,
                total,
            })
        },
    )
}

pub fn fit(observations: &Observations) -> Option<Fit> {
    let mut usable: Vec<(f64, f64, f64)> = observations.rows().filter(|&(x, m, _)| x > 0.0 && m > 0.0).collect();
    // Hash maps iterate in a random order; sorted rows make the sums, and so
    // the fitted digits, the same on every run.
    usable.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    if usable.is_empty() {
        return None;
    }
    // Spend is scaled to a mean of 1: v scales with it.
    let total: f64 = usable.iter().map(|r| r.2).sum();
    let scale = usable.iter().map(|&(_, m, w)| m * w).sum::<f64>() / total;
    let mut xs = Vec::new();
    let mut index: HashMap<u64, u32> = HashMap::new();
    let rows = usable
        .iter()
        .map(|&(x, m, w)| {
            let xi = *index.entry(x.to_bits()).or_insert_with(|| {
                xs.push(x);
                (xs.len() - 1) as u32
            });
            let m = m / scale;
            (xi, m, m.ln() + x.ln(), w)
        })
        .collect();
    let problem = Problem { xs, rows, total };
    let found = minimize(&problem, warm_start(&problem));
    let e: Vec<f64> = found.theta.iter().map(|t| t.clamp(-30.0, 30.0).exp()).collect();
    let params = GammaGamma {
        p: e[0],
        q: e[1],
        v: e[2] * scale,
    };
    let log_likelihood = usable.iter().map(|&(x, m, w)| w * params.log_likelihood(x, m)).sum();
    Some(Fit {
        params,
        log_likelihood,
        converged: found.converged,
        customers: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_start_reaches_the_maximum_of_a_cold_start() {
        // Gamma-Gamma spend (p = 6, q = 4, v = 22.5) for 250,000 repeat buyers.
        use rand::{Rng, SeedableRng};
        use rand_distr::{Distribution, Gamma};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let scales = Gamma::new(4.0, 1.0 / 22.5).unwrap();
        let mut xs = Vec::new();
        let mut index: HashMap<u64, u32> = HashMap::new();
        let rows: Vec<(u32, f64, f64, f64)> = (0..250_000)
            .map(|_| {
                let x = rng.random_range(1..12) as f64;
                let nu: f64 = scales.sample(&mut rng);
                let m = Gamma::new(6.0 * x, 1.0 / (nu * x)).unwrap().sample(&mut rng) / 30.0;
                let xi = *index.entry(x.to_bits()).or_insert_with(|| {
                    xs.push(x);
                    (xs.len() - 1) as u32
                });
                (xi, m, m.ln() + x.ln(), 1.0)
            })
            .collect();
        let problem = Problem {
            xs,
            rows,
            total: 250_000.0,
        };
        let start = warm_start(&problem);
        assert_ne!(start, vec![0.0; 3], "the sample fit gave the start");
        let cold = minimize(&problem, vec![0.0; 3]);
        let warm = minimize(&problem, start);
        assert!(cold.converged && warm.converged);
        assert!(
            (cold.cost - warm.cost).abs() <= 1e-10 * cold.cost.abs(),
            "{} vs {}",
            cold.cost,
            warm.cost
        );
        for (c, w) in cold.theta.iter().zip(&warm.theta) {
            assert!((c - w).abs() < 1e-4, "{:?} vs {:?}", cold.theta, warm.theta);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let problem = Problem {
            xs: vec![1.0, 3.0, 6.0],
            rows: vec![
                (0, 0.8, 0.8f64.ln(), 2.0),
                (1, 1.3, 1.3f64.ln() + 3f64.ln(), 1.0),
                (2, 0.6, 0.6f64.ln() + 6f64.ln(), 1.0),
            ],
            total: 4.0,
        };
        let theta = [0.5, 0.9, 0.2];
        let (_, grad) = problem.evaluate(&theta);
        for i in 0..3 {
            let h = 1e-6;
            let (mut up, mut down) = (theta, theta);
            up[i] += h;
            down[i] -= h;
            let numeric = (problem.evaluate(&up).0 - problem.evaluate(&down).0) / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() < 1e-6,
                "component {i}: {numeric} vs {}",
                grad[i]
            );
        }
    }

    #[test]
    fn expected_spend_closed_form() {
        // The CDNOW estimates of the paper: p = 6.25, q = 3.74, γ = 15.44.
        let gg = GammaGamma {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        // Population mean E[Z] = p·γ/(q−1).
        let mean = 6.25 * 15.44 / 2.74;
        assert!((gg.expected_spend(0.0, 0.0).unwrap() - mean).abs() < 1e-12);
        // A weighted average of the population mean and the customer's mean.
        let x = 4.0;
        let m = 50.0;
        let weight = 6.25 * x / (6.25 * x + 3.74 - 1.0);
        let expected = (1.0 - weight) * mean + weight * m;
        assert!((gg.expected_spend(x, m).unwrap() - expected).abs() < 1e-9);
        assert_eq!(GammaGamma { p: 1.0, q: 0.9, v: 1.0 }.expected_spend(1.0, 1.0), None);
    }
}
