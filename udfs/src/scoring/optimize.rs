//! Maximum likelihood with argmin: L-BFGS with a More-Thuente line search on
//! analytic gradients, Nelder-Mead as the fallback when the line search fails.

use std::sync::Mutex;

use argmin::core::{CostFunction, Error, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;

/// A cost (negative mean log-likelihood) and its gradient, in one pass.
pub trait Objective: Sync {
    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>);
}

pub struct Minimum {
    pub theta: Vec<f64>,
    pub cost: f64,
    pub converged: bool,
}

/// argmin asks for cost and gradient separately; both come from one pass
/// over the data, so the last evaluation is kept.
struct Adapter<'a, O: Objective> {
    objective: &'a O,
    last: Mutex<Option<Evaluation>>,
}

/// A parameter vector with its cost and gradient.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

impl<O: Objective> Adapter<'_, O> {
    fn eval(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let mut last = self.last.lock().expect("optimizer cache");
        if let Some((at, cost, grad)) = last.as_ref()
            && at.as_slice() == theta
        {
            return (*cost, grad.clone());
        }
        let (cost, grad) = self.objective.evaluate(theta);
        *last = Some((theta.to_vec(), cost, grad.clone()));
        (cost, grad)
    }
}

impl<O: Objective> CostFunction for Adapter<'_, O> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, theta: &Self::Param) -> Result<f64, Error> {
        Ok(self.eval(theta).0)
    }
}

impl<O: Objective> Gradient for Adapter<'_, O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, theta: &Self::Param) -> Result<Vec<f64>, Error> {
        Ok(self.eval(theta).1)
    }
}

fn converged(reason: Option<&TerminationReason>) -> bool {
    matches!(
        reason,
        Some(TerminationReason::SolverConverged | TerminationReason::TargetCostReached)
    )
}

pub fn minimize(objective: &impl Objective, start: Vec<f64>) -> Minimum {
    let adapter = Adapter {
        objective,
        last: Mutex::new(None),
    };
    let lbfgs = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(1e-9)
        .and_then(|s| s.with_tolerance_cost(1e-13));
    if let Ok(solver) = lbfgs
        && let Ok(result) = Executor::new(adapter, solver)
            .configure(|state| state.param(start.clone()).max_iters(500))
            .run()
    {
        let state = result.state();
        if let Some(theta) = state.get_best_param()
            && state.get_best_cost().is_finite()
            && converged(state.get_termination_reason())
        {
            return Minimum {
                theta: theta.clone(),
                cost: state.get_best_cost(),
                converged: true,
            };
        }
    }
    nelder_mead(objective, start)
}

/// Rows a fit needs before it starts from a sample fit.
const SAMPLE_ROWS: usize = 50_000;

/// Where to start a fit on `rows`. On large inputs a fit on a systematic
/// sample (every k-th row, its weight × k, about 50,000 rows) lands near the
/// optimum at a fraction of the cost, and the fit on all rows then needs a few
/// steps instead of dozens; the maximum found is still the full data's.
/// `reweight` scales a row's weight; `problem` builds the objective of a
/// sample, or None when the sample cannot be fitted.
pub fn sample_start<R: Copy, P: Objective>(
    rows: &[R],
    dimensions: usize,
    reweight: impl Fn(R, f64) -> R,
    problem: impl FnOnce(Vec<R>) -> Option<P>,
) -> Vec<f64> {
    let origin = vec![0.0; dimensions];
    if rows.len() < 4 * SAMPLE_ROWS {
        return origin;
    }
    let k = rows.len() / SAMPLE_ROWS;
    let sample = rows.iter().step_by(k).map(|&row| reweight(row, k as f64)).collect();
    let Some(problem) = problem(sample) else {
        return origin;
    };
    let found = minimize(&problem, origin.clone());
    if found.converged && found.theta.iter().all(|t| t.is_finite()) {
        found.theta
    } else {
        origin
    }
}

fn nelder_mead(objective: &impl Objective, start: Vec<f64>) -> Minimum {
    let adapter = Adapter {
        objective,
        last: Mutex::new(None),
    };
    let mut simplex = vec![start.clone()];
    for i in 0..start.len() {
        let mut vertex = start.clone();
        vertex[i] += 0.5;
        simplex.push(vertex);
    }
    let solver = NelderMead::new(simplex)
        .with_sd_tolerance(1e-12)
        .expect("valid tolerance");
    match Executor::new(adapter, solver)
        .configure(|state| state.max_iters(5000))
        .run()
    {
        Ok(result) => {
            let state = result.state();
            Minimum {
                theta: state.get_best_param().cloned().unwrap_or(start),
                cost: state.get_best_cost(),
                converged: converged(state.get_termination_reason()),
            }
        }
        Err(_) => Minimum {
            cost: objective.evaluate(&start).0,
            theta: start,
            converged: false,
        },
    }
}
