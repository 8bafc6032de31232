//! Purchases drawn from the BG/NBD model (Fader, Hardie & Lee 2005) with
//! spend from the Gamma-Gamma model (Fader & Hardie 2013), so that a fit on
//! the generated orders can be checked against the parameters used here.

use rand::Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};
use serde::Serialize;

/// Population parameters; time in weeks.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LifetimeParams {
    /// BG/NBD: purchase rates λ ~ Gamma(shape r, rate alpha).
    pub r: f64,
    pub alpha: f64,
    /// BG/NBD: dropout probabilities p ~ Beta(a, b).
    pub a: f64,
    pub b: f64,
    /// Gamma-Gamma: spend per order ~ Gamma(shape p, rate ν), ν ~ Gamma(shape q, rate v).
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

impl Default for LifetimeParams {
    fn default() -> Self {
        // A frequent-purchase retailer: an order every two to three weeks on
        // average while active, most customers staying a year or more, ~$45
        // per order.
        LifetimeParams {
            r: 2.0,
            alpha: 5.0,
            a: 0.4,
            b: 10.0,
            p: 6.0,
            q: 4.0,
            v: 22.5,
        }
    }
}

pub struct Purchase {
    /// Weeks since the start of the observation window.
    pub week: f64,
    pub amount: f64,
}

/// One customer's latent traits and purchase history.
pub struct Customer {
    pub lambda: f64,
    pub dropout: f64,
    pub nu: f64,
    pub alive_at_end: bool,
    pub purchases: Vec<Purchase>,
}

/// Simulates a customer whose first purchase is at `first_week`, observed
/// until `end_week`. After each repeat purchase the customer leaves with
/// probability p (not after the first: that is the model's definition).
pub fn simulate(rng: &mut impl Rng, params: &LifetimeParams, first_week: f64, end_week: f64) -> Customer {
    let lambda = Gamma::new(params.r, 1.0 / params.alpha)
        .expect("valid gamma")
        .sample(rng)
        .max(1e-9);
    let dropout = Beta::new(params.a, params.b).expect("valid beta").sample(rng);
    let nu = Gamma::new(params.q, 1.0 / params.v)
        .expect("valid gamma")
        .sample(rng)
        .max(1e-9);
    let spend = Gamma::new(params.p, 1.0 / nu).expect("valid gamma");
    let gap = Exp::new(lambda).expect("positive rate");
    let amount = |rng: &mut _| (spend.sample(rng) * 100.0).round().max(1.0) / 100.0;

    let mut purchases = vec![Purchase {
        week: first_week,
        amount: amount(rng),
    }];
    let mut t = first_week;
    let mut alive = true;
    // 4000 caps a pathological draw; ids reserve 4096 orders per person.
    while purchases.len() < 4000 {
        t += gap.sample(rng);
        if t >= end_week {
            break;
        }
        purchases.push(Purchase {
            week: t,
            amount: amount(rng),
        });
        if rng.random_bool(dropout) {
            alive = false;
            break;
        }
    }
    Customer {
        lambda,
        dropout,
        nu,
        alive_at_end: alive,
        purchases,
    }
}
