//! Special functions the lifetime-value models need: log-gamma (libm),
//! digamma and the Gaussian hypergeometric function 2F1.

pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// ψ(x) for x > 0: the recurrence ψ(x) = ψ(x+1) − 1/x up to x ≥ 10, then the
/// asymptotic series (error below 1e-14 there).
pub fn digamma(mut x: f64) -> f64 {
    let mut shift = 0.0;
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series =
        inv2 * (1.0 / 12.0 - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 / 132.0))));
    shift + x.ln() - 0.5 * inv - series
}

/// 2F1(a, b; c; z) for 0 ≤ z < 1 by its power series; None when the series
/// has not converged (z too close to 1 for the parameters).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) {
        return None;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..200_000 {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term.abs() <= 1e-15 * sum.abs() {
            return sum.is_finite().then_some(sum);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol * b.abs().max(1.0), "{a} vs {b}");
    }

    #[test]
    fn digamma_known_values() {
        // ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ(n+1) = H_n − γ.
        let euler = 0.577_215_664_901_532_9;
        close(digamma(1.0), -euler, 1e-13);
        close(digamma(0.5), -euler - 2.0 * 2f64.ln(), 1e-13);
        close(
            digamma(11.0),
            (1..=10).map(|k| 1.0 / k as f64).sum::<f64>() - euler,
            1e-13,
        );
    }

    #[test]
    fn hyp2f1_closed_forms() {
        for z in [0.0, 0.1, 0.5, 0.9, 0.99] {
            // 2F1(1, 1; 2; z) = −ln(1−z)/z
            let expected = if z == 0.0 { 1.0 } else { -(1.0f64 - z).ln() / z };
            close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), expected, 1e-12);
            // 2F1(a, b; b; z) = (1−z)^−a
            close(hyp2f1(2.5, 1.3, 1.3, z).unwrap(), (1.0 - z).powf(-2.5), 1e-11);
        }
        // 2F1(1/2, 1/2; 3/2; x²) = arcsin(x)/x
        for x in [0.2f64, 0.6, 0.9] {
            close(hyp2f1(0.5, 0.5, 1.5, x * x).unwrap(), x.asin() / x, 1e-12);
        }
        // 2F1(1/2, 1; 3/2; −x²) = arctan(x)/x is outside the series' domain here;
        // a published value: 2F1(1, 1; 2; 0.5) = 2 ln 2.
        close(hyp2f1(1.0, 1.0, 2.0, 0.5).unwrap(), 2.0 * 2f64.ln(), 1e-13);
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 1.0), None);
    }
}
