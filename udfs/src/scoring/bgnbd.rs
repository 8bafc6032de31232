//! The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the
//! easy way"): purchases at rate λ ~ Gamma(r, α) while alive, and after each
//! repeat purchase the customer leaves with probability p ~ Beta(a, b).
//!
//! Data per customer: x repeat purchases, the time t_x of the last one and
//! the age T, both measured from the first purchase in one time unit.

use datafusion::common::HashMap;

use super::optimize::{Objective, minimize, sample_start};
use super::special::{digamma, hyp2f1, ln_gamma};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbd {
    /// ln[(a/(b+x−1)) · ((α+T)/(α+t_x))^(r+x)]: the odds of having left.
    fn ln_dropout_odds(&self, x: f64, tx: f64, t: f64) -> f64 {
        (self.a / (self.b + x - 1.0)).ln() + (self.r + x) * ((self.alpha + t).ln() - (self.alpha + tx).ln())
    }

    /// P(alive | x, t_x, T) (eq. 13 of the paper). A customer without repeat
    /// purchases is alive by the model's definition.
    pub fn p_alive(&self, x: f64, tx: f64, t: f64) -> f64 {
        if x == 0.0 {
            return 1.0;
        }
        1.0 / (1.0 + self.ln_dropout_odds(x, tx, t).exp())
    }

    /// E[Y(h) | x, t_x, T]: expected purchases in the next `h` time units (eq. 10).
    pub fn expected_purchases(&self, h: f64, x: f64, tx: f64, t: f64) -> Option<f64> {
        if h == 0.0 {
            return Some(0.0);
        }
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let z = h / (alpha + t + h);
        let hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, z)?;
        let decay = ((r + x) * ((alpha + t).ln() - (alpha + t + h).ln())).exp();
        let numerator = (a + b + x - 1.0) / (a - 1.0) * (1.0 - decay * hyp);
        Some(numerator * self.p_alive(x, tx, t))
    }

    /// E[X(t)]: expected purchases of a new customer in a period of length t (eq. 9).
    pub fn expected_purchases_new(&self, t: f64) -> Option<f64> {
        if t == 0.0 {
            return Some(0.0);
        }
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let hyp = hyp2f1(r, b, a + b - 1.0, t / (alpha + t))?;
        let decay = (r * (alpha.ln() - (alpha + t).ln())).exp();
        Some((a + b - 1.0) / (a - 1.0) * (1.0 - decay * hyp))
    }

    /// The log-likelihood of one customer (eq. 6, in logs).
    pub fn log_likelihood(&self, x: f64, tx: f64, t: f64) -> f64 {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let ln_a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let ln_a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
        let ln_a3 = -(r + x) * (alpha + t).ln();
        if x == 0.0 {
            return ln_a1 + ln_a2 + ln_a3;
        }
        let ln_a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + tx).ln();
        ln_a1 + ln_a2 + log_add(ln_a3, ln_a4)
    }
}

fn log_add(x: f64, y: f64) -> f64 {
    let m = x.max(y);
    m + ((x - m).exp() + (y - m).exp()).ln()
}

/// Customers with equal (x, t_x, T) collapsed into one weighted row.
#[derive(Debug, Default, Clone)]
pub struct Observations {
    rows: HashMap<(u64, u64, u64), f64>,
}

impl Observations {
    pub fn add(&mut self, x: f64, tx: f64, t: f64, weight: f64) {
        // t_x does not enter the likelihood of a customer without repeats.
        let tx = if x == 0.0 { 0.0 } else { tx };
        *self.rows.entry((x.to_bits(), tx.to_bits(), t.to_bits())).or_insert(0.0) += weight;
    }

    pub fn merge(&mut self, other: &Observations) {
        for (key, w) in &other.rows {
            *self.rows.entry(*key).or_insert(0.0) += w;
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = (f64, f64, f64, f64)> + '_ {
        self.rows
            .iter()
            .map(|(&(x, tx, t), &w)| (f64::from_bits(x), f64::from_bits(tx), f64::from_bits(t), w))
    }

    pub fn distinct(&self) -> usize {
        self.rows.len()
    }

    pub fn has_repeat_buyers(&self) -> bool {
        self.rows().any(|(x, ..)| x > 0.0)
    }

    /// Approximate bytes held, for the memory accounting of the aggregate.
    pub fn size(&self) -> usize {
        self.rows.capacity() * (3 * 8 + 8 + 8)
    }
}

pub struct Fit {
    pub params: BgNbd,
    pub log_likelihood: f64,
    pub converged: bool,
    pub customers: f64,
}

/// The fitting problem in a form quick to evaluate: distinct x values and
/// distinct times in tables, so logs and gamma functions are computed once
/// per distinct value rather than per customer.
struct Problem {
    xs: Vec<f64>,
    times: Vec<f64>,
    rows: Vec<Row>,
    total: f64,
}

#[derive(Clone, Copy)]
struct Row {
    x: u32,
    tx: u32,
    t: u32,
    w: f64,
}

impl Problem {
    /// `rows` are (x, t_x, T, weight), in a fixed order.
    fn new(rows_in: &[(f64, f64, f64, f64)], scale: f64) -> Problem {
        let mut xs: Vec<f64> = Vec::new();
        let mut x_index: HashMap<u64, u32> = HashMap::new();
        let mut times: Vec<f64> = Vec::new();
        let mut time_index: HashMap<u64, u32> = HashMap::new();
        let intern = |v: f64, values: &mut Vec<f64>, index: &mut HashMap<u64, u32>| {
            *index.entry(v.to_bits()).or_insert_with(|| {
                values.push(v);
                (values.len() - 1) as u32
            })
        };
        let mut rows = Vec::with_capacity(rows_in.len());
        let mut total = 0.0;
        for &(x, tx, t, w) in rows_in {
            rows.push(Row {
                x: intern(x, &mut xs, &mut x_index),
                tx: intern(tx / scale, &mut times, &mut time_index),
                t: intern(t / scale, &mut times, &mut time_index),
                w,
            });
            total += w;
        }
        Problem { xs, times, rows, total }
    }
}

/// Per-parameter-vector tables shared by all rows.
struct Tables {
    ln_time: Vec<f64>,
    inv_time: Vec<f64>,
    // per distinct x
    base: Vec<f64>,
    ln_b0: Vec<f64>,
    d_r: Vec<f64>,
    d_a: Vec<f64>,
    d_b: Vec<f64>,
    inv_bx: Vec<f64>,
}

impl Objective for Problem {
    /// Negative mean log-likelihood in θ = ln(r, α, a, b), with its gradient.
    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let p: Vec<f64> = theta.iter().map(|t| t.clamp(-30.0, 30.0).exp()).collect();
        let (r, alpha, a, b) = (p[0], p[1], p[2], p[3]);
        let tables = Tables {
            ln_time: self.times.iter().map(|t| (alpha + t).ln()).collect(),
            inv_time: self.times.iter().map(|t| 1.0 / (alpha + t)).collect(),
            base: self
                .xs
                .iter()
                .map(|&x| {
                    ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) + ln_gamma(b + x)
                        - ln_gamma(b)
                        - ln_gamma(a + b + x)
                })
                .collect(),
            ln_b0: self
                .xs
                .iter()
                .map(|&x| if x > 0.0 { a.ln() - (b + x - 1.0).ln() } else { 0.0 })
                .collect(),
            d_r: self
                .xs
                .iter()
                .map(|&x| digamma(r + x) - digamma(r) + alpha.ln())
                .collect(),
            d_a: self.xs.iter().map(|&x| digamma(a + b) - digamma(a + b + x)).collect(),
            d_b: self
                .xs
                .iter()
                .map(|&x| digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x))
                .collect(),
            inv_bx: self
                .xs
                .iter()
                .map(|&x| if x > 0.0 { 1.0 / (b + x - 1.0) } else { 0.0 })
                .collect(),
        };
        let sums = if self.rows.len() > 50_000 {
            let half = self.rows.len() / 2;
            let (left, right) = self.rows.split_at(half);
            let (s1, s2) = std::thread::scope(|scope| {
                let h = scope.spawn(|| self.accumulate(left, &tables, r, alpha, a));
                let s2 = self.accumulate(right, &tables, r, alpha, a);
                (h.join().expect("likelihood thread"), s2)
            });
            std::array::from_fn(|i| s1[i] + s2[i])
        } else {
            self.accumulate(&self.rows, &tables, r, alpha, a)
        };
        let [ll, g_r, g_alpha, g_a, g_b] = sums;
        let n = self.total;
        if !ll.is_finite() {
            return (f64::MAX / 4.0, vec![0.0; 4]);
        }
        // d/dθ = param · d/dparam; the cost is the negative mean.
        let grad = vec![-g_r * r / n, -g_alpha * alpha / n, -g_a * a / n, -g_b * b / n];
        (-ll / n, grad)
    }
}

impl Problem {
    fn accumulate(&self, rows: &[Row], t: &Tables, r: f64, alpha: f64, a: f64) -> [f64; 5] {
        let (mut ll, mut g_r, mut g_alpha, mut g_a, mut g_b) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for row in rows {
            let xi = row.x as usize;
            let x = self.xs[xi];
            let ln_t = t.ln_time[row.t as usize];
            let inv_t = t.inv_time[row.t as usize];
            let big_a = -(r + x) * ln_t;
            let (lse, pi_b, ln_tx, inv_tx) = if x > 0.0 {
                let ln_tx = t.ln_time[row.tx as usize];
                let big_b = t.ln_b0[xi] - (r + x) * ln_tx;
                let (hi, lo) = if big_a > big_b { (big_a, big_b) } else { (big_b, big_a) };
                let lse = hi + (lo - hi).exp().ln_1p();
                (lse, (big_b - lse).exp(), ln_tx, t.inv_time[row.tx as usize])
            } else {
                (big_a, 0.0, 0.0, 0.0)
            };
            let pi_a = 1.0 - pi_b;
            let w = row.w;
            ll += w * (t.base[xi] + lse);
            g_r += w * (t.d_r[xi] - pi_a * ln_t - pi_b * ln_tx);
            g_alpha += w * (r / alpha - (r + x) * (pi_a * inv_t + pi_b * inv_tx));
            g_a += w * (t.d_a[xi] + pi_b / a);
            g_b += w * (t.d_b[xi] - pi_b * t.inv_bx[xi]);
        }
        [ll, g_r, g_alpha, g_a, g_b]
    }
}

/// The start of the full fit: a fit on a sample with repeat buyers, if large.
fn warm_start(rows: &[(f64, f64, f64, f64)], scale: f64) -> Vec<f64> {
    sample_start(
        rows,
        4,
        |(x, tx, t, w), k| (x, tx, t, w * k),
        |sample| sample.iter().any(|r| r.0 > 0.0).then(|| Problem::new(&sample, scale)),
    )
}

/// Maximum-likelihood fit; None without any repeat buyer (the model is not
/// identified) or without customers.
pub fn fit(observations: &Observations) -> Option<Fit> {
    if observations.distinct() == 0 || !observations.has_repeat_buyers() {
        return None;
    }
    // Hash maps iterate in a random order; sorted rows make the sums, and so
    // the fitted digits, the same on every run.
    let mut rows: Vec<(f64, f64, f64, f64)> = observations.rows().collect();
    rows.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.2.total_cmp(&b.2)).then(a.1.total_cmp(&b.1)));
    // Times are scaled so the largest age is 10: α scales with them and the
    // optimizer starts from the same place whatever the unit.
    let max_t = rows.iter().map(|r| r.2).fold(0.0, f64::max);
    let scale = if max_t > 0.0 { max_t / 10.0 } else { 1.0 };
    let problem = Problem::new(&rows, scale);
    let found = minimize(&problem, warm_start(&rows, scale));
    let p: Vec<f64> = found.theta.iter().map(|t| t.clamp(-30.0, 30.0).exp()).collect();
    let params = BgNbd {
        r: p[0],
        alpha: p[1] * scale,
        a: p[2],
        b: p[3],
    };
    let log_likelihood = rows
        .iter()
        .map(|&(x, tx, t, w)| w * params.log_likelihood(x, tx, t))
        .sum();
    Some(Fit {
        params,
        log_likelihood,
        converged: found.converged && found.cost.is_finite(),
        customers: rows.iter().map(|r| r.3).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CDNOW: BgNbd = BgNbd {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    #[test]
    fn a_warm_start_reaches_the_maximum_of_a_cold_start() {
        // BG/NBD customers (the generator's parameters), enough distinct rows
        // for the sample fit to be used.
        use rand::{Rng, SeedableRng};
        use rand_distr::{Beta, Distribution, Exp, Gamma};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let rates = Gamma::new(2.0, 1.0 / 5.0).unwrap();
        let dropouts = Beta::new(0.4, 10.0).unwrap();
        let mut rows: Vec<(f64, f64, f64, f64)> = (0..250_000)
            .map(|_| {
                let end = rng.random_range(20.0..80.0);
                let gap = Exp::new(rates.sample(&mut rng)).unwrap();
                let p: f64 = dropouts.sample(&mut rng);
                let (mut t, mut x, mut tx) = (0.0, 0.0, 0.0);
                loop {
                    t += gap.sample(&mut rng);
                    if t > end {
                        break;
                    }
                    (x, tx) = (x + 1.0, t);
                    if rng.random_bool(p) {
                        break;
                    }
                }
                (x, tx, end, 1.0)
            })
            .collect();
        rows.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.2.total_cmp(&b.2)).then(a.1.total_cmp(&b.1)));
        let scale = 8.0;
        let start = warm_start(&rows, scale);
        assert_ne!(start, vec![0.0; 4], "the sample fit gave the start");
        let problem = Problem::new(&rows, scale);
        let cold = minimize(&problem, vec![0.0; 4]);
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
        let mut obs = Observations::default();
        for (x, tx, t) in [
            (0.0, 0.0, 38.0),
            (2.0, 30.4, 38.9),
            (5.0, 20.0, 39.0),
            (1.0, 1.5, 30.0),
            (0.0, 0.0, 12.0),
        ] {
            obs.add(x, tx, t, 1.0);
        }
        let rows: Vec<_> = obs.rows().collect();
        let problem = Problem::new(&rows, 3.9);
        let theta = [-0.3, 0.4, -0.2, 0.7];
        let (_, grad) = problem.evaluate(&theta);
        for i in 0..4 {
            let h = 1e-6;
            let mut up = theta;
            let mut down = theta;
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
    fn p_alive_closed_form() {
        // x = 2, t_x = 30.43, T = 38.86 with the CDNOW parameters:
        // 1 / (1 + a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)), by hand.
        let odds = 0.793 / (2.426 + 1.0) * ((4.414f64 + 38.86) / (4.414 + 30.43)).powf(2.243);
        let expected = 1.0 / (1.0 + odds);
        assert!((CDNOW.p_alive(2.0, 30.43, 38.86) - expected).abs() < 1e-12);
        assert_eq!(CDNOW.p_alive(0.0, 0.0, 38.86), 1.0);
    }

    #[test]
    fn expected_purchases_published_value() {
        // Fader, Hardie & Lee (2005), section 5: a customer with x = 2,
        // t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks.
        let e = CDNOW.expected_purchases(39.0, 2.0, 30.43, 38.86).unwrap();
        assert!((e - 1.226).abs() < 0.0015, "{e}");
    }

    #[test]
    fn expected_purchases_new_is_consistent() {
        // E[X(t)] for a new customer equals E[Y(t) | x = 0, t_x = 0, T = 0].
        let new = CDNOW.expected_purchases_new(52.0).unwrap();
        let zero = CDNOW.expected_purchases(52.0, 0.0, 0.0, 0.0).unwrap();
        assert!((new - zero).abs() < 1e-10, "{new} vs {zero}");
        // It grows with the period and is 0 at 0.
        assert_eq!(CDNOW.expected_purchases_new(0.0), Some(0.0));
        assert!(CDNOW.expected_purchases_new(10.0).unwrap() < new);
    }
}
